"""A live tick folds latency samples in slices: folding them a part at a time keeps the same statistics."""
import random

from feeds.core.latency import LatencyStats


def test_folding_in_parts_gives_what_folding_at_once_gives():
    rng = random.Random(5)
    samples = [rng.lognormvariate(-1.0, 1.0) for _ in range(3000)] + [-0.5, 0.0, 1e-4, 5e7]
    rng.shuffle(samples)
    whole, parts = LatencyStats(), LatencyStats()
    whole.pending.extend(samples)
    parts.pending.extend(samples)
    whole.fold()
    while parts.pending:
        before = len(parts.pending)
        parts.fold(512)
        assert len(parts.pending) == max(0, before - 512)  # the oldest 512, the rest left for the next slice
    assert parts.counts == whole.counts
    assert (parts.n, parts.max, parts.clock_ahead) == (whole.n, whole.max, whole.clock_ahead) == (3004, 5e7, 1)
    assert parts.recent_samples() == whole.recent_samples() == samples[-512:]
    assert parts.summary() == whole.summary()
    assert abs(parts.total_ms - whole.total_ms) <= 1e-9 * whole.total_ms
