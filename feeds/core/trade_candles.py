"""Candles built from trades, for venues (Coinbase) whose feeds give trades but no candle at our interval.

``TradeCandleBuilder.update(trade)`` returns the candles a trade produces: the forming bar
(``closed=False``), preceded by the previous bar with ``closed=True`` when the trade opens a later
bar. A trade's bar is chosen by its exchange time. Bars with no trades are not invented.
``close_due(now_ns)`` closes forming bars whose end has passed by a grace period, so a bar closes
even when no later trade arrives. ``compare`` describes how an exchange's candle differs from a built one.
"""
from __future__ import annotations

from collections.abc import Callable

from feeds.events import Candle, Trade


class _Bar:
    """The forming bar of one (venue, symbol): mutable while trades arrive."""

    __slots__ = ("venue", "symbol", "unified", "open_ns", "open", "high", "low", "close", "volume",
                 "trades", "exch_ns", "recv_ns")

    def __init__(self, trade: Trade, open_ns: int, exch_ns: int) -> None:
        self.venue = trade.venue
        self.symbol = trade.symbol
        self.unified = trade.unified
        self.open_ns = open_ns
        self.open = self.high = self.low = self.close = trade.price
        self.volume = trade.size
        self.trades = 1
        self.exch_ns = exch_ns
        self.recv_ns = trade.recv_ns


class TradeCandleBuilder:
    """Builds ``interval_name`` candles (``interval_ms`` long) per (venue, symbol) from Trade events.

    A trade older than the forming bar, or in a bar already closed, is dropped and counted in
    ``late_trades``. A bar closed by ``close_due`` is not reopened.
    """

    def __init__(self, interval_ms: int, interval_name: str, grace_ms: int = 2000) -> None:
        if interval_ms <= 0:
            raise ValueError("interval_ms must be positive")
        self.interval_ns = interval_ms * 1_000_000
        self.interval_name = interval_name
        self.grace_ns = grace_ms * 1_000_000
        self.late_trades = 0
        self._bars: dict[tuple[str, str], _Bar] = {}
        self._closed_open_ns: dict[tuple[str, str], int] = {}  # newest bar closed, per key

    def update(self, trade: Trade) -> list[Candle]:
        exch_ns = trade.exch_ns or trade.recv_ns  # a venue without times: bar by receive time
        open_ns = exch_ns - exch_ns % self.interval_ns
        key = (trade.venue, trade.symbol)
        bar = self._bars.get(key)
        out: list[Candle] = []
        if bar is None or open_ns > bar.open_ns:
            closed_open = self._closed_open_ns.get(key)
            if closed_open is not None and open_ns <= closed_open:
                self.late_trades += 1
                return out
            if bar is not None:
                out.append(self._candle(bar, exch_ns, trade.recv_ns, True))
                self._closed_open_ns[key] = bar.open_ns
            bar = self._bars[key] = _Bar(trade, open_ns, exch_ns)
        elif open_ns < bar.open_ns:
            self.late_trades += 1
            return out
        else:
            price = trade.price
            if price > bar.high:
                bar.high = price
            elif price < bar.low:
                bar.low = price
            bar.close = price
            bar.volume += trade.size
            bar.trades += 1
            bar.exch_ns = exch_ns
            bar.recv_ns = trade.recv_ns
        out.append(self._candle(bar, exch_ns, trade.recv_ns, False))
        return out

    def close_due(self, now_ns: int) -> list[Candle]:
        """Close every forming bar whose end plus the grace period is at or before ``now_ns``."""
        out = []
        interval, grace = self.interval_ns, self.grace_ns
        for key, bar in list(self._bars.items()):
            end = bar.open_ns + interval
            if end + grace <= now_ns:
                out.append(self._candle(bar, end, now_ns, True))
                self._closed_open_ns[key] = bar.open_ns
                del self._bars[key]
        return out

    def forming(self, venue: str, symbol: str) -> Candle | None:
        """The forming bar of a symbol as a Candle, or None."""
        bar = self._bars.get((venue, symbol))
        return None if bar is None else self._candle(bar, bar.exch_ns, bar.recv_ns, False)

    def _candle(self, bar: _Bar, exch_ns: int, recv_ns: int, closed: bool) -> Candle:
        return Candle(bar.venue, bar.symbol, bar.unified, exch_ns, recv_ns, self.interval_name, bar.open_ns,
                      bar.open, bar.high, bar.low, bar.close, bar.volume, bar.trades, closed, "live")


_COMPARED = ("open", "high", "low", "close", "volume")


def compare(exchange_candle: Candle, built_candle: Candle, tolerance: float = 1e-9) -> str | None:
    """None when the two candles agree, else a short text naming each difference.

    Prices and volume agree when they differ by at most ``tolerance`` relative to the larger value.
    Trade counts are not compared (Advanced Trade candles carry none).
    """
    if exchange_candle.interval != built_candle.interval:
        return f"intervals differ: {exchange_candle.interval} vs {built_candle.interval} (built)"
    if exchange_candle.open_ns != built_candle.open_ns:
        return f"bar open times differ: {exchange_candle.open_ns} vs {built_candle.open_ns} (built)"
    diffs = []
    for name in _COMPARED:
        a = getattr(exchange_candle, name)
        b = getattr(built_candle, name)
        if not abs(a - b) <= tolerance * max(abs(a), abs(b)):  # NaN counts as a difference
            diffs.append(f"{name} {a:g} vs {b:g}")
    return f"{'; '.join(diffs)} (exchange vs built)" if diffs else None


class CandleCheck:
    """Checks a venue's own candles against candles built from its trades at the same interval.

    ``trade`` feeds the builder; ``exchange`` takes the venue's candle. When both sides have closed the
    same bar they are compared, and a difference is kept in ``mismatches`` (newest last, bounded).
    """

    def __init__(self, interval_ms: int, interval_name: str, tolerance: float = 1e-6, keep: int = 200) -> None:
        self.builder = TradeCandleBuilder(interval_ms, interval_name)
        self.interval = interval_name
        self.tolerance = tolerance
        self.keep = keep
        self._built: dict[tuple[str, int], Candle] = {}  # (symbol, open_ns) -> closed built bar
        self._exchange: dict[tuple[str, int], Candle] = {}  # the venue's closed bars waiting for ours
        self.compared = 0
        self.mismatch_count = 0  # all of them; ``mismatches`` keeps the latest ``keep``
        self.mismatches: list[tuple[Candle, str]] = []
        self.listeners: list[Callable[[Candle, str], None]] = []  # told of each mismatch: (venue's bar, difference)

    def trade(self, ev: Trade) -> None:
        for candle in self.builder.update(ev):
            if candle.closed:
                self._pair(self._built, self._exchange, candle, built=True)

    def close_due(self, now_ns: int) -> None:
        """Close built bars whose time is over even when no later trade came."""
        for candle in self.builder.close_due(now_ns):
            self._pair(self._built, self._exchange, candle, built=True)

    def exchange(self, ev: Candle) -> None:
        if ev.closed:
            self._pair(self._exchange, self._built, ev, built=False)

    def _pair(self, mine: dict[tuple[str, int], Candle], theirs: dict[tuple[str, int], Candle], candle: Candle,
              built: bool) -> None:
        key = (candle.symbol, candle.open_ns)
        other = theirs.pop(key, None)
        if other is None:
            mine[key] = candle
            if len(mine) > 4 * self.keep:  # a side that never answers must not grow forever
                del mine[next(iter(mine))]
            return
        exchange_bar, built_bar = (other, candle) if built else (candle, other)
        self.compared += 1
        difference = compare(exchange_bar, built_bar, self.tolerance)
        if difference is not None:
            self.mismatch_count += 1
            self.mismatches.append((exchange_bar, difference))
            del self.mismatches[:-self.keep]
            for fn in self.listeners:
                fn(exchange_bar, difference)
