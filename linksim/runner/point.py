"""One sweep point: encode -> carry each stream over the PHY -> decode -> metrics, batch by batch.

Nothing here names a codec: what a codec contributes beyond its reconstruction goes
through the :class:`~linksim.codecs.base.Codec` face (``sample_metrics``,
``point_metrics``, ``Reconstruction.metrics`` / ``rates`` / ``texts``, ``preview``), and
every metric's facts come from the metric table.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Callable

import numpy as np
import sionna.phy
import torch

from linksim.codecs import AnalogPayload, Codec, ReceivedStreams, ReceiverCSI
from linksim.metrics.fidelity import sanitize_images
from linksim.metrics.table import METRICS
from linksim.results import LinkCounts, PointKey, PointResult

if TYPE_CHECKING:
    from linksim.runner.simulation import Simulation


def required_channel_uses(codec: Codec, sent: dict) -> torch.Tensor:
    """Data resource elements ``[B]`` (int64) each sample of an encoded batch needs, before any channel."""
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


def _target_reached(sim: "Simulation", result: PointResult) -> bool:
    sw = sim.scenario.sweep
    if not result.links:
        return False
    bit_errors = sum(c.bit_errors for c in result.links.values())
    block_errors = sum(c.block_errors for c in result.links.values())
    return (sw.target_bit_errors is not None and bit_errors >= sw.target_bit_errors) or (
        sw.target_block_errors is not None and block_errors >= sw.target_block_errors
    )


@torch.no_grad()
def simulate_point(sim: "Simulation", key: PointKey, on_batch: Callable[[], None] = lambda: None) -> PointResult:
    """Simulate one point of ``sim`` (``on_batch`` is called after each batch).

    Draws batches until ``max_samples`` samples are used or, when the sweep sets
    ``target_bit_errors`` / ``target_block_errors``, until the target is reached (whole
    batches: every simulated sample feeds the fidelity metrics). Randomness depends only on
    the scenario seed and ``key``.
    """
    from linksim.runner.simulation import SAMPLES_PER_GRID, point_seed

    learned = sim.load_models()
    sc = sim.scenario
    seed = point_seed(sc.seed, key)
    sionna.phy.config.seed = seed  # Sionna draws noise and fading from its seeded generators
    codec = sim.codecs[key.codec]
    codec.start_point(key.snr_db)
    sim.channels[key.channel].point_distance_m = key.distance_m
    result = PointResult(key=key, seed=seed, fingerprint=sim.fingerprint(key),
                         fingerprint_parts=sim.fingerprint_parts(key))

    names = sc.metric_names
    provided = set(codec.provided_metric_names())
    # per-sample image functions the codec does not compute itself (validation made sure they apply);
    # resolved from the scenario's entries, which may be package.module:METRIC references
    metrics = [METRICS.resolve(entry) for entry in sc.metrics]
    functions = [m for m in metrics if m.name not in provided and m.computed_by == "function"]
    set_level = learned.accumulators()
    point_metrics = codec.point_metrics([m for m in names if m in provided])
    budget = sc.budget_channel_uses()
    over_budget = 0
    per_sample: dict[str, list[np.ndarray]] = {}
    rates: dict[str, list[int]] = {}
    samples: list[np.ndarray] = []

    def collect(name: str, values: torch.Tensor) -> None:
        per_sample.setdefault(name, []).append(values.detach().double().cpu().numpy())

    for _, x in sim.batches():
        x = x.to(sim.device)
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
        received = ReceivedStreams()
        uses = torch.zeros(batch_size, dtype=torch.int64)
        payload = torch.zeros(batch_size, dtype=torch.int64)
        for name, item in sent.items():
            t = codec.transports[name]
            link = sim.link(key.channel, t)
            no = sim.noise(key.snr_db, t)
            # the receiver knows the N0 it equalises with, hence the SNR
            snr_db = torch.full((batch_size,), -10.0 * math.log10(no), dtype=torch.float32, device=sim.device)
            if isinstance(item, AnalogPayload):
                out = link(item.values, no)
                received[name] = out.values
                received.csi[name] = ReceiverCSI(snr_db, out.no_eff)
                collect(f"symbol_mse/{name}", out.symbol_mse)
            else:
                out = link(item.bits, no, item.lengths)
                received[name] = out.bits
                received.csi[name] = ReceiverCSI(snr_db)
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

        if functions or learned.names:  # image metrics on the reconstruction
            x_hat = rec.x_hat.to(x.device)
            for m in functions:
                collect(m.name, m.compute(x, x_hat))
            for m, values in learned.per_sample(x, x_hat, getattr(rec, "texts", {})).items():
                collect(m, values)
            for acc in set_level.values():
                acc.update(x, sanitize_images(x_hat))
        for m, values in codec.sample_metrics(x, rec).items():
            if m in names:
                collect(m, values)
        for m, values in getattr(rec, "metrics", {}).items():  # what the codec measured while decoding
            collect(m, values)
        for acc in point_metrics.values():
            acc.update(x, sent, received, rec)
        for m, (events, trials) in getattr(rec, "rates", {}).items():
            acc = rates.setdefault(m, [0, 0])
            acc[0] += int(events.sum())
            acc[1] += int(trials.sum())
        if sum(s.shape[0] for s in samples) < SAMPLES_PER_GRID:
            samples.append(codec.preview(rec)[:SAMPLES_PER_GRID].detach().float().cpu().numpy())
        result.num_samples += batch_size
        on_batch()
        if _target_reached(sim, result):
            break

    if budget is not None:
        result.infeasible = over_budget > 0
    result.set_metrics = {}
    for name, acc in point_metrics.items():
        value = acc.compute()
        if isinstance(value, torch.Tensor):
            collect(name, value)
        elif value is not None and result.num_samples > 0:
            result.set_metrics[name] = float(value)
    result.per_sample = {k: np.concatenate(v) for k, v in per_sample.items()}
    # an infeasible point that simulated nothing has no set-level value
    result.set_metrics.update({k: acc.compute() for k, acc in set_level.items() if acc.samples > 0})
    result.rates = {k: (a, b) for k, (a, b) in rates.items()}
    result.samples = np.concatenate(samples)[:SAMPLES_PER_GRID] if samples else None
    return result
