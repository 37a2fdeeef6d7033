"""A live tick folds latency samples in slices: folding them a part at a time keeps the same statistics."""
import random

import pytest

from feeds.core.latency import NS, LatencyStats


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


def test_samples_given_in_integer_nanoseconds_read_out_as_the_same_samples_in_ms():
    # The pipeline appends raw ns ints per frame (no float made per frame); every read-out stays in ms.
    rng = random.Random(11)
    ns = [int(rng.lognormvariate(13.0, 2.0)) for _ in range(5000)] + [-250_000, 0, 1, 4_000_000_000]
    rng.shuffle(ns)
    in_ms, in_ns = LatencyStats(), LatencyStats(NS)
    in_ms.pending.extend(x / 1e6 for x in ns)
    in_ns.pending.extend(ns)
    assert in_ns.recent_samples() == pytest.approx(in_ms.recent_samples())  # before a fold: from pending
    while in_ns.pending:
        in_ns.fold(700)
    in_ms.fold()
    assert in_ns.counts == in_ms.counts
    assert (in_ns.n, in_ns.clock_ahead) == (in_ms.n, in_ms.clock_ahead) == (5004, 1)
    assert in_ns.max == pytest.approx(4000.0) and in_ns.summary() == in_ms.summary()
    assert in_ns.total_ms == pytest.approx(in_ms.total_ms, rel=1e-12)
    assert in_ns.recent_samples() == pytest.approx(in_ms.recent_samples())
