"""Data integrity: missing bars found and backfilled, duplicates and late updates counted, bad frames
dead-lettered, rollovers without gaps, backlogs measured, stalls halting; pure parts first, then a
real Feed against the simulator over loopback."""
import asyncio
import csv
import time

import orjson
import waiting

from feeds.api import TICK_S, Feed
from feeds.clock import ManualClock
from feeds.core.backfill import MAX_TRIES, BackfillPlanner, bar_gap, closed_open_times, missing_ranges, newest_due_open
from feeds.core.guard import Guard
from feeds.core.pipeline import Pipeline
from feeds.drivers import rest
from feeds.drivers.connection import ReconnectPolicy
from feeds.drivers.dead_letter import DeadLetterFile
from feeds.events import BookDelta, Rejected, Ticker
from feeds.sim.server import Simulator
from feeds.symbols import SymbolMap
from feeds.venues.binance import BinanceCodec, parse_klines
from tui.runtime.cli import main
from tui.runtime.runner import Runner
from tui.runtime.session import SessionConfig

SYMBOLS = ("BTCUSDT", "ETHUSDT")
T0_MS = 1_700_000_000_000
S = 1000  # one 1s bar, in ms


class LoopLag:
    """The worst lateness of a 10 ms sleep on this event loop while it runs: how late any timer fired."""

    def __init__(self) -> None:
        self.worst_s = 0.0
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._probe())

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()

    async def _probe(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            before = loop.time()
            await asyncio.sleep(0.01)
            self.worst_s = max(self.worst_s, loop.time() - before - 0.01)


async def wait_for(cond, timeout: float = 8.0) -> bool:
    return await waiting.wait_for(cond, timeout)


# -- the pure planner -----------------------------------------------------------------------------------
def test_missing_ranges_are_the_holes_between_floor_and_the_newest_due_bar():
    assert missing_ranges([0, S, 3 * S, 4 * S], 0, 6 * S, S) == [(2 * S, 2 * S), (5 * S, 6 * S)]
    assert missing_ranges([0, S, 3 * S, 4 * S], 0, 6 * S, S, {5 * S}) == [(2 * S, 2 * S), (6 * S, 6 * S)]
    assert missing_ranges([0, S], -2 * S, S, S) == [(-2 * S, -S)]
    assert missing_ranges([0, S, 2 * S], 0, 2 * S, S) == []
    assert missing_ranges([], 0, -S, S) == []
    assert newest_due_open(10_500, S) == 7 * S  # closed at 7999, plus 2 s for its frame to arrive
    assert bar_gap(0, 3 * S * 10**6, "1s") == 2 and bar_gap(0, S * 10**6, "1s") == 0 and bar_gap(0, 10**15, "1M") == 0


def test_planner_asks_for_the_startup_window_and_learns_what_the_venue_lacks():
    p = BackfillPlanner(startup_bars=5)
    key = ("BINANCE", "BTCUSDT", "1s")
    now = T0_MS
    p.watch(key, now, S)
    req = p.next_request(key, [], None, now, S)
    assert (req.start_ms, req.end_ms, req.limit) == (now - 5 * S, now - 3 * S, 3)
    assert p.next_request(key, [], None, now, S) is None  # one in flight per series
    p.done(req, [now - 4 * S, now - 3 * S], now, S)  # the venue's history starts later
    assert p.absent_bars == 1
    assert p.next_request(key, [now - 4 * S, now - 3 * S], None, now + 500, S) is None  # spaced retries
    later = now + 2 * S
    req = p.next_request(key, [now - 4 * S, now - 3 * S], None, later, S)
    assert (req.start_ms, req.end_ms) == (now - 2 * S, now - S)


def test_planner_pages_long_gaps_and_gives_up_on_bars_that_never_come():
    p = BackfillPlanner(startup_bars=0, max_bars=5000)
    key = ("BINANCE", "BTCUSDT", "1s")
    now = T0_MS + 3000 * S
    p.watch(key, now, S)
    req = p.next_request(key, [T0_MS], None, now, S)
    assert req.start_ms == T0_MS + S and req.limit == 1000
    p.done(req, [T0_MS + i * S for i in range(1, 1001)], now, S)
    assert p.next_request(key, [T0_MS + i * S for i in range(0, 1001)], None, now, S).start_ms == T0_MS + 1001 * S
    p2 = BackfillPlanner(startup_bars=0)
    p2.watch(key, now, S)
    opens = [now - 10 * S]
    for _ in range(MAX_TRIES):
        req = p2.next_request(key, opens, None, now, S)
        p2.done(req, [], now - 60 * S, S)  # nothing new in each answer
    assert p2.next_request(key, opens, None, now, S) is None
    assert p2.absent_bars == (req.end_ms - req.start_ms) // S + 1


def test_closed_rows_are_those_closed_before_the_server_now():
    body = orjson.dumps([[0, "1", "1", "1", "1", "1", 999, "1", 1], [1000, "1", "1", "1", "1", "1", 1999, "1", 1]])
    assert closed_open_times(body, 1500) == [0]
    assert closed_open_times(b"not json", 1500) is None and closed_open_times(b'{"code":-1}', 1500) is None
    assert closed_open_times(b"[]", 1500) == []  # an answer: no bars


# -- the pipeline's duplicate, late, gap rules ------------------------------------------------------------
def frame(stream: str, data: dict) -> str:
    return orjson.dumps({"stream": stream, "data": data}).decode()


def kline(open_ms: int, close: str, closed: bool, e_ms: int | None = None) -> str:
    return frame("btcusdt@kline_1s", {"e": "kline", "E": e_ms or open_ms + 999, "s": "BTCUSDT", "k": {
        "t": open_ms, "T": open_ms + 999, "s": "BTCUSDT", "i": "1s", "f": 1, "L": 2, "o": "100", "c": close,
        "h": "101", "l": "99", "v": "2", "n": 2, "x": closed, "q": "200", "V": "1", "Q": "100", "B": "0"}})


def book_ticker(u: int) -> str:
    return frame("btcusdt@bookTicker", {"u": u, "s": "BTCUSDT", "b": "100", "B": "1", "a": "101", "A": "1"})


def make_pipeline():
    clock = ManualClock(T0_MS * 1_000_000 + 10**10)
    p = Pipeline(clock, interval="1s")
    p.attach("BINANCE#1", "BINANCE", BinanceCodec(SymbolMap()))
    return p


def test_repeated_and_late_quotes_tickers_and_bars_are_counted_not_applied():
    p = make_pipeline()
    feed = lambda raw: p.feed("BINANCE#1", raw, T0_MS * 1_000_000)  # noqa: E731
    for u in (10, 10, 12, 11):
        feed(book_ticker(u))
    assert p.events["quote"] == 2 and p.duplicates == 1 and p.stale_updates == 1
    assert p.state.get("BINANCE", "BTCUSDT").quote.update_id == 12
    tick = frame("btcusdt@ticker", {"e": "24hrTicker", "E": T0_MS, "s": "BTCUSDT", "c": "100", "o": "99",
                                    "h": "101", "l": "98", "v": "5", "q": "500"})
    feed(tick)
    feed(tick)
    assert p.events["ticker"] == 1 and p.duplicates == 2
    feed(kline(T0_MS, "100.5", False))
    feed(kline(T0_MS, "100.5", False))  # the same update twice
    feed(kline(T0_MS, "100.7", False, T0_MS + 500))
    assert p.events["candle"] == 2 and p.duplicates == 3
    feed(kline(T0_MS, "100.7", True))
    feed(kline(T0_MS, "100.2", False, T0_MS + 600))  # an update of a bar already closed
    assert p.stale_updates == 2


def test_a_live_bar_after_a_hole_is_a_gap_and_backfilled_bars_fill_it_quietly():
    p = make_pipeline()
    for i in (0, 1, 4):
        p.feed("BINANCE#1", kline(T0_MS + i * S, "100.5", True), (T0_MS + i * S + 999) * 1_000_000)
    assert p.bar_gaps == 1 and p.total_gaps == 1
    rows = [[T0_MS + i * S, "100", "101", "99", "100.5", "2", T0_MS + i * S + 999, "200", 2] for i in (1, 2, 3, 4)]
    rows.append([T0_MS + 5 * S, "100", "101", "99", "100.5", "2", T0_MS + 5 * S + 999, "200", 2])  # still forming
    candles, _ = parse_klines(orjson.dumps(rows), "BTCUSDT", "1s", 0, T0_MS + 5 * S + 10)
    p.watchdog.expect("BINANCE", "BTCUSDT", "candle", 0)
    p.apply_all(candles, "BINANCE#1")
    series = p.state.get("BINANCE", "BTCUSDT").series("1s")
    assert [b.open_ns // 10**6 - T0_MS for b in series.bars] == [0, S, 2 * S, 3 * S, 4 * S]
    assert p.backfilled_candles == 2 and p.duplicates == 2 and p.bar_gaps == 1
    assert series.forming is None  # the REST body's forming row is not the stream's forming bar
    assert p.watchdog.streams[("BINANCE", "BTCUSDT", "candle")].recv_ns == 0  # REST says nothing of health


def test_far_future_tickers_and_book_updates_are_rejected():
    g = Guard()
    now = T0_MS * 1_000_000
    late = now + 60 * 10**9
    assert g.check_ticker(Ticker("BINANCE", "BTCUSDT", "BTC/USD", late, now, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0),
                          now) == "future_time"
    assert g.check_book(BookDelta("BINANCE", "BTCUSDT", "BTC/USD", late, now, ((1.0, 1.0),), ()), now) == "future_time"


def test_dead_letter_file_keeps_reason_and_raw_and_stays_bounded(tmp_path):
    path = tmp_path / "dlq.jsonl"
    dlq = DeadLetterFile(str(path), max_bytes=2000)
    for i in range(40):
        dlq.add("BINANCE#1", Rejected("BINANCE", "", "", 0, i, "malformed_json", "not JSON", "{" * 30 + str(i)))
        dlq.flush()
    lines = [orjson.loads(line) for line in path.read_bytes().splitlines()]
    assert lines[-1] == {"recv_ns": 39, "conn": "BINANCE#1", "venue": "BINANCE", "symbol": "", "reason": "malformed_json",
                         "detail": "not JSON", "raw": "{" * 30 + "39"}
    assert path.stat().st_size <= 2000 and (tmp_path / "dlq.jsonl.1").stat().st_size <= 2000
    assert dlq.rotations >= 1 and dlq.written == 40
    for i in range(40):  # a burst bigger than the whole file between two flushes
        dlq.add("BINANCE#1", Rejected("BINANCE", "", "", 0, i, "malformed_json", "not JSON", "x" * 100))
    dlq.flush()
    assert path.stat().st_size <= 2000 and dlq.overflow > 0 and dlq.written + dlq.overflow == 80
    assert all(orjson.loads(line) for line in path.read_bytes().splitlines())  # whole lines only


# -- a real Feed against the simulator ----------------------------------------------------------------------
def make_feed(sim, **kw) -> Feed:
    kw.setdefault("policy", ReconnectPolicy(initial_s=0.02, cap_s=0.1))
    return Feed(["BINANCE"], list(SYMBOLS), interval="1s", endpoints={"BINANCE": [sim.ws_url()]},
                rest_endpoints={"BINANCE": sim.rest_url()}, **kw)


def closed(feed, symbol: str) -> list:
    st = feed.pipeline.state.symbols.get(("BINANCE", symbol))
    return st.candles["1s"].closed_bars() if st and "1s" in st.candles else []


async def exchange_bars(sim, symbol: str, start_ms: int, end_ms: int) -> list:
    url = f"{sim.rest_url()}/api/v3/klines?symbol={symbol}&interval=1s&startTime={start_ms}&endTime={end_ms}&limit=1000"
    resp = await rest.get(url)
    candles, _ = parse_klines(resp.body, symbol, "1s", 0, sim.now_ms())
    return [c for c in candles if c.closed]


def key(c) -> tuple:
    return c.open_ns, c.open, c.high, c.low, c.close, c.volume, c.trades


async def equal_to_exchange(feed, sim, timeout: float = 8.0) -> bool:
    """Wait until every symbol's closed bars equal the exchange's REST klines over the same window."""
    deadline = time.monotonic() + timeout
    while True:
        same = True
        for symbol in SYMBOLS:
            mine = closed(feed, symbol)
            theirs = await exchange_bars(sim, symbol, mine[0].open_ns // 10**6, mine[-1].open_ns // 10**6)
            same = same and [key(c) for c in mine] == [key(c) for c in theirs]
        if same or time.monotonic() > deadline:
            return same
        await asyncio.sleep(0.1)


async def test_startup_backfill_warms_the_tables_with_closed_bars():
    async with Simulator(symbols=SYMBOLS, intervals=("1s",), venues=("BINANCE",), history_s=40) as sim:
        feed = make_feed(sim, startup_bars=20)
        async with feed:
            assert await wait_for(lambda: all(len(closed(feed, s)) >= 21 for s in SYMBOLS))
            assert await equal_to_exchange(feed, sim)
    for symbol in SYMBOLS:
        bars = closed(feed, symbol)
        assert bars[0].source == "backfill" and bars[-1].source == "live"
        assert sum(b.source == "backfill" for b in bars) in (19, 20)  # the window's bars that had closed
    assert feed.pipeline.backfilled_candles == sum(b.source == "backfill" for s in SYMBOLS for b in closed(feed, s))


async def test_startup_backfill_can_be_disabled():
    async with Simulator(symbols=SYMBOLS, intervals=("1s",), venues=("BINANCE",), history_s=40) as sim:
        feed = make_feed(sim, startup_bars=0)
        async with feed:
            assert await wait_for(lambda: all(len(closed(feed, s)) >= 2 for s in SYMBOLS))
    assert feed.pipeline.backfilled_candles == 0 and feed.planner.requests == 0
    assert all(b.source == "live" for s in SYMBOLS for b in closed(feed, s))


async def test_bars_missed_during_an_outage_are_backfilled_from_rest():
    async with Simulator(symbols=SYMBOLS, intervals=("1s",), venues=("BINANCE",), history_s=5) as sim:
        feed = make_feed(sim, startup_bars=0)
        async with feed:
            conn = feed.connections["BINANCE#1"]
            assert await wait_for(lambda: all(len(closed(feed, s)) >= 2 for s in SYMBOLS))
            sim.refuse_connections(1.5)  # WebSocket and REST both refused
            sim.drop_connections(None)
            assert await wait_for(lambda: conn.failed_attempts > 0)
            assert await wait_for(lambda: conn.state == "subscribed")
            end = sim.now_ms()
            assert await wait_for(lambda: all(closed(feed, s)[-1].open_ns // 10**6 >= end for s in SYMBOLS))
            assert await equal_to_exchange(feed, sim)
    for symbol in SYMBOLS:
        bars = closed(feed, symbol)
        assert all(b.open_ns - a.open_ns == 10**9 for a, b in zip(bars, bars[1:]))
        assert any(b.source == "backfill" for b in bars)  # the bars that closed while the socket was down


async def test_server_shutdown_rolls_over_without_a_gap():
    async with Simulator(symbols=SYMBOLS, intervals=("1s",), venues=("BINANCE",), trades_per_second=50) as sim:
        feed = make_feed(sim, startup_bars=0)
        async with feed:
            conn = feed.connections["BINANCE#1"]
            assert await wait_for(lambda: feed.pipeline.events["trade"] > 20)
            sim.server_shutdown(grace_s=0.5)
            assert await wait_for(lambda: conn.rollovers == 1)
            trades = feed.pipeline.events["trade"]
            assert await wait_for(lambda: feed.pipeline.events["trade"] > trades + 20)
    assert feed.pipeline.guard.gaps == 0 and feed.pipeline.duplicates == 0
    assert conn.state_counts["disconnected"] == 1  # stop() only
    assert any(c.reason == "rollover: the venue announced a shutdown" for c in conn.history)


async def test_bad_frames_go_to_the_dead_letter_file_and_the_errors_list(tmp_path):
    path = tmp_path / "dlq.jsonl"
    async with Simulator(symbols=SYMBOLS, intervals=("1s",), venues=("BINANCE",)) as sim:
        feed = make_feed(sim, startup_bars=0, dead_letter_path=str(path))
        async with feed:
            assert await wait_for(lambda: feed.pipeline.messages > 5)
            sim.send_garbage()
            assert await wait_for(lambda: feed.pipeline.rejected.get("malformed_json", 0) == 1)
            sim.send_truncated(1)  # the next frame, cut in half
            assert await wait_for(lambda: feed.pipeline.rejected.get("malformed_json", 0) == 2)
    lines = [orjson.loads(line) for line in path.read_bytes().splitlines()]
    assert [d["reason"] for d in lines] == ["malformed_json", "malformed_json"]
    assert lines[0]["raw"] == "<<garbage>> this is not JSON {{{" and lines[0]["conn"] == "BINANCE#1"
    assert [ev.reason for _, ev in feed.pipeline.recent_rejections] == ["malformed_json", "malformed_json"]


async def test_a_backlog_is_measured_and_nothing_is_dropped():
    async with Simulator(symbols=SYMBOLS, intervals=("1s",), venues=("BINANCE",)) as sim:
        feed = make_feed(sim, startup_bars=0)

        def slow(ev):  # a consumer slower than the flood
            t = time.perf_counter() + 0.0002
            while time.perf_counter() < t:
                pass

        feed.on("trade", slow)
        async with feed:
            conn = feed.connections["BINANCE#1"]
            assert await wait_for(lambda: conn.messages > 10)
            await sim.flood(10_000)
            sim_conn = next(iter(sim.venue().conns))
            assert await wait_for(lambda: conn.messages == sim_conn.sent, 20)
            pressure = feed.backpressure()["BINANCE#1"]
            assert await wait_for(lambda: conn.queue_depth() == 0)  # caught up: no backlog now
    assert 100 < pressure["max_queue_depth"] <= conn.messages
    assert pressure["processing_ms"]["samples"] == conn.messages == feed.pipeline.messages
    assert pressure["latency_ms"]["max"] > pressure["processing_ms"]["p50"]


async def test_a_connection_left_stale_is_reconnected():
    """The simulator goes silent: the session's watchdog marks the connection stale, the Feed reconnects it
    once it stayed stale ``stale_reconnect_s``, and after the stall the new socket delivers again."""
    stale_after, stale_reconnect = 1.0, 0.5
    runner = Runner(SessionConfig(mode="demo", symbols=list(SYMBOLS), interval="1s", record_path=None,
                                  stale_after_s=stale_after, stale_reconnect_s=stale_reconnect))
    await runner.start()
    session, feed = runner.session, runner.session.feed
    try:
        conn = session.connections["BINANCE#1"]
        assert await wait_for(lambda: conn.state == "subscribed" and session.pipeline.events["candle_closed"] >= 1)
        runner.sim.stall(None, stale_after + stale_reconnect + 2.0)
        assert await wait_for(lambda: feed.stale_reconnects >= 1, stale_after + stale_reconnect + 5.0)
        states = [c.state for c in conn.history]
        stale_at = states.index("stale")
        assert any(c.reason.startswith("stale for") for c in conn.history[stale_at:])
        closed_bars = session.pipeline.events["candle_closed"]
        assert await wait_for(lambda: conn.state == "subscribed" and session.pipeline.events["candle_closed"]
                              > closed_bars + 1, 10)
    finally:
        await runner.stop()
    assert conn.reconnects >= feed.stale_reconnects >= 1


# -- the app's session -----------------------------------------------------------------------------------------
async def test_a_stalled_stream_halts_within_threshold_and_the_app_keeps_running():
    threshold = 1.5
    runner = Runner(SessionConfig(mode="demo", symbols=list(SYMBOLS), interval="1s", record_path=None,
                                  stale_after_s=threshold))
    await runner.start()
    session = runner.session
    lag = LoopLag()
    try:
        assert await wait_for(lambda: session.pipeline.events["candle_closed"] >= 1)
        assert not session.halt.halted
        lag.start()
        stalled_at = time.monotonic()
        runner.sim.stall(None, threshold + 0.8)
        assert await wait_for(lambda: session.halt.halted, threshold + 5.0)
        halted_after = time.monotonic() - stalled_at
        lag.stop()
        conn = session.connections["BINANCE#1"]
        assert conn.state == "stale"
        closed_bars = session.pipeline.events["candle_closed"]
        assert await wait_for(lambda: conn.state == "subscribed" and session.pipeline.events["candle_closed"]
                              > closed_bars + 2)
    finally:
        await runner.stop()
    # The watchdog runs on the Feed's tick: the halt comes at the first tick after the threshold of silence,
    # and a tick (like every step of the simulator) can start late by the loop's worst lag while this ran.
    # The silence began at the last kline before the stall, up to one kline cadence (1 s) earlier.
    bound = threshold + TICK_S + 2 * lag.worst_s + 0.05
    print(f"halted {halted_after:.2f}s after the stall began (threshold {threshold}s, loop lag "
          f"{lag.worst_s:.3f}s, bound {bound:.2f}s)")
    assert threshold - 1.0 < halted_after <= bound
    assert session.stats()["halts"][0]["by"] == "auto" and "stale feed BINANCE" in session.stats()["halts"][0]["cause"]


async def test_a_recorded_session_with_rollovers_and_backfill_replays_to_the_same_bars(tmp_path, capsys):
    rec, live_csv, replay_csv = tmp_path / "s.jsonl", tmp_path / "live.csv", tmp_path / "replay.csv"
    runner = Runner(SessionConfig(mode="demo", symbols=list(SYMBOLS), interval="1s", record_path=str(rec)),
                    sim_options={"history_s": 10})
    runner.session.feed.policy = ReconnectPolicy(initial_s=0.02, cap_s=0.1, lifetime_s=0.7)
    await runner.start()
    session = runner.session
    try:
        conn = session.connections["BINANCE#1"]
        assert await wait_for(lambda: conn.rollovers >= 2 and session.pipeline.backfilled_candles > 0)
        runner.sim.drop_connections(None)
        assert await wait_for(lambda: conn.reconnects >= 3 and conn.state == "subscribed")
        assert await wait_for(lambda: session.pipeline.events["trade"] > 50)
    finally:
        await runner.stop()
    session.export_candles(str(live_csv))
    live = session.stats()
    argv = ["replay", str(rec), "--headless", "--speed", "max", "--json", "--export-candles", str(replay_csv)]
    assert await asyncio.to_thread(main, argv) == 0
    replay = orjson.loads(capsys.readouterr().out)
    assert live_csv.read_bytes() == replay_csv.read_bytes()
    assert any(row[10] == "backfill" for row in csv.reader(live_csv.open()))
    assert live["reconnects"] >= 3 and live["backfilled_candles"] > 0
    timing = {"mode", "duration_s", "latency_ms", "aggregate", "resilience"}  # data ages; live machinery
    assert {k: v for k, v in live.items() if k not in timing} == {k: v for k, v in replay.items() if k not in timing}
