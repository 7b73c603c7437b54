"""The DeepJSCC and ADJSCC networks.

DeepJSCC (Bourtsoulatze, Kurka, Gündüz, IEEE TCCN 2019, Fig. 2 / Sec. IV): a fully
convolutional encoder, five 5x5 convolutions with PReLU,

==========  ========  ======  =======  ==========
layer       filters   kernel  stride   activation
==========  ========  ======  =======  ==========
conv 1      16        5x5     2        PReLU
conv 2      32        5x5     2        PReLU
conv 3      32        5x5     1        PReLU
conv 4      32        5x5     1        PReLU
conv 5      ``c``     5x5     1        PReLU
==========  ========  ======  =======  ==========

then the power normalisation ``z = sqrt(k) z̃ / ||z̃||`` per image: the ``c x H/4 x W/4``
reals are ``k = ceil(c H W / 32)`` complex symbols of average power 1, exactly what the
analog link expects (its per-sample scale is then 1). The decoder mirrors it with
transposed convolutions (32, 32, 32, 16 filters with PReLU, strides 1, 1, 1, 2, then ``C``
filters, stride 2, sigmoid). "Same" padding (2) keeps ``H/4 x W/4`` for any ``H, W``
divisible by 4 (32 -> 8 for CIFAR-sized photos, 28 -> 7 for digits28).

ADJSCC (Xu, Ai, Chen, Wu, Chen, IEEE TCSVT 2021, Sec. III-B): an Attention Feature (AF)
module after each of the first four stages of the encoder and of the decoder. The context
is the global average pool of the stage's features concatenated with the SNR; two fully
connected layers (ReLU, then sigmoid) turn it into one factor per channel, which scales
the features. One model serves every SNR. (The paper's stages use GDN; here they are the
DeepJSCC stages above, so that the two variants differ only by the AF modules.)
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn

from ..weights import read_weights, resolve_shipped, save_weights, shipped_in

__all__ = ["VARIANTS", "AFModule", "DeepJSCCConfig", "DeepJSCCModel", "achievable_ratio", "channels_for_ratio",
           "load_deepjscc_model", "power_normalize", "save_deepjscc_model"]

VARIANTS = ("deepjscc", "adjscc")
#: the ``linksim`` kind in the weights' metadata
WEIGHTS_KIND = "deepjscc"
#: a requested bandwidth ratio is achievable when the nearest ``c`` gives a ratio this close (relative)
RATIO_TOLERANCE = 0.15
#: the SNR input of the AF modules is ``snr_db / SNR_SCALE_DB`` (the paper feeds dB; a fixed
#: scale of a linear layer's input changes nothing but the optimiser's step sizes)
SNR_SCALE_DB = 10.0


@dataclass(frozen=True)
class DeepJSCCConfig:
    """Architecture of a DeepJSCC / ADJSCC model.

    :ivar variant: ``deepjscc`` (one model per SNR) | ``adjscc`` (AF modules, SNR-adaptive).
    :ivar image_shape: ``(C, H, W)``, ``H`` and ``W`` divisible by 4.
    :ivar c: output channels of the last encoder convolution (sets the bandwidth ratio).
    :ivar filters: filters of the first and of the three middle convolutions (paper: 16, 32).
    :ivar af_hidden: width of the AF modules' first fully connected layer (ADJSCC).
    """

    variant: str = "deepjscc"
    image_shape: tuple[int, int, int] = (3, 32, 32)
    c: int = 16
    filters: tuple[int, int] = (16, 32)
    af_hidden: int = 16

    def __post_init__(self) -> None:
        if self.variant not in VARIANTS:
            raise ValueError(f"variant: must be one of {', '.join(VARIANTS)}, got {self.variant!r}")
        object.__setattr__(self, "image_shape", tuple(int(v) for v in self.image_shape))
        object.__setattr__(self, "filters", tuple(int(v) for v in self.filters))
        if len(self.image_shape) != 3 or min(self.image_shape) < 1:
            raise ValueError(f"image_shape: must be (C, H, W), got {self.image_shape}")
        _, h, w = self.image_shape
        if h % 4 or w % 4:
            raise ValueError(f"image_shape: H and W must be divisible by 4 (two stride-2 layers), got {h}x{w}")
        if self.c < 1 or len(self.filters) != 2 or min(self.filters) < 1 or self.af_hidden < 1:
            raise ValueError("c, the two filters and af_hidden must be positive")

    @property
    def latent_shape(self) -> tuple[int, int, int]:
        """``(c, H/4, W/4)``: the reals sent per image."""
        _, h, w = self.image_shape
        return self.c, h // 4, w // 4

    @property
    def num_values(self) -> int:
        """Real values sent per image."""
        return math.prod(self.latent_shape)

    @property
    def k(self) -> int:
        """Complex channel symbols per image (two reals each; an odd count is padded with one zero)."""
        return -(-self.num_values // 2)

    @property
    def bandwidth_ratio(self) -> float:
        """``k / n``: channel uses per source value, ``n = C H W``."""
        return self.k / math.prod(self.image_shape)

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> "DeepJSCCConfig":
        return cls(**json.loads(text))


def achievable_ratio(image_shape: tuple[int, int, int], c: int) -> tuple[int, int]:
    """``(k, n)``: complex symbols and source values per image with ``c`` output channels."""
    ch, h, w = image_shape
    return -(-(c * (h // 4) * (w // 4)) // 2), ch * h * w


def channels_for_ratio(ratio: float, image_shape: tuple[int, int, int]) -> int:
    """The ``c`` whose bandwidth ratio ``k/n`` is nearest ``ratio`` (``k = ceil(c H W / 32)``).

    :raises ValueError: ``H`` or ``W`` not divisible by 4, or no ``c`` within
        :data:`RATIO_TOLERANCE` of ``ratio`` (the message gives the nearest achievable ratios).
    """
    ch, h, w = image_shape
    if h % 4 or w % 4:
        raise ValueError(f"images of {h}x{w}: H and W must be divisible by 4 (two stride-2 layers)")
    if not (isinstance(ratio, (int, float)) and math.isfinite(ratio) and ratio > 0):
        raise ValueError(f"bandwidth_ratio: must be a positive number, got {ratio!r}")
    per_channel = (h // 4) * (w // 4) / 2 / (ch * h * w)  # ratio added by one channel (1/32 per source channel)
    guess = max(1, round(ratio / per_channel))
    best = min((c for c in (guess - 1, guess, guess + 1) if c >= 1),
               key=lambda c: abs(achievable_ratio(image_shape, c)[0] / (ch * h * w) - ratio))
    k, n = achievable_ratio(image_shape, best)
    if abs(k / n - ratio) > RATIO_TOLERANCE * ratio:
        shown = ", ".join(f"c = {c}: {k}/{n} = {k / n:.4g}" for c in sorted({max(1, best - 1), best, best + 1})
                          for k, n in [achievable_ratio(image_shape, c)])
        raise ValueError(f"bandwidth_ratio {ratio:.4g} is not achievable for {ch}x{h}x{w} images within "
                         f"{RATIO_TOLERANCE:.0%} (k = ceil(c*{h // 4}*{w // 4}/2) complex symbols per {n} values; "
                         f"nearest: {shown})")
    return best


def power_normalize(z: torch.Tensor, k: int) -> torch.Tensor:
    """``z = sqrt(k) z̃ / ||z̃||`` per sample: ``[B, ...]`` reals of energy ``k`` (``k`` complex
    symbols of average power 1, the padding zero of an odd count included)."""
    norm = z.flatten(1).norm(dim=1).clamp_min(1e-12)
    return z * (math.sqrt(k) / norm).reshape(-1, *([1] * (z.dim() - 1)))


class AFModule(nn.Module):
    """Attention feature module (ADJSCC, Fig. 3): ``[B, C, H, W]`` features and ``[B]`` SNR [dB]
    -> the features scaled per channel by ``sigmoid(FC(ReLU(FC([GAP(features), SNR]))))``."""

    def __init__(self, channels: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(channels + 1, hidden)
        self.fc2 = nn.Linear(hidden, channels)

    def forward(self, x: torch.Tensor, snr_db: torch.Tensor) -> torch.Tensor:
        context = torch.cat([x.mean(dim=(2, 3)), (snr_db / SNR_SCALE_DB)[:, None].to(x.dtype)], dim=1)
        return x * torch.sigmoid(self.fc2(torch.relu(self.fc1(context))))[:, :, None, None]


def _conv(a: int, b: int, stride: int) -> nn.Conv2d:
    return nn.Conv2d(a, b, 5, stride=stride, padding=2)


def _deconv(a: int, b: int, stride: int) -> nn.ConvTranspose2d:
    return nn.ConvTranspose2d(a, b, 5, stride=stride, padding=2, output_padding=stride - 1)


class DeepJSCCModel(nn.Module):
    """Encoder and decoder of :class:`DeepJSCCConfig` (see the module docstring).

    ``snr_db`` (``[B]`` or a number, Es/N0 per resource element [dB]) feeds the AF modules of
    an ``adjscc`` model; a ``deepjscc`` model ignores it.
    """

    def __init__(self, config: DeepJSCCConfig) -> None:
        super().__init__()
        self.config = config
        ch = config.image_shape[0]
        f1, f2 = config.filters
        enc = [(ch, f1, 2), (f1, f2, 2), (f2, f2, 1), (f2, f2, 1), (f2, config.c, 1)]
        dec = [(config.c, f2, 1), (f2, f2, 1), (f2, f2, 1), (f2, f1, 2), (f1, ch, 2)]
        self.enc = nn.ModuleList(_conv(a, b, s) for a, b, s in enc)
        self.enc_act = nn.ModuleList(nn.PReLU(b) for _, b, _ in enc)
        self.dec = nn.ModuleList(_deconv(a, b, s) for a, b, s in dec)
        self.dec_act = nn.ModuleList(nn.PReLU(b) for _, b, _ in dec[:-1])
        adaptive = config.variant == "adjscc"
        self.enc_af = nn.ModuleList(AFModule(b, config.af_hidden) for _, b, _ in enc[:-1]) if adaptive else None
        self.dec_af = nn.ModuleList(AFModule(b, config.af_hidden) for _, b, _ in dec[:-1]) if adaptive else None

    @property
    def adaptive(self) -> bool:
        return self.enc_af is not None

    def _snr(self, snr_db, batch: int, ref: torch.Tensor) -> torch.Tensor | None:
        if not self.adaptive:
            return None
        if snr_db is None:
            raise ValueError("snr_db: an adjscc model needs the SNR")
        return torch.as_tensor(snr_db, dtype=torch.float32, device=ref.device).reshape(-1).expand(batch)

    def encode(self, x: torch.Tensor, snr_db=None) -> torch.Tensor:
        """``x`` ``[B, C, H, W]`` in [0, 1] -> ``[B, c, H/4, W/4]`` reals of energy ``k`` per image."""
        snr = self._snr(snr_db, x.shape[0], x)
        h = x
        for i, (conv, act) in enumerate(zip(self.enc, self.enc_act)):
            h = act(conv(h))
            if snr is not None and i < len(self.enc_af):
                h = self.enc_af[i](h, snr)
        return power_normalize(h, self.config.k)

    def decode(self, y: torch.Tensor, snr_db=None) -> torch.Tensor:
        """Received ``[B, c, H/4, W/4]`` -> ``x_hat`` ``[B, C, H, W]`` in [0, 1]."""
        snr = self._snr(snr_db, y.shape[0], y)
        h = y
        for i, conv in enumerate(self.dec):
            h = conv(h)
            if i < len(self.dec_act):
                h = self.dec_act[i](h)
                if snr is not None:
                    h = self.dec_af[i](h, snr)
        return torch.sigmoid(h)

    def forward(self, x: torch.Tensor, snr_db=None) -> torch.Tensor:
        """Error-free round trip (the channel is the trainer's)."""
        return self.decode(self.encode(x, snr_db), snr_db)


def save_deepjscc_model(model: DeepJSCCModel, path: str | Path, half: bool = False, extra: dict | None = None) -> Path:
    """Write ``model`` to a safetensors file, its config in the metadata (``half``: float16)."""
    return save_weights(model, path, WEIGHTS_KIND, model.config.to_json(), half, extra)


def load_deepjscc_model(path: str | Path, device: torch.device | str | None = None
                        ) -> tuple[DeepJSCCModel, dict]:
    """``(model, extra)`` of a file written by :func:`save_deepjscc_model` (float32, eval mode;
    ``extra``: how it was trained, e.g. ``channel``, ``snr_db``).

    :raises FileNotFoundError: no such file. :raises ValueError: not DeepJSCC weights, or
        weights that do not fit their config.
    """
    meta, state = read_weights(path, "deepjscc weights", WEIGHTS_KIND)
    model = DeepJSCCModel(DeepJSCCConfig.from_json(meta["config"]))
    try:
        model.load_state_dict(state)
    except RuntimeError as e:
        raise ValueError(f"deepjscc weights: {path} do not fit their own config ({str(e).splitlines()[0]})") from None
    extra = json.loads(meta["extra"]) if meta.get("extra") else {}
    return model.to(device or "cpu").eval(), extra


#: where the shipped weights live; a scenario names them without a path
WEIGHTS_DIR = Path(__file__).parent / "weights"


def shipped_weights() -> list[str]:
    """Names of the weight files shipped in the package (without ``.safetensors``)."""
    return shipped_in(WEIGHTS_DIR)


def resolve_weights(value: str | Path) -> Path:
    """A scenario's ``weights`` value -> a file: a bare name (no folder, no suffix) is a
    shipped file, anything else a path.

    :raises ValueError: a bare name that is not shipped (the message lists those that are).
    """
    return resolve_shipped(value, WEIGHTS_DIR, "deepjscc weights",
                           " from 'linksim train deepjscc', or 'random'")
