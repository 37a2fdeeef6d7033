"""Latency statistics: a log-bucket histogram for whole-run percentiles and a ring of recent samples."""
from __future__ import annotations

import math
from array import array

_GROWTH = 1.05  # 5% wide buckets: percentiles are within 2.5% of the true value
_LOG_GROWTH = math.log(_GROWTH)
_MIN_MS = 0.001  # everything below 1 µs lands in bucket 0
_BUCKETS = int(math.log(1e7 / _MIN_MS) / _LOG_GROWTH) + 2  # up to ~3 hours
# The upper edge of each bucket in ms; the last bucket holds everything beyond the range.
BUCKET_EDGES_MS = tuple(_MIN_MS * _GROWTH ** i for i in range(_BUCKETS - 1)) + (math.inf,)


class LatencyStats:
    """Samples in milliseconds. ``add`` is O(1); percentiles are read on demand (UI timer, end of run)."""

    __slots__ = ("counts", "n", "max", "total_ms", "recent", "_pos")

    def __init__(self, recent: int = 512) -> None:
        self.counts = array("q", bytes(8 * _BUCKETS))
        self.n = 0
        self.max = 0.0
        self.total_ms = 0.0
        self.recent = array("d", bytes(8 * recent))
        self._pos = 0

    def add(self, ms: float) -> None:
        if ms < 0.0:
            ms = 0.0  # clocks of two machines disagree; a negative delay is clamped, not dropped
        idx = int(math.log(ms / _MIN_MS) / _LOG_GROWTH) + 1 if ms > _MIN_MS else 0
        if idx >= _BUCKETS:
            idx = _BUCKETS - 1
        self.counts[idx] += 1
        self.n += 1
        self.total_ms += ms
        if ms > self.max:
            self.max = ms
        recent = self.recent
        recent[self._pos % len(recent)] = ms
        self._pos += 1

    def percentile(self, q: float) -> float:
        """The upper edge of the bucket holding the q-quantile (0 < q <= 1); 0.0 with no samples."""
        if not self.n:
            return 0.0
        target = max(1, math.ceil(q * self.n))
        seen = 0
        for idx, count in enumerate(self.counts):
            seen += count
            if seen >= target:
                edge = _MIN_MS * _GROWTH ** idx if idx else _MIN_MS
                return min(edge, self.max)
        return self.max

    def recent_samples(self) -> list[float]:
        """The most recent samples, oldest first."""
        size = len(self.recent)
        if self._pos <= size:
            return list(self.recent[: self._pos])
        start = self._pos % size
        return list(self.recent[start:]) + list(self.recent[:start])

    def summary(self) -> dict:
        return {"p50": round(self.percentile(0.5), 3), "p99": round(self.percentile(0.99), 3),
                "max": round(self.max, 3), "samples": self.n}
