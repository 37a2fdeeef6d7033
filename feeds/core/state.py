"""Market state per venue and symbol: candle series, last trade, best bid/ask, 24 h stats, counters.

Plain objects owned by the pipeline. The UI reads them on a timer; ``version`` counters let a widget
redraw only what changed since its last look.
"""
from __future__ import annotations

from bisect import bisect_left
from collections import deque

from feeds.events import Candle, Liquidation, MarkPrice, OpenInterest, Quote, Ticker, Trade

MAX_BARS = 500
MAX_LIQUIDATIONS = 500  # the liquidation log keeps this many, newest last


class CandleSeries:
    """Closed bars oldest first (at most ``maxlen``) plus the forming bar, for one interval.

    Closed bars are immutable: a second closed bar with the same open time is a duplicate.
    """

    __slots__ = ("interval", "bars", "forming", "maxlen", "version", "_opens")

    def __init__(self, interval: str, maxlen: int = MAX_BARS) -> None:
        self.interval = interval
        self.bars: list[Candle] = []
        self._opens: list[int] = []  # open_ns of ``bars``, for bisect
        self.forming: Candle | None = None
        self.maxlen = maxlen
        self.version = 0

    @property
    def last_closed_open_ns(self) -> int:
        return self._opens[-1] if self._opens else -1

    def apply(self, candle: Candle) -> str:
        """Apply one candle update. Returns "closed", "forming", "duplicate" or "stale"."""
        opens = self._opens
        last = opens[-1] if opens else -1
        if candle.closed:
            if candle.open_ns > last:
                opens.append(candle.open_ns)
                self.bars.append(candle)
            else:
                i = bisect_left(opens, candle.open_ns)
                if i < len(opens) and opens[i] == candle.open_ns:
                    return "duplicate"
                opens.insert(i, candle.open_ns)  # a backfilled bar landing before the newest
                self.bars.insert(i, candle)
            if len(opens) > self.maxlen:
                del opens[0]
                del self.bars[0]
            forming = self.forming
            if forming is not None and forming.open_ns <= candle.open_ns:
                self.forming = None
            self.version += 1
            return "closed"
        if candle.open_ns <= last:
            return "stale"  # a late update of a bar that has already closed
        forming = self.forming
        if forming is not None and candle.open_ns < forming.open_ns:
            return "stale"
        self.forming = candle
        self.version += 1
        return "forming"

    def has_bar(self, open_ns: int) -> bool:
        i = bisect_left(self._opens, open_ns)
        return i < len(self._opens) and self._opens[i] == open_ns

    def closed_bars(self) -> list[Candle]:
        return list(self.bars)


class SymbolState:
    """Everything known about one symbol on one venue."""

    __slots__ = ("venue", "symbol", "unified", "candles", "last_trade", "quote", "ticker", "messages",
                 "trades", "last_recv_ns", "last_exch_ns", "version", "volume", "mark", "open_interest",
                 "open_interest_prev")

    def __init__(self, venue: str, symbol: str, unified: str) -> None:
        self.venue = venue
        self.symbol = symbol
        self.unified = unified
        self.candles: dict[str, CandleSeries] = {}
        self.last_trade: Trade | None = None
        self.quote: Quote | None = None
        self.ticker: Ticker | None = None
        self.mark: MarkPrice | None = None  # futures: the latest mark price and funding
        self.open_interest: OpenInterest | None = None
        self.open_interest_prev: OpenInterest | None = None  # the poll before, for the change
        self.messages = 0  # events applied for this symbol
        self.trades = 0
        self.volume = 0.0  # traded base volume seen this session
        self.last_recv_ns = 0
        self.last_exch_ns = 0
        self.version = 0

    def series(self, interval: str) -> CandleSeries:
        s = self.candles.get(interval)
        if s is None:
            s = self.candles[interval] = CandleSeries(interval)
        return s

    def last_price(self) -> float | None:
        if self.last_trade is not None:
            return self.last_trade.price
        if self.quote is not None:
            return (self.quote.bid + self.quote.ask) / 2.0
        return None


class MarketState:
    """All SymbolStates, keyed by (venue, symbol)."""

    def __init__(self) -> None:
        self.symbols: dict[tuple[str, str], SymbolState] = {}
        self.liquidations: deque[Liquidation] = deque(maxlen=MAX_LIQUIDATIONS)

    def get(self, venue: str, symbol: str, unified: str = "") -> SymbolState:
        key = (venue, symbol)
        st = self.symbols.get(key)
        if st is None:
            st = self.symbols[key] = SymbolState(venue, symbol, unified or symbol)
        return st

    def by_unified(self, unified: str) -> list[SymbolState]:
        return [s for s in self.symbols.values() if s.unified == unified]

    def venues(self) -> list[str]:
        return sorted({v for v, _ in self.symbols})
