"""``clearterm replay nats://…``: the stream of a real ``nats-server -js`` replayed, straight and after seeks."""
from __future__ import annotations

import asyncio
import csv
import subprocess
import sys
from datetime import UTC, datetime

import pytest

from feeds.drivers.bus import BusPublisher
from tests.test_bus import demo_config, nats_server, until  # noqa: F401 - nats_server is a fixture
from tui.runtime.bus_replay import copy_stream, parse_from
from tui.runtime.replay_runner import ReplayRunner
from tui.runtime.runner import Runner
from tui.runtime.session import iso_utc


def closed(session) -> dict[tuple, tuple]:
    return {(c.venue, c.symbol, c.interval, c.open_ns): c for c in session.closed_candles()}


def assert_collectors_candles(collector: dict, replayed: dict) -> None:
    assert replayed, "the replay closed no bar"
    assert set(replayed) <= set(collector), "the replay closed a bar the collector never did"
    assert all(replayed[k] == collector[k] for k in replayed), "a bar differs from the collector's"
    # the replay closes a bar when a later record arrives: only each series' last bar may be missing
    assert len(collector) - len(replayed) <= len({k[:3] for k in collector})


@pytest.fixture
async def published(nats_server, tmp_path):  # noqa: F811
    """A demo collector that published about 6 s to the bus, then stopped: (server, its closed candles, runner)."""
    runner = Runner(demo_config(None, nats_server.url), sim_options={"history_s": 10})
    await runner.start()
    try:
        publisher: BusPublisher = runner.session.bus
        await until(lambda: publisher.published > 100, 20, "the collector to publish")
        await asyncio.sleep(6)  # bars close, signals fire: a session worth replaying
    finally:
        await runner.stop()
    assert publisher.stats()["pending"] == 0
    return nats_server, closed(runner.session), runner


async def test_a_replay_from_the_bus_equals_the_collector_straight_and_after_seeking(published, tmp_path):
    server, expected, collector = published
    copy = tmp_path / "bus.jsonl"
    written = await copy_stream(server.url, str(copy))
    assert written == collector.session.bus.written  # every record, once
    runner = ReplayRunner([str(copy)], speed=None)
    await runner.start()
    try:
        await asyncio.wait_for(runner.finished.wait(), 60)
        straight = closed(runner.session)
        assert_collectors_candles(expected, straight)
        end = runner.position_ns
        for target in (runner.first_ns + (end - runner.first_ns) // 2, runner.first_ns + 2_000_000_000):
            runner.seek(target)
            await until(lambda target=target: runner.paused and runner.position_ns <= target, 30, "the seek to land")
            at_target = closed(runner.session)
            assert at_target and set(at_target) < set(straight)  # only what had closed by then
            assert all(c == expected[k] and c.recv_ns <= target for k, c in at_target.items())
            runner.toggle_pause()
            await asyncio.wait_for(runner.finished.wait(), 60)
            assert closed(runner.session) == straight
    finally:
        await runner.stop()


def export(path) -> dict[tuple, list[str]]:
    with open(path, newline="") as f:
        return {tuple(r[:4]): r for r in list(csv.reader(f))[1:]}


def test_cli_replay_of_the_bus_from_a_time_exports_the_collectors_candles(published, tmp_path):
    server, expected, collector = published
    collector.session.export_candles(str(tmp_path / "collector.csv"))
    ours = export(tmp_path / "collector.csv")
    received = sorted(c.recv_ns for c in expected.values() if c.source == "live")
    from_ns = received[len(received) // 2]  # half way through the session, on the collector's (wall) clock
    from_text = datetime.fromtimestamp(from_ns / 1e9, UTC).isoformat(timespec="microseconds")
    for args, name in (([], "all.csv"), (["--from", from_text], "from.csv")):
        proc = subprocess.run([sys.executable, "-m", "tui.runtime.cli", "replay", server.url, *args, "--headless",
                               "--speed", "max", "--export-candles", str(tmp_path / name)],
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
    whole, later = export(tmp_path / "all.csv"), export(tmp_path / "from.csv")
    assert len(whole) >= len(ours) - 10 and all(whole[k] == ours[k] for k in whole)
    firsts = {min(k for k in later if k[:3] == series) for series in {k[:3] for k in later}}
    # a bar built from trades that began before --from holds only the trades after it: each series' first
    assert len(later) > len(firsts) and all(later[k] == ours[k] for k in later if k not in firsts)
    by_row = {(c.venue, c.symbol, c.interval, iso_utc(c.open_ns)): c for c in expected.values()}
    assert all(by_row[k].recv_ns >= from_ns - 1e9 for k in later)  # nothing the collector closed well before
    assert len(later) < len(whole)


@pytest.mark.parametrize("args, message", [
    (["--from", "yesterday-ish"], "--from: expected a time such as"),
    (["--from", "10m", "rec.jsonl"], "--from: only for nats://"),
])
def test_bad_replay_from_arguments_are_one_line_and_exit_2(args, message, tmp_path):
    target = [] if "rec.jsonl" in args else ["nats://127.0.0.1:1"]
    proc = subprocess.run([sys.executable, "-m", "tui.runtime.cli", "replay", *target, *args, "--headless"],
                          capture_output=True, text=True, timeout=30, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def test_from_takes_a_utc_time_or_an_age():
    now = 1_800_000_000_000_000_000
    assert parse_from("10m", now) == now - 600_000_000_000
    assert parse_from("2026-11-27T19:30:00Z") == parse_from("2026-11-27T19:30:00") == \
        int(datetime(2026, 11, 27, 19, 30, tzinfo=UTC).timestamp() * 1e9)


async def test_the_viewers_dvr_replays_what_it_applied_and_seeks_back(nats_server):  # noqa: F811
    from feeds.drivers.bus import read_header
    from tests.test_app_replay import wait_for
    from tui.app import ClearTermApp
    from tui.runtime.attach import AttachRunner
    runner = Runner(demo_config(None, nats_server.url), sim_options={"history_s": 10})
    await runner.start()
    try:
        await until(lambda: runner.session.bus.published > 100, 20, "the collector to publish")
        header, seq = await read_header(nats_server.url)
        viewer = AttachRunner(nats_server.url, header, seq, keep_copy=True)
        copy = viewer.copy.path
        app = ClearTermApp(viewer)
        async with app.run_test(size=(120, 30)) as pilot:
            await wait_for(pilot, lambda: len(closed(viewer.session)) > 30, 30, "the viewer to close bars")
            runner.session.halt.halt("operator key", by="operator")  # travels on the bus, once into the copy
            await wait_for(pilot, lambda: viewer.session.halt.halted, 20, "the viewer to apply the halt")
            await pilot.press("r")
            await wait_for(pilot, lambda: app.dvr is not None, 20, "the DVR")
            dvr = app.dvr
            await wait_for(pilot, lambda: dvr.first_ns > 0, 20, "the DVR to play its first record")
            target = dvr.first_ns + 2_000_000_000
            dvr.seek(target)
            await wait_for(pilot, lambda: dvr.paused and 0 < dvr.position_ns <= target, 30, "the seek to land")
            then = closed(dvr.session)
            assert then and all(c.recv_ns <= target and closed(viewer.session)[k] == c for k, c in then.items())
            dvr.toggle_pause()
            dvr.set_speed(None)
            await wait_for(pilot, lambda: dvr.at_edge and dvr.session.halt.halted, 30, "the DVR to reach now")
            assert [r.cause for r in dvr.session.halt.history] == ["operator key"]  # once, not twice
            ours = closed(viewer.session)
            assert all(ours[k] == c for k, c in closed(dvr.session).items())
            assert len(closed(dvr.session)) >= len(then)
        assert not copy.exists()  # the viewer's copy goes with it
    finally:
        await runner.stop()


@pytest.mark.parametrize("paused_first", [False, True])
async def test_a_seek_made_while_the_replay_waits_lands_before_the_next_record(tmp_path, paused_first):
    """Found by the viewer's DVR: a forward seek made while the replay waited (paced, or paused) applied
    the record it was waiting with, past the target."""
    from feeds.clock import ManualClock
    from feeds.drivers.recording import Recorder
    path = tmp_path / "paced.jsonl"
    recorder = Recorder(path, {"venues": ["BINANCE"], "symbols": ["BTCUSDT"], "started_ns": 10**18},
                        clock=ManualClock(10**18))
    for i in range(4):  # one record a second
        recorder.write(10**18 + i * 1_000_000_000, "operator", "note", '{"text": "tick"}')
    recorder.close()
    runner = ReplayRunner([str(path)], speed=1.0)
    await runner.start()
    try:
        await until(lambda: runner.driver.records == 1, 10, "the first record")
        if paused_first:
            runner.toggle_pause()
        await asyncio.sleep(0.05)  # the replay now waits with the second record in hand (1 s away, or paused)
        target = runner.first_ns + 500_000_000
        runner.seek(target)
        await until(lambda: runner.paused and runner.position_ns == target, 5, "the seek to land")
        await asyncio.sleep(0.2)
        assert runner.driver.records == 1  # the record 1 s in is not applied by a seek to 0.5 s
    finally:
        await runner.stop()
