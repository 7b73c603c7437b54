"""The semantic representation (SR) models of HSC: a VAE and a VQ-VAE (Sec. II, IV-A).

Encoder: flatten ``[B, C, H, W]`` -> fully connected layers (``hidden`` widths, ReLU)
-> two parallel heads of ``2k`` reals (mean and log-variance of ``k`` complex values;
the VQ-VAE has only the mean head). Reparameterisation ``z̄ = μ + ε·σ`` (training;
the mean at evaluation, so the transmitter and a noiseless receiver agree), or the
nearest of 256 trainable codewords with a straight-through gradient (VQ-VAE). Power
normalisation ``z = sqrt(kP) z̄ / ||z̄||`` gives ``k`` complex symbols of average
power ``P`` = ``2k`` reals on the analog path. Decoder: the hidden widths reversed,
then ``C*H*W`` outputs through a sigmoid, reshaped to the image.

The paper's sizes for 28x28 (hidden ``2048, 1024, 512``, ``k = 128``) are the
defaults of :class:`SemanticConfig`; the shipped weights are a smaller model (see
docs/codecs/hsc.md).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torch import nn

from ..weights import read_weights, resolve_shipped, save_weights, shipped_in

__all__ = ["NCRAdapters", "NCRConfig", "SemanticConfig", "SemanticModel", "load_ncr_adapters", "load_semantic_model",
           "power_normalize", "save_ncr_adapters", "save_semantic_model"]


@dataclass(frozen=True)
class SemanticConfig:
    """Architecture of a semantic model.

    :ivar kind: ``vae`` | ``vqvae``.
    :ivar image_shape: ``(C, H, W)`` of the input images.
    :ivar k: complex channel symbols of the SR (``2k`` reals).
    :ivar hidden: encoder widths (the decoder uses them reversed).
    :ivar codebook_size: VQ-VAE codewords (256 in the paper).
    :ivar power: average symbol power ``P``.
    """

    kind: str = "vae"
    image_shape: tuple[int, int, int] = (1, 28, 28)
    k: int = 128
    hidden: tuple[int, ...] = (2048, 1024, 512)
    codebook_size: int = 256
    power: float = 1.0

    def __post_init__(self) -> None:
        if self.kind not in ("vae", "vqvae"):
            raise ValueError(f"kind: must be 'vae' or 'vqvae', got {self.kind!r}")
        if self.k < 1 or not self.hidden or min(self.hidden) < 1:
            raise ValueError("k and every hidden width must be positive")
        object.__setattr__(self, "image_shape", tuple(int(v) for v in self.image_shape))
        object.__setattr__(self, "hidden", tuple(int(v) for v in self.hidden))

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> "SemanticConfig":
        return cls(**json.loads(text))


def power_normalize(z: torch.Tensor, k: int, power: float = 1.0) -> torch.Tensor:
    """``z = sqrt(kP) z̄ / ||z̄||``: ``[B, 2k]`` reals -> ``[B, 2k]`` of energy ``kP``."""
    norm = z.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    return math.sqrt(k * power) * z / norm


def _mlp(widths: list[int], last_act: bool) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(widths[:-1], widths[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(widths) - 2 or last_act:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


@dataclass
class SemanticOutput:
    """Encoder output: ``z`` ``[B, 2k]`` normalised channel reals; training terms."""

    z: torch.Tensor
    mu: torch.Tensor
    logvar: torch.Tensor | None = None
    index: torch.Tensor | None = None
    vq_loss: torch.Tensor | None = None
    extras: dict = field(default_factory=dict)


class SemanticModel(nn.Module):
    """Semantic encoder ``f_θ`` and decoder ``f_φ⁻¹`` (eqs. (1), (6)).

    :param config: the architecture.
    """

    def __init__(self, config: SemanticConfig) -> None:
        super().__init__()
        self.config = config
        n = math.prod(config.image_shape)
        two_k = 2 * config.k
        self.encoder = _mlp([n, *config.hidden], last_act=True)
        self.mu = nn.Linear(config.hidden[-1], two_k)
        if config.kind == "vae":
            self.logvar = nn.Linear(config.hidden[-1], two_k)
        else:
            self.codebook = nn.Parameter(torch.randn(config.codebook_size, two_k))
        self.decoder = _mlp([two_k, *reversed(config.hidden), n], last_act=False)

    @property
    def k(self) -> int:
        return self.config.k

    def encode(self, x: torch.Tensor, sample: bool | None = None) -> SemanticOutput:
        """``x`` ``[B, C, H, W]`` in [0, 1] -> :class:`SemanticOutput` with ``z`` ``[B, 2k]``.

        :param sample: draw ``ε`` (VAE); default: in training mode only.
        """
        h = self.encoder(x.flatten(1))
        mu = self.mu(h)
        cfg = self.config
        if cfg.kind == "vae":
            logvar = self.logvar(h).clamp(-20.0, 10.0)
            sample = self.training if sample is None else sample
            z_bar = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar) if sample else mu
            return SemanticOutput(power_normalize(z_bar, cfg.k, cfg.power), mu, logvar=logvar)
        dist = torch.cdist(mu, self.codebook)  # [B, K]
        index = dist.argmin(dim=-1)
        q = self.codebook[index]
        vq_loss = (q - mu.detach()).square().mean() + 0.25 * (mu - q.detach()).square().mean()
        z_bar = mu + (q - mu).detach()  # straight-through
        return SemanticOutput(power_normalize(z_bar, cfg.k, cfg.power), mu, index=index, vq_loss=vq_loss)

    def codeword(self, index: torch.Tensor) -> torch.Tensor:
        """VQ-VAE: codebook indices ``[B]`` -> normalised SR ``[B, 2k]``."""
        return power_normalize(self.codebook[index], self.config.k, self.config.power)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """``z`` ``[B, 2k]`` (received SR reals) -> ``X̂`` ``[B, C, H, W]`` in [0, 1]."""
        return torch.sigmoid(self.decoder(z)).reshape(z.shape[0], *self.config.image_shape)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, SemanticOutput]:
        out = self.encode(x)
        return self.decode(out.z), out


def save_semantic_model(model: SemanticModel, path: str | Path, half: bool = False, extra: dict | None = None) -> Path:
    """Write ``model`` to a safetensors file; the config travels in its metadata.

    :param half: store float16 (half the size; loaded back as float32).
    """
    return save_weights(model, path, "hsc-semantic", model.config.to_json(), half, extra)


#: where the shipped weights live; a scenario names them without a path (``weights: digits28_vae_k256``)
WEIGHTS_DIR = Path(__file__).parent / "weights"


def shipped_weights() -> list[str]:
    """Names of the weight files shipped in the package (without ``.safetensors``)."""
    return shipped_in(WEIGHTS_DIR)


def resolve_weights(value: str | Path) -> Path:
    """A scenario's ``weights`` / ``adapters`` value -> a file.

    A bare name (no folder, no suffix) is a shipped file, e.g. ``digits28_vae_rayleigh``;
    anything else is a path (relative to the working directory).

    :raises ValueError: for a bare name that is not shipped (the message lists those that are).
    """
    return resolve_shipped(value, WEIGHTS_DIR, "weights")


def load_semantic_model(path: str | Path, device: torch.device | str | None = None) -> SemanticModel:
    """Read a model written by :func:`save_semantic_model` (float32, eval mode)."""
    meta, state = read_weights(path, "hsc weights")
    model = SemanticModel(SemanticConfig.from_json(meta["config"]))
    model.load_state_dict(state)
    return model.to(device or "cpu").eval()


@dataclass(frozen=True)
class NCRConfig:
    """Architecture of the NCR adapters for one CR rank ``d`` (Sec. III-B, IV-A).

    Encoder adapter ``2k -> enc_hidden -> 2k`` on the SR, decoder adapter
    ``C*H*W -> dec_hidden -> C*H*W`` on the generated image (the paper: 128 -> 256 -> 128
    and 1024, 784 for 28x28).
    """

    k: int = 128
    image_shape: tuple[int, int, int] = (1, 28, 28)
    d: int = 4
    enc_hidden: int = 256
    dec_hidden: int = 1024
    power: float = 1.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "image_shape", tuple(int(v) for v in self.image_shape))


class NCRAdapters(nn.Module):
    """Shallow auto-encoder adapters ``f̃_ψd`` / ``f̃_ωd⁻¹`` of NCR fine-tuning (eq. 23).

    Both act as residual corrections whose last layer starts at zero, so untrained
    adapters are the identity: ``z' = norm(z + enc(z))`` ``[B, 2k]`` (the power
    constraint is applied again) and ``X̂' = X̂ + dec(X̂)`` ``[B, C, H, W]``.
    """

    def __init__(self, config: NCRConfig) -> None:
        super().__init__()
        self.config = config
        n, two_k = math.prod(config.image_shape), 2 * config.k
        self.enc = nn.Sequential(nn.Linear(two_k, config.enc_hidden), nn.ReLU(), nn.Linear(config.enc_hidden, two_k))
        self.dec = nn.Sequential(nn.Linear(n, config.dec_hidden), nn.ReLU(), nn.Linear(config.dec_hidden, n))
        for last in (self.enc[-1], self.dec[-1]):
            nn.init.zeros_(last.weight)
            nn.init.zeros_(last.bias)

    def encode(self, z: torch.Tensor) -> torch.Tensor:
        """SR ``[B, 2k]`` -> adapted, power-normalised SR ``[B, 2k]``."""
        return power_normalize(z + self.enc(z), self.config.k, self.config.power)

    def decode(self, x_hat: torch.Tensor) -> torch.Tensor:
        """Generated image ``[B, C, H, W]`` -> adapted image, same shape."""
        flat = x_hat.flatten(1)
        return (flat + self.dec(flat)).reshape(x_hat.shape)


def save_ncr_adapters(adapters: NCRAdapters, path: str | Path, half: bool = False) -> Path:
    """Write NCR adapters to safetensors (config in the metadata).

    :param half: store float16 (half the size; loaded back as float32).
    """
    return save_weights(adapters, path, "hsc-ncr", json.dumps(asdict(adapters.config)), half)


def load_ncr_adapters(path: str | Path, device: torch.device | str | None = None) -> NCRAdapters:
    """Read adapters written by :func:`save_ncr_adapters` (eval mode)."""
    meta, state = read_weights(path, "hsc adapters", "hsc-ncr")
    adapters = NCRAdapters(NCRConfig(**json.loads(meta["config"])))
    adapters.load_state_dict(state)
    return adapters.to(device or "cpu").eval()
