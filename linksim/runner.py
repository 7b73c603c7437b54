"""The sweep: encode -> carry each stream over the PHY -> decode -> metrics, point by point."""

from __future__ import annotations

import hashlib
import json
import math
import shutil
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import numpy as np
import sionna.phy
import torch

import linksim
from linksim.codecs import AnalogPayload, Codec, CodecContext, Transport, codec_class
from linksim.data import DataError, ImageDataset, load_dataset
from linksim.data.multimodal import MultimodalBatch
from linksim.metrics.fidelity import fidelity_metric, sanitize_images
from linksim.metrics.learned import LEARNED_METRICS, LoadedMetrics, load_metrics
from linksim.pretrained import ModelUnavailable
from linksim.phy.analog_link import AnalogLink
from linksim.phy.channels import ChannelModel, build_channel
from linksim.phy.digital_link import DigitalLink, plan_digital_payload
from linksim.phy.modulation import bits_per_symbol
from linksim.phy.ofdm import OFDMGrid
from linksim.phy.snr import noise_variance
from linksim.phy.transceiver import OFDMTransceiver
from linksim.run_lock import RunLock, RunLockedError
from linksim.results import LinkCounts, PointKey, PointResult, ResultStore
from linksim.scenario import LINK_METRICS, Scenario, scenario_to_yaml

if TYPE_CHECKING:
    from linksim.executors import Executor

SAMPLES_PER_GRID = 8


class RunError(RuntimeError):
    """A run cannot proceed (device missing, unusable output folder...)."""


def resolve_device(name: str) -> torch.device:
    """``auto`` -> CUDA when available, else CPU; ``cuda`` without a GPU is a RunError."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(name)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise RunError(f"device: '{name}' requested but no CUDA device is available (use device: auto or cpu)")
    return dev


def point_seed(scenario_seed: int, key: PointKey) -> int:
    """Seed of one point: depends only on the scenario seed and the point itself."""
    text = f"{scenario_seed}|{key.codec}|{key.channel}|{key.snr_db!r}"
    if key.distance_m is not None:
        text += f"|{key.distance_m!r}m"
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little") % (2**63)


def versions() -> dict[str, str]:
    return {"linksim": linksim.__version__, "torch": torch.__version__, "sionna": sionna.__version__}


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
    _probes: dict[tuple, list] = field(default_factory=dict)  # (codec, samples) -> linear probes (probe_acc)

    @classmethod
    def build(cls, sc: Scenario, device: torch.device | None = None) -> "Simulation":
        device = device or resolve_device(sc.device)
        d = sc.data
        dataset = load_dataset(d.source, d.num_samples, d.image_size, seed=sc.seed)
        o = sc.phy.ofdm
        grid = OFDMGrid(o.fft_size, o.num_ofdm_symbols, o.subcarrier_spacing_hz, o.cyclic_prefix_length,
                        o.pilot_ofdm_symbol_indices, device=str(device))
        channels = {p.label(): build_channel(p, grid) for p in sc.channel_params}
        codecs = {}
        # a multimodal sample's (C, H, W) is one video frame's
        sample_shape = tuple(dataset.frames.shape[2:] if isinstance(dataset, MultimodalBatch) else dataset.images.shape[1:])
        for section, params, transports in zip(sc.codecs, sc.codec_params, sc.transports):
            ctx = CodecContext(
                device=device,
                sample_shape=sample_shape,
                channel_uses=_channel_uses_fn(transports, grid, sc.phy.max_code_block_bits),
                budget_channel_uses=sc.budget_channel_uses(),
                seed=sc.seed,
                max_block_bits=sc.phy.max_code_block_bits,
            )
            codecs[section.name] = codec_class(section.type)(params, transports, ctx).to(device)
            try:
                codecs[section.name].check_data(dataset)
            except ValueError as e:  # before any point: one line naming the source and the codec
                raise DataError(f"data.source {d.source!r}: codec '{section.name}': {e}") from None
        return cls(sc, device, dataset, grid, channels, codecs)

    def points(self) -> list[PointKey]:
        """Every sweep point: codec x channel x SNR (or distance, with the link budget's SNR)."""
        sweep = self.scenario.sweep_points()
        return [PointKey(c, ch, snr, d) for c in self.codecs for ch in self.channels for snr, d in sweep]

    def fingerprint(self, key: PointKey) -> str:
        """Digest of every scenario part that determines the numbers of ``key``."""
        sc = self.scenario
        i = list(self.codecs).index(key.codec)
        j = list(self.channels).index(key.channel)
        parts = {
            "seed": sc.seed, "data": sc.data.model_dump(mode="json"), "phy": sc.phy.model_dump(mode="json"),
            "channel": sc.channel_params[j].model_dump(mode="json"),
            "codec": sc.codecs[i].model_dump(mode="json", exclude={"series"}),  # series: plots only
            "snr_type": sc.sweep.snr_type, "metrics": sc.metrics, "version": linksim.__version__,
        }
        if sc.metric_models != type(sc.metric_models)():  # the models behind lpips / clip_score / fid
            parts["metric_models"] = sc.metric_models.model_dump(mode="json")
        if sc.budget.is_set():  # codecs adapt to the budget, and it decides feasibility
            parts["budget"] = sc.budget_channel_uses()
        if key.distance_m is not None:
            parts["link_budget"] = sc.link_budget.model_dump(mode="json")
        return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:32]

    def link(self, channel: str, t: Transport) -> torch.nn.Module:
        """The (cached) link a stream with transport ``t`` takes over ``channel``."""
        key = (channel,) + t.link_key()
        if key not in self._links:
            transceiver = OFDMTransceiver(self.grid, self.channels[channel], self.scenario.phy.csi)
            if t.path == "analog":
                self._links[key] = AnalogLink(transceiver)
            else:
                phy = self.scenario.phy
                self._links[key] = DigitalLink(transceiver, t.modulation, t.code_rate, t.ldpc_iterations,
                                               decoder=phy.resolved_decoder(self.device.type),
                                               max_block_bits=phy.max_code_block_bits,
                                               cn_update=phy.ldpc_cn_update, schedule=phy.ldpc_schedule)
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

    def _target_reached(self, result: PointResult) -> bool:
        sw = self.scenario.sweep
        if not result.links:
            return False
        bit_errors = sum(c.bit_errors for c in result.links.values())
        block_errors = sum(c.block_errors for c in result.links.values())
        return (sw.target_bit_errors is not None and bit_errors >= sw.target_bit_errors) or (
            sw.target_block_errors is not None and block_errors >= sw.target_block_errors
        )

    @torch.no_grad()
    def run_point(self, key: PointKey, on_batch: Callable[[], None] = lambda: None) -> PointResult:
        """Simulate one point (``on_batch`` is called after each batch).

        Draws batches until ``max_samples`` samples are used or, when the sweep sets
        ``target_bit_errors`` / ``target_block_errors``, until the target is reached
        (whole batches: every simulated sample feeds the fidelity metrics).
        """
        if self._learned is None:  # every model of every codec and metric, before any point is simulated
            try:
                for c in self.codecs.values():
                    c.load_models()
                self._learned = load_metrics(self.scenario.metrics, self.scenario.metric_models, self.device)
            except ModelUnavailable as e:
                raise RunError(str(e)) from None
        seed = point_seed(self.scenario.seed, key)
        sionna.phy.config.seed = seed  # Sionna draws noise and fading from its seeded generators
        codec = self.codecs[key.codec]
        codec.start_point(key.snr_db)
        set_level = self._learned.accumulators()
        self.channels[key.channel].point_distance_m = key.distance_m
        result = PointResult(key=key, seed=seed, fingerprint=self.fingerprint(key))
        budget = self.scenario.budget_channel_uses()
        over_budget = 0
        per_sample: dict[str, list[np.ndarray]] = {}
        rates: dict[str, list[int]] = {}
        samples = []
        fidelity = [m for m in self.scenario.metrics if m not in LINK_METRICS and m not in LEARNED_METRICS]
        probe: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []  # (sent, received features, labels)

        def collect(name: str, values: torch.Tensor) -> None:
            per_sample.setdefault(name, []).append(values.detach().double().cpu().numpy())

        for _, x in self.batches():
            x = x.to(self.device)
            batch_size = len(x)
            sent = codec.encode(x)
            if budget is not None:
                need = required_channel_uses(codec, sent)
                over_budget += int((need > budget).sum())
                if result.num_samples == 0 and codec.payload_bits() is not None and bool((need > budget).all()):
                    # a fixed-size codec that cannot fit: infeasible, nothing to simulate
                    collect("channel_uses", need)
                    result.num_samples = batch_size
                    on_batch()
                    break
            received = {}
            uses = torch.zeros(batch_size, dtype=torch.int64)
            payload = torch.zeros(batch_size, dtype=torch.int64)
            for name, item in sent.items():
                t = codec.transports[name]
                link = self.link(key.channel, t)
                no = self.noise(key.snr_db, t)
                if isinstance(item, AnalogPayload):
                    out = link(item.values, no)
                    received[name] = out.values
                    collect(f"symbol_mse/{name}", out.symbol_mse)
                else:
                    out = link(item.bits, no, item.lengths)
                    received[name] = out.bits
                    c = result.links.setdefault(name, LinkCounts())
                    c.bits += int(out.num_bits.sum())
                    c.bit_errors += int(out.bit_errors.sum())
                    c.blocks += int(out.num_blocks.sum())
                    c.block_errors += int(out.block_errors.sum())
                    collect(f"payload_bits/{name}", out.num_bits)
                    payload += out.num_bits.cpu()
                uses += out.channel_uses.cpu()
            rec = codec.decode(received, sent)
            collect("channel_uses", uses)
            if result.links:
                collect("payload_bits", payload)
            if isinstance(x, MultimodalBatch):
                self._multimodal_metrics(codec, x, sent, received, rec, fidelity, collect, probe)
                for m, (events, trials) in rec.rates.items():
                    acc = rates.setdefault(m, [0, 0])
                    acc[0] += int(events.sum())
                    acc[1] += int(trials.sum())
                if sum(s.shape[0] for s in samples) < SAMPLES_PER_GRID:
                    samples.append(frame_strips(rec.frames[:SAMPLES_PER_GRID]).numpy())
                result.num_samples += batch_size
                on_batch()
                if self._target_reached(result):
                    break
                continue
            for m in fidelity:
                collect(m, fidelity_metric(m)(x, rec.x_hat.to(x.device)))
            for m, values in self._learned.per_sample(x, rec.x_hat, rec.texts).items():
                collect(m, values)
            for acc in set_level.values():
                acc.update(x, sanitize_images(rec.x_hat).to(x.device))
            for m, values in rec.metrics.items():
                collect(m, values)
            for m, (events, trials) in rec.rates.items():
                acc = rates.setdefault(m, [0, 0])
                acc[0] += int(events.sum())
                acc[1] += int(trials.sum())
            if sum(s.shape[0] for s in samples) < SAMPLES_PER_GRID:
                samples.append(rec.x_hat[:SAMPLES_PER_GRID].detach().float().cpu().numpy())
            result.num_samples += x.shape[0]
            on_batch()
            if self._target_reached(result):
                break
        if budget is not None:
            result.infeasible = over_budget > 0
        if probe:  # the probe needs every sample of the point: scored at the end
            from linksim.codecs.bridge.metrics import fit_fold_probes, score_fold_probes

            clean, rx, labels = (torch.cat(p) for p in zip(*probe))
            # the sent codes of a codec are the same at every point: fit its probes once
            fit_key = (key.codec, result.num_samples)
            if fit_key not in self._probes:
                self._probes[fit_key] = fit_fold_probes(clean, labels)
            collect("probe_acc", score_fold_probes(self._probes[fit_key], rx, labels))
        result.per_sample = {k: np.concatenate(v) for k, v in per_sample.items()}
        # an infeasible point that simulated nothing has no set-level value
        result.set_metrics = {k: acc.compute() for k, acc in set_level.items() if acc.samples > 0}
        result.rates = {k: (a, b) for k, (a, b) in rates.items()}
        result.samples = np.concatenate(samples)[:SAMPLES_PER_GRID] if samples else None
        return result


    @staticmethod
    def _multimodal_metrics(codec: Codec, x: MultimodalBatch, sent: dict, received: dict, rec, metrics: list[str],
                            collect: Callable[[str, torch.Tensor], None], probe: list) -> None:
        """The codec's per-sample metrics that ``metrics`` asks for; the probe's features when it asks
        for ``probe_acc`` and the data has labels."""
        for m, values in codec.sample_metrics(x, rec).items():
            if m in metrics:
                collect(m, values)
        if "probe_acc" in metrics and x.labels is not None:
            clean = {m: p.values if isinstance(p, AnalogPayload) else p.bits for m, p in sent.items()}
            probe.append((codec.code_features(clean).cpu(), codec.code_features(received).cpu(), x.labels.cpu()))


def frame_strips(frames: torch.Tensor, num_frames: int = 4) -> torch.Tensor:
    """Video clips ``[B, T, C, H, W]`` -> ``num_frames`` evenly spaced frames side by side
    ``[B, C, H, k*W]`` (``k = min(T, num_frames)``) on CPU, float32, for the sample grids."""
    t = frames.shape[1]
    pick = torch.linspace(0, t - 1, min(t, num_frames)).round().long().to(frames.device)
    chosen = frames.detach().index_select(1, pick).float().cpu()  # [B, k, C, H, W]
    b, k, c, h, w = chosen.shape
    return chosen.permute(0, 2, 3, 1, 4).reshape(b, c, h, k * w)


def required_channel_uses(codec: Codec, sent: dict) -> torch.Tensor:
    """Data resource elements ``[B]`` (int64) each sample of an encoded batch needs, before any channel."""
    batch = None
    total = None
    for name, item in sent.items():
        if isinstance(item, AnalogPayload):
            batch = item.values.shape[0]
            n = torch.full((batch,), math.ceil(item.values[0].numel() / 2), dtype=torch.int64)
        else:
            batch = item.bits.shape[0]
            lengths = item.lengths.cpu().tolist() if item.lengths is not None else [item.bits.shape[1]] * batch
            uses = {b: codec.context.channel_uses(name, int(b)) for b in set(lengths)}
            n = torch.tensor([uses[b] for b in lengths], dtype=torch.int64)
        total = n if total is None else total + n
    return total if total is not None else torch.zeros(0, dtype=torch.int64)


def _channel_uses_fn(transports: dict[str, Transport], grid: OFDMGrid, max_block_bits: int) -> Callable[[str, int], int]:
    def channel_uses(stream: str, payload_bits: int) -> int:
        t = transports[stream]
        if t.path == "analog":
            return math.ceil(payload_bits / 2)
        plan = plan_digital_payload(int(payload_bits), t.code_rate, bits_per_symbol(t.modulation), max_block_bits,
                                    grid.data_symbols_per_slot)
        return plan.channel_uses

    return channel_uses


@dataclass
class RunSummary:
    """What a run did."""

    out_dir: Path
    points_run: int
    points_resumed: int
    elapsed_s: float
    results: list[PointResult]
    skipped: list[PointKey] = field(default_factory=list)
    range_rows: list[dict] = field(default_factory=list)


def run_scenario(sc: Scenario, out_dir: Path, force: bool = False, progress=None,
                 executor: "Executor | None" = None) -> RunSummary:
    """Run every point of ``sc`` not already in ``out_dir/results.h5`` and write all outputs.

    :param progress: optional object with ``start(total_batches)``, ``advance()``,
        ``point(key)`` methods (the CLI passes a rich progress bar).
    :param executor: where the points run (default: in this process, one by one);
        this process alone writes the results, whatever the executor.
    """
    from linksim.executors import InProcessExecutor

    t0 = time.perf_counter()
    out_dir = Path(out_dir)
    executor = executor or InProcessExecutor()
    # loads the data first: a bad source must not leave a folder behind
    sim = Simulation.build(sc, device=executor.driver_device())
    _check_writable(out_dir, estimate_output_bytes(sim))
    try:
        with RunLock(out_dir):
            return _run_locked(sc, sim, out_dir, force, progress, t0, executor)
    except RunLockedError as e:
        raise RunError(str(e)) from None


def _run_locked(sc: Scenario, sim: Simulation, out_dir: Path, force: bool, progress, t0: float,
                executor: "Executor") -> RunSummary:
    from linksim.executors import PointProgress, PointSchedule

    store = ResultStore(out_dir / "results.h5")
    recovered = store.recover()
    if recovered is not None:
        warnings.warn(recovered, RuntimeWarning, stacklevel=2)
    store.initialise(scenario_to_yaml(sc), versions())
    (out_dir / "scenario.yaml").write_text(scenario_to_yaml(sc))
    finished = {} if force else store.finished()
    current = {k for k in sim.points() if finished.get(k) == sim.fingerprint(k)}
    todo = [k for k in sim.points() if k not in current]
    store.remove_except(set(sim.points()))
    batches = math.ceil(sim.max_samples() / sc.data.batch_size)
    if progress is not None:
        progress.start(len(todo) * batches, resumed=len(current))
    points = PointProgress(progress, batches)
    done_results = {r.key: r for r in store.read_all()} if sc.sweep.skips_error_free() else {}
    todo.sort(key=lambda k: (list(sim.codecs).index(k.codec), list(sim.channels).index(k.channel), k.snr_db))
    schedule = PointSchedule(todo, sc.sweep.skips_error_free(), done_results, on_skip=points.skipped)
    # every point is written the moment it arrives, so an interrupted run resumes from there
    executor.run(sim, schedule, store.write, points)
    skipped = schedule.skipped
    store.consolidate()  # the journal of finished points into results.h5, atomically
    results = store.read_all()
    order = {k: i for i, k in enumerate(sim.points())}
    results.sort(key=lambda r: order.get(r.key, len(order)))
    write_outputs(sc, sim.dataset, results, out_dir)
    ranges = range_rows(sc, result_rows(sc, results)) if sc.is_distance_sweep() and sc.targets else []
    if ranges:
        write_range_csv(ranges, out_dir / "range.csv")
    return RunSummary(out_dir, len(todo) - len(skipped), len(current), time.perf_counter() - t0, results, skipped,
                      ranges)


#: fidelity metrics where smaller is better: "meets a target" means <= for them, >= for the rest
LOWER_IS_BETTER = frozenset({"mse", "lpips", "fid", "caption_cer"})
RANGE_COLUMNS = ["codec", "channel", "metric", "target", "max_distance_m", "snr_db", "value"]


def meets(metric: str, value: float | None, target: float) -> bool:
    """Whether ``value`` of ``metric`` meets ``target`` (<= for mse/lpips, >= otherwise)."""
    if value is None or math.isnan(value):
        return False
    return value <= target if metric in LOWER_IS_BETTER else value >= target


def range_rows(sc: Scenario, rows: list[dict]) -> list[dict]:
    """The maximum range of every codec x channel x target of a distance sweep.

    ``max_distance_m`` is the largest swept distance [m] at which the codec fits the
    bandwidth budget (no ``infeasible`` row of value 1) and its fidelity meets the
    target; None when no distance does. ``snr_db`` and ``value`` are that point's.
    """
    infeasible = {(r["codec"], r["channel"], r.get("distance_m")) for r in rows
                  if r["metric"] == "infeasible" and r["value"] == 1.0}
    pairs = list(dict.fromkeys((r["codec"], r["channel"]) for r in rows))
    out = []
    for codec, channel in pairs:
        for metric, target in sc.targets.items():
            best = None
            for r in rows:
                if (r["codec"], r["channel"], r["metric"]) != (codec, channel, metric):
                    continue
                if (codec, channel, r.get("distance_m")) in infeasible or not meets(metric, r["value"], target):
                    continue
                if best is None or r["distance_m"] > best["distance_m"]:
                    best = r
            out.append({"codec": codec, "channel": channel, "metric": metric, "target": target,
                        "max_distance_m": best["distance_m"] if best else None,
                        "snr_db": best["snr_db"] if best else None, "value": best["value"] if best else None})
    return out


def write_range_csv(rows: list[dict], path: Path) -> None:
    """``range.csv``: columns :data:`RANGE_COLUMNS`; an empty ``max_distance_m`` means never met."""
    import csv

    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(RANGE_COLUMNS)
        for r in rows:
            w.writerow(["" if r[c] is None else (f"{r[c]:.6g}" if isinstance(r[c], float) else r[c]) for c in RANGE_COLUMNS])


def result_rows(sc: Scenario, results: list[PointResult]) -> list[dict]:
    """Tidy rows of every point, in sweep order."""
    return [row for r in results for row in r.rows(sc.metrics)]


def write_outputs(sc: Scenario, dataset: ImageDataset | MultimodalBatch, results: list[PointResult],
                  out_dir: Path) -> list[Path]:
    """results.csv, plots/*.png and samples/*.png from the finished points."""
    from linksim.plots import plot_fidelity_vs_load, plot_results, save_sample_grid
    from linksim.results import write_csv

    rows = result_rows(sc, results)
    write_csv(rows, out_dir / "results.csv")
    written = [out_dir / "results.csv"]
    written += plot_results(rows, out_dir / "plots")
    originals = frame_strips(dataset.frames[:SAMPLES_PER_GRID]) if isinstance(dataset, MultimodalBatch) \
        else dataset.images[:SAMPLES_PER_GRID]
    by_pair: dict[tuple[str, str], list[PointResult]] = {}
    for r in results:
        if r.samples is not None:
            by_pair.setdefault((r.key.codec, r.key.channel), []).append(r)
    for (codec, channel), points in by_pair.items():
        recon = {r.key.label(): torch.from_numpy(r.samples) for r in points}
        path = out_dir / "samples" / f"{codec}__{channel}.png"
        written.append(save_sample_grid(originals[: len(points[0].samples)], recon, path, title=f"{codec} over {channel}"))
    series = {c.name: c.series for c in sc.codecs if c.series}
    written += plot_fidelity_vs_load(rows, series, out_dir / "plots")
    written += _save_series_grids(results, series, originals, out_dir / "samples")
    return written


def _save_series_grids(results: list[PointResult], series: dict[str, str], originals: torch.Tensor,
                       folder: Path) -> list[Path]:
    """One grid per series x channel x SNR (or distance): the series' codecs side by side
    (e.g. X̂ and X̃ of HSC for several d, the paper's Fig. 5)."""
    from linksim.plots import safe_filename, save_sample_grid

    groups: dict[tuple, dict[str, np.ndarray]] = {}
    for r in results:
        if r.samples is not None and r.key.codec in series:
            where = (series[r.key.codec], r.key.channel, r.key.snr_db, r.key.distance_m)
            groups.setdefault(where, {})[r.key.codec] = r.samples
    written = []
    for (name, channel, snr, dist), recon in groups.items():
        if len(recon) < 2:
            continue
        at = f"{dist:g}m" if dist is not None else f"{snr:g}dB"
        n = min(len(v) for v in recon.values())
        written.append(save_sample_grid(originals[:n], {c: torch.from_numpy(v[:n]) for c, v in recon.items()},
                                        folder / f"{safe_filename(name)}__{channel}__{at}.png", title=f"{name} over {channel} @ {at}"))
    return written


#: bytes of one PNG figure or sample grid, generously (they are 30-150 kB at the default size)
PNG_BYTES = 400_000


def estimate_output_bytes(sim: Simulation) -> int:
    """Bytes a run of ``sim`` writes at most, before anything is simulated (an upper estimate).

    Per point: the per-sample values (float64) of every metric and stream counter, the
    uncompressed sample grid (float32) and HDF5's overhead; results.h5 is held up to three
    times at once (the journal, the file, the new file being consolidated). Plus
    results.csv (about 120 bytes a row) and the PNG figures and grids.
    """
    sc = sim.scenario
    points = len(sim.points())
    streams = max(len(c.transports) for c in sim.codecs.values())
    series = len(sc.metrics) + 3 * streams + 6  # fidelity metrics, ber/payload/symbol_mse per stream, counters
    # one sample as shown in a grid: an image, or (upper bound) every frame of a clip
    shown = sim.dataset.frames.shape[1:] if isinstance(sim.dataset, MultimodalBatch) else sim.dataset.images.shape[1:]
    per_point = series * sim.max_samples() * 8 + SAMPLES_PER_GRID * math.prod(shown) * 4 + 16_384
    csv_rows = points * (series + 8)
    figures = (len(sc.metrics) + 2 * streams + 4) + len(sim.codecs) * len(sim.channels)
    return 3 * points * per_point + csv_rows * 120 + figures * PNG_BYTES


def _check_writable(out_dir: Path, need_bytes: int = 0) -> None:
    """The output folder exists, is writable and has room for ``need_bytes``: checked
    before simulating, not after an hour."""
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        probe = out_dir / ".write-test"
        probe.write_bytes(b"x")
        probe.unlink()
    except OSError as e:
        raise RunError(f"output folder {out_dir} is not writable: {e.strerror or e}") from None
    free = shutil.disk_usage(out_dir).free
    if free < need_bytes:
        raise RunError(f"not enough free space in {out_dir}: the run writes up to {need_bytes / 1e6:.1f} MB, "
                       f"{free / 1e6:.1f} MB are free (free some space, or use --out on another disk)")
