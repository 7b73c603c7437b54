"""Datasets: bundled image sets and loaders for user folders.

Entry point: :func:`load_dataset(source, num_samples, image_size=None, seed=0)
<linksim.data.registry.load_dataset>` with the scenario's ``data.source`` string
(``digits28``, ``digits28:train``, ``photos``, ``folder:<path>``, ``mnist:<dir>``,
``mnist:<dir>:train``). It returns an :class:`ImageDataset` whose ``images`` are
``[N, C, H, W]`` float32 in ``[0, 1]`` on CPU, or, for the multimodal sources
(``digits-av``, ``triples:<dir>``, ``vggsound:<dir>``, ``coco:<dir>``), a
:class:`~linksim.data.multimodal.MultimodalBatch`. Errors are :class:`DataError`
(a ``ValueError``); skipped files are reported as :class:`DataWarning`.
"""

from linksim.data.dataset import DataError, DataWarning, ImageDataset
from linksim.data.registry import (
    SOURCES,
    DataSource,
    is_multimodal_source,
    known_sources,
    load_dataset,
    register_source,
)

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
