"""The network: a tiny convolutional autoencoder, and its weights files.

Everything here is plain PyTorch; linksim appears only through its safetensors helpers
(:func:`linksim.codecs.weights.save_weights` / :func:`~linksim.codecs.weights.read_weights`),
which store the architecture (:class:`TinyAEConfig` as JSON) beside the state, so that a
weights file alone rebuilds the model.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn

from linksim.codecs.weights import read_weights, save_weights

__all__ = [
    "DEFAULT_WEIGHTS",
    "KIND",
    "TinyAEConfig",
    "TinyAutoencoder",
    "WEIGHTS_DIR",
    "load_model",
    "resolve_weights",
    "save_model",
    "shipped_weights",
]

#: the ``linksim`` metadata of this package's weights files
KIND = "linksim-example-tiny-ae"
#: where the shipped weights live (package data); a scenario names them without a path
WEIGHTS_DIR = Path(__file__).parent / "weights"
#: the shipped weights a codec uses when ``params.weights`` is not given
DEFAULT_WEIGHTS = "tiny_ae_digits28"


@dataclass(frozen=True)
class TinyAEConfig:
    """Architecture of a :class:`TinyAutoencoder`.

    :ivar image_shape: ``(C, H, W)`` of the images it codes; ``H`` and ``W`` multiples of 4.
    :ivar hidden: channels of the first hidden layer (the second has twice as many).
    :ivar latent_channels: channels ``L`` of the ``[L, H/4, W/4]`` latent.
    """

    image_shape: tuple[int, int, int] = (1, 28, 28)
    hidden: int = 16
    latent_channels: int = 4

    def __post_init__(self) -> None:
        c, h, w = self.image_shape
        if min(c, h, w) < 1 or h % 4 or w % 4:
            raise ValueError(f"image_shape: expected (C, H, W) with H and W multiples of 4, got {self.image_shape}")
        if self.hidden < 1 or self.latent_channels < 1:
            raise ValueError("hidden and latent_channels must be >= 1")

    @property
    def latent_shape(self) -> tuple[int, int, int]:
        """``(L, H/4, W/4)``: the shape of one sample's latent."""
        _, h, w = self.image_shape
        return (self.latent_channels, h // 4, w // 4)

    @property
    def latent_values(self) -> int:
        """Real values per sample of the latent (two per complex channel use on the analog path)."""
        return math.prod(self.latent_shape)

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> "TinyAEConfig":
        d = json.loads(text)
        return cls(image_shape=tuple(d["image_shape"]), hidden=int(d["hidden"]),
                   latent_channels=int(d["latent_channels"]))


def power_normalize(z: torch.Tensor) -> torch.Tensor:
    """Scale each sample to average complex-symbol power 1.

    :input z: ``[B, *shape]`` real latent (an even number of values per sample).
    :output: ``[B, *shape]`` with ``mean(z**2) = 1/2`` per sample, i.e. two reals per complex
        symbol of average energy 1 (what :class:`linksim.phy.AnalogLink` sends).
        An all-zero sample stays zero. Differentiable.
    """
    flat = z.flatten(1)
    power = flat.square().mean(dim=1).clamp_min(1e-12)
    return z * torch.rsqrt(2.0 * power).reshape(-1, *([1] * (z.dim() - 1)))


class TinyAutoencoder(nn.Module):
    """Convolutional autoencoder: ``[B, C, H, W]`` in [0, 1] <-> latent ``[B, L, H/4, W/4]``.

    Encoder: conv 3x3 stride 2 (``C -> hidden``), conv 3x3 (``hidden -> 2 hidden``), conv 3x3
    stride 2 (``2 hidden -> L``), then :func:`power_normalize`. Decoder: conv 3x3
    (``L -> 2 hidden``), transposed conv 4x4 stride 2 (``-> hidden``), transposed conv 4x4
    stride 2 (``-> C``), sigmoid. PReLU activations.

    :param config: the architecture.
    """

    def __init__(self, config: TinyAEConfig) -> None:
        super().__init__()
        self.config = config
        c, h = config.image_shape[0], config.hidden
        self.encoder = nn.Sequential(
            nn.Conv2d(c, h, 3, stride=2, padding=1), nn.PReLU(h),
            nn.Conv2d(h, 2 * h, 3, padding=1), nn.PReLU(2 * h),
            nn.Conv2d(2 * h, config.latent_channels, 3, stride=2, padding=1),
        )
        self.decoder = nn.Sequential(
            nn.Conv2d(config.latent_channels, 2 * h, 3, padding=1), nn.PReLU(2 * h),
            nn.ConvTranspose2d(2 * h, h, 4, stride=2, padding=1), nn.PReLU(h),
            nn.ConvTranspose2d(h, c, 4, stride=2, padding=1),
        )

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Images to latents.

        :input x: ``[B, C, H, W]`` float, values in [0, 1].
        :output z: ``[B, L, H/4, W/4]`` float32, power-normalised (``mean(z**2) = 1/2`` per sample).
        """
        return power_normalize(self.encoder(x))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Latents to images.

        :input z: ``[B, L, H/4, W/4]`` float, finite.
        :output x_hat: ``[B, C, H, W]`` float32 in [0, 1].
        """
        return torch.sigmoid(self.decoder(z))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Error-free round trip ``[B, C, H, W] -> [B, C, H, W]``."""
        return self.decode(self.encode(x))


def shipped_weights() -> list[str]:
    """Names of the weights files shipped with the package (without ``.safetensors``)."""
    return sorted(p.stem for p in WEIGHTS_DIR.glob("*.safetensors"))


def resolve_weights(value: str | Path) -> Path:
    """A scenario's ``weights`` value -> a file: a shipped name (``tiny_ae_digits28``) or a path.

    :raises ValueError: a bare name (no ``/``, no ``.safetensors``) that is not shipped.
    """
    text = str(value)
    if "/" in text or "\\" in text or text.endswith(".safetensors"):
        return Path(text).expanduser()
    path = WEIGHTS_DIR / f"{text}.safetensors"
    if not path.is_file():
        raise ValueError(f"no shipped weights named '{text}' (shipped: {', '.join(shipped_weights()) or 'none'}; "
                         "or give a path to a .safetensors file)")
    return path


def save_model(model: TinyAutoencoder, path: str | Path, half: bool = True, extra: dict | None = None) -> Path:
    """Write ``model`` (state + config) to ``path``; ``half`` stores float16 (half the size)."""
    return save_weights(model, path, KIND, model.config.to_json(), half=half, extra=extra)


def load_model(path: str | Path, device: torch.device | str | None = None) -> TinyAutoencoder:
    """Rebuild a :class:`TinyAutoencoder` from a file written by :func:`save_model` (float32).

    :raises FileNotFoundError: no such file. :raises ValueError: not weights of this model.
    """
    try:
        meta, state = read_weights(path, "tiny-ae weights", KIND)
    except (FileNotFoundError, ValueError):
        raise
    except Exception as e:  # noqa: BLE001 - e.g. safetensors' own error for a damaged file: one clear line
        raise ValueError(f"tiny-ae weights: {path} is not a readable safetensors file ({type(e).__name__}: {e})") from None
    try:
        model = TinyAutoencoder(TinyAEConfig.from_json(meta["config"]))
        model.load_state_dict(state)
    except (KeyError, TypeError, ValueError, RuntimeError) as e:
        raise ValueError(f"tiny-ae weights: {path} does not hold a usable model ({type(e).__name__}: {e})") from None
    return model.to(device) if device is not None else model
