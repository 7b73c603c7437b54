"""DeepJSCC (Bourtsoulatze, Kurka, Gündüz 2019) and ADJSCC (Xu, Ai, Chen, Wu, Chen 2021).

- :mod:`.models` — the convolutional encoder / decoder and the AF modules.
- :mod:`.codec` — the ``deepjscc`` codec (one analog stream ``z``; ``variant: deepjscc | adjscc``).
- :mod:`.training` — ``linksim train deepjscc``.
"""

from .codec import DEFAULT_WEIGHTS, DeepJSCCCodec, DeepJSCCParams
from .models import (
    AFModule,
    DeepJSCCConfig,
    DeepJSCCModel,
    channels_for_ratio,
    load_deepjscc_model,
    save_deepjscc_model,
)

__all__ = [
    "DEFAULT_WEIGHTS",
    "AFModule",
    "DeepJSCCCodec",
    "DeepJSCCConfig",
    "DeepJSCCModel",
    "DeepJSCCParams",
    "channels_for_ratio",
    "load_deepjscc_model",
    "save_deepjscc_model",
]
