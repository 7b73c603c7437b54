"""A scenario's data and codecs, built without the physical layer.

:func:`build_codecs` is what a run and ``linksim validate`` share: the codecs of a scenario
with the context a run gives them (sample shape, resource-element counts, budget, seed).
Counting resource elements is arithmetic (:func:`~linksim.codecs.base.stream_channel_uses`:
CRC, LDPC code blocks, bits per symbol), so nothing here imports Sionna: ``validate`` checks
payloads and budgets without building a grid, a channel or a link.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from linksim.errors import DataError, ScenarioError

if TYPE_CHECKING:
    import torch

    from linksim.codecs import Codec
    from linksim.data import ImageDataset
    from linksim.data.multimodal import MultimodalBatch

    from .schema import Scenario


def load_scenario_data(sc: "Scenario") -> "ImageDataset | MultimodalBatch":
    """The scenario's ``data`` section loaded (``num_samples`` samples, resized, drawn with its seed).

    :raises DataError: the source cannot be loaded (one line naming it).
    """
    from linksim.data import load_dataset

    d = sc.data
    return load_dataset(d.source, d.num_samples, d.image_size, seed=sc.seed)


def build_codecs(sc: "Scenario", dataset: "ImageDataset | MultimodalBatch", device: "torch.device") -> dict[str, "Codec"]:
    """Every codec of ``sc`` by name, in scenario order, built on ``device`` and checked against ``dataset``.

    Each gets a :class:`~linksim.codecs.base.CodecContext` with the sample shape of
    ``dataset`` (``(C, H, W)``; a multimodal sample's is one video frame's), the resource
    elements its streams need per sample under their transports, the scenario's bandwidth
    budget [resource elements per sample], seed and largest LDPC code block.

    :raises ScenarioError: a codec refuses its params (one line naming ``codecs[i]``).
    :raises DataError: a codec cannot take the scenario's data (one line naming the source).
    """
    from linksim.codecs import CodecContext, codec_class
    from linksim.codecs.base import stream_channel_uses

    codecs: dict[str, Codec] = {}
    sample_shape = dataset.sample_shape
    for i, (section, params, transports) in enumerate(zip(sc.codecs, sc.codec_params, sc.transports)):
        ctx = CodecContext(
            device=device,
            sample_shape=sample_shape,
            channel_uses=stream_channel_uses(transports, sc.phy.max_code_block_bits),
            budget_channel_uses=sc.budget_channel_uses(),
            seed=sc.seed,
            max_block_bits=sc.phy.max_code_block_bits,
        )
        try:
            codecs[section.name] = codec_class(section.type)(params, transports, ctx).to(device)
        except ScenarioError:
            raise
        except ValueError as e:  # a codec refusing its params for this run: a scenario problem, one line
            raise ScenarioError([f"codecs[{i}] ({section.name}): {e}"]) from None
        try:
            codecs[section.name].check_data(dataset)
        except ValueError as e:  # before any point: one line naming the source and the codec
            raise DataError(f"data.source {sc.data.source!r}: codec '{section.name}': {e}") from None
    return codecs
