"""Bridge: multimodal semantic communication with a shared codebook (seeds/000_…, Sec. 3).

- :mod:`.config` — the architecture record; :mod:`.encoders` — ``phi^m``;
- :mod:`.shared` — specific branch (eq. 1) and shared encoder (eq. 2);
- :mod:`.sdmi` — DV/MINE bound (eq. 3); :mod:`.macs` — gated bilinear InfoNCE (eq. 4-6);
- :mod:`.vq` — shared codebook, straight-through, usage monitoring and reset (eq. 7-11);
- :mod:`.decoders` — lightweight decoders and eq. (12); :mod:`.foundation` — eq. (13);
- :mod:`.losses` — eq. (14) and the ablations; :mod:`.model` — all of it, save/load;
- :mod:`.metrics` — fidelity metrics; :mod:`.training` — ``linksim train bridge``;
- :mod:`.codec` — the ``bridge`` codec (streams ``video``, ``audio``, ``text``).
"""

from .codec import DEFAULT_WEIGHTS, BridgeCodec, BridgeParams, MultimodalReconstruction, bridge_metrics
from .config import MODALITIES, BridgeConfig
from .losses import ABLATIONS, LossTerms, LossWeights, total_loss
from .macs import MACS, gated_info_nce
from .model import BridgeModel, BridgeOutput, load_bridge_model, model_inputs, save_bridge_model
from .sdmi import SDMI, DVCritic, MutualInformationCritic, dv_bound
from .vq import Quantized, SharedCodebook

__all__ = [
    "ABLATIONS",
    "BridgeCodec",
    "BridgeConfig",
    "BridgeParams",
    "DEFAULT_WEIGHTS",
    "MultimodalReconstruction",
    "bridge_metrics",
    "BridgeModel",
    "BridgeOutput",
    "DVCritic",
    "LossTerms",
    "LossWeights",
    "MACS",
    "MODALITIES",
    "MutualInformationCritic",
    "Quantized",
    "SDMI",
    "SharedCodebook",
    "dv_bound",
    "gated_info_nce",
    "load_bridge_model",
    "model_inputs",
    "save_bridge_model",
    "total_loss",
]
