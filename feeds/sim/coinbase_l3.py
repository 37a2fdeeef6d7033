"""The simulated Coinbase book order by order: the ``full`` channel's messages for SimMarket's level changes.

SimMarket moves price levels (absolute lots per tick). ``SimOrders`` keeps resting orders that add up to
those levels exactly, and turns every level change into the ``full`` messages that explain it
(feeds/venues/coinbase_full.py has the protocol facts):

- a level that grows gets a new order: ``received`` then ``open``;
- a level that shrinks (not by a trade) loses its newest orders: ``done`` (``canceled``) for whole ones, a
  ``change`` (``STP``, a smaller ``new_size``) for the last one cut;
- a trade is a taker order: ``received``, one ``match`` per resting order it fills (oldest first, each with its
  own ``trade_id``; a maker filled whole is ``done``/``filled``), then the taker's ``done``. A trade bigger
  than its level (the market refills an emptied top level at once) first gets a resting order for the
  difference, so the matches add up to the trade's size.

Trade ids of the ``full`` channel are numbered here, per product, because one trade of the market can fill
several orders; the ``matches`` channel keeps the market's one id per trade. Messages are dicts without
``sequence``; the venue numbers them as it sends them. With no list to fill (nobody subscribed to ``full``)
only the book is kept and the messages are counted (``emitted``), so sequences stay right at little cost.
"""
from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any

from .market import SimSymbol

Message = dict[str, Any]
Out = list[Message] | None  # None: count the messages, do not build them


class SimOrders:
    """Resting orders of one product: (is_bid, tick) -> deque of [order number, lots], oldest first."""

    def __init__(self, product_id: str, sym: SimSymbol, first_order: int, first_trade_id: int,
                 order_id: Callable[[int], str], px: Callable[[int], str], sz: Callable[[int], str]) -> None:
        self.product_id = product_id
        self.sym = sym
        self.next_order = first_order
        self.next_trade_id = first_trade_id
        self.order_id, self.px, self.sz = order_id, px, sz
        self.levels: dict[tuple[bool, int], deque[list[int]]] = {}
        self.totals: dict[tuple[bool, int], int] = {}  # lots per level: the sum of its orders, kept as they change
        self.emitted = 0  # messages made (or only counted) so far
        self.last_match = 0  # ``emitted`` at the newest match
        for is_bid, book in ((True, sym.bids), (False, sym.asks)):
            for tick, lots in book.items():
                self._rest(is_bid, tick, lots)

    def _rest(self, is_bid: bool, tick: int, lots: int) -> int:
        n = self.next_order
        self.next_order += 1
        self.levels.setdefault((is_bid, tick), deque()).append([n, lots])
        self.totals[(is_bid, tick)] = self.totals.get((is_bid, tick), 0) + lots
        return n

    def lots(self, is_bid: bool, tick: int) -> int:
        return self.totals.get((is_bid, tick), 0)

    # the messages --------------------------------------------------------------------------------------
    def _base(self, kind: str, t: str) -> Message:
        return {"type": kind, "product_id": self.product_id, "time": t}

    def _open(self, is_bid: bool, tick: int, lots: int, t: str, out: Out) -> None:
        n = self._rest(is_bid, tick, lots)
        self.emitted += 2
        if out is None:
            return
        side, oid, price = "buy" if is_bid else "sell", self.order_id(n), self.px(tick)
        out.append({**self._base("received", t), "order_id": oid, "size": self.sz(lots), "price": price,
                    "side": side, "order_type": "limit"})
        out.append({**self._base("open", t), "order_id": oid, "price": price, "remaining_size": self.sz(lots),
                    "side": side})

    def _cancel(self, is_bid: bool, tick: int, lots: int, t: str, out: Out) -> None:
        q = self.levels[(is_bid, tick)]
        self._take(is_bid, tick, lots)
        side, price = "buy" if is_bid else "sell", self.px(tick)
        while lots > 0:
            order = q[-1]
            self.emitted += 1
            if order[1] <= lots:
                q.pop()
                lots -= order[1]
                if out is not None:
                    out.append({**self._base("done", t), "order_id": self.order_id(order[0]), "reason": "canceled",
                                "price": price, "remaining_size": self.sz(order[1]), "side": side})
            else:
                old = order[1]
                order[1] = old - lots
                lots = 0
                if out is not None:
                    out.append({**self._base("change", t), "reason": "STP", "order_id": self.order_id(order[0]),
                                "side": side, "old_size": self.sz(old), "new_size": self.sz(order[1]),
                                "price": price})
        if not q:
            del self.levels[(is_bid, tick)]

    def _take(self, is_bid: bool, tick: int, lots: int) -> None:
        left = self.totals[(is_bid, tick)] - lots
        if left:
            self.totals[(is_bid, tick)] = left
        else:
            del self.totals[(is_bid, tick)]

    def level(self, is_bid: bool, tick: int, lots: int, t: str, out: Out) -> None:
        """A level changed to ``lots`` (not by a trade)."""
        have = self.lots(is_bid, tick)
        if lots > have:
            self._open(is_bid, tick, lots - have, t, out)
        elif lots < have:
            self._cancel(is_bid, tick, have - lots, t, out)

    def trade(self, maker_is_bid: bool, tick: int, qty: int, lots_after: int, t: str, out: Out) -> None:
        """A taker order of ``qty`` lots fills resting orders at ``tick``; the level ends at ``lots_after``."""
        have = self.lots(maker_is_bid, tick)
        if qty > have:
            self._open(maker_is_bid, tick, qty - have, t, out)
        taker = self.next_order
        self.next_order += 1
        taker_side, maker_side = ("sell", "buy") if maker_is_bid else ("buy", "sell")
        taker_id, price = (self.order_id(taker), self.px(tick)) if out is not None else ("", "")
        self.emitted += 1
        if out is not None:
            out.append({**self._base("received", t), "order_id": taker_id, "size": self.sz(qty), "price": price,
                        "side": taker_side, "order_type": "limit"})
        q = self.levels[(maker_is_bid, tick)]
        self._take(maker_is_bid, tick, qty)
        left = qty
        while left > 0:
            order = q[0]
            fill = min(order[1], left)
            order[1] -= fill
            left -= fill
            self.next_trade_id += 1
            self.emitted += 1
            self.last_match = self.emitted
            if out is not None:
                out.append({**self._base("match", t), "trade_id": self.next_trade_id,
                            "maker_order_id": self.order_id(order[0]), "taker_order_id": taker_id,
                            "size": self.sz(fill), "price": price, "side": maker_side})
            if order[1] == 0:
                q.popleft()
                self.emitted += 1
                if out is not None:
                    out.append({**self._base("done", t), "order_id": self.order_id(order[0]), "reason": "filled",
                                "price": price, "remaining_size": self.sz(0), "side": maker_side})
        if not q:
            del self.levels[(maker_is_bid, tick)]
        self.emitted += 1
        if out is not None:
            out.append({**self._base("done", t), "order_id": taker_id, "reason": "filled", "price": price,
                        "remaining_size": self.sz(0), "side": taker_side})
        self.level(maker_is_bid, tick, lots_after, t, out)

    def snapshot_rows(self, is_bid: bool) -> list[list[str]]:
        """``[price, size, order_id]`` rows of one side, best price first, oldest order first within a level."""
        sym = self.sym
        ticks = reversed(sym.bid_ticks) if is_bid else iter(sym.ask_ticks)
        rows: list[list[str]] = []
        for tick in ticks:
            for n, lots in self.levels.get((is_bid, tick), ()):
                rows.append([self.px(tick), self.sz(lots), self.order_id(n)])
        return rows
