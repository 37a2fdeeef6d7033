"""OrderBook against a naive reference (a dict sorted on every read), plus the edge cases."""
from __future__ import annotations

import random
import time

import pytest

from feeds.core.book import OrderBook, bench_book_updates, make_update_stream


class NaiveBook:
    def __init__(self) -> None:
        self.bids: dict[float, float] = {}
        self.asks: dict[float, float] = {}

    def apply(self, bids, asks) -> None:
        for side, levels in ((self.bids, bids), (self.asks, asks)):
            for price, size in levels:
                if size > 0:
                    side[price] = size
                else:
                    side.pop(price, None)

    def top(self, n: int):
        bids = sorted(self.bids.items(), key=lambda kv: -kv[0])[:n]
        asks = sorted(self.asks.items())[:n]
        return bids, asks


def _random_levels(rng: random.Random, grid: list[float], count: int):
    # A third of the changes are removals, some of them of levels that are not there.
    return tuple((rng.choice(grid), 0.0 if rng.random() < 0.33 else float(rng.randint(1, 50)))
                 for _ in range(count))


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_random_operations_match_naive_reference(seed):
    rng = random.Random(seed)
    grid = [round(100 + i * 0.5, 2) for i in range(80)]  # small grid: many overwrites and removals
    book = OrderBook()
    ref = NaiveBook()
    for step in range(3000):
        roll = rng.random()
        if roll < 0.01:
            bids = _random_levels(rng, grid, rng.randint(0, 40))
            asks = _random_levels(rng, grid, rng.randint(0, 40))
            book.apply_snapshot(bids, asks)
            ref = NaiveBook()
            ref.apply(bids, asks)
        elif roll < 0.012:
            book.clear()
            ref = NaiveBook()
        else:
            bids = _random_levels(rng, grid, rng.randint(0, 6))
            asks = _random_levels(rng, grid, rng.randint(0, 6))
            book.apply_levels(bids, asks)
            ref.apply(bids, asks)
        n = rng.randint(0, 12)
        ref_bids, ref_asks = ref.top(n)
        assert book.top(n) == (ref_bids, ref_asks), step
        assert book.depth_counts() == (len(ref.bids), len(ref.asks))
        full_bids, full_asks = ref.top(len(grid))
        assert book.best_bid() == (full_bids[0] if full_bids else None)
        assert book.best_ask() == (full_asks[0] if full_asks else None)
        crossed = bool(full_bids and full_asks and full_bids[0][0] >= full_asks[0][0])
        assert book.is_crossed() is crossed
    assert book.top(len(grid)) == ref.top(len(grid))


def test_top_is_best_first_on_both_sides():
    book = OrderBook()
    book.apply_snapshot(((99.0, 1.0), (101.0, 2.0), (100.0, 3.0)),
                        ((103.0, 4.0), (102.0, 5.0), (104.0, 6.0)))
    assert book.top(2) == ([(101.0, 2.0), (100.0, 3.0)], [(102.0, 5.0), (103.0, 4.0)])
    assert book.top(10) == ([(101.0, 2.0), (100.0, 3.0), (99.0, 1.0)],
                            [(102.0, 5.0), (103.0, 4.0), (104.0, 6.0)])
    assert book.top(0) == ([], [])
    assert book.best_bid() == (101.0, 2.0)
    assert book.best_ask() == (102.0, 5.0)
    assert book.mid() == 101.5
    assert book.spread() == 1.0


def test_crossed_and_locked_books_are_detected():
    book = OrderBook()
    book.apply_snapshot(((100.0, 1.0),), ((101.0, 1.0),))
    assert not book.is_crossed()
    book.apply_levels(((101.0, 2.0),), ())  # locked: bid == ask
    assert book.is_crossed()
    book.apply_levels(((101.0, 0.0), (102.0, 1.0)), ())  # crossed: bid above ask
    assert book.is_crossed()
    book.apply_levels(((102.0, 0.0),), ())
    assert not book.is_crossed()
    book.apply_levels((), ((101.0, 0.0),))  # one empty side cannot be crossed
    assert not book.is_crossed()
    assert book.best_ask() is None


def test_removing_an_unknown_level_changes_nothing():
    book = OrderBook()
    book.apply_snapshot(((100.0, 1.0),), ((101.0, 1.0),))
    book.apply_levels(((99.5, 0.0), (100.5, 0.0)), ((101.5, 0.0),))
    assert book.top(5) == ([(100.0, 1.0)], [(101.0, 1.0)])
    assert book.depth_counts() == (1, 1)


def test_snapshot_replaces_the_book_and_leaves_out_zero_sizes():
    book = OrderBook()
    book.apply_snapshot(((100.0, 1.0), (99.0, 1.0)), ((101.0, 1.0),))
    book.apply_snapshot(((98.0, 2.0), (97.0, 0.0)), ((102.0, 0.0), (103.0, 3.0)))
    assert book.top(5) == ([(98.0, 2.0)], [(103.0, 3.0)])
    assert book.depth_counts() == (1, 1)
    assert len(book) == 2


def test_empty_book_reads():
    book = OrderBook()
    book.apply_snapshot(((100.0, 1.0),), ((101.0, 1.0),))
    book.clear()
    assert book.best_bid() is None and book.best_ask() is None
    assert book.mid() is None and book.spread() is None
    assert book.top(3) == ([], [])
    assert book.depth_counts() == (0, 0)
    assert not book.is_crossed()


def test_update_stream_is_deterministic_and_never_crosses():
    bids, asks, deltas = make_update_stream(levels=300, updates=5000, seed=7)
    again = make_update_stream(levels=300, updates=5000, seed=7)
    assert (bids, asks, deltas) == again
    assert make_update_stream(levels=300, updates=5000, seed=8)[2] != deltas
    book = OrderBook()
    book.apply_snapshot(bids, asks)
    assert book.depth_counts() == (300, 300)
    for b, a in deltas:
        book.apply_levels(b, a)
        assert not book.is_crossed()
    n_bids, n_asks = book.depth_counts()
    assert 0 < n_bids < 400 and 0 < n_asks < 400


def test_bench_rate_counts_the_level_changes_it_applies_and_times_only_them():
    """The figure is level changes per second of apply + crossed check: the count is the stream's level
    changes (2,000), and since generating the stream is not timed, the rate is at least that count over
    the whole call's wall time."""
    _, _, deltas = make_update_stream(levels=200, updates=2000, seed=1)
    count = sum(len(b) + len(a) for b, a in deltas)
    assert count == 2000
    t0 = time.perf_counter()
    rate = bench_book_updates(levels=200, updates=2000, seed=1)
    whole_call = time.perf_counter() - t0
    assert count / whole_call <= rate < float("inf")
