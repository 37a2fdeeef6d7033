"""The pipeline over real Binance frames: counting rules, rejections kept, duplicates, latencies."""
import orjson

from feeds.venues.binance import BinanceCodec
from feeds.clock import ManualClock
from feeds.core.pipeline import Pipeline
from feeds.symbols import SymbolMap

T0_MS = 1_700_000_000_000


def frame(stream: str, data: dict) -> str:
    return orjson.dumps({"stream": stream, "data": data}).decode()


def agg(a: int, price: str = "100.5", t_ms: int = T0_MS) -> str:
    return frame("btcusdt@aggTrade", {"e": "aggTrade", "E": t_ms, "s": "BTCUSDT", "a": a, "p": price, "q": "0.1",
                                      "f": a, "l": a, "T": t_ms, "m": True, "M": True})


def kline(open_ms: int, close: str, closed: bool) -> str:
    return frame("btcusdt@kline_1s", {"e": "kline", "E": open_ms + 999, "s": "BTCUSDT", "k": {
        "t": open_ms, "T": open_ms + 999, "s": "BTCUSDT", "i": "1s", "f": 1, "L": 2, "o": "100", "c": close,
        "h": "101", "l": "99", "v": "2", "n": 2, "x": closed, "q": "200", "V": "1", "Q": "100", "B": "0"}})


def make():
    clock = ManualClock(T0_MS * 1_000_000 + 2_000_000)
    p = Pipeline(clock, interval="1s")
    p.attach("BINANCE#1", "BINANCE", BinanceCodec(SymbolMap()))
    return clock, p


def test_counts_follow_the_design_rules():
    clock, p = make()
    closed = []
    p.closed_candle_listeners.append(closed.append)
    recv = clock.now_ns()
    for raw in (agg(1), agg(2), kline(T0_MS, "100.2", False), kline(T0_MS, "100.4", True),
                kline(T0_MS, "100.4", True),  # the same closed bar again: a duplicate
                frame("btcusdt@bookTicker", {"u": 5, "s": "BTCUSDT", "b": "100", "B": "1", "a": "101", "A": "2"})):
        p.feed("BINANCE#1", raw, recv)
    assert p.messages == 6
    assert p.events == {"trade": 2, "candle": 2, "candle_closed": 1, "quote": 1, "ticker": 0, "book": 0}
    assert p.duplicates == 1
    assert len(closed) == 1 and closed[0].close == 100.4
    st = p.state.get("BINANCE", "BTCUSDT")
    assert st.last_trade.trade_id == 2 and st.quote.ask == 101.0 and st.unified == "BTC/USD"


def test_bad_frames_are_counted_kept_and_do_not_stop_the_stream():
    clock, p = make()
    recv = clock.now_ns()
    p.feed("BINANCE#1", '{"stream": "btcusdt@aggTrade", "data": {"e": "aggTr', recv)
    p.feed("BINANCE#1", agg(1, price="-5"), recv)
    p.feed("BINANCE#1", agg(2), recv)
    assert p.rejected_summary()["total"] == 2
    assert set(p.rejected) == {"malformed_json", "bad_price"}
    assert [r.reason for _, r in p.recent_rejections] == ["malformed_json", "bad_price"]
    assert p.events["trade"] == 1


def test_trade_id_gap_is_counted():
    clock, p = make()
    for a in (1, 2, 5):
        p.feed("BINANCE#1", agg(a), clock.now_ns())
    assert p.total_gaps == 1


def test_latency_is_exchange_time_to_processing_time():
    clock, p = make()  # the clock stands 2 ms after the exchange time
    p.feed("BINANCE#1", agg(1), clock.now_ns())
    lat = p.telemetry["BINANCE"].latency
    assert lat.n == 1 and 1.9 <= lat.max <= 2.1
