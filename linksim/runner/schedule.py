"""Which sweep points of a run may start now: the one place that decides order and skips.

Both executors draw points from a :class:`PointSchedule`, so a run on a Ray cluster
simulates exactly the points a local run simulates, and skips exactly the same ones.
"""

from __future__ import annotations

from typing import Callable

from linksim.results import PointKey, PointResult


def is_error_free(result: PointResult) -> bool:
    """Whether a point has digital streams and none of their bits was in error."""
    return bool(result.links) and sum(c.bit_errors for c in result.links.values()) == 0


class PointSchedule:
    """The points still to simulate, released as soon as they may start.

    Without ``sweep.skip_error_free`` every point is independent: all are ready at once.

    With it, whether a point runs depends on the lower SNRs of the same codec and
    channel (it is skipped once one of them was error-free), which is sequential by
    nature. Each (codec, channel) pair is therefore a *chain*: its SNRs are released
    one at a time, in ascending order, the next only after the previous finished;
    different pairs run side by side. The skip decision for a point sees exactly the
    results a one-by-one run would have seen (its own pair's lower SNRs, which are the
    only ones it reads), so the set of simulated points, and results.csv, are the same.
    The alternatives were worse: running every SNR and dropping afterwards wastes the
    compute the option exists to save, and waves over SNR wait for the slowest pair.

    :param todo: points to simulate, in sweep order (codec, channel, ascending SNR).
    :param skip_error_free: the scenario's ``sweep.skips_error_free()``.
    :param done: finished results the skip rule may consult (resumed points);
        updated as points finish.
    :param on_skip: called with each point skipped, when it is skipped.
    """

    def __init__(self, todo: list[PointKey], skip_error_free: bool, done: dict[PointKey, PointResult],
                 on_skip: Callable[[PointKey], None] = lambda key: None) -> None:
        self._skip_error_free = skip_error_free
        self._done = done
        self._on_skip = on_skip
        self._chains: dict[tuple[str, str], list[PointKey]] = {}
        for key in todo:  # one chain per pair when skipping; one chain per point otherwise
            chain = (key.codec, key.channel) if skip_error_free else (key,)
            self._chains.setdefault(chain, []).append(key)
        self._busy: set = set()  # chains with a point released and not yet finished
        self._error_free: set[tuple[str, str]] = set()  # pairs past an error-free SNR
        self.skipped: list[PointKey] = []

    def take_ready(self, limit: int | None = None) -> list[PointKey]:
        """Points that may start now and were not handed out before, in sweep order.

        :param limit: hand out at most this many (a one-by-one executor takes 1, which
            reproduces the plain sweep order).
        """
        ready: list[PointKey] = []
        for chain, keys in self._chains.items():
            if chain in self._busy or (limit is not None and len(ready) >= limit):
                continue
            while keys:
                key = keys.pop(0)
                if self._skip_error_free and self._skippable(key):
                    self.skipped.append(key)
                    self._on_skip(key)
                    continue
                ready.append(key)
                self._busy.add(chain)
                break
        return ready

    def finish(self, result: PointResult) -> None:
        """Record a finished point; its chain may release its next SNR."""
        key = result.key
        self._done[key] = result
        self._busy.discard((key.codec, key.channel) if self._skip_error_free else (key,))
        if is_error_free(result):
            self._error_free.add((key.codec, key.channel))

    def pending(self) -> bool:
        """Whether points remain that were neither handed out nor skipped."""
        return any(self._chains.values())

    def _skippable(self, key: PointKey) -> bool:
        if (key.codec, key.channel) in self._error_free:
            return True
        # a finished (e.g. resumed) point of the same pair at a lower SNR that saw no bit error
        return any((k.codec, k.channel) == (key.codec, key.channel) and k.snr_db < key.snr_db and is_error_free(r)
                   for k, r in self._done.items())
