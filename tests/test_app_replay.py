"""The app on a ReplayRunner (``clearterm replay``) and the DVR of a live demo session, driven by a pilot.

Most tests use tests/fixtures/app_session.jsonl.gz (two venues, three symbols, 75 s of 1 s bars from
2026-01-01 12:00:00 UTC, made by tests/fixtures/make_app_recording.py); the seek tests record an eventful
demo session of their own over loopback (tests/test_record_replay.py). Waits are conditions with a
deadline, never fixed sleeps.
"""
from __future__ import annotations

import gzip
import time
from pathlib import Path

import orjson
import pytest
from test_record_replay import EVENTFUL_STRATEGY, replay_outcome, straight_replay
from waiting import press

from tui.app import ClearTermApp
from tui.replay_controls import recording_end_ns
from tui.runtime.replay_runner import SPEEDS, ReplayRunner
from tui.runtime.runner import Runner
from tui.runtime.session import SessionConfig
from tui.widgets.candle_table import CandleTable
from tui.widgets.formatting import utc_hms
from tui.widgets.goto_screen import GotoScreen, parse_time_of_day
from tui.widgets.header_bar import HeaderBar
from tui.widgets.replay_bar import ReplayBar

FIXTURE = Path(__file__).parent / "fixtures" / "app_session.jsonl.gz"
START_NS = 1_767_268_800_000_000_000  # 2026-01-01T12:00:00Z
S = 1_000_000_000


async def wait_for(pilot, predicate, timeout: float = 10.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}\n{screen_text(pilot.app)}")
        await pilot.pause(0.02)


def screen_text(app) -> str:
    return "\n".join(strip.text for strip in app.screen._compositor.render_strips())


def bar_text(app) -> str:
    return app.query_one(ReplayBar).render().plain if app.query_one(ReplayBar).display else ""


# The live DVR tests press keys: a calm simulator, as in test_app.py (a trade stream goes stale after 3 s
# without trades; at 6 trades/s a gap that long is e**-18 likely).
CALM_SIM = {"trades_per_second": 6.0, "tick_hz": 10.0}


def replay_app(speed: float | None = None) -> ClearTermApp:
    return ClearTermApp(ReplayRunner([str(FIXTURE)], speed=speed))


def table(app, symbol: str) -> CandleTable:
    return next(t for t in app.query(CandleTable) if t.symbol == symbol)


def test_recording_end_is_read_from_the_last_line(tmp_path):
    with gzip.open(FIXTURE, "rb") as f:
        times = [orjson.loads(line)["t"] for line in list(f)[1:]]
    assert recording_end_ns([str(FIXTURE)]) == max(times)
    plain_copy = tmp_path / "copy.jsonl"
    with gzip.open(FIXTURE, "rb") as f:
        plain_copy.write_bytes(f.read() + b'{"t":99,"c":"BINANCE#1","k":"recv","p":"cut')  # a killed writer
    assert recording_end_ns([str(plain_copy)]) == max(times)
    assert recording_end_ns([str(tmp_path / "missing.jsonl")]) is None


def test_time_of_day_parsing():
    assert parse_time_of_day("12:00:30") == 43_230
    assert parse_time_of_day(" 9:05 ") == 9 * 3600 + 300
    assert parse_time_of_day("24:00:00") is None
    assert parse_time_of_day("12:60") is None
    assert parse_time_of_day("noon") is None


@pytest.mark.parametrize("size", [(80, 24), (160, 48)])
async def test_replay_runs_to_the_end_on_recorded_time(size):
    app = replay_app()
    async with app.run_test(size=size) as pilot:
        await wait_for(pilot, app.runner.finished.is_set, what="the replay to end")
        app.refresh_view(slow=True)
        await wait_for(pilot, lambda: "END" in bar_text(app) and "100%" in bar_text(app),
                       what="END and the progress in the replay bar")
        text = screen_text(app)
        first = text.splitlines()[0]
        assert "REPLAY" in first and "12:01:15 UTC" in first  # the recorded clock, not the wall clock
        assert "1 BTC/USD" in text and "≈58513.78" in text  # USDT price marked approximate
        assert app.query_one(HeaderBar).has_class("-halted") is False  # auto halt at 12:00:44, resumed
        assert app.runner.session.halt.history[0].by == "auto"


async def test_pause_step_and_speed_keys():
    app = replay_app(speed=1.0)
    runner = app.runner
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: runner.position_ns > 0, what="the first records")
        await press(pilot, "space")
        await wait_for(pilot, lambda: runner.paused and "PAUSED" in bar_text(app), what="PAUSED")
        before = runner.driver.records
        await press(pilot, "full_stop")
        await wait_for(pilot, lambda: runner.driver.records == before + 1, what="one record applied")
        await pilot.pause(0.1)
        assert runner.driver.records == before + 1  # paused: nothing more

        await press(pilot, "plus")
        await wait_for(pilot, lambda: runner.speed == 2.0 and " 2x " in bar_text(app), what="2x")
        await press(pilot, "minus", "minus", "minus")
        await wait_for(pilot, lambda: runner.speed == 0.25, what="0.25x")
        assert app.check_action("slower", ()) is None  # the slowest speed: greyed out
        for _ in range(12):
            await press(pilot, "plus")
        await wait_for(pilot, lambda: runner.speed is None and " max " in bar_text(app), what="max speed")
        assert app.check_action("faster", ()) is None

        await press(pilot, "space")
        await wait_for(pilot, runner.finished.is_set, what="the replay to end at max speed once resumed")


async def test_seek_back_rebuilds_the_state():
    app = replay_app()
    runner = app.runner
    async with app.run_test(size=(160, 48)) as pilot:
        await wait_for(pilot, runner.finished.is_set, what="the replay to end")
        end = runner.position_ns
        old_session = runner.session
        await wait_for(pilot, lambda: any("12:01:14" in line for line in table(app, "BTCUSDT").text_lines()),
                       what="the last bar on screen")
        await press(pilot, "left")
        target = end - 60 * S
        await wait_for(pilot, lambda: runner.session is not old_session and runner.paused
                       and 0 < runner.position_ns <= target, what="the seek to land, paused")
        assert runner.position_ns > target - S
        series = runner.session.pipeline.state.symbols[("BINANCE", "BTCUSDT")].candles["1s"]
        assert series.bars[-1].open_ns < target
        assert not series.has_bar(START_NS + 74 * S)  # the bar of 12:01:14 is gone from the rebuilt state
        await wait_for(pilot, lambda: not any("12:01:14" in line for line in table(app, "BTCUSDT").text_lines()),
                       what="the table redrawn from the new session")
        shown = time.strftime("%H:%M:%S UTC", time.gmtime(runner.position_ns // S))
        assert shown in ("12:00:14 UTC", "12:00:15 UTC")
        await wait_for(pilot, lambda: shown in screen_text(app).splitlines()[0], what="the clock at the seek point")
        assert "PAUSED" in bar_text(app)

        await press(pilot, "right")  # forward one minute: plays fast to it, pauses again
        await wait_for(pilot, lambda: runner.paused and runner.position_ns > end - 2 * S, what="forward seek")


async def test_seek_back_while_playing_restarts_from_the_start():
    app = replay_app(speed=1.0)
    runner = app.runner
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: runner.position_ns > START_NS + S // 2, what="half a second played")
        await press(pilot, "space")
        await wait_for(pilot, lambda: runner.paused, what="paused")
        old_session = runner.session
        await press(pilot, "left")  # more than the recording so far: back to its first record
        await wait_for(pilot, lambda: runner.session is not old_session and runner.paused
                       and runner.position_ns == runner.first_ns, what="the replay back at its start")
        assert not runner.finished.is_set()
        assert runner.session.pipeline.messages <= 1
        await press(pilot, "space")
        await wait_for(pilot, lambda: runner.position_ns > runner.first_ns + S // 10, what="playing again")
        assert not runner.finished.is_set()


async def test_go_to_a_time_and_r_does_not_quit():
    app = replay_app()
    runner = app.runner
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, runner.finished.is_set, what="the replay to end")
        await press(pilot, "g")
        await wait_for(pilot, lambda: isinstance(app.screen, GotoScreen), what="the go-to question")
        await wait_for(pilot, lambda: "2026-01-01" in screen_text(app), what="the question drawn")  # its first paint
        await press(pilot, "space")  # typed into the input, not a replay key while the question is open
        assert not runner.paused
        await press(pilot, "backspace", *"12:00:30", "enter")
        target = START_NS + 30 * S
        await wait_for(pilot, lambda: runner.paused and target - S < runner.position_ns <= target,
                       what="the replay at 12:00:30")
        await wait_for(pilot, lambda: "12:00:30 UTC" in screen_text(app).splitlines()[0], what="the clock at the target")
        assert "r live" not in bar_text(app) and "q quit" in bar_text(app)
        await press(pilot, "r")  # a standalone replay has no r: it must not quit without asking
        await pilot.pause(0.2)
        assert app.is_running and app.check_action("leave_replay", ()) is False
        await press(pilot, "q")
        await wait_for(pilot, lambda: not app.is_running, what="the app to quit")


async def test_dvr_replays_the_live_session_while_it_goes_on(tmp_path):
    record = tmp_path / "rec.jsonl"
    app = ClearTermApp(Runner(SessionConfig(mode="demo", interval="1s", record_path=str(record)),
                              sim_options=CALM_SIM))
    async with app.run_test(size=(80, 24)) as pilot:
        live = app.live_session
        await wait_for(pilot, lambda: live.pipeline.messages > 20, what="live data")
        await press(pilot, "r")
        await wait_for(pilot, lambda: app.dvr is not None and "DVR" in bar_text(app), what="the DVR view")
        assert app.session is app.dvr.session and app.session is not live
        assert "DVR" in screen_text(app).splitlines()[0]
        await wait_for(pilot, lambda: app.dvr.session.pipeline.messages > 0, what="recorded frames replayed")
        shown = live.pipeline.messages
        await wait_for(pilot, lambda: live.pipeline.messages > shown + 20, what="live ingestion going on")
        await press(pilot, "h")  # halts act on the live session, also from the DVR view
        await wait_for(pilot, lambda: live.halt.halted, what="the live session halted")
        await wait_for(pilot, lambda: "TRADING HALTED" in screen_text(app), what="the live halt shown in the DVR")
        await press(pilot, "r")
        await wait_for(pilot, lambda: app.dvr is None and not app.query_one(ReplayBar).display, what="live again")
        assert app.session is live
        assert "DEMO" in screen_text(app).splitlines()[0]


async def test_dvr_without_recording_says_so():
    app = ClearTermApp(Runner(SessionConfig(mode="live", venues=[], record_path=None)))
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await press(pilot, "r")
        await wait_for(pilot, lambda: "recording is off" in screen_text(app), what="the notification")
        assert app.dvr is None


def counts_title(counts: dict) -> str:
    return (f"{counts['total']} total · {counts['approved']} approved · {counts['suppressed']} suppressed · "
            f"{counts['rejected']} rejected")


def halt_lines(history) -> list[str]:
    """The halt history as the errors view shows it."""
    return [f"{utc_hms(r.at_ns, millis=True)} {r.action.upper():7}{r.by:9}{r.cause}" for r in history]


@pytest.mark.xdist_group("eventful_recording")  # one recording per run (see conftest.py)
async def test_seeking_anywhere_in_the_app_then_playing_gives_the_straight_replay(eventful_recording):
    """Seek with the keys (start, forward to the middle, then back to just before and after each halt and
    resume), check the session as it was at that time, play to the end: exactly the straight replay."""
    path, _ = eventful_recording
    expected = replay_outcome((await straight_replay(path)).session)
    halts = expected["halts"]
    assert [(r.action, r.by) for r in halts] == [("halt", "operator"), ("resume", "operator"),
                                                  ("halt", "auto"), ("resume", "operator")]
    app = ClearTermApp(ReplayRunner([str(path)], speed=None))
    runner = app.runner

    async def check_at(target: int) -> None:
        """The rebuilt session is the recorded one as it was at ``target``, and the screen says so."""
        assert runner.position_ns == target
        session = runner.session
        assert session.halt.history == [r for r in halts if r.at_ns <= target]
        signals = [d for d in expected["signals"] if d.signal.decided_ns <= target]
        assert list(session.signal_log.entries) == signals
        counts = {k: sum(1 for d in signals if d.status.lower() == k) for k in ("approved", "suppressed", "rejected")}
        await wait_for(pilot, lambda: counts_title({"total": len(signals), **counts}) in screen_text(app),
                       what=f"the signal counts at {utc_hms(target)}")
        halted = bool(session.halt.history) and session.halt.history[-1].action == "halt"
        assert session.halt.halted == halted
        await wait_for(pilot, lambda: ("TRADING HALTED" in screen_text(app)) == halted, what="the halt banner")

    async def play_to_the_end() -> None:
        await press(pilot, "space")
        await wait_for(pilot, runner.finished.is_set, timeout=60, what="the replay to end")
        assert replay_outcome(runner.session) == expected
        await wait_for(pilot, lambda: counts_title(expected["counts"]) in screen_text(app), what="the final counts")

    async def go_to(target: int) -> None:
        old = runner.session
        backward = target < runner.position_ns
        await press(pilot, "g")
        await wait_for(pilot, lambda: isinstance(app.screen, GotoScreen), what="the go-to question")
        await press(pilot, *utc_hms(target), "enter")
        await wait_for(pilot, lambda: runner.paused and runner.position_ns == target
                       and (runner.session is not old) == backward, timeout=60, what=f"the seek to {utc_hms(target)}")

    async with app.run_test(size=(160, 48)) as pilot:
        await wait_for(pilot, runner.finished.is_set, timeout=60, what="the straight replay to end")
        assert replay_outcome(runner.session) == expected
        end = runner.position_ns

        old = runner.session
        await press(pilot, "shift+left")  # more than the whole recording: back to its first record
        await wait_for(pilot, lambda: runner.session is not old and runner.paused, what="the seek to the start")
        await check_at(runner.first_ns)
        middle = (runner.first_ns + end) // 2 // S * S
        await go_to(middle)  # forward, from the start
        await check_at(middle)
        await play_to_the_end()

        for record in halts:
            before = (record.at_ns - 1) // S * S  # whole seconds: what the go-to question takes
            for target in (before, before + S):
                await go_to(target)
                await check_at(target)
                await play_to_the_end()

        await press(pilot, "e")  # the errors view: the halt history is the recorded one, nothing invented
        await wait_for(pilot, lambda: all(line in screen_text(app) for line in halt_lines(halts)),
                       what="the halt history on screen")
        assert "BNBUSDT" not in "\n".join(line for line in screen_text(app).splitlines() if "stale feed" in line)


async def test_dvr_seek_back_shows_the_session_as_it_was_and_follows_the_recording(tmp_path):
    """A symbol added mid-session, then the DVR seeks back to the start and plays to now: no stale halt
    for the symbol before it existed, every signal as it was decided live, no stale badge; at now the DVR
    keeps following the growing recording and says so."""
    record = tmp_path / "rec.jsonl"
    config = SessionConfig(mode="demo", venues=["BINANCE"], symbols=["BTCUSDT", "ETHUSDT"], interval="1s",
                           record_path=str(record), stale_after_s=3.0, strategy=EVENTFUL_STRATEGY)
    app = ClearTermApp(Runner(config, sim_options=CALM_SIM))
    async with app.run_test(size=(160, 48)) as pilot:
        live = app.live_session
        await wait_for(pilot, lambda: live.pipeline.messages > 20, what="live data")
        started = live.clock.now_ns()
        await wait_for(pilot, lambda: live.clock.now_ns() > started + 4 * S, what="4 s of live data")
        assert await live.add_symbol("BNBUSDT") is None
        added = live.clock.now_ns()
        await wait_for(pilot, lambda: live.clock.now_ns() > added + 4 * S and live.signal_log.counts["approved"] > 3,
                       timeout=30, what="BNBUSDT bars and approved signals")

        await press(pilot, "r")
        await wait_for(pilot, lambda: app.dvr is not None, what="the DVR")
        dvr = app.dvr
        for _ in range(len(SPEEDS)):
            await press(pilot, "plus")
        await wait_for(pilot, lambda: dvr.at_edge and "AT NOW" in bar_text(app), what="the DVR at now")
        old = dvr.session
        await press(pilot, "left")  # back a minute: more than the session, so to its start
        await wait_for(pilot, lambda: dvr.session is not old and dvr.paused and dvr.position_ns == dvr.first_ns,
                       what="the DVR back at the start")
        await press(pilot, "space")
        await wait_for(pilot, lambda: dvr.at_edge and dvr.position_ns > added + 4 * S, timeout=30,
                       what="the DVR at now again")

        assert not live.halt.history, "the live session halted by itself (a loaded machine?): nothing to compare"
        assert dvr.session.halt.history == []  # no stale feed for BNBUSDT before it was added
        decided_live = {(d.signal.symbol, d.signal.bar_open_ns): d.status for d in live.signal_log.entries}
        replayed = list(dvr.session.signal_log.entries)
        assert len(replayed) >= 4
        assert {(d.signal.symbol, d.signal.bar_open_ns): d.status for d in replayed}.items() <= decided_live.items()
        assert all(d.status == "APPROVED" for d in replayed)
        text = screen_text(app)
        assert "stale" not in text.splitlines()[2] and "subscribed" in text.splitlines()[2]  # the badge row
        assert "halted then" not in bar_text(app)

        at_now = dvr.position_ns
        await wait_for(pilot, lambda: dvr.position_ns > at_now + S, what="the DVR following the recording")
        assert not dvr.finished.is_set()
        await press(pilot, "r")
        await wait_for(pilot, lambda: app.dvr is None, what="back to live")
