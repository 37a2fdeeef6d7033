"""The guard: bad values rejected with a reason, duplicates found, trade-id gaps counted, reorders kept."""
import math

from msgspec.structs import replace

from feeds.core.guard import Guard
from feeds.events import Candle, Quote, Trade

NOW = 1_700_000_000 * 10**9


def trade(tid: int, price: float = 100.0, size: float = 1.0, exch_ns: int = NOW) -> Trade:
    return Trade("BINANCE", "BTCUSDT", "BTC/USD", exch_ns, NOW, price, size, "buy", tid)


def test_bad_prices_sizes_and_future_times_are_rejected():
    g = Guard()
    assert g.check_trade(trade(1, price=math.nan), NOW) == "bad_price"
    assert g.check_trade(trade(1, price=-1.0), NOW) == "bad_price"
    assert g.check_trade(trade(1, price=math.inf), NOW) == "bad_price"
    assert g.check_trade(trade(1, size=-0.5), NOW) == "bad_size"
    assert g.check_trade(trade(1, exch_ns=NOW + 60 * 10**9), NOW) == "future_time"
    assert g.check_trade(trade(1), NOW) is None


def test_absurd_price_is_rejected_until_it_persists():
    g = Guard()
    assert g.check_trade(trade(1, 100.0), NOW) is None
    assert g.check_trade(trade(2, 100_000.0), NOW) == "price_outlier"
    assert g.check_trade(trade(3, 101.0), NOW) is None
    results = [g.check_trade(trade(10 + i, 5000.0), NOW) for i in range(25)]
    assert results[0] == "price_outlier" and results[-1] is None  # re-anchored after a persistent level


def test_duplicate_trade_ids_and_gaps():
    g = Guard()
    assert g.check_trade(trade(5), NOW) is None
    assert g.check_trade(trade(5), NOW) == "duplicate"
    assert g.check_trade(trade(9), NOW) is None
    assert g.gaps == 1 and g.last_gap == ("BINANCE", "BTCUSDT", 6, 8)
    assert g.check_trade(trade(7), NOW) is None  # out of order, fills the hole
    assert g.check_trade(trade(7), NOW) == "duplicate"
    assert g.late_fills == 1


def test_quote_and_candle_checks():
    g = Guard()
    q = Quote("BINANCE", "BTCUSDT", "BTC/USD", 0, NOW, 101.0, 1.0, 100.0, 1.0, 1)
    assert g.check_quote(q, NOW) == "crossed_quote"
    assert g.check_quote(replace(q, bid=99.0), NOW) is None
    c = Candle("BINANCE", "BTCUSDT", "BTC/USD", NOW, NOW, "1m", NOW, 100.0, 99.0, 98.0, 99.5, 1.0, 2, True)
    assert g.check_candle(c, NOW) == "bad_candle"  # high below open
    assert g.check_candle(replace(c, high=101.0), NOW) is None
