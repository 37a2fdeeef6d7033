"""Candles built from trades: bar boundaries, closing by a later trade or by time, and comparison."""
from __future__ import annotations

import pytest
from msgspec.structs import replace

from feeds.core.trade_candles import TradeCandleBuilder, compare
from feeds.events import Candle, Trade

MIN = 60 * 10**9
T0 = 1_700_000_040 * 10**9  # a minute boundary


def trade(offset_s: float, price: float, size: float = 1.0, symbol: str = "BTC-USD", tid: int = 0) -> Trade:
    t = T0 + int(offset_s * 1e9)
    return Trade("COINBASE", symbol, symbol.replace("-", "/"), t, t + 5_000_000, price, size, "buy", tid)


def test_trades_across_three_bars():
    b = TradeCandleBuilder(60_000, "1m")
    out = []
    for t in (trade(1, 100, 1), trade(20, 105, 2), trade(40, 95, 0.5), trade(59.999, 101, 1),  # bar 0
              trade(61, 102, 3), trade(119, 99, 1),  # bar 1
              trade(125, 110, 4)):  # bar 2
        out.extend(b.update(t))
    closed = [c for c in out if c.closed]
    assert len(closed) == 2
    c0, c1 = closed
    assert (c0.open_ns, c0.open, c0.high, c0.low, c0.close, c0.volume, c0.trades) == (T0, 100, 105, 95, 101, 4.5, 4)
    assert (c1.open_ns, c1.open, c1.high, c1.low, c1.close, c1.volume, c1.trades) == (T0 + MIN, 102, 102, 99, 99, 4, 2)
    assert all(c.source == "live" and c.interval == "1m" and c.unified == "BTC/USD" for c in out)
    forming = b.forming("COINBASE", "BTC-USD")
    assert forming == out[-1]
    assert (forming.closed, forming.open_ns, forming.open, forming.close, forming.volume, forming.trades) == (
        False, T0 + 2 * MIN, 110, 110, 4, 1)
    # Order: the closed bar comes first, then the new forming one; every update emits the forming bar.
    assert [(c.open_ns - T0) // MIN for c in out] == [0, 0, 0, 0, 0, 1, 1, 1, 2]
    assert [c.closed for c in out] == [False] * 4 + [True, False, False, True, False]
    assert out[4].exch_ns == trade(61, 0).exch_ns  # closed at the time of the trade that revealed it


def test_bars_without_trades_are_not_invented():
    b = TradeCandleBuilder(60_000, "1m")
    b.update(trade(1, 100))
    closed, forming = b.update(trade(5 * 60 + 1, 120))
    assert closed.open_ns == T0 and forming.open_ns == T0 + 5 * MIN


def test_symbols_are_independent():
    b = TradeCandleBuilder(60_000, "1m")
    b.update(trade(1, 100))
    (eth,) = b.update(trade(61, 2000, symbol="ETH-USD"))
    assert eth.symbol == "ETH-USD" and not eth.closed
    closed, _ = b.update(trade(62, 101))
    assert closed.symbol == "BTC-USD" and closed.closed


def test_late_trades_are_dropped_and_counted():
    b = TradeCandleBuilder(60_000, "1m")
    b.update(trade(61, 100))
    assert b.update(trade(59, 1)) == []  # older bar than the forming one
    assert b.late_trades == 1
    (c,) = b.update(trade(62, 101))
    assert c.trades == 2 and c.low == 100


def test_close_due_closes_after_grace_and_not_before():
    b = TradeCandleBuilder(60_000, "1m", grace_ms=2000)
    b.update(trade(10, 100, 2))
    b.update(trade(50, 103, 1))
    assert b.close_due(T0 + MIN + 1_999_999_999) == []
    (c,) = b.close_due(T0 + MIN + 2 * 10**9)
    assert (c.closed, c.open_ns, c.open, c.high, c.close, c.volume, c.trades) == (True, T0, 100, 103, 103, 3, 2)
    assert (c.exch_ns, c.recv_ns) == (T0 + MIN, T0 + MIN + 2 * 10**9)  # exch: the bar's end
    assert b.forming("COINBASE", "BTC-USD") is None
    assert b.close_due(T0 + 10 * MIN) == []  # closed once only
    # A straggler for the closed bar does not reopen it; the next bar starts fresh with no close event.
    assert b.update(trade(59, 1)) == []
    assert b.late_trades == 1
    (c,) = b.update(trade(70, 104))
    assert (c.closed, c.open_ns, c.trades) == (False, T0 + MIN, 1)


def test_trade_without_exchange_time_uses_receive_time():
    b = TradeCandleBuilder(1000, "1s")
    t = Trade("COINBASE", "BTC-USD", "BTC/USD", 0, T0 + 1_500_000_000, 100.0, 1.0, "buy", 1)
    (c,) = b.update(t)
    assert c.open_ns == T0 + 1_000_000_000 and c.interval == "1s"


def test_bad_interval():
    with pytest.raises(ValueError):
        TradeCandleBuilder(0, "0s")


def candle(**over) -> Candle:
    c = Candle("COINBASE", "BTC-USD", "BTC/USD", T0, T0, "5m", T0, 100.0, 105.0, 95.0, 101.0, 4.5, 0, True)
    return replace(c, **over)


def test_compare():
    assert compare(candle(), candle(trades=4, recv_ns=1)) is None
    assert compare(candle(), candle(high=105.0 + 1e-12)) is None  # within the default tolerance
    text = compare(candle(), candle(high=106.0, volume=4.0))
    assert text == "high 105 vs 106; volume 4.5 vs 4 (exchange vs built)"
    assert compare(candle(), candle(close=101.5), tolerance=0.01) is None
    assert compare(candle(), candle(close=101.5), tolerance=0.001) == "close 101 vs 101.5 (exchange vs built)"
    assert "open times differ" in compare(candle(), candle(open_ns=T0 + 300 * 10**9))
    assert "intervals differ" in compare(candle(), candle(interval="1m"))
    assert compare(candle(), candle(low=float("nan"))) is not None


def test_compare_with_a_built_5m_candle():
    b = TradeCandleBuilder(300_000, "5m")
    five = T0 + MIN  # a 5-minute boundary
    for t in (trade(61, 100, 1), trade(160, 105, 2), trade(260, 95, 0.5), trade(359, 101, 1)):
        b.update(t)
    built = b.forming("COINBASE", "BTC-USD")
    assert built.open_ns == five
    assert compare(candle(open_ns=five, closed=False), built) is None
    assert compare(candle(open_ns=five, volume=5.0), built) == "volume 5 vs 4.5 (exchange vs built)"
