"""Latency statistics: a log-bucket histogram for whole-run percentiles and the recent samples.

``add`` is on the hot path (once or twice per frame), so it only appends to a list; the pipeline even
appends to ``pending`` itself and calls ``fold()`` on its tick. Samples are folded into the histogram
in bulk (sort, then two bisects per non-empty bucket) when read, on ``fold()``, or every ``FOLD_EVERY``
samples given to ``add``. The pipeline's samples are raw nanosecond ints (``LatencyStats(NS)``): no float
made per frame, and a fold sums them exactly with ``sum`` instead of ``math.fsum``; read-outs are in ms.
"""
from __future__ import annotations

import math
from bisect import bisect_left, bisect_right

_GROWTH = 1.05  # 5% wide buckets: percentiles are within 2.5% of the true value
_MIN_MS = 0.001  # everything below 1 µs lands in bucket 0
_BUCKETS = int(math.log(1e7 / _MIN_MS) / math.log(_GROWTH)) + 2  # up to ~3 hours
# The upper edge of each bucket in ms; the last bucket holds everything beyond the range.
BUCKET_EDGES_MS = tuple(_MIN_MS * _GROWTH ** i for i in range(_BUCKETS - 1)) + (math.inf,)
FOLD_EVERY = 65536
RECENT = 512
NS = 1e-6  # the unit of samples given in nanoseconds, in ms


def percentiles(samples: list[float]) -> tuple[float, float] | None:
    """(p50, p99) of ``samples`` in ms, each at least 0 as in ``LatencyStats``; None with no samples."""
    if not samples:
        return None
    ordered = sorted(samples)
    p50, p99 = ordered[len(ordered) // 2], ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return max(0.0, p50), max(0.0, p99)


class LatencyStats:
    """Samples in milliseconds, or in ``unit_ms`` (``NS``: integer nanoseconds); every read-out is in ms.
    A negative one means the exchange's clock is ahead of ours by more than the delay: it counts as 0
    (the delay is unknown below the skew) and is counted in ``clock_ahead``."""

    __slots__ = ("_counts", "_n", "_max", "_total", "_ahead", "pending", "_recent", "_unit", "_edges")

    def __init__(self, unit_ms: float = 1.0) -> None:
        self._unit = unit_ms
        # the buckets' upper edges in the samples' unit (the last is inf)
        # (integer samples against integer edges: x <= e / unit exactly when x <= floor(e / unit))
        self._edges: tuple[float, ...] = BUCKET_EDGES_MS if unit_ms == 1.0 else \
            tuple(math.floor(e / unit_ms) for e in BUCKET_EDGES_MS[:-1]) + (math.inf,)
        self._counts = [0] * _BUCKETS
        self._ahead = 0
        self._n = 0
        self._max = 0.0
        self._total = 0.0
        self.pending: list[float] = []  # in unit_ms; a list, not an array: sorting it needs no conversion
        self._recent: list[float] = []

    def reset(self) -> None:
        """Forget every sample; ``pending`` stays the same list (the pipeline holds its ``append``)."""
        self.pending.clear()
        self._counts = [0] * _BUCKETS
        self._ahead = self._n = 0
        self._max = self._total = 0.0
        self._recent = []

    def add(self, sample: float) -> None:
        """One sample, in ``unit_ms``."""
        pending = self.pending
        pending.append(sample)
        if len(pending) >= FOLD_EVERY:
            self.fold()

    def fold(self, at_most: int | None = None) -> None:
        """Fold the pending samples, or only the ``at_most`` oldest (a live tick folds in slices)."""
        pending = self.pending
        if not pending:
            return
        part = pending
        if at_most is not None and at_most < len(pending):
            part = pending[:at_most]
            del pending[:at_most]
        unit, edges = self._unit, self._edges
        self._recent = (self._recent + part[-RECENT:])[-RECENT:]  # in unit_ms: converted when read
        samples = sorted(part)
        if part is pending:
            pending.clear()
        counts = self._counts
        below = bisect_left(samples, 0)  # negative delays: two clocks disagree; they count as 0
        counts[0] += below
        self._ahead += below
        # one step per non-empty bucket: the bucket of the next sample, then every sample up to its edge
        n, last = len(samples), len(edges) - 1
        i = below
        while i < n:
            b = bisect_left(edges, samples[i])
            upto = bisect_right(samples, edges[b], i) if b < last else n
            counts[b] += upto - i
            i = upto
        self._n += len(samples)
        positive = samples[bisect_left(samples, 0):]
        self._total += math.fsum(positive) if unit == 1.0 else sum(positive) * unit  # ints sum exactly
        if samples[-1] * unit > self._max:
            self._max = samples[-1] * unit

    def _in_ms(self, samples: list[float]) -> list[float]:
        unit = self._unit
        return samples if unit == 1.0 else [x * unit for x in samples]

    @property
    def counts(self) -> list[int]:
        self.fold()
        return self._counts

    @property
    def n(self) -> int:
        return self._n + len(self.pending)

    @property
    def clock_ahead(self) -> int:
        """Samples below 0: the exchange's timestamp was later than our clock when we processed it."""
        self.fold()
        return self._ahead

    @property
    def max(self) -> float:
        self.fold()
        return self._max

    @property
    def total_ms(self) -> float:
        self.fold()
        return self._total

    def percentile(self, q: float) -> float:
        """The upper edge of the bucket holding the q-quantile (0 < q <= 1); 0.0 with no samples."""
        self.fold()
        if not self._n:
            return 0.0
        target = max(1, math.ceil(q * self._n))
        if target <= self._ahead:
            return 0.0  # the quantile is among the samples whose exchange clock ran ahead
        seen = 0
        for idx, count in enumerate(self._counts):
            seen += count
            if seen >= target:
                return min(BUCKET_EDGES_MS[idx], self._max)
        return self._max

    def recent_samples(self) -> list[float]:
        """The most recent samples (up to 512), oldest first."""
        pending = self.pending
        if len(pending) >= RECENT:
            return self._in_ms(pending[-RECENT:])
        return self._in_ms((self._recent + pending)[-RECENT:])

    def summary(self) -> dict[str, float | int]:
        return {"p50": round(self.percentile(0.5), 3), "p99": round(self.percentile(0.99), 3),
                "max": round(self.max, 3), "samples": self.n, "clock_ahead": self.clock_ahead}
