"""The simulation of a scenario, built once: data, grid, channels, codecs, and the links they share.

:class:`Simulation` knows no particular codec: it builds every codec through the registry
with a :class:`~linksim.codecs.base.CodecContext` whose ``channel_uses`` counts the resource elements of the
scenario's streams, and runs points through :func:`linksim.runner.point.simulate_point`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Callable

import torch

from linksim.codecs import Codec, Transport
from linksim.data import ImageDataset
from linksim.data.multimodal import MultimodalBatch
from linksim.errors import RunError
from linksim.metrics.learned import LoadedMetrics
from linksim.phy.analog_link import AnalogLink
from linksim.phy.channels import ChannelModel, build_channel
from linksim.phy.digital_link import DigitalLink
from linksim.phy.modulation import bits_per_symbol
from linksim.phy.ofdm import OFDMGrid
from linksim.phy.snr import noise_variance
from linksim.phy.transceiver import make_transceiver
from linksim.results import PointKey, PointResult
from linksim.scenario import Scenario

SAMPLES_PER_GRID = 8


def resolve_device(name: str) -> torch.device:
    """``auto`` -> CUDA when available, else CPU; ``cuda`` without a GPU is a RunError.

    A CUDA device always carries its index (``cuda:0``): Sionna's blocks refuse a bare ``cuda``.
    """
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    dev = torch.device(name)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise RunError(f"device: '{name}' requested but no CUDA device is available (use device: auto or cpu)")
    if dev.type == "cuda" and dev.index is None:
        dev = torch.device("cuda", torch.cuda.current_device())
    return dev


def point_seed(scenario_seed: int, key: PointKey) -> int:
    """Seed of one point: depends only on the scenario seed and the point itself."""
    text = f"{scenario_seed}|{key.codec}|{key.channel}|{key.snr_db!r}"
    if key.distance_m is not None:
        text += f"|{key.distance_m!r}m"
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little") % (2**63)


def versions() -> dict[str, str]:
    """Versions of linksim (with its git state in a development install), torch, Sionna and numba."""
    from linksim.runner.fingerprint import versions as _versions

    return _versions()


def grid_of(sc: Scenario, device: torch.device | str = "cpu") -> OFDMGrid:
    """The OFDM grid of a scenario's ``phy.ofdm`` section on ``device``."""
    o = sc.phy.ofdm
    return OFDMGrid(o.fft_size, o.num_ofdm_symbols, o.subcarrier_spacing_hz, o.cyclic_prefix_length,
                    o.pilot_ofdm_symbol_indices, device=str(device))


@dataclass
class Simulation:
    """Everything a scenario needs, built once: data, grid, channels, codecs, links.

    ``dataset`` is an :class:`ImageDataset` (image codecs) or a :class:`MultimodalBatch`
    (multimodal codecs; the scenario schema keeps the two apart).
    """

    scenario: Scenario
    device: torch.device
    dataset: ImageDataset | MultimodalBatch
    grid: OFDMGrid
    channels: dict[str, ChannelModel]
    codecs: dict[str, Codec]
    _links: dict[tuple, torch.nn.Module] = field(default_factory=dict)
    _learned: LoadedMetrics | None = None  # learned metrics' models, loaded by the first run_point
    #: the device type the points run on when not ``device`` (an executor's workers), for fingerprints
    point_device_type: str | None = None
    _fingerprint_cache: dict = field(default_factory=dict)  # file digests and versions, found once

    @classmethod
    def build(cls, sc: Scenario, device: torch.device | None = None) -> "Simulation":
        device = device or resolve_device(sc.device)
        from linksim.scenario.build import build_codecs, load_scenario_data

        dataset = load_scenario_data(sc)
        grid = grid_of(sc, device)
        channels = {p.label(): build_channel(p, grid) for p in sc.channel_params}
        codecs = build_codecs(sc, dataset, device)
        return cls(sc, device, dataset, grid, channels, codecs)

    def points(self) -> list[PointKey]:
        """Every sweep point: codec x channel x SNR (or distance, with the link budget's SNR)."""
        sweep = self.scenario.sweep_points()
        return [PointKey(c, ch, snr, d) for c in self.codecs for ch in self.channels for snr, d in sweep]

    def fingerprint(self, key: PointKey) -> str:
        """Digest of everything that determines the numbers of ``key`` (see :mod:`linksim.runner.fingerprint`)."""
        from linksim.runner.fingerprint import point_fingerprint

        return point_fingerprint(self, key)

    def fingerprint_parts(self, key: PointKey) -> dict:
        """What :meth:`fingerprint` covers, flattened (``{"sweep.max_samples": 32, ...}``), as stored with the point."""
        from linksim.runner.fingerprint import point_parts

        return point_parts(self, key)

    def link(self, channel: str, t: Transport) -> torch.nn.Module:
        """The (cached) link a stream with transport ``t`` takes over ``channel``."""
        key = (channel,) + t.link_key()
        if key not in self._links:
            phy = self.scenario.phy
            implementation = phy.resolved_implementation(self.device.type)
            # the per-position LS variance exists on the SISO path only, which is plain torch (CUDA too)
            receiver = "fast" if phy.ls_error_variance == "per_position" else implementation
            transceiver = make_transceiver(self.grid, self.channels[channel], phy.csi, receiver, phy.ls_error_variance)
            if t.path == "analog":
                self._links[key] = AnalogLink(transceiver, t.analog_equalizer)
            else:
                self._links[key] = DigitalLink(transceiver, t.modulation, t.code_rate, t.ldpc_iterations,
                                               decoder=phy.resolved_decoder(self.device.type),
                                               max_block_bits=phy.max_code_block_bits,
                                               cn_update=phy.ldpc_cn_update, schedule=phy.ldpc_schedule,
                                               implementation=implementation, demapper=phy.demapper)
        return self._links[key]

    def noise(self, snr_db: float, t: Transport) -> float:
        """N0 for a stream with transport ``t`` at the scenario's ``snr_db``."""
        sc = self.scenario.sweep
        if sc.snr_type == "esn0" or t.path == "analog":
            return noise_variance(snr_db)
        return noise_variance(snr_db, "ebn0", bits_per_symbol(t.modulation), t.code_rate)

    def max_samples(self) -> int:
        """Samples a point draws at most: ``sweep.max_samples`` or the data set's size."""
        return self.scenario.sweep.max_samples or len(self.dataset)

    def batches(self):
        """``(start, x)`` batches for one point: the data set in order, cycled up to max_samples
        (``x``: images ``[B, C, H, W]`` or a :class:`MultimodalBatch`)."""
        bs, left = self.scenario.data.batch_size, self.max_samples()
        while left > 0:
            for start, x in self.dataset.batches(bs):
                if left <= 0:
                    return
                x = x.select(slice(0, left)) if isinstance(x, MultimodalBatch) else x[:left]
                left -= len(x)
                yield start, x

    def load_models(self) -> LoadedMetrics:
        """Every model of every codec and learned metric, once, before any point is simulated
        (a missing model stops the run with one line)."""
        if self._learned is None:
            from linksim.errors import ModelUnavailable
            from linksim.metrics.learned import load_metrics

            try:
                for c in self.codecs.values():
                    c.load_models()
                self._learned = load_metrics(self.scenario.metric_names, self.scenario.metric_models, self.device)
            except ModelUnavailable as e:
                raise RunError(str(e)) from None
        return self._learned

    def run_point(self, key: PointKey, on_batch: Callable[[], None] = lambda: None) -> PointResult:
        """Simulate one point (``on_batch`` is called after each batch); see
        :func:`linksim.runner.point.simulate_point`."""
        from linksim.runner.point import simulate_point

        return simulate_point(self, key, on_batch)
