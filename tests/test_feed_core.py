"""The sans-I/O feed core: fed real Binance frames, REST bodies and ticks of a manual clock, drained of
typed requests. No network, no event loop, no sleeps."""
import orjson

from feeds.clock import ManualClock
from feeds.core.feed_core import (
    STALE,
    SUBSCRIBED,
    FeedCore,
    FetchBackfill,
    FetchSnapshot,
    Reconnect,
    Subscribe,
    Unsubscribe,
)
from feeds.drivers.replay_source import ReplayConnection
from feeds.venues.binance import BinanceCodec

T0_MS = 1_700_000_000_000
T0 = T0_MS * 1_000_000
S = 1_000_000_000


def at(seconds: float) -> int:
    return T0 + int(seconds * S)


def frame(data: dict) -> str:
    return orjson.dumps({"stream": "btcusdt@kline_1s", "data": data}).decode()


def kline(open_ms: int, closed: bool) -> str:
    return frame({"e": "kline", "E": open_ms + 999, "s": "BTCUSDT", "k": {
        "t": open_ms, "T": open_ms + 999, "s": "BTCUSDT", "i": "1s", "f": 1, "L": 2, "o": "100", "c": "100.5",
        "h": "101", "l": "99", "v": "2", "n": 2, "x": closed, "q": "200", "V": "1", "Q": "100", "B": "0"}})


def make(**kw) -> tuple[ManualClock, FeedCore, ReplayConnection, list]:
    clock = ManualClock(T0)
    kw.setdefault("startup_bars", 0)
    kw.setdefault("backfill", False)
    core = FeedCore(["BINANCE"], ["BTCUSDT"], "1s", clock, **kw)
    happenings: list = []
    core.listeners.append(happenings.append)
    conn = ReplayConnection("BINANCE#1", "BINANCE", clock, "ws://127.0.0.1:1/ws", core.state_changed)
    core.attach(conn, BinanceCodec(core.symbol_map))
    conn.set_state(SUBSCRIBED, "open")
    return clock, core, conn, happenings


def tick(clock: ManualClock, core: FeedCore, seconds: float) -> list:
    clock.set(at(seconds))
    core.tick(at(seconds))
    return core.take_requests()


def test_a_silent_stream_goes_stale_and_the_core_asks_once_for_a_reconnect():
    clock, core, conn, happenings = make(stale_after_s=1.0, stale_reconnect_s=2.0)
    core.pipeline.feed("BINANCE#1", kline(T0_MS, False), at(0.5))
    assert tick(clock, core, 1.4) == [] and conn.state == SUBSCRIBED
    assert tick(clock, core, 1.6) == [] and conn.state == STALE  # silent for 1.1 s
    assert [(h.kind, h.venue, h.symbol) for h in happenings] == [("stale", "BINANCE", "BTCUSDT")]
    assert tick(clock, core, 3.5) == []  # stale for 1.9 s: not yet
    [request] = tick(clock, core, 3.7)
    assert request == Reconnect("BINANCE#1", "stale for 2s: reconnecting", seamless=False)
    assert tick(clock, core, 6.0) == []  # asked once, not on every tick
    assert core.stale_reconnects == 1 and happenings[-1].kind == "stale_reconnect"
    core.pipeline.feed("BINANCE#1", kline(T0_MS + 6000, False), at(6.05))
    assert tick(clock, core, 6.1) == [] and conn.state == SUBSCRIBED
    assert happenings[-1].kind == "fresh"


def test_replay_turns_requests_off_and_keeps_the_same_decisions():
    clock, core, conn, happenings = make(stale_after_s=1.0, stale_reconnect_s=2.0)
    core.requests_enabled = False
    assert tick(clock, core, 1.1) == [] and conn.state == STALE
    assert tick(clock, core, 3.2) == [] and core.stale_reconnects == 1
    assert [h.kind for h in happenings] == ["stale", "stale_reconnect"]


def test_a_shutdown_announcement_asks_for_a_seamless_reconnect():
    clock, core, conn, _ = make()
    core.pipeline.feed("BINANCE#1", orjson.dumps({"e": "serverShutdown", "E": T0_MS}).decode(), at(0.1))
    assert core.take_requests() == [Reconnect("BINANCE#1", "the venue announced a shutdown", seamless=True)]


def test_missing_bars_become_backfill_requests_and_their_answer_fills_the_series():
    clock, core, conn, _ = make(startup_bars=5, backfill=True)
    [request] = tick(clock, core, 0.1)
    assert isinstance(request, FetchBackfill) and request.conn == "BINANCE#1"
    k = request.klines
    assert (k.start_ms, k.end_ms) == (T0_MS - 5000, T0_MS - 3000)  # the bars that should have closed by now
    assert request.path.startswith("/api/v3/klines?symbol=BTCUSDT&interval=1s")
    assert tick(clock, core, 0.2) == []  # one request in flight per series
    rows = [[o, "100", "101", "99", "100.5", "2", o + 999, "200", 2, "1", "100", "0"]
            for o in range(k.start_ms, k.end_ms + 1, 1000)]
    core.rest_answered(request, "http://127.0.0.1:1" + request.path, 200, orjson.dumps(rows).decode(), at(0.2))
    bars = core.pipeline.state.symbols[("BINANCE", "BTCUSDT")].candles["1s"].closed_bars()
    assert [b.open_ns // 1_000_000 for b in bars] == [T0_MS - 5000, T0_MS - 4000, T0_MS - 3000]
    assert all(b.source == "backfill" for b in bars) and core.planner.stats()["in_flight"] == 0


def test_a_failed_book_snapshot_is_asked_for_again_a_second_later():
    clock, core, conn, _ = make()
    delta = orjson.dumps({"stream": "btcusdt@depth@100ms", "data": {
        "e": "depthUpdate", "E": T0_MS, "s": "BTCUSDT", "U": 10, "u": 12, "b": [["100", "1"]], "a": []}}).decode()
    core.pipeline.feed("BINANCE#1", delta, at(0.05))
    [request] = tick(clock, core, 0.1)
    assert isinstance(request, FetchSnapshot) and request.path.startswith("/api/v3/depth?symbol=BTCUSDT")
    core.rest_answered(request, "http://127.0.0.1:1" + request.path, 500, "", at(0.15), "HTTP 500")
    assert tick(clock, core, 0.9) == []
    [again] = tick(clock, core, 1.2)
    assert again == request and core.rest_errors == ["http://127.0.0.1:1" + request.path + ": HTTP 500"]


def test_adding_and_removing_a_symbol_asks_each_connection_and_moves_the_watchdog():
    clock, core, conn, happenings = make(stale_after_s=1.0)
    core.add_symbol("ETHUSDT")
    [sub] = core.take_requests()
    assert isinstance(sub, Subscribe) and "ethusdt@kline_1s" in sub.frames[0]
    assert ("BINANCE", "ETHUSDT", "candle") in core.watchdog.streams
    core.remove_symbol("ETHUSDT")
    [unsub] = core.take_requests()
    assert isinstance(unsub, Unsubscribe) and ("BINANCE", "ETHUSDT", "candle") not in core.watchdog.streams
    assert core.symbols == ["BTCUSDT"]


def test_gaps_and_duplicates_are_happenings_with_venue_symbol_time_and_cause():
    clock, core, conn, happenings = make()
    core.pipeline.feed("BINANCE#1", kline(T0_MS, True), at(1.1))
    core.pipeline.feed("BINANCE#1", kline(T0_MS, True), at(1.2))  # the same closed bar again
    core.pipeline.feed("BINANCE#1", kline(T0_MS + 4000, True), at(5.1))  # three bars missing before it
    assert [(h.kind, h.venue, h.symbol, h.at_ns, h.detail) for h in core.happenings.of("gap", "duplicate")] == [
        ("duplicate", "BINANCE", "BTCUSDT", at(1.2), "a closed bar already held"),
        ("gap", "BINANCE", "BTCUSDT", at(5.1), "3 1s bars missing before this one")]
    assert core.pipeline.duplicates == 1 and core.pipeline.total_gaps == 1  # the counters they explain
    assert happenings == core.happenings.of()  # listeners were told as they happened


def test_a_flood_of_one_kind_never_pushes_the_others_out_of_the_log():
    clock, core, conn, _ = make()
    core.pipeline.feed("BINANCE#1", kline(T0_MS, True), at(1.1))
    core.pipeline.feed("BINANCE#1", kline(T0_MS, True), at(1.2))
    for i in range(2000):
        core.pipeline.feed("BINANCE#1", "not json", at(2) + i)
    assert len(core.happenings.of("duplicate")) == 1 and core.happenings.counts["rejection"] == 2000
    assert len(core.happenings.of("rejection")) == core.happenings.per_kind
