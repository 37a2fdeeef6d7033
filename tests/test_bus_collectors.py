"""Several collectors on one real ``nats-server -js``: a failover pair of the same simulator venues.

Collector A is a ``clearterm live --publish`` process (so it can be killed with SIGKILL), collector B a
Runner in this process (so its candles can be compared), both connected to one simulator on 127.0.0.1:
they receive the same exchange frames. One viewer attaches to the bus and merges them.
"""
from __future__ import annotations

import asyncio
import signal
import sys
import time

import orjson
import pytest

from feeds.drivers.bus import BusPublisher, merge_headers, read_header
from feeds.drivers.bus_merge import RecordMerge, frame_identity
from feeds.drivers.recording import Record
from feeds.sim.server import Simulator
from tests.test_bus import nats_server, until  # noqa: F401 - nats_server is a fixture
from tui.runtime.attach import AttachRunner
from tui.runtime.runner import Runner
from tui.runtime.session import SessionConfig

VENUES = ["BINANCE", "COINBASE"]
SYMBOLS = ["BTCUSDT", "ETHUSDT"]


def bars(session) -> dict[tuple, tuple]:
    """Closed bars by (venue, symbol, interval, open time): the figures a user reads."""
    return {(c.venue, c.symbol, c.interval, c.open_ns): (c.open, c.high, c.low, c.close, c.volume, c.trades)
            for c in session.closed_candles()}


async def start_collector_process(sim: Simulator, url: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tui.runtime.cli", "live", "--endpoint", f"binance={sim.ws_url('BINANCE')}",
        "--endpoint", f"coinbase={sim.ws_url('COINBASE')}", "--venues", "binance,coinbase",
        "--symbols", ",".join(SYMBOLS), "--interval", "1s", "--headless", "--no-record", "--publish", url,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)


async def published_header(proc: asyncio.subprocess.Process, url: str) -> tuple[dict, int]:
    """The header a viewer starts from, once the collector process has published it."""
    deadline = asyncio.get_running_loop().time() + 60
    while True:
        try:
            return await read_header(url, timeout_s=0.2)
        except (LookupError, ConnectionError):
            assert proc.returncode is None, (await proc.stderr.read()).decode()
            assert asyncio.get_running_loop().time() < deadline, "the collector never published"
            await asyncio.sleep(0.2)


async def test_a_failover_pair_merges_bar_for_bar_and_survives_one_collector_killed(nats_server):  # noqa: F811
    sim = Simulator(symbols=tuple(SYMBOLS), seed=11, port=0, intervals=("1s",), history_s=10)
    await sim.start()
    proc = None
    runner = viewer = None
    try:
        proc = await start_collector_process(sim, nats_server.url)
        await published_header(proc, nats_server.url)  # collector A's header is on the bus
        config = SessionConfig(mode="live", venues=VENUES, symbols=SYMBOLS, interval="1s", record_path=None,
                               publish_url=nats_server.url,
                               endpoints={v: [sim.ws_url(v)] for v in VENUES},
                               rest_endpoints={v: sim.rest_url(v) for v in VENUES})
        runner = Runner(config)
        await runner.start()
        b: BusPublisher = runner.session.bus
        await until(lambda: b.published > 100, 30, "collector B to publish")
        header, seq = await read_header(nats_server.url)
        assert header["collectors"] == [b.session_id]  # both collect both venues: B is the newest for each
        viewer = AttachRunner(nats_server.url, header, seq)
        await viewer.start()
        reader = viewer.reader
        await until(lambda: len(reader.merge.sessions) == 2 and reader.merge.duplicates > 200, 30,
                    "the viewer to see both collectors' copies")
        await until(lambda: len(bars(viewer.session)) > 10, 30, "the viewer to close bars")
        proc.send_signal(signal.SIGKILL)  # collector A dies without a word
        await proc.wait()
        killed_at = sim.now_ms() * 1_000_000
        dups_at_kill = reader.merge.duplicates
        await until(lambda: max(k[3] for k in bars(runner.session)) > killed_at + 3e9, 30,
                    "collector B to close bars for 3 s after A died")
        await until(lambda: reader.merge.live_collectors() == 1, 20, "the viewer to see A gone")
        stats = viewer.session.stats()["bus"]
        from tui.widgets.connection_badge import bus_summary
        # A's heartbeats stopped: one collector left, A gone; B still holds the merged connections open
        assert bus_summary(reader).startswith("  bus up") and "gone 1" in bus_summary(reader)
        assert stats["collectors"] == 1 and stats["collectors_gone"] == 1
        assert {c.state for c in viewer.driver.conns.values()} == {"subscribed"}
    finally:
        if runner is not None:
            await runner.stop()
        if proc is not None and proc.returncode is None:
            proc.kill()
            await proc.wait()
        await sim.stop()
    try:
        last = b.stream_seq
        await until(lambda: reader.next_seq is not None and reader.next_seq > last, 30,
                    "the viewer to reach the end of the stream")
        ours, theirs = bars(runner.session), bars(viewer.session)
        assert theirs and set(theirs) <= set(ours), "the viewer closed a bar collector B never did"
        assert all(theirs[k] == ours[k] for k in theirs), "a bar differs from collector B's"
        for series in {k[:3] for k in theirs}:  # no hole: every bar B closed in the viewer's span, A dead or alive
            opens = sorted(k[3] for k in theirs if k[:3] == series)
            assert opens[-1] > killed_at + 2e9, f"{series}: the viewer stopped when A died"
            between = [k for k in ours if k[:3] == series and opens[0] <= k[3] <= opens[-1]]
            assert len(between) == len(opens), f"{series}: bars missing in the viewer"
        stats = viewer.session.stats()["bus"]
        assert stats["duplicates"] == reader.merge.duplicates > 0
        assert set(stats["duplicates_by_venue"]) == set(VENUES)
        assert reader.merge.duplicates - dups_at_kill < 50  # after A's death almost nothing is a copy
    finally:
        await viewer.stop()


async def test_a_collector_killed_with_sigkill_is_gone_and_its_connections_close_for_the_viewer(nats_server):  # noqa: F811
    sim = Simulator(symbols=tuple(SYMBOLS), seed=12, port=0, intervals=("1s",), history_s=5)
    await sim.start()
    proc = viewer = None
    try:
        proc = await start_collector_process(sim, nats_server.url)
        header, seq = await published_header(proc, nats_server.url)
        assert header["heartbeat_s"] == 1.0  # how a collector announces its heartbeat
        viewer = AttachRunner(nats_server.url, header, seq)
        await viewer.start()
        conns = viewer.driver.conns
        await until(lambda: {"BINANCE#1", "COINBASE#1"} <= set(conns) and viewer.reader.merge.live_collectors() == 1
                    and all(c.state == "subscribed" for c in conns.values()), 60, "the viewer to follow the collector")
        proc.send_signal(signal.SIGKILL)  # dies without a close record
        await proc.wait()
        killed_ns = time.time_ns()
        await until(lambda: all(c.state == "disconnected" for c in conns.values()), 20,
                    "the viewer to close the dead collector's connections")
        noticed_ns = time.time_ns()
        reason = conns["BINANCE#1"].history[-1].reason
        assert "silent" in reason and header["bus_session"] in reason
        stats = viewer.session.stats()["bus"]
        assert stats["collectors"] == 0 and stats["collectors_gone"] == 1 and stats["connected"]
        # three missed heartbeats (3 s) and the viewer's 0.5 s look: not before, not much after
        assert 2.0e9 < noticed_ns - killed_ns < 3.0e9 + 4e9
    finally:
        if viewer is not None:
            await viewer.stop()
        if proc is not None and proc.returncode is None:
            proc.kill()
            await proc.wait()
        await sim.stop()


def test_a_silent_collector_is_gone_on_the_newest_collectors_time_and_back_with_its_next_heartbeat():
    merge = RecordMerge()
    for session in ("a", "b"):
        assert merge.accept(session, Record(1_000_000_000, "BINANCE#1", "open", "ws://x")) is (session == "a")
        assert merge.heartbeat(session, 1_000_000_000, 1.0) == []
    merge.accept("a", Record(1_000_000_000, "COINBASE#1", "open", "ws://y"))  # only a collects Coinbase
    assert merge.heartbeat("b", 4_000_000_000, 1.0) == []  # a silent for 3 s: not yet
    closes = merge.heartbeat("b", 4_000_000_001, 1.0)  # a silent for more than 3 intervals: gone
    assert [(c.conn, c.kind, c.recv_ns) for c in closes] == [("COINBASE#1", "close", 4_000_000_001)]
    assert "collector a silent" in closes[0].payload and merge.gone == {"a"} and merge.live_collectors() == 1
    # b silent too (seen from the viewer's clock when nothing arrives): the last holder of Binance gone
    assert [(c.conn, c.recv_ns) for c in merge.expire(9_000_000_000)] == [("BINANCE#1", 9_000_000_000)]
    assert merge.expire(9_500_000_000) == [] and merge.live_collectors() == 0  # closed once
    assert merge.heartbeat("a", 9_500_000_000, 1.0) == [] and merge.gone == {"b"}  # a is back


def rec(payload: dict | str, conn: str = "BINANCE#1", kind: str = "recv") -> Record:
    return Record(1, conn, kind, payload if isinstance(payload, str) else orjson.dumps(payload).decode())


def test_identity_is_the_venues_number_not_the_time():
    trade = {"stream": "btcusdt@aggTrade", "data": {"e": "aggTrade", "E": 1, "s": "BTCUSDT", "a": 7, "p": "1"}}
    same_id_later = {"stream": "btcusdt@aggTrade", "data": {**trade["data"], "E": 2}}
    other_id_same_time = {"stream": "btcusdt@aggTrade", "data": {**trade["data"], "a": 8}}
    raw_stream = trade["data"]  # a collector on a raw (not combined) stream: the same trade
    ident = frame_identity("BINANCE", orjson.dumps(trade).decode())
    assert ident == frame_identity("BINANCE", orjson.dumps(same_id_later).decode())
    assert ident == frame_identity("BINANCE", orjson.dumps(raw_stream).decode())
    assert ident != frame_identity("BINANCE", orjson.dumps(other_id_same_time).decode())
    match = {"type": "match", "product_id": "BTC-USD", "sequence": 5, "trade_id": 3, "time": "t"}
    ticker = {"type": "ticker", "product_id": "BTC-USD", "sequence": 5}  # rides on the match's sequence
    assert frame_identity("COINBASE", orjson.dumps(match).decode()) != \
        frame_identity("COINBASE", orjson.dumps(ticker).decode())
    beat = {"type": "heartbeat", "product_id": "BTC-USD", "sequence": 5, "time": "t1"}
    assert frame_identity("COINBASE", orjson.dumps(beat).decode()) != \
        frame_identity("COINBASE", orjson.dumps({**beat, "time": "t2"}).decode())
    assert frame_identity("BINANCE", "not json") == "not json"


def test_merge_drops_only_another_collectors_copy_and_keeps_a_connection_open_while_one_holds_it():
    merge = RecordMerge()
    frame = {"e": "trade", "s": "BTCUSDT", "t": 1}
    assert merge.accept("A", rec("x", kind="open")) is True
    assert merge.accept("B", rec("x", kind="open")) is False  # already open
    assert merge.accept("A", rec(frame)) is True
    assert merge.accept("B", rec(frame)) is False
    assert merge.accept("A", rec(frame)) is True  # A's own repeat: for the pipeline to judge
    assert merge.duplicates == 1 and merge.by_venue == {"BINANCE": 1}
    assert merge.accept("A", rec("{}", kind="close")) is False  # B still holds it
    assert merge.accept("B", rec("{}", kind="close")) is True


def test_one_collector_alone_is_passed_through_without_remembering_anything():
    merge = RecordMerge()
    for t in (1, 1, 2):  # its own repeat included: the pipeline judges it
        assert merge.accept("A", rec({"e": "trade", "s": "X", "t": t})) is True
    assert merge.duplicates == 0 and not merge._first


def test_merge_forgets_beyond_its_window():
    merge = RecordMerge(window=2)
    merge.accept("B", rec("x", kind="open"))  # two collectors: identities are remembered
    for t in (1, 2, 3):
        merge.accept("A", rec({"e": "trade", "s": "X", "t": t}))
    assert merge.accept("B", rec({"e": "trade", "s": "X", "t": 1})) is True  # forgotten: bounded memory
    assert merge.accept("B", rec({"e": "trade", "s": "X", "t": 3})) is False


@pytest.mark.parametrize("headers, venues, start", [
    ([({"venues": ["BINANCE"], "bus_session": "a"}, 3), ({"venues": ["COINBASE"], "bus_session": "c"}, 9)],
     ["COINBASE", "BINANCE"], 3),  # one collector per venue: both, from the earlier header
    ([({"venues": ["BINANCE"], "bus_session": "a"}, 3), ({"venues": ["BINANCE"], "bus_session": "b"}, 9)],
     ["BINANCE"], 9),  # a failover pair (or a restart): the newest session of the venue
])
def test_headers_of_several_collectors(headers, venues, start):
    header, seq = merge_headers(headers)
    assert sorted(header["venues"]) == sorted(venues) and seq == start
