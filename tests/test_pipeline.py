"""The pipeline over real Binance frames: counting rules, rejections kept, duplicates, latencies."""
import orjson
import pytest

from feeds.clock import ManualClock
from feeds.core.latency import percentiles
from feeds.core.pipeline import Pipeline
from feeds.symbols import SymbolMap
from feeds.venues.binance import BinanceCodec
from feeds.venues.coinbase import CoinbaseCodec, parse_time_ns

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
    assert p.events == {"trade": 2, "candle": 2, "candle_closed": 1, "quote": 1, "ticker": 0, "book": 0,
                        "mark_price": 0, "liquidation": 0, "open_interest": 0}
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
    p.feed("BINANCE#1", agg(1), clock.now_ns())  # a symbol's first trade may be old news: no sample
    p.feed("BINANCE#1", agg(2), clock.now_ns())
    lat = p.telemetry["BINANCE"].latency
    assert lat.n == 1 and 1.9 <= lat.max <= 2.1


def test_latency_over_the_real_coinbase_capture_is_delay_not_data_age_and_never_negative(captures):
    """Replayed, a sample is receive time minus the frame's exchange time. Coinbase's catch-up messages (the
    last_match and first ticker of each product, up to 107 s old) are not delays; the capture machine's
    clock ran ~13 ms behind Coinbase's, so most samples are negative: they count as 0, are counted as
    clock_ahead, and no figure is below 0."""
    frames = _coinbase_capture_frames(captures)
    clock = ManualClock(0)
    p = Pipeline(clock, interval="1m")
    p.attach("COINBASE#1", "COINBASE", CoinbaseCodec(SymbolMap()))
    expected: list[float] = []  # computed here from the raw messages
    seen: set[tuple[str, str]] = set()
    for recv_ns, raw in frames:
        clock.set(recv_ns)
        p.feed("COINBASE#1", raw, recv_ns)
        msg = orjson.loads(raw)
        kind = msg.get("type")
        if kind in ("last_match", "match", "ticker"):
            first = (msg["product_id"], "trade" if kind != "ticker" else kind) not in seen
            seen.add((msg["product_id"], "trade" if kind != "ticker" else kind))
            if first:
                continue
        if kind in ("l2update", "match", "ticker"):
            expected.append((recv_ns - parse_time_ns(msg["time"])) / 1e6)
    summary = p.telemetry["COINBASE"].latency.summary()
    ahead = sum(1 for ms in expected if ms < 0)
    assert summary["samples"] == len(expected) == 9913
    assert summary["clock_ahead"] == ahead and ahead > len(expected) / 2
    assert summary["p50"] == 0.0  # more than half ran ahead: the delay is unknown below the skew
    assert summary["max"] == pytest.approx(max(expected), abs=1e-3) and summary["max"] < 200
    assert percentiles(p.telemetry["COINBASE"].latency.recent_samples())[0] == 0.0


# -- duplicates are decided by the venue's identity, never by a timestamp alone -----------------------------
def _coinbase_capture_frames(captures) -> list[tuple[int, str]]:
    """(recv_ns, payload) of every frame received in the real Coinbase capture."""
    frames = []
    for line in (captures / "COINBASE.ws.28.0").read_text().splitlines():
        head, sep, payload = line.partition(": ")
        if sep and head.replace(".", "", 1).isdigit():
            frames.append((round(float(head) * 1e9), payload))
    return frames


def test_coinbase_tickers_sharing_a_timestamp_are_all_applied(captures):
    """The real capture holds 24 tickers whose exchange time equals the previous one of their product, each
    with a higher sequence and new figures (e.g. DASH-BTC …553 -> …555 -> …557 at 16:43:53.864119, price
    0.00617818 -> 0.00617817 -> 0.0061759): each is a new event, and the state holds the newest."""
    frames = _coinbase_capture_frames(captures)
    p = Pipeline(ManualClock(frames[-1][0] + 10**9), interval="1m")
    p.attach("COINBASE#1", "COINBASE", CoinbaseCodec(SymbolMap()))
    newest: dict[str, dict] = {}  # product -> its last ticker message in the capture
    same_time = 0
    for recv_ns, raw in frames:
        msg = orjson.loads(raw)
        p.feed("COINBASE#1", raw, recv_ns)
        if msg.get("type") != "ticker":
            continue
        before = newest.get(msg["product_id"])
        if before is not None and before["time"] == msg["time"]:
            same_time += 1
            held = p.state.get("COINBASE", msg["product_id"]).ticker
            assert (held.last, held.volume) == (float(msg["price"]), float(msg["volume_24h"])), msg["sequence"]
        newest[msg["product_id"]] = msg
    assert same_time == 24
    assert p.events["ticker"] == 107 and p.duplicates == 0
    for product, msg in newest.items():
        held = p.state.get("COINBASE", product).ticker
        assert (held.last, held.volume) == (float(msg["price"]), float(msg["volume_24h"]))
    dash = p.state.get("COINBASE", "DASH-BTC").ticker
    assert dash.last == float(newest["DASH-BTC"]["price"])


def test_a_ticker_sent_twice_is_one_duplicate_and_a_new_one_at_the_same_time_is_applied():
    clock, p = make()
    recv = clock.now_ns()

    def tick(last: str, volume: str) -> str:
        return frame("btcusdt@ticker", {"e": "24hrTicker", "E": T0_MS, "s": "BTCUSDT", "c": last, "o": "99",
                                        "h": "101", "l": "98", "v": volume, "q": "500"})

    for raw in (tick("100", "5"), tick("100", "5"), tick("100.5", "5.2")):
        p.feed("BINANCE#1", raw, recv)
    assert p.events["ticker"] == 2 and p.duplicates == 1
    assert p.state.get("BINANCE", "BTCUSDT").ticker.last == 100.5


def test_a_forming_bar_update_with_the_same_time_but_new_figures_is_applied():
    clock, p = make()
    recv = clock.now_ns()
    same = kline(T0_MS, "100.2", False)
    higher = same.replace('"h":"101"', '"h":"101.5"')  # a new high, everything else equal
    for raw in (same, same, higher):
        p.feed("BINANCE#1", raw, recv)
    assert p.events["candle"] == 2 and p.duplicates == 1
    assert p.state.get("BINANCE", "BTCUSDT").series("1s").forming.high == 101.5
