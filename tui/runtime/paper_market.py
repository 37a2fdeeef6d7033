"""The paper executor's view of a session's market (local books and quotes) and the fees it charges."""
from __future__ import annotations

from typing import TypedDict

from feeds.core.book import OrderBook
from feeds.core.book_sync import OrderBooks
from feeds.core.state import MarketState
from feeds.venues import VENUES

Side = list[tuple[float, float]]  # (price, size) levels, best first

UNKNOWN_VENUE_FEE_BPS = 10.0


class VenueFees(TypedDict):
    taker_fee_bps: dict[str, float]
    maker_fee_bps: dict[str, float]


def venue_fees_bps(venues: list[str]) -> VenueFees:
    """``{"taker_fee_bps": {venue: bps}, "maker_fee_bps": {...}}``: the base tiers the venues declare."""
    taker: dict[str, float] = {}
    maker: dict[str, float] = {}
    for venue in venues:
        declared = VENUES.get(venue)
        taker[venue] = declared.taker_fee_bps if declared else UNKNOWN_VENUE_FEE_BPS
        maker[venue] = taker[venue] if declared is None or declared.maker_fee_bps is None else declared.maker_fee_bps
    return {"taker_fee_bps": taker, "maker_fee_bps": maker}


class BookTouch:
    """The paper executor's view of the market: synced, uncrossed local books, and the latest quotes."""

    def __init__(self, books: OrderBooks, state: MarketState) -> None:
        self.syncs = books.syncs
        self.symbols = state.symbols

    def quote(self, venue: str, symbol: str) -> tuple[float, float] | None:
        st = self.symbols.get((venue, symbol))
        q = st.quote if st is not None else None
        return None if q is None else (q.bid, q.ask)

    def _book(self, venue: str, symbol: str) -> OrderBook | None:
        sync = self.syncs.get((venue, symbol))
        if sync is None or sync.state != "synced" or sync.book.is_crossed():
            return None
        return sync.book

    def touch(self, venue: str, symbol: str) -> tuple[float, float] | None:
        book = self._book(venue, symbol)
        if book is None:
            return None
        bid, ask = book.best_bid(), book.best_ask()
        return (bid[0], ask[0]) if bid and ask else None

    def depth(self, venue: str, symbol: str, levels: int) -> tuple[Side, Side] | None:
        book = self._book(venue, symbol)
        return None if book is None else book.top(levels)
