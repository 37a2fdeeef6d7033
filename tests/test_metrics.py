"""Prometheus metrics: a real Session fed real Binance frames, scraped over a loopback socket."""
import asyncio
import json
import re
from pathlib import Path

import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from feeds.clock import ManualClock
from feeds.core.latency import LatencyStats
from feeds.drivers.recording import Record
from feeds.drivers.replay_source import ReplayDriver
from tui.runtime.metrics import histogram_buckets, start_metrics_server
from tui.runtime.session import Session, SessionConfig

T0_MS = 1_700_000_000_000
T0_NS = T0_MS * 1_000_000
DASHBOARD = Path(__file__).resolve().parents[1] / "dashboards" / "clearterm.grafana.json"
URL = "wss://data-stream.binance.vision/stream?streams=btcusdt@aggTrade"


def frame(stream: str, data: dict) -> str:
    return orjson.dumps({"stream": stream, "data": data}).decode()


def agg(a: int, symbol: str = "BTCUSDT", price: str = "100.5", t_ms: int = T0_MS) -> str:
    return frame(f"{symbol.lower()}@aggTrade", {"e": "aggTrade", "E": t_ms, "s": symbol, "a": a, "p": price,
                                                "q": "0.1", "f": a, "l": a, "T": t_ms, "m": True, "M": True})


def kline(open_ms: int, close: str, closed: bool, t_ms: int = T0_MS) -> str:
    return frame("btcusdt@kline_1s", {"e": "kline", "E": t_ms, "s": "BTCUSDT", "k": {
        "t": open_ms, "T": open_ms + 999, "s": "BTCUSDT", "i": "1s", "f": 1, "L": 2, "o": "100", "c": close,
        "h": "101", "l": "99", "v": "2", "n": 2, "x": closed, "q": "200", "V": "1", "Q": "100", "B": "0"}})


BOOK_TICKER = frame("btcusdt@bookTicker", {"u": 5, "s": "BTCUSDT", "b": "100", "B": "1", "a": "101", "A": "2"})


class Run:
    """A replay-mode Session on a ManualClock, fed through the real replay driver and pipeline."""

    def __init__(self) -> None:
        self.clock = ManualClock(T0_NS + 2_000_000)  # 2 ms after the frames' exchange time
        self.session = Session(SessionConfig(mode="replay", interval="1s", record_path=None), clock=self.clock)
        self.driver = ReplayDriver(self.session.feed, self.clock)

    def record(self, kind: str, payload: str, conn: str = "BINANCE#1") -> None:
        self.driver.apply(Record(self.clock.now_ns(), conn, kind, payload))


async def scrape(port: int, request: bytes = b"GET /metrics HTTP/1.0\r\n\r\n") -> tuple[int, dict, bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request)
    await writer.drain()
    raw = await asyncio.wait_for(reader.read(), 5)
    writer.close()
    await writer.wait_closed()
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), headers, body


def samples(body: bytes) -> dict:
    """{(sample name, frozenset of labels): value} of one exposition."""
    out = {}
    for family in text_string_to_metric_families(body.decode()):
        for s in family.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def value(got: dict, name: str, **labels) -> float:
    return got[(name, frozenset(labels.items()))]


def labelled(got: dict, name: str, label: str) -> dict:
    return {dict(k)[label]: v for (n, k), v in got.items() if n == name}


@pytest.fixture
async def served():
    run = Run()
    server = await start_metrics_server(lambda: run.session, 0)
    yield run, server
    await server.stop()


def feed_a_mixed_session(run: Run) -> None:
    run.record("open", URL)
    for raw in (agg(1), agg(2), agg(5),  # trade ids 3 and 4 never came: one gap
                kline(T0_MS - 1000, "100.2", False), kline(T0_MS - 1000, "100.4", True),
                kline(T0_MS - 1000, "100.4", True),  # the same closed bar again: a duplicate
                BOOK_TICKER, '{"stream": "btcusdt@aggTr', agg(6, price="-5")):
        run.record("recv", raw)


async def test_a_scrape_reports_the_sessions_counters(served):
    run, server = served
    feed_a_mixed_session(run)
    p = run.session.pipeline

    status, headers, body = await scrape(server.port)
    got = samples(body)

    assert status == 200 and headers["Content-Type"].startswith("text/plain; version=")
    assert p.messages == 9 and value(got, "clearterm_messages_total", venue="BINANCE") == 9
    assert labelled(got, "clearterm_events_total", "kind") == p.events
    assert p.events["trade"] == 3 and p.events["candle_closed"] == 1 and p.events["quote"] == 1
    assert labelled(got, "clearterm_rejected_total", "reason") == {"malformed_json": 1, "bad_price": 1}
    assert value(got, "clearterm_duplicates_total") == p.duplicates == 1
    assert value(got, "clearterm_gaps_total") == p.total_gaps == 1
    assert value(got, "clearterm_backfilled_candles_total") == 0
    assert value(got, "clearterm_up") == 1 and value(got, "clearterm_halted") == 0
    assert labelled(got, "clearterm_signals_total", "status") == {"approved": 0, "suppressed": 0, "rejected": 0}
    # Every accepted frame of live data (3 trades but the symbol's first, which may be old news; 2 new
    # candles) was processed 2 ms after its exchange time.
    n = p.telemetry["BINANCE"].latency.n
    assert n == 4
    assert value(got, "clearterm_latency_ms_bucket", venue="BINANCE", le="1.0") == 0
    assert value(got, "clearterm_latency_ms_bucket", venue="BINANCE", le="2.5") == n
    assert value(got, "clearterm_latency_ms_count", venue="BINANCE") == n
    assert value(got, "clearterm_latency_ms_sum", venue="BINANCE") == pytest.approx(2.0 * n, rel=0.03)
    # The manual clock does not move while a frame is processed: zero lag, the lowest bucket.
    assert value(got, "clearterm_processing_lag_ms_bucket", venue="BINANCE", le="0.01") == p.messages
    assert server.scrapes == 1


async def test_connection_state_and_reconnects_follow_the_connections(served):
    run, server = served
    run.record("open", URL)
    run.record("recv", agg(1))
    run.record("close", '{"code": 1006, "reason": "gone"}')
    run.record("open", URL)  # a second open of the same connection: one reconnect

    got = samples((await scrape(server.port))[2])
    assert labelled(got, "clearterm_connection_state", "state") == {
        "disconnected": 0, "connecting": 0, "subscribed": 1, "stale": 0, "reconnecting": 0, "failed": 0}
    assert value(got, "clearterm_reconnects_total", venue="BINANCE") == 1

    run.record("close", '{"code": 1000, "reason": "bye"}')
    got = samples((await scrape(server.port))[2])
    assert value(got, "clearterm_connection_state", venue="BINANCE", state="disconnected") == 1
    assert value(got, "clearterm_connection_state", venue="BINANCE", state="subscribed") == 0


async def test_seconds_since_last_message_run_on_the_session_clock_and_a_stale_feed_halts(served):
    run, server = served
    run.record("open", URL)  # subscribed: the session now expects candles for its three symbols
    run.record("recv", agg(1))
    run.clock.advance(1.0)
    run.record("recv", agg(1, symbol="ETHUSDT", t_ms=T0_MS + 1000))
    run.clock.advance(2.5)

    got = samples((await scrape(server.port))[2])
    silence = labelled(got, "clearterm_seconds_since_last_message", "symbol")
    assert silence == pytest.approx({"BTCUSDT": 3.5, "ETHUSDT": 2.5, "SOLUSDT": 3.5})  # SOL: since expected

    run.clock.advance(2.0)
    run.session.tick(run.clock.now_ns())  # no candle for 5.5 s > stale_after_s: the watchdog halts trading
    got = samples((await scrape(server.port))[2])
    assert run.session.halt.halted
    assert value(got, "clearterm_halted") == 1
    assert labelled(got, "clearterm_halts_total", "by") == {"auto": 1, "operator": 0}
    assert value(got, "clearterm_seconds_since_last_message", venue="BINANCE", symbol="SOLUSDT") == 5.5
    assert value(got, "clearterm_connection_state", venue="BINANCE", state="stale") == 1


async def test_an_operator_halt_is_counted_and_a_swapped_session_is_read():
    first, second = Run(), Run()
    current = [first.session]
    server = await start_metrics_server(lambda: current[0], 0)
    try:
        first.record("open", URL)
        first.record("recv", agg(1))
        first.session.halt.halt("operator pressed h", by="operator")
        got = samples((await scrape(server.port))[2])
        assert value(got, "clearterm_halted") == 1
        assert value(got, "clearterm_halts_total", by="operator") == 1
        assert value(got, "clearterm_messages_total", venue="BINANCE") == 1

        current[0] = second.session  # replay rebuilt its session (a seek backwards)
        got = samples((await scrape(server.port))[2])
        assert value(got, "clearterm_halted") == 0
        assert ("clearterm_messages_total", frozenset({("venue", "BINANCE")})) not in got

        current[0] = None
        got = samples((await scrape(server.port))[2])
        assert got == {("clearterm_up", frozenset()): 0}
    finally:
        await server.stop()


async def test_bad_requests_get_errors_and_disconnects_do_not_hurt(served):
    run, server = served
    status, _, body = await scrape(server.port, b"GET /other HTTP/1.0\r\n\r\n")
    assert status == 404 and b"/metrics" in body
    status, headers, _ = await scrape(server.port, b"POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n")
    assert status == 405 and headers["Allow"] == "GET"
    assert (await scrape(server.port, b"hello\r\n\r\n"))[0] == 400
    assert (await scrape(server.port, b"GET /metrics?x=1 HTTP/1.1\r\nHost: a\r\n\r\n"))[0] == 200
    for early in (b"", b"GET /met"):  # the client goes away before (or while) sending its request
        _, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(early)
        writer.close()
        await writer.wait_closed()
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(b"GET /" + b"x" * 10_000 + b" HTTP/1.0\r\n\r\n")  # longer than any request line should be
    try:
        answer = await asyncio.wait_for(reader.read(), 5)
    except ConnectionResetError:  # the server closed with our bytes unread: the kernel may reset
        answer = b""
    assert answer == b""  # dropped without an answer
    writer.close()
    _, writer = await asyncio.open_connection("127.0.0.1", server.port)  # and one that reads nothing back
    writer.write(b"GET /metrics HTTP/1.0\r\n\r\n")
    writer.transport.abort()
    status, _, body = await scrape(server.port)
    assert status == 200 and b"clearterm_up 1.0" in body


async def test_a_failing_scrape_answers_500_and_the_server_keeps_serving():
    sessions = iter([RuntimeError("session torn down"), None])

    def getter():
        item = next(sessions)
        if isinstance(item, Exception):
            raise item
        return item

    server = await start_metrics_server(getter, 0)
    try:
        status, _, body = await scrape(server.port)
        assert status == 500 and b"session torn down" in body
        status, _, body = await scrape(server.port)
        assert status == 200 and b"clearterm_up 0.0" in body
    finally:
        await server.stop()


async def test_stop_closes_the_port_even_with_an_idle_client():
    server = await start_metrics_server(lambda: None, 0)
    port = server.port
    idle_reader, idle_writer = await asyncio.open_connection("127.0.0.1", port)  # connects, sends nothing
    await asyncio.wait_for(server.stop(), 2)  # not held up by the idle client's request timeout
    assert await asyncio.wait_for(idle_reader.read(), 2) == b""
    idle_writer.close()
    with pytest.raises(OSError):
        await asyncio.open_connection("127.0.0.1", port)


def test_histogram_folds_latency_buckets_into_cumulative_bounds():
    stats = LatencyStats()
    for ms in (0.0005, 2.0, 2.0, 30.0, 1e8):  # the last is beyond LatencyStats' range
        stats.add(ms)
    buckets, total = histogram_buckets(stats)
    got = dict(buckets)
    assert [le for le, _ in buckets][-1] == "+Inf" and got["+Inf"] == 5
    assert got["0.01"] == 1 and got["1.0"] == 1 and got["2.5"] == 3 and got["25.0"] == 3 and got["50.0"] == 4
    assert got["10000.0"] == 4
    counts = [c for _, c in buckets]
    assert counts == sorted(counts)
    assert total == pytest.approx(0.0005 + 2.0 + 2.0 + 30.0 + 1e8, rel=0.03)


async def test_the_grafana_dashboard_queries_only_metrics_that_are_exported(served):
    run, server = served
    feed_a_mixed_session(run)
    exported = {name for name, _ in samples((await scrape(server.port))[2])}
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    used = set(re.findall(r"clearterm_[a-z_]+", " ".join(exprs)))
    assert dashboard["schemaVersion"] >= 39 and len(dashboard["panels"]) >= 8
    assert used and used <= exported, used - exported
    assert all(p["datasource"]["uid"] == "${DS_PROMETHEUS}" for p in dashboard["panels"])
    assert "DS_PROMETHEUS" in {v["name"] for v in dashboard["templating"]["list"]}
