"""``caption_latent``: BLIP caption + Stable Diffusion latent, img2img at the receiver (seeds/002)."""

from .codec import CaptionLatentCodec, CaptionLatentParams
from .models import LatentGeometry, latent_geometry
from .modes import MODE_STREAMS, sends_latent

__all__ = ["CaptionLatentCodec", "CaptionLatentParams", "LatentGeometry", "MODE_STREAMS", "latent_geometry",
           "sends_latent"]
