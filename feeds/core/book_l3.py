"""A level-3 order book: every resting order by id, and the price levels they add up to. Pure, no I/O.

Orders are kept per level in arrival order (their time priority), so a level's size is the sum of its own
orders' sizes, recomputed when one of them changes: no running total drifts with float rounding (the sum is
rounded to 12 decimals, so 0.8 + 0.00483 is the 0.80483 a venue would print, not 0.8048299999999999). The
aggregated levels live in an ``OrderBook`` (``.levels``), which the depth view, the statistics and the
cross-check with a level-2 book read like any other book. Messages for orders that are not on the book
(received but never opened, market orders) change nothing, as Coinbase's rules say.
"""
from __future__ import annotations

from math import fsum

from feeds.core.book import OrderBook
from feeds.events import Level3Snapshot, Level3Update


class Level3Book:
    """Resting orders: id -> (is_bid, price, size); levels (is_bid, price) -> {id: size}."""

    __slots__ = ("levels", "_orders", "_at")

    def __init__(self) -> None:
        self.levels = OrderBook()
        self._orders: dict[str, tuple[bool, float, float]] = {}
        self._at: dict[tuple[bool, float], dict[str, float]] = {}

    def __len__(self) -> int:
        return len(self._orders)

    def __contains__(self, order_id: str) -> bool:
        return order_id in self._orders

    def order(self, order_id: str) -> tuple[bool, float, float] | None:
        """(is_bid, price, size) of a resting order; None when it is not on the book."""
        return self._orders.get(order_id)

    def orders_at(self, is_bid: bool, price: float) -> int:
        """How many orders rest at a level."""
        return len(self._at.get((is_bid, price), ()))

    def load(self, snapshot: Level3Snapshot) -> None:
        """Replace everything with the snapshot's orders (rows in time priority within a level)."""
        self._orders = {}
        self._at = {}
        for is_bid, rows in ((True, snapshot.bids), (False, snapshot.asks)):
            for price, size, order_id in rows:
                self._remove(order_id)  # the same id twice: the later row wins
                if size > 0.0:
                    self._orders[order_id] = (is_bid, price, size)
                    self._at.setdefault((is_bid, price), {})[order_id] = size
        bids = [(p, _total(o)) for (b, p), o in self._at.items() if b]
        asks = [(p, _total(o)) for (b, p), o in self._at.items() if not b]
        self.levels.apply_snapshot(bids, asks)

    def apply(self, u: Level3Update) -> bool:
        """Apply one message; True when the book changed."""
        action = u.action
        if action == "open":
            old = self._orders.get(u.order_id)
            if old is not None:  # opened twice: the later message wins
                self._remove(u.order_id)
                self._touch(old[0], old[1])
            if u.size <= 0.0:
                return old is not None
            return self._put(u.order_id, u.side == "buy", u.price, u.size)
        held = self._orders.get(u.order_id)
        if held is None:
            return False  # received, activate, or an order that never rested
        is_bid, price, size = held
        if action == "done":
            self._remove(u.order_id)
            self._touch(is_bid, price)
            return True
        if action == "match":
            left = size - u.size
            if left <= size * 1e-12:  # filled: its done message will find nothing to remove
                self._remove(u.order_id)
                self._touch(is_bid, price)
                return True
            return self._put(u.order_id, is_bid, price, left)
        if action == "change":
            new_price = u.price if u.price > 0.0 else price
            if new_price != price or u.size <= 0.0:
                self._remove(u.order_id)
                self._touch(is_bid, price)
            if u.size <= 0.0:
                return True
            return self._put(u.order_id, is_bid, new_price, u.size)
        return False

    def _put(self, order_id: str, is_bid: bool, price: float, size: float) -> bool:
        self._orders[order_id] = (is_bid, price, size)
        self._at.setdefault((is_bid, price), {})[order_id] = size
        self._touch(is_bid, price)
        return True

    def _remove(self, order_id: str) -> None:
        held = self._orders.pop(order_id, None)
        if held is not None:
            key = (held[0], held[1])
            level = self._at[key]
            del level[order_id]
            if not level:
                del self._at[key]

    def _touch(self, is_bid: bool, price: float) -> None:
        """Set the aggregated level from its orders (0 removes it)."""
        level = self._at.get((is_bid, price))
        total = _total(level) if level else 0.0
        if is_bid:
            self.levels.apply_levels(((price, total),), ())
        else:
            self.levels.apply_levels((), ((price, total),))


def _total(level: dict[str, float]) -> float:
    return round(fsum(level.values()), 12)
