"""Bars of a higher interval built from closed bars of the base interval. Pure.

``Resampler(base, target)`` takes the base series' closed bars in time order and returns each target
bar once its last base slot has arrived (or, with base bars missing, once a later target bar begins:
it is then built from the bars there were). ``forming`` gives the target bar in progress from the
closed base bars so far plus the base series' forming bar. Target bars open on UTC boundaries like the
venue's (weekly bars on Mondays); calendar months are not built (their length varies).
"""
from __future__ import annotations

from feeds.events import Candle
from feeds.intervals import INTERVALS

_MONDAY_NS = 4 * 86_400_000_000_000  # 1970-01-05 was a Monday


class ResampleError(ValueError):
    """The target interval cannot be built from the base one."""


def bar_open_ns(interval_ns: int, t_ns: int, weekly: bool = False) -> int:
    if weekly:
        return (t_ns - _MONDAY_NS) // interval_ns * interval_ns + _MONDAY_NS
    return t_ns - t_ns % interval_ns


def combine(bars: list[Candle], interval: str, open_ns: int, closed: bool) -> Candle:
    """One bar of ``interval`` from base bars in time order."""
    first, last = bars[0], bars[-1]
    return Candle(first.venue, first.symbol, first.unified, last.exch_ns, last.recv_ns, interval, open_ns,
                  first.open, max(b.high for b in bars), min(b.low for b in bars), last.close,
                  sum(b.volume for b in bars), sum(b.trades for b in bars), closed,
                  "backfill" if all(b.source == "backfill" for b in bars) else "live")


class Resampler:
    def __init__(self, base: str, target: str) -> None:
        if target == "1M" or base == "1M":
            raise ResampleError("monthly bars are not built from shorter ones (months differ in length)")
        if base not in INTERVALS or target not in INTERVALS:
            raise ResampleError(f"unknown interval {base if base not in INTERVALS else target!r}")
        self.base_ns = INTERVALS[base] * 1_000_000
        self.target_ns = INTERVALS[target] * 1_000_000
        if self.target_ns <= self.base_ns or self.target_ns % self.base_ns:
            raise ResampleError(f"{target} is not a whole multiple of {base}")
        self.base, self.target = base, target
        self.weekly = target == "1w"
        self._open_ns = -1  # the target bar being filled
        self._bars: list[Candle] = []
        self.partial = 0  # target bars emitted with base bars missing
        self.late = 0  # base bars older than the bar being built (e.g. backfill landing after live bars)

    def add(self, bar: Candle) -> list[Candle]:
        """A closed base bar in; the target bars it completes out (zero, one, or a partial one and one)."""
        if not bar.closed or bar.interval != self.base:
            return []
        open_ns = bar_open_ns(self.target_ns, bar.open_ns, self.weekly)
        out: list[Candle] = []
        if open_ns < self._open_ns or (open_ns == self._open_ns and self._bars
                                        and bar.open_ns <= self._bars[-1].open_ns):
            if open_ns < self._open_ns or bar.open_ns < self._bars[-1].open_ns:
                self.late += 1  # the caller may rebuild from the whole base series
            return out  # older than what is being built, or a duplicate: already counted
        if open_ns != self._open_ns:
            if self._bars:  # a later target bar began before this one was complete
                self.partial += 1
                out.append(combine(self._bars, self.target, self._open_ns, True))
            self._open_ns, self._bars = open_ns, []
        self._bars.append(bar)
        if bar.open_ns + self.base_ns >= open_ns + self.target_ns:
            out.append(combine(self._bars, self.target, open_ns, True))
            self._bars = []
        return out

    def forming(self, base_forming: Candle | None) -> Candle | None:
        """The target bar in progress: the closed base bars so far and the base series' forming bar."""
        bars = list(self._bars)
        if base_forming is not None:
            open_ns = bar_open_ns(self.target_ns, base_forming.open_ns, self.weekly)
            if open_ns != self._open_ns:
                bars = []
            bars.append(base_forming)
        else:
            open_ns = self._open_ns
        return combine(bars, self.target, open_ns, False) if bars else None
