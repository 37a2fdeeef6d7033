"""A recorded demo session replays through the same pipeline to the same candles and statistics."""
import asyncio
import time
from pathlib import Path

import orjson
import pytest

from feeds.clock import ManualClock
from feeds.drivers.recording import Record, Recorder
from feeds.drivers.replay import RecordingTail
from tui.runtime.cli import main
from tui.runtime.replay_runner import ReplayRunner
from tui.runtime.runner import Runner
from tui.runtime.session import SessionConfig

TIMING_KEYS = {"mode", "duration_s", "latency_ms", "resilience"}  # resilience: live machinery, not data


def without_timing(stats: dict) -> dict:
    out = {k: v for k, v in stats.items() if k not in TIMING_KEYS}
    for agg in out["aggregate"].values():
        for venue in agg["venues"].values():
            venue.pop("age_ms")  # how old the data was when the run stopped: a timing field
    return out


def run_json(capsys, *argv) -> dict:
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert code == 0, err
    return orjson.loads(out)


def test_replay_of_a_recorded_demo_gives_the_same_candles_and_statistics(capsys, tmp_path):
    rec, live_csv, replay_csv = tmp_path / "s.jsonl", tmp_path / "live.csv", tmp_path / "replay.csv"
    live = run_json(capsys, "demo", "--headless", "--duration", "4", "--json", "--record", str(rec),
                    "--export-candles", str(live_csv))
    replay = run_json(capsys, "replay", str(rec), "--headless", "--speed", "max", "--json",
                      "--export-candles", str(replay_csv))
    assert live["events"]["candle_closed"] > 0
    assert live_csv.read_bytes() == replay_csv.read_bytes()
    assert live["aggregate"] and without_timing(live) == without_timing(replay)
    assert replay["mode"] == "replay"


def test_replay_of_a_file_cut_mid_line_warns_and_keeps_the_rest(capsys, tmp_path):
    rec = tmp_path / "s.jsonl"
    run_json(capsys, "demo", "--headless", "--duration", "2", "--json", "--record", str(rec))
    data = rec.read_bytes()
    rec.write_bytes(data[: len(data) - 7])  # as if killed in the middle of the last line
    code = main(["replay", str(rec), "--headless", "--speed", "max", "--json"])
    out, err = capsys.readouterr()
    assert code == 0
    assert "warning" in err and "line" in err
    assert orjson.loads(out)["messages"] > 0


# -- an eventful session: symbols added and removed, an operator halt and resume, an automatic halt ----

EVENTFUL_STRATEGY = {"fast_ema": 2, "slow_ema": 3, "rsi_period": 3, "atr_period": 3,  # a signal at every
                     "rsi_long_max": 100.0, "rsi_short_min": 0.0}  # cross of two short averages: many
EVENTFUL_STALE_S = 2.0


async def _until(predicate, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.02)


async def record_eventful_session(path: Path) -> dict:
    """A demo session over loopback (real Runner, Session and simulator), recorded to ``path``.

    BTCUSDT and ETHUSDT at start; BNBUSDT added; an operator halt and resume; ETHUSDT stalled in the
    simulator until the watchdog halts trading by itself, then an operator resume; BTCUSDT removed.
    Returns what happened when (receive-clock ns), for the tests to seek around.
    """
    config = SessionConfig(mode="demo", venues=["BINANCE"], symbols=["BTCUSDT", "ETHUSDT"], interval="1s",
                           record_path=str(path), stale_after_s=EVENTFUL_STALE_S, strategy=EVENTFUL_STRATEGY)
    runner = Runner(config)
    marks: dict = {}
    await runner.start()
    try:
        session = runner.session
        halt = session.halt

        def closed_bars(symbol: str) -> int:
            st = session.pipeline.state.symbols.get(("BINANCE", symbol))
            return len(st.candles["1s"].closed_bars()) if st is not None and "1s" in st.candles else 0

        await _until(lambda: closed_bars("ETHUSDT") > 45 and not halt.halted, "backfilled and live bars")
        start = closed_bars("ETHUSDT")
        await _until(lambda: closed_bars("ETHUSDT") >= start + 2, "two live bars")
        assert await session.add_symbol("BNBUSDT") is None
        marks["added"] = session.clock.now_ns()
        await _until(lambda: closed_bars("BNBUSDT") >= 2, "BNBUSDT bars")
        halt.halt("operator key", by="operator")
        marks["operator_halt"] = halt.history[-1].at_ns
        bars = closed_bars("ETHUSDT")
        await _until(lambda: closed_bars("ETHUSDT") >= bars + 4, "four bars while halted")
        halt.resume(by="operator")
        marks["operator_resume"] = halt.history[-1].at_ns
        assert not halt.halted, "an automatic halt came in between (a loaded machine): run again"
        bars = closed_bars("ETHUSDT")
        await _until(lambda: closed_bars("ETHUSDT") >= bars + 2, "two bars running again")
        runner.sim.stall(symbol="ETHUSDT", seconds=EVENTFUL_STALE_S + 2.0)
        await _until(lambda: halt.halted, "the automatic halt")
        marks["auto_halt"] = halt.history[-1].at_ns
        assert halt.history[-1].by == "auto" and "ETHUSDT" in halt.cause
        await _until(lambda: not session.watchdog.unhealthy(), "ETHUSDT flowing again")
        halt.resume(by="operator")
        marks["auto_resume"] = halt.history[-1].at_ns
        assert await session.remove_symbol("BTCUSDT") is None
        marks["removed"] = session.clock.now_ns()
        bars = closed_bars("ETHUSDT")
        await _until(lambda: closed_bars("ETHUSDT") >= bars + 3, "three more bars")
    finally:
        await runner.stop()
    return marks


def replay_outcome(session) -> dict:
    """What a replay must reproduce exactly: closed candles, each signal with its state, the halt history."""
    return {"candles": session.closed_candles(), "signals": list(session.signal_log.entries),
            "counts": dict(session.signal_log.counts), "halts": list(session.halt.history)}


async def straight_replay(path: Path) -> ReplayRunner:
    runner = ReplayRunner([str(path)], speed=None)
    await runner.start()
    await asyncio.wait_for(runner.finished.wait(), 60)
    await runner.stop()
    return runner


@pytest.mark.xdist_group("eventful_recording")  # one recording per run (see conftest.py)
async def test_the_eventful_recording_replays_its_live_session(eventful_recording):
    path, marks = eventful_recording
    runner = await straight_replay(path)
    outcome = replay_outcome(runner.session)
    halts = [(r.action, r.by) for r in outcome["halts"]]
    assert halts == [("halt", "operator"), ("resume", "operator"), ("halt", "auto"), ("resume", "operator")]
    auto = outcome["halts"][2]
    assert auto.cause == "stale feed BINANCE ETHUSDT"
    assert abs(auto.at_ns - marks["auto_halt"]) < 0.5e9  # recomputed on recorded time, not replayed
    counts = outcome["counts"]
    assert counts["approved"] > 0 and counts["suppressed"] > 0  # signals before/after and during the halts
    symbols = {c.symbol for c in outcome["candles"]}
    assert symbols == {"BTCUSDT", "ETHUSDT", "BNBUSDT"}
    assert runner.session.config.symbols == ["ETHUSDT", "BNBUSDT"]


@pytest.mark.xdist_group("eventful_recording")  # one recording per run (see conftest.py)
async def test_seeking_back_then_playing_gives_the_straight_replay(eventful_recording):
    """Headless: after a backward seek to any point, playing on gives exactly the straight replay."""
    path, marks = eventful_recording
    expected = replay_outcome((await straight_replay(path)).session)
    runner = ReplayRunner([str(path)], speed=None)
    await runner.start()
    try:
        await asyncio.wait_for(runner.finished.wait(), 60)
        auto_halt = expected["halts"][2].at_ns  # as the replay recomputes it (on its own 100 ms ticks)
        for target in (runner.first_ns, marks["added"] - 1, auto_halt + 1):
            runner.seek(target)
            await _until(lambda target=target: runner.paused and runner.position_ns <= target, "the seek to land")
            assert [r for r in runner.session.halt.history] == [r for r in expected["halts"] if r.at_ns <= target]
            runner.toggle_pause()
            await asyncio.wait_for(runner.finished.wait(), 60)
            assert replay_outcome(runner.session) == expected
    finally:
        await runner.stop()


@pytest.mark.parametrize("name", ["tail.jsonl", "tail.jsonl.gz"])
def test_a_tail_reads_a_recording_as_it_is_written_across_rotated_parts(tmp_path, name):
    path = tmp_path / name
    recorder = Recorder(path, {"venues": ["BINANCE"], "symbols": ["BTCUSDT"]}, rotate_bytes=200,
                        compress=name.endswith(".gz"), clock=ManualClock(1))
    tail = RecordingTail(path)
    assert list(tail) == [] and tail.header["symbols"] == ["BTCUSDT"]
    written, read = [], []
    for i in range(60):
        record = Record(i + 1, "BINANCE#1", "recv", f'{{"n":{i}}}')
        recorder.write(*record)
        written.append(record)
        if i % 7 == 0:
            recorder.flush()
            read.extend(tail)
            assert read == written
    recorder.close()
    read.extend(tail)
    assert read == written and tail.part >= 2 and tail.report.skipped_lines == 0
    tail.close()


def test_a_tail_waits_for_the_rest_of_a_line_being_written(tmp_path):
    path = tmp_path / "tail.jsonl"
    Recorder(path, {"venues": ["BINANCE"]}, clock=ManualClock(1)).close()
    tail = RecordingTail(path)
    with open(path, "ab") as f:
        f.write(b'{"t":5,"c":"BINANCE#1","k":"recv","p":"{\\"a')
        f.flush()
        assert list(tail) == []  # half a line: not a record yet, and not a bad one
        f.write(b'\\":1}"}\n')
    assert list(tail) == [Record(5, "BINANCE#1", "recv", '{"a":1}')]
    assert tail.report.skipped_lines == 0
    tail.close()
