"""Metrics that need a learned model or the codec's texts: ``lpips``, ``clip_score``, ``fid``, ``caption_cer``.

Their models come from the scenario's ``metric_models`` section (:class:`MetricModels`)
and are loaded once, before the first point is simulated: a model that cannot be loaded
stops the run with one line naming it and how to provide it (exit code 1).

- ``lpips`` — per sample, LPIPS v0.1 AlexNet (:mod:`.lpips`), lower is better.
- ``clip_score`` — per sample, CLIP score (0..100) of the reconstruction against the
  caption the transmitter meant; ``clip_score/received`` against the caption that
  arrived. Only codecs that send text (``Reconstruction.texts``) get these rows.
- ``fid`` — set-level: torchmetrics' ``FrechetInceptionDistance`` over all originals vs
  all reconstructions of a point, with **CLIP image embeddings as features** (the
  ``metric_models.clip`` model; "FID_CLIP", Kynkäänniemi et al. 2023) because the
  Inception-v3 weights of the standard FID need torch-fidelity/torchvision, unavailable
  here. Values are therefore not comparable with Inception FIDs. One row per point:
  ``n`` = samples, no confidence interval.
- ``caption_cer`` — per sample, torchmetrics' character error rate of the received
  caption against the sent one (text codecs only).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field

from linksim.metrics.table import METRICS, Metric

if TYPE_CHECKING:  # torch is imported where a model or a tensor is made: the facts are read without it
    import torch

LPIPS = Metric("lpips", "LPIPS v0.1 (AlexNet) perceptual distance", "learned", higher_is_better=False,
               label="LPIPS", data="image")
CLIP_SCORE = Metric("clip_score", "CLIP score (0..100) of the reconstruction against the sent caption "
                    "(clip_score/received: against the caption that arrived); codecs that send text",
                    "learned", higher_is_better=True, label="CLIP score", data="image")
FID = Metric("fid", "Frechet distance of CLIP image features, originals vs reconstructions of the point "
             "(not comparable with Inception FIDs)", "learned", higher_is_better=False, aggregation="set",
             interval="none", label="FID (CLIP features)", data="image")
CAPTION_CER = Metric("caption_cer", "character error rate of the received caption against the sent one",
                     "learned", higher_is_better=False, label="Caption CER", data="image")


def learned_metric_names() -> tuple[str, ...]:
    """Names of the metrics computed from ``metric_models`` (read from the metric table)."""
    return tuple(n for n in METRICS.names() if METRICS[n].computed_by == "learned")
#: which ``metric_models`` fields each needs
NEEDS = {"lpips": ("lpips_backbone", "lpips_heads"), "clip_score": ("clip",), "fid": ("clip",), "caption_cer": ()}


class MetricModels(BaseModel):
    """The scenario's ``metric_models`` section: where the learned metrics' models are."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    clip: str = Field(default="openai/clip-vit-base-patch32",
                      description="CLIP hub id or folder (model + processor): clip_score, and fid's features",
                      json_schema_extra={"linksim_input": "model"})  # linksim.codecs.input_path("model")
    lpips_backbone: str = Field(default="~/.cache/torch/hub/checkpoints/alexnet-owt-7be5be79.pth",
                                description="torchvision ImageNet AlexNet weights file (.pth or .safetensors)",
                                json_schema_extra={"linksim_input": "file"})
    lpips_heads: str | None = Field(default=None,
                                    description="LPIPS v0.1 alex.pth heads (default: the copy shipped with torchmetrics)",
                                    json_schema_extra={"linksim_input": "file"})


@dataclass
class FIDAccumulator:
    """FID over one point: ``update`` per batch, ``compute`` once (torchmetrics, custom features)."""

    metric: object

    def update(self, x: torch.Tensor, x_hat: torch.Tensor) -> None:
        """``x``, ``x_hat`` ``[B, C, H, W]`` in [0, 1] (x_hat sanitised by the caller)."""
        self.metric.update(x, real=True)
        self.metric.update(x_hat, real=False)

    @property
    def samples(self) -> int:
        """Originals seen so far."""
        return int(self.metric.real_features_num_samples)

    def compute(self) -> float:
        """The Fréchet distance; NaN with fewer than two samples (no covariance)."""
        if self.samples < 2:
            return float("nan")
        return float(self.metric.compute())


@dataclass
class LoadedMetrics:
    """The learned metrics a scenario asked for, with their models loaded on ``device``."""

    names: list[str]
    device: torch.device
    lpips: torch.nn.Module | None = None
    clip: torch.nn.Module | None = None

    def per_sample(self, x: torch.Tensor, x_hat: torch.Tensor, texts: dict[str, list[str]]) -> dict[str, torch.Tensor]:
        """Per-sample values ``name -> [B]`` (float64) of one batch.

        :param x: originals ``[B, C, H, W]`` in [0, 1].
        :param x_hat: reconstructions, same shape (sanitised here: NaN -> 0, clamp to [0, 1]).
        :param texts: the codec's ``Reconstruction.texts`` (``sent`` / ``received``), maybe empty.
        """
        from linksim.metrics.fidelity import sanitize_images

        x_hat = sanitize_images(x_hat).to(x.device)
        out: dict[str, torch.Tensor] = {}
        if "lpips" in self.names:
            out["lpips"] = self.lpips(x.float(), x_hat.float()).double()
        if "clip_score" in self.names and texts:
            out["clip_score"] = self.clip.score(x_hat, texts["sent"]).double()
            out["clip_score/received"] = self.clip.score(x_hat, texts["received"]).double()
        if "caption_cer" in self.names and texts:
            out["caption_cer"] = caption_cer(texts["sent"], texts["received"]).to(x.device)
        return out

    def accumulators(self) -> dict[str, FIDAccumulator]:
        """Fresh set-level accumulators for one point (``fid``)."""
        if "fid" not in self.names:
            return {}
        from torchmetrics.image.fid import FrechetInceptionDistance

        fid = FrechetInceptionDistance(feature=self.clip, normalize=True, reset_real_features=True).to(self.device)
        return {"fid": FIDAccumulator(fid)}


def caption_cer(sent: list[str], received: list[str]) -> torch.Tensor:
    """Character error rate ``[B]`` (float64) of each received caption against the sent one.

    torchmetrics' ``char_error_rate`` pools a whole corpus, so it is called per pair (a loop
    over Python strings, not tensors). An empty sent caption gives 0 if nothing arrived, else 1.
    """
    import torch
    from torchmetrics.functional.text import char_error_rate

    values = []
    for s, r in zip(sent, received):
        if not s:
            values.append(0.0 if not r else 1.0)
        else:
            values.append(float(char_error_rate(r, s)))
    return torch.tensor(values, dtype=torch.float64)


def load_metrics(names: list[str], models: MetricModels, device: torch.device) -> LoadedMetrics:
    """Load the models of the learned metrics among ``names``.

    :raises linksim.pretrained.ModelUnavailable: one line naming the missing model.
    """
    # only the scenario's own metrics are looked up: resolving every name in the table would
    # import every codec that provides metrics (Bridge's pull in transformers: seconds)
    wanted = [n for n in names if n in METRICS and METRICS[n].computed_by == "learned"]
    loaded = LoadedMetrics(wanted, device)
    if "lpips" in wanted:
        from linksim.metrics.lpips import load_lpips

        loaded.lpips = load_lpips(models.lpips_backbone, models.lpips_heads, device)
    if "clip_score" in wanted or "fid" in wanted:
        from linksim.metrics.clip import CLIPFeatures

        loaded.clip = CLIPFeatures(models.clip, device)
    return loaded
