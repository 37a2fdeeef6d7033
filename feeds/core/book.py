"""A local limit order book: price levels per side, fast updates, fast best and top-N reads.

Each side is a dict price -> size plus an ascending list of its prices kept sorted with bisect
(``insort`` for a new level, ``bisect_left`` + ``del`` for a removed one). Changing the size of a
known level, the most common update, is one dict store. Best bid is the list's last item, best ask
its first, and top(n) is a slice.

Measured on a 5,000-level-per-side book (see ``bench_book_updates``), this beat a
sortedcontainers.SortedDict and a lazily re-sorted dict (which collapses once the best price is read
after every delta, as the sync's crossed-book check does); a heap was close on updates but needs
O(n log n) for top(n). Sizes are absolute: 0 removes a level, and removing an unknown level is normal.
"""
from __future__ import annotations

import random
import time
from bisect import bisect_left, insort
from collections.abc import Sequence

Levels = Sequence[tuple[float, float]]  # ((price, size), ...) for one side


def _apply_side(levels: Levels, sizes: dict[float, float], prices: list[float]) -> None:
    for price, size in levels:
        if size > 0.0:
            if price not in sizes:
                insort(prices, price)
            sizes[price] = size
        elif sizes.pop(price, None) is not None:
            del prices[bisect_left(prices, price)]


class OrderBook:
    """Bids and asks as price -> size; prices are floats, sizes absolute."""

    __slots__ = ("_bids", "_asks", "_bid_prices", "_ask_prices")

    def __init__(self) -> None:
        self._bids: dict[float, float] = {}
        self._asks: dict[float, float] = {}
        self._bid_prices: list[float] = []  # ascending: the best bid is the last
        self._ask_prices: list[float] = []  # ascending: the best ask is the first

    def clear(self) -> None:
        self._bids = {}
        self._asks = {}
        self._bid_prices = []
        self._ask_prices = []

    def apply_snapshot(self, bids: Levels, asks: Levels) -> None:
        """Replace the whole book with ``((price, size), ...)`` per side, as if applied in order."""
        self._bids = {p: s for p, s in dict(bids).items() if s > 0.0}
        self._asks = {p: s for p, s in dict(asks).items() if s > 0.0}
        self._bid_prices = sorted(self._bids)
        self._ask_prices = sorted(self._asks)

    def apply_levels(self, bids: Levels, asks: Levels) -> None:
        """Set absolute sizes ``((price, size), ...)`` per side; size 0 removes the level."""
        if bids:
            _apply_side(bids, self._bids, self._bid_prices)
        if asks:
            _apply_side(asks, self._asks, self._ask_prices)

    def best_bid(self) -> tuple[float, float] | None:
        prices = self._bid_prices
        if prices:
            price = prices[-1]
            return price, self._bids[price]
        return None

    def best_ask(self) -> tuple[float, float] | None:
        prices = self._ask_prices
        if prices:
            price = prices[0]
            return price, self._asks[price]
        return None

    def top(self, n: int) -> tuple[list[tuple[float, float]], list[tuple[float, float]]]:
        """The best ``n`` levels of each side, best first: ``([(bid, size)...], [(ask, size)...])``."""
        if n <= 0:
            return [], []
        bids = self._bids
        asks = self._asks
        return ([(p, bids[p]) for p in self._bid_prices[:-n - 1:-1]],
                [(p, asks[p]) for p in self._ask_prices[:n]])

    def is_crossed(self) -> bool:
        """True when the best bid is at or above the best ask (a locked book counts as crossed)."""
        bids = self._bid_prices
        asks = self._ask_prices
        return bool(bids) and bool(asks) and bids[-1] >= asks[0]

    def mid(self) -> float | None:
        if self._bid_prices and self._ask_prices:
            return (self._bid_prices[-1] + self._ask_prices[0]) / 2.0
        return None

    def spread(self) -> float | None:
        if self._bid_prices and self._ask_prices:
            return self._ask_prices[0] - self._bid_prices[-1]
        return None

    def depth_counts(self) -> tuple[int, int]:
        """Number of levels: ``(bids, asks)``."""
        return len(self._bids), len(self._asks)

    def __len__(self) -> int:
        return len(self._bids) + len(self._asks)


LevelTuple = tuple[tuple[float, float], ...]


def make_update_stream(levels: int = 5000, updates: int = 200_000, seed: int = 1, per_delta: int = 10
                       ) -> tuple[LevelTuple, LevelTuple, list[tuple[LevelTuple, LevelTuple]]]:
    """A deterministic book (``levels`` per side) and a stream of deltas of ``per_delta`` level changes.

    Changes cluster near the top (exponential distance from the touch, as on real books); one in five
    removes its level, so levels come and go. Bids stay below asks, so the book never crosses.
    Returns ``(bids, asks, deltas)`` with ``deltas`` a list of ``(bids, asks)`` tuples.
    """
    rng = random.Random(seed)
    touch = 1_000_000  # in ticks of 0.01; prices are ticks / 100 so equal ticks give equal floats
    bids = tuple(((touch - 1 - k) / 100, float(rng.randint(1, 1000))) for k in range(levels))
    asks = tuple(((touch + 1 + k) / 100, float(rng.randint(1, 1000))) for k in range(levels))
    far = int(levels * 1.2)
    mean_distance = max(levels / 8, 1.0)
    deltas: list[tuple[LevelTuple, LevelTuple]] = []
    for _ in range(max(updates // per_delta, 1)):
        b: list[tuple[float, float]] = []
        a: list[tuple[float, float]] = []
        for _ in range(per_delta):
            k = min(int(rng.expovariate(1.0 / mean_distance)), far)
            size = 0.0 if rng.random() < 0.2 else float(rng.randint(1, 1000))
            if rng.random() < 0.5:
                b.append(((touch - 1 - k) / 100, size))
            else:
                a.append(((touch + 1 + k) / 100, size))
        deltas.append((tuple(b), tuple(a)))
    return bids, asks, deltas


def bench_book_updates(levels: int = 5000, updates: int = 200_000, seed: int = 1) -> float:
    """Level updates per second: deltas of 10 level changes, each followed by the crossed-book check.

    The stream is generated before the clock starts; only ``apply_levels`` + ``is_crossed`` are timed.
    """
    bids, asks, deltas = make_update_stream(levels, updates, seed)
    book = OrderBook()
    book.apply_snapshot(bids, asks)
    apply = book.apply_levels
    crossed = book.is_crossed
    t0 = time.perf_counter()
    for b, a in deltas:
        apply(b, a)
        crossed()
    elapsed = time.perf_counter() - t0
    count = sum(len(b) + len(a) for b, a in deltas)
    return count / elapsed if elapsed > 0 else float("inf")
