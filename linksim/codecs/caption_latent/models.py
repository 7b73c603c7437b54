"""The foundation models of ``caption_latent``, loaded lazily with ``from_pretrained``.

- :class:`Captioner`: BLIP image-to-text (``BlipForConditionalGeneration`` + ``BlipProcessor``).
- :class:`LatentDiffusion`: the Stable Diffusion components of one
  ``StableDiffusionImg2ImgPipeline`` (VAE encoder at the transmitter; UNet, CLIP text
  encoder, DDIM scheduler and VAE decoder at the receiver).

Both come from a hub id or a local folder (``save_pretrained`` layout). Loaded models
are cached per (source, device, dtype): several codecs of one scenario (the modes
compared side by side) share one copy. Nothing is loaded at import or by
``linksim validate``: :func:`latent_geometry` reads only the VAE's ``config.json``.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from linksim.pretrained import ModelUnavailable, from_pretrained, is_local

#: Stable Diffusion v1.x VAE: 4 latent channels, 8x downsampling (used when the config is not at hand)
SD_LATENT_CHANNELS = 4
SD_DOWNSAMPLING = 8

_CACHE: dict[tuple, object] = {}


def model_dtype(device: torch.device) -> torch.dtype:
    """float16 on CUDA (as Stable Diffusion is usually run), float32 on the CPU (no fast float16 kernels)."""
    return torch.float16 if device.type == "cuda" else torch.float32


@dataclass(frozen=True)
class LatentGeometry:
    """The VAE's latent layout: ``channels`` x (H / ``downsampling``) x (W / ``downsampling``).

    :ivar from_config: False when the pipeline's config could not be read (a hub id not in
        the cache) and Stable Diffusion v1's geometry is assumed.
    """

    channels: int
    downsampling: int
    from_config: bool

    def shape(self, height: int, width: int) -> tuple[int, int, int]:
        """Latent shape ``(c, h, w)`` of an ``height`` x ``width`` image [pixels]."""
        return (self.channels, height // self.downsampling, width // self.downsampling)


def latent_geometry(pipeline: str) -> LatentGeometry:
    """The latent geometry of the pipeline ``pipeline`` from its ``vae/config.json`` only (no weights)."""
    from diffusers import AutoencoderKL

    try:
        kwargs = {} if is_local(pipeline) else {"local_files_only": True}
        with warnings.catch_warnings():  # huggingface_hub's deprecation noise about its own arguments
            warnings.simplefilter("ignore", UserWarning)
            cfg = AutoencoderKL.load_config(pipeline, subfolder="vae", **kwargs)
    except Exception:  # noqa: BLE001 - not available offline: SD v1's geometry
        return LatentGeometry(SD_LATENT_CHANNELS, SD_DOWNSAMPLING, from_config=False)
    blocks = len(cfg.get("block_out_channels", [0] * 4))
    return LatentGeometry(int(cfg.get("latent_channels", 4)), 2 ** (blocks - 1), from_config=True)


class Captioner:
    """BLIP captioning, batched on the device.

    :param source: hub id or folder holding the model *and* its processor.
    """

    def __init__(self, source: str, device: torch.device) -> None:
        from transformers import BlipForConditionalGeneration, BlipProcessor

        how = "set params.captioner to a BLIP hub id or a folder saved with save_pretrained (model and processor)"
        what = f"params.captioner (BLIP captioning model '{source}')"
        self.processor = from_pretrained(BlipProcessor.from_pretrained, source, what, how)
        self.model = from_pretrained(BlipForConditionalGeneration.from_pretrained, source, what, how,
                                     dtype=model_dtype(device)).to(device).eval()
        ip = self.processor.image_processor
        self._size = (int(ip.size["height"]), int(ip.size["width"]))
        self._mean = torch.tensor(ip.image_mean, device=device).view(1, 3, 1, 1)
        self._std = torch.tensor(ip.image_std, device=device).view(1, 3, 1, 1)
        self.device = device

    @torch.no_grad()
    def __call__(self, x: torch.Tensor, max_new_tokens: int) -> list[str]:
        """Captions of ``x`` ``[B, 3, H, W]`` in [0, 1]: ``B`` strings.

        The processor's resize + normalisation is done here in torch (same bicubic
        resize and mean/std as ``BlipImageProcessor``) so the batch stays on the device
        instead of going through PIL image by image.
        """
        pixels = F.interpolate(x.float(), size=self._size, mode="bicubic", align_corners=False).clamp(0, 1)
        pixels = ((pixels - self._mean) / self._std).to(self.model.dtype)
        ids = self.model.generate(pixel_values=pixels, max_new_tokens=max_new_tokens)
        return [t.strip() for t in self.processor.batch_decode(ids, skip_special_tokens=True)]


class LatentDiffusion:
    """Stable Diffusion components for the transmitter's encoder and the receiver's img2img.

    :param source: hub id or folder in the diffusers pipeline layout (vae, unet,
        text_encoder, tokenizer, scheduler); the scheduler is replaced by DDIM (the paper's).
    """

    def __init__(self, source: str, device: torch.device) -> None:
        from diffusers import DDIMScheduler, StableDiffusionImg2ImgPipeline, StableDiffusionPipeline

        how = "set params.pipeline to a Stable Diffusion hub id or a folder in the diffusers pipeline layout"
        what = f"params.pipeline (Stable Diffusion pipeline '{source}')"
        pipe = from_pretrained(StableDiffusionImg2ImgPipeline.from_pretrained, source, what, how,
                               safety_checker=None, requires_safety_checker=False, dtype=model_dtype(device))
        pipe.scheduler = DDIMScheduler.from_config(pipe.scheduler.config)
        pipe = pipe.to(device)
        pipe.set_progress_bar_config(disable=True)
        self.img2img = pipe
        self.text2img = StableDiffusionPipeline(**pipe.components, requires_safety_checker=False)
        self.text2img.set_progress_bar_config(disable=True)
        self.vae = pipe.vae
        self.scaling = float(pipe.vae.config.scaling_factor)
        self.device = device
        self.dtype = model_dtype(device)

    @torch.no_grad()
    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """VAE latent ``[B, c, H/f, W/f]`` (float32, scaled by the VAE's ``scaling_factor``) of ``x``
        ``[B, 3, H, W]`` in [0, 1]: the mean of the posterior (deterministic transmitter)."""
        dist = self.vae.encode((2 * x - 1).to(self.dtype)).latent_dist
        return (dist.mode() * self.scaling).float()

    @torch.no_grad()
    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """VAE decoder alone (T = 0: the system is a VAE transceiver): ``z`` scaled latent -> ``[B, 3, H, W]`` in [0, 1]."""
        img = self.vae.decode(z.to(self.dtype) / self.scaling).sample
        return ((img.float() + 1) / 2).clamp(0, 1)

    @torch.no_grad()
    def from_latent(self, z: torch.Tensor, prompts: list[str], strength: float, steps: int, guidance: float,
                    generator: torch.Generator) -> torch.Tensor:
        """img2img: ``z`` noised to step ``int(steps * strength)`` then denoised by DDIM, conditioned on ``prompts``.

        :param z: ``[B, c, h, w]`` received (scaled) latent.
        :returns: ``[B, 3, 8h, 8w]`` images in [0, 1] (float32).
        """
        out = self.img2img(prompt=prompts, image=z.to(self.dtype), strength=strength, num_inference_steps=steps,
                           guidance_scale=guidance, generator=generator, output_type="pt")
        return out.images.float().clamp(0, 1)

    @torch.no_grad()
    def from_text(self, prompts: list[str], height: int, width: int, steps: int, guidance: float,
                  generator: torch.Generator) -> torch.Tensor:
        """Text-to-image from pure noise: ``[B, 3, height, width]`` images in [0, 1] (float32)."""
        out = self.text2img(prompt=prompts, height=height, width=width, num_inference_steps=steps,
                            guidance_scale=guidance, generator=generator, output_type="pt")
        return out.images.float().clamp(0, 1)


def captioner(source: str, device: torch.device) -> Captioner:
    """The (cached) :class:`Captioner` of ``source`` on ``device``."""
    key = ("captioner", source, str(device))
    if key not in _CACHE:
        _CACHE[key] = Captioner(source, device)
    return _CACHE[key]


def latent_diffusion(source: str, device: torch.device) -> LatentDiffusion:
    """The (cached) :class:`LatentDiffusion` of ``source`` on ``device``."""
    key = ("diffusion", source, str(device))
    if key not in _CACHE:
        _CACHE[key] = LatentDiffusion(source, device)
    return _CACHE[key]


__all__ = ["Captioner", "LatentDiffusion", "LatentGeometry", "ModelUnavailable", "captioner", "latent_diffusion",
           "latent_geometry", "model_dtype"]
