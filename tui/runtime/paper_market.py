"""The paper executor's view of a session's market (local books and quotes) and the fees it charges."""
from __future__ import annotations

from feeds.core.arbitrage import DEFAULT_TAKER_FEE_BPS
from feeds.venues import VENUES

DEFAULT_MAKER_FEE_BPS = {"BINANCE": 10.0, "COINBASE": 40.0, "COINBASE_ADVANCED": 40.0}  # base tiers


def venue_fees_bps(venues: list[str]) -> dict[str, dict[str, float]]:
    """``{"taker_fee_bps": {venue: bps}, "maker_fee_bps": {...}}``: what a venue's declaration states,
    else its base tier (10 bps for a venue nobody knows)."""
    out: dict[str, dict[str, float]] = {}
    for name, defaults in (("taker_fee_bps", DEFAULT_TAKER_FEE_BPS), ("maker_fee_bps", DEFAULT_MAKER_FEE_BPS)):
        fees = out[name] = {}
        for venue in venues:
            declared = getattr(VENUES.get(venue), name, None)
            fees[venue] = float(declared) if isinstance(declared, (int, float)) else defaults.get(venue, 10.0)
    return out


class BookTouch:
    """The paper executor's view of the market: synced, uncrossed local books, and the latest quotes."""

    def __init__(self, books, state) -> None:
        self.syncs = books.syncs
        self.symbols = state.symbols

    def quote(self, venue: str, symbol: str):
        st = self.symbols.get((venue, symbol))
        q = st.quote if st is not None else None
        return None if q is None else (q.bid, q.ask)

    def _book(self, venue: str, symbol: str):
        sync = self.syncs.get((venue, symbol))
        if sync is None or sync.state != "synced" or sync.book.is_crossed():
            return None
        return sync.book

    def touch(self, venue: str, symbol: str):
        book = self._book(venue, symbol)
        if book is None:
            return None
        bid, ask = book.best_bid(), book.best_ask()
        return (bid[0], ask[0]) if bid and ask else None

    def depth(self, venue: str, symbol: str, levels: int):
        book = self._book(venue, symbol)
        return None if book is None else book.top(levels)
