"""Market state: candle series rules (forming in place, closed immutable, duplicates, backfill order)."""
from feeds.core.latency import LatencyStats
from feeds.core.state import CandleSeries, MarketState
from feeds.events import Candle

S = 1_000_000_000


def bar(open_s: int, close: float = 100.0, closed: bool = True, source: str = "live") -> Candle:
    return Candle("BINANCE", "BTCUSDT", "BTC/USD", open_s * S + S - 1, open_s * S + S, "1s", open_s * S,
                  100.0, max(100.0, close), min(100.0, close), close, 1.0, 3, closed, source)


def test_forming_bar_is_updated_in_place_and_closed_bars_append():
    s = CandleSeries("1s")
    assert s.apply(bar(10, 101.0, closed=False)) == "forming"
    assert s.apply(bar(10, 102.0, closed=False)) == "forming"
    assert s.forming.close == 102.0 and s.bars == []
    assert s.apply(bar(10, 103.0)) == "closed"
    assert s.forming is None and [b.close for b in s.bars] == [103.0]


def test_duplicate_closed_bar_is_refused_and_the_first_kept():
    s = CandleSeries("1s")
    s.apply(bar(10, 103.0))
    assert s.apply(bar(10, 999.0)) == "duplicate"
    assert [b.close for b in s.bars] == [103.0]


def test_late_forming_update_of_a_closed_bar_is_stale():
    s = CandleSeries("1s")
    s.apply(bar(10, 103.0))
    assert s.apply(bar(10, 50.0, closed=False)) == "stale"
    assert s.forming is None


def test_backfilled_bar_lands_in_time_order():
    s = CandleSeries("1s")
    s.apply(bar(10))
    s.apply(bar(13))
    assert s.apply(bar(11, source="backfill")) == "closed"
    assert [b.open_ns // S for b in s.bars] == [10, 11, 13]
    assert s.has_bar(11 * S) and not s.has_bar(12 * S)


def test_series_keeps_at_most_maxlen_bars_oldest_dropped():
    s = CandleSeries("1s", maxlen=500)
    for i in range(600):
        s.apply(bar(i))
    assert len(s.bars) == 500 and s.bars[0].open_ns == 100 * S and s.bars[-1].open_ns == 599 * S


def test_market_state_keys_by_venue_and_symbol():
    m = MarketState()
    a = m.get("BINANCE", "BTCUSDT", "BTC/USD")
    assert m.get("BINANCE", "BTCUSDT") is a
    m.get("COINBASE", "BTC-USD", "BTC/USD")
    assert {s.venue for s in m.by_unified("BTC/USD")} == {"BINANCE", "COINBASE"}


def test_latency_percentiles_are_within_bucket_width():
    stats = LatencyStats()
    for i in range(1, 1001):
        stats.add(i / 10.0)  # 0.1 .. 100 ms
    assert abs(stats.percentile(0.5) - 50.0) / 50.0 < 0.06
    assert abs(stats.percentile(0.99) - 99.0) / 99.0 < 0.06
    assert stats.max == 100.0 and stats.n == 1000
    assert stats.recent_samples()[-1] == 100.0 and len(stats.recent_samples()) == 512


def test_latency_reset_forgets_samples_but_keeps_counting_what_a_bound_append_adds():
    stats = LatencyStats()
    append = stats.pending.append  # what the pipeline holds for each connection
    for ms in (500.0, -3.0, 2.0):
        append(ms)
    stats.fold()
    assert stats.n == 3 and stats.max == 500.0 and stats.clock_ahead == 1
    stats.reset()
    assert stats.n == 0 and stats.clock_ahead == 0 and stats.recent_samples() == []
    append(1.0)
    append(3.0)
    stats.fold()
    assert stats.n == 2 and stats.max == 3.0 and stats.recent_samples() == [1.0, 3.0]
