"""Per-sample fidelity metrics of Bridge's reconstructions (Sec. 4 of the paper).

Every function returns one value per sample, ``[B]`` float64, on the inputs' device:

- video: ``psnr`` (dB) and ``ssim``, per frame through :mod:`linksim.metrics.fidelity`
  (torchmetrics), averaged over the clip's frames;
- audio: ``audio_mse`` (amplitude^2) and ``si_sdr`` (dB, torchmetrics);
- text: ``text_accuracy``, the fraction of non-padding tokens decoded right;
- ``linear_probe_accuracy``: a logistic-regression probe (scikit-learn) fitted on the
  codes of one set and scored on another (the downstream classification of Sec. 4);
  ``cross_fitted_probe`` gives the per-sample right/wrong of a probe fitted on the
  *sent* codes of the other folds and applied to the *received* codes of each fold
  (what ``linksim run`` reports as ``probe_acc``).
The foundation-model similarities (``audio_sim``, ``video_sim``, ``text_sim``) are in
:mod:`.foundation`.
"""

from __future__ import annotations

import torch
from torchmetrics.functional.audio import scale_invariant_signal_distortion_ratio

from linksim.metrics.fidelity import psnr, ssim
from linksim.metrics.table import Metric

# Bridge's own rows in the metric table (entry points of linksim); ``psnr`` and ``ssim`` are
# the table's, which Bridge computes per frame itself
AUDIO_MSE = Metric("audio_mse", "mean squared error per audio waveform (amplitude^2)", "codec",
                   higher_is_better=False, scale="log", label="Audio MSE", data="multimodal")
SI_SDR = Metric("si_sdr", "scale-invariant signal-to-distortion ratio of the audio", "codec", unit="dB",
                higher_is_better=True, label="SI-SDR [dB]", data="multimodal")
TEXT_ACC = Metric("text_acc", "fraction of the caption's tokens decoded right", "codec", higher_is_better=True,
                  label="Text token accuracy", data="multimodal")
AUDIO_SIM = Metric("audio_sim", "CLAP cosine similarity of received vs sent audio (params.audio_model)", "codec",
                   higher_is_better=True, label="Audio similarity (CLAP)", data="multimodal")
VIDEO_SIM = Metric("video_sim", "CLIP cosine similarity of received vs sent frames (params.image_model)", "codec",
                   higher_is_better=True, label="Video similarity (CLIP)", data="multimodal")
TEXT_SIM = Metric("text_sim", "BERT cosine similarity of received vs sent caption (params.text_model)", "codec",
                  higher_is_better=True, label="Text similarity (BERT)", data="multimodal")
PROBE_ACC = Metric("probe_acc", "accuracy of a linear probe fitted (5-fold) on the sent codes and applied to the "
                   "received codes", "codec", higher_is_better=True, label="Linear-probe accuracy", data="multimodal")


class ProbeAccuracy:
    """``probe_acc`` over one point (a :class:`~linksim.codecs.base.PointMetric`): gathers the
    sent and received code features and the labels of every batch, and scores at the end
    with probes fitted on the sent features (fitted once per sample count, cached in ``cache``:
    the sent codes of a codec are the same at every point)."""

    def __init__(self, features, cache: dict) -> None:
        self._features = features  # streams -> [B, F] (BridgeCodec.code_features)
        self._cache = cache
        self._parts: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []

    def update(self, x, sent, received, rec) -> None:
        if x.labels is None:
            return
        from linksim.codecs.base import AnalogPayload

        clean = {m: p.values if isinstance(p, AnalogPayload) else p.bits for m, p in sent.items()}
        self._parts.append((self._features(clean).cpu(), self._features(received).cpu(), x.labels.cpu()))

    def compute(self) -> torch.Tensor | None:
        if not self._parts:  # no labels: no probe, no row
            return None
        clean, rx, labels = (torch.cat(p) for p in zip(*self._parts))
        key = int(labels.shape[0])
        if key not in self._cache:
            self._cache[key] = fit_fold_probes(clean, labels)
        return score_fold_probes(self._cache[key], rx, labels)

__all__ = ["audio_mse", "code_features", "cross_fitted_probe", "fit_fold_probes", "score_fold_probes", "linear_probe_accuracy", "reconstruction_metrics", "si_sdr", "text_accuracy", "video_psnr",
           "video_ssim"]


def _per_frame(fn, frames: torch.Tensor, frames_hat: torch.Tensor) -> torch.Tensor:
    b, t = frames.shape[:2]
    return fn(frames.flatten(0, 1), frames_hat.flatten(0, 1)).reshape(b, t).mean(dim=1)


def video_psnr(frames: torch.Tensor, frames_hat: torch.Tensor) -> torch.Tensor:
    """Mean per-frame PSNR (dB, data range 1): ``[B, T, C, H, W]`` x2 -> ``[B]``."""
    return _per_frame(psnr, frames, frames_hat)


def video_ssim(frames: torch.Tensor, frames_hat: torch.Tensor) -> torch.Tensor:
    """Mean per-frame SSIM: ``[B, T, C, H, W]`` x2 -> ``[B]``."""
    return _per_frame(ssim, frames, frames_hat)


def audio_mse(audio: torch.Tensor, audio_hat: torch.Tensor) -> torch.Tensor:
    """Mean squared error per waveform: ``[B, S]`` x2 -> ``[B]``."""
    return (audio_hat.to(torch.float64) - audio.to(torch.float64)).square().mean(dim=1)


def si_sdr(audio: torch.Tensor, audio_hat: torch.Tensor) -> torch.Tensor:
    """Scale-invariant signal-to-distortion ratio (dB): ``[B, S]`` x2 -> ``[B]``."""
    return scale_invariant_signal_distortion_ratio(audio_hat.to(torch.float64), audio.to(torch.float64),
                                                   zero_mean=True)


def text_accuracy(tokens: torch.Tensor, tokens_hat: torch.Tensor, pad: int = 0) -> torch.Tensor:
    """Fraction of the non-padding tokens of ``tokens`` ``[B, L]`` that ``tokens_hat`` ``[B, L]`` matches."""
    valid = tokens != pad
    right = (tokens == tokens_hat) & valid
    return right.sum(dim=1).to(torch.float64) / valid.sum(dim=1).clamp_min(1).to(torch.float64)


def reconstruction_metrics(inputs: dict[str, torch.Tensor], recon: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """All per-sample metrics of the modalities in ``recon`` (text given as logits ``[B, L, V]``).

    :param inputs: originals as from :func:`~linksim.codecs.bridge.model.model_inputs`.
    :returns: ``psnr``, ``ssim``, ``audio_mse``, ``si_sdr``, ``text_accuracy`` -> ``[B]``.
    """
    out = {}
    if "video" in recon:
        out["psnr"] = video_psnr(inputs["video"], recon["video"])
        out["ssim"] = video_ssim(inputs["video"], recon["video"])
    if "audio" in recon:
        out["audio_mse"] = audio_mse(inputs["audio"], recon["audio"])
        out["si_sdr"] = si_sdr(inputs["audio"], recon["audio"])
    if "text" in recon:
        out["text_accuracy"] = text_accuracy(inputs["text"], recon["text"].argmax(dim=-1))
    return out


def code_features(codebook: torch.Tensor, indices: dict[str, torch.Tensor]) -> torch.Tensor:
    """Probe features from received indices: per modality the mean of its codes ``e_k`` over
    time, concatenated in the order of ``indices``: ``K x D`` codebook, ``{m: [B, T_m]}`` -> ``[B, M*D]``."""
    return torch.cat([codebook[i].mean(dim=1) for i in indices.values()], dim=1)


def linear_probe_accuracy(train_features: torch.Tensor, train_labels: torch.Tensor, test_features: torch.Tensor,
                          test_labels: torch.Tensor) -> float:
    """Accuracy (fraction) of a multinomial logistic regression fitted on ``[N, F]`` features.

    Features are typically the received codes ``e_k`` averaged over time and
    concatenated over modalities. The fit runs in scikit-learn on CPU (L2, C = 1).
    """
    from sklearn.linear_model import LogisticRegression

    probe = LogisticRegression(max_iter=2000)
    probe.fit(train_features.detach().cpu().double().numpy(), train_labels.cpu().numpy())
    return float(probe.score(test_features.detach().cpu().double().numpy(), test_labels.cpu().numpy()))


def cross_fitted_probe(sent: torch.Tensor, received: torch.Tensor, labels: torch.Tensor, folds: int = 5
                       ) -> torch.Tensor:
    """Per-sample correctness ``[N]`` float64 (1 right, 0 wrong) of a linear probe on received codes.

    The ``N`` samples are split into ``folds`` contiguous folds; for each fold a probe
    (as :func:`linear_probe_accuracy`) is fitted on the error-free ``sent`` features
    ``[N, F]`` of the other folds and predicts the labels ``[N]`` from the ``received``
    features ``[N, F]`` of the fold, so no sample is scored by a probe that saw it and
    the mean is the probe accuracy after the channel. A fold whose other folds hold
    fewer than two classes is NaN (nothing to fit).
    """
    return score_fold_probes(fit_fold_probes(sent, labels, folds), received, labels)


def fit_fold_probes(sent: torch.Tensor, labels: torch.Tensor, folds: int = 5) -> list[tuple[int, int, object]]:
    """The probes of :func:`cross_fitted_probe`: ``(lo, hi, probe or None)`` per fold of samples ``[lo, hi)``.

    They depend only on the sent features ``[N, F]`` and labels ``[N]``, so a sweep fits
    them once per codec and scores every SNR point's received features with them.
    """
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    n = labels.shape[0]
    x = sent.detach().cpu().double().numpy()
    y = labels.detach().cpu().numpy()
    bounds = torch.linspace(0, n, min(folds, n) + 1).round().long().tolist()
    out = []
    for lo, hi in zip(bounds[:-1], bounds[1:]):  # a handful of fits, not a loop over samples
        keep = np.ones(n, dtype=bool)
        keep[lo:hi] = False
        fits = hi > lo and np.unique(y[keep]).size >= 2
        out.append((lo, hi, LogisticRegression(max_iter=2000).fit(x[keep], y[keep]) if fits else None))
    return out


def score_fold_probes(probes: list[tuple[int, int, object]], received: torch.Tensor, labels: torch.Tensor
                      ) -> torch.Tensor:
    """Per-sample correctness ``[N]`` float64 of :func:`fit_fold_probes`'s probes on ``received`` ``[N, F]``."""
    x = received.detach().cpu().double().numpy()
    y = labels.detach().cpu().numpy()
    out = torch.full((labels.shape[0],), float("nan"), dtype=torch.float64)
    for lo, hi, probe in probes:
        if probe is not None:
            out[lo:hi] = torch.from_numpy((probe.predict(x[lo:hi]) == y[lo:hi]).astype("float64"))
    return out
