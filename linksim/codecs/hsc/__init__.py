"""HSC: hybrid semantic + complementary representation (Nam, Park, Choi, Kim).

- :mod:`.models` — the VAE / VQ-VAE semantic representation (SR).
- :mod:`.cr` — the complementary representation (CR) and the recomposition, eqs. (8)-(21).
- :mod:`.codec` — the ``hsc`` codec (streams ``sr`` and ``cr``).
- :mod:`.training` — ``linksim train hsc``.
"""

from .codec import DEFAULT_WEIGHTS, HSCCodec, HSCParams
from .cr import (
    complementary_basis,
    complementary_representation,
    load_eta,
    recompose,
    residual_energy,
    split_representation,
)
from .models import (
    NCRAdapters,
    NCRConfig,
    SemanticConfig,
    SemanticModel,
    load_ncr_adapters,
    load_semantic_model,
    save_ncr_adapters,
    save_semantic_model,
)

__all__ = [
    "DEFAULT_WEIGHTS",
    "HSCCodec",
    "HSCParams",
    "NCRAdapters",
    "NCRConfig",
    "SemanticConfig",
    "SemanticModel",
    "complementary_basis",
    "complementary_representation",
    "load_eta",
    "load_ncr_adapters",
    "load_semantic_model",
    "recompose",
    "residual_energy",
    "save_ncr_adapters",
    "save_semantic_model",
    "split_representation",
]
