"""Datasets: bundled image sets and loaders for user folders.

Entry point: :func:`load_dataset(source, num_samples, image_size=None, seed=0)
<linksim.data.registry.load_dataset>` with the scenario's ``data.source`` string
(``digits28``, ``digits28:train``, ``photos``, ``folder:<path>``, ``mnist:<dir>``,
``mnist:<dir>:train``). It returns an :class:`ImageDataset` whose ``images`` are
``[N, C, H, W]`` float32 in ``[0, 1]`` on CPU, or, for the multimodal sources
(``digits-av``, ``triples:<dir>``, ``vggsound:<dir>``, ``coco:<dir>``), a
:class:`~linksim.data.multimodal.MultimodalBatch`. Errors are :class:`DataError`
(a ``ValueError``); skipped files are reported as :class:`DataWarning`.

The names below are imported on first use (module ``__getattr__``): the registry of
sources imports no torch, the datasets do, so ``linksim list`` names every source
without torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from linksim.lazy import lazy_exports

if TYPE_CHECKING:
    from linksim.data.dataset import DataError, DataWarning, ImageDataset
    from linksim.data.registry import (SOURCES, DataSource, is_multimodal_source, known_sources, load_dataset,
                                       register_source)

#: public name -> module that defines it (DataError is linksim.errors' own, re-exported by .dataset)
_EXPORTS = {
    "DataError": "linksim.errors",
    **dict.fromkeys(("DataWarning", "ImageDataset"), "linksim.data.dataset"),
    **dict.fromkeys(("SOURCES", "DataSource", "is_multimodal_source", "known_sources", "load_dataset",
                     "register_source"), "linksim.data.registry"),
}


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())


__all__ = [
    "DataError",
    "DataSource",
    "SOURCES",
    "DataWarning",
    "ImageDataset",
    "is_multimodal_source",
    "known_sources",
    "load_dataset",
    "register_source",
]
