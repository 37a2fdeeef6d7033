"""The Textual app driven by a pilot: the real app, the real Runner, the built-in simulator over loopback.

Waits are conditions with a deadline (``wait_for``), never fixed sleeps. Every scenario runs at the
smallest supported terminal (80x24) and a large one (160x48).
"""
from __future__ import annotations

import time

import pytest

from feeds.events import Candle, Trade
from tui.app import ClearTermApp
from tui.runner import Runner
from tui.session import SessionConfig
from tui.widgets.candle_table import CandleTable
from tui.widgets.confirm_screen import ConfirmScreen
from tui.widgets.connection_badge import ConnectionBadge
from tui.widgets.header_bar import HeaderBar
from tui.widgets.help_screen import HelpScreen

SIZES = [(80, 24), (160, 48)]
EVIL = "[red]EVIL\x1b[2J"


async def wait_for(pilot, predicate, timeout: float = 10.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}\n{screen_text(pilot.app)}")
        await pilot.pause(0.05)


def screen_text(app) -> str:
    """The active screen as plain text, one line per terminal row."""
    return "\n".join(strip.text for strip in app.screen._compositor.render_strips())


def demo_app() -> ClearTermApp:
    return ClearTermApp(Runner(SessionConfig(mode="demo", interval="1s")))


def table(app, symbol: str) -> CandleTable:
    return next(t for t in app.query(CandleTable) if t.symbol == symbol)


def subscribed(app) -> bool:
    return app.query_one(ConnectionBadge).state == "subscribed" and "BINANCE subscribed" in screen_text(app)


@pytest.mark.parametrize("size", SIZES)
async def test_demo_shows_symbols_connection_and_candles(size):
    app = demo_app()
    async with app.run_test(size=size) as pilot:
        await wait_for(pilot, lambda: subscribed(app), what="the BINANCE badge to say subscribed")
        text = screen_text(app)
        for symbol in ("BTCUSDT", "ETHUSDT", "SOLUSDT"):
            assert f"{symbol} · BINANCE" in text
        assert "DEMO" in text.splitlines()[0]
        assert app.query_one(ConnectionBadge).has_class("-good")

        def closed_row_shown() -> bool:
            t = table(app, "BTCUSDT")
            series = t.series
            if series is None or not series.bars or series.interval != "1s":
                return False
            newest = time.strftime("%H:%M:%S", time.gmtime(series.bars[-1].open_ns // 1_000_000_000))
            return any(line.startswith(f"  {newest}") for line in screen_text(app).splitlines())

        await wait_for(pilot, closed_row_shown, what="a closed 1s bar in the BTCUSDT table")
        assert app.session.pipeline.events["candle_closed"] >= 1


@pytest.mark.parametrize("size", SIZES)
async def test_keys_toggle_halt_resume_help_quit(size):
    app = demo_app()
    runner = app.runner
    async with app.run_test(size=size) as pilot:
        await wait_for(pilot, lambda: subscribed(app), what="subscribed")

        await pilot.press("2")
        await wait_for(pilot, lambda: "ETHUSDT" not in screen_text(app), what="ETHUSDT hidden")
        assert "ETHUSDT" in app.session.hidden
        assert not table(app, "ETHUSDT").display
        assert "BTCUSDT · BINANCE" in screen_text(app)
        await pilot.press("2")
        await wait_for(pilot, lambda: "ETHUSDT · BINANCE" in screen_text(app), what="ETHUSDT shown again")

        header = app.query_one(HeaderBar)
        assert not header.has_class("-halted")
        await pilot.press("h")
        await wait_for(pilot, lambda: "TRADING HALTED" in screen_text(app), what="the HALTED banner")
        assert app.session.halt.halted
        assert app.session.halt.history[-1].by == "operator"
        assert header.has_class("-halted")

        await pilot.press("u")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen)
                       and "Resume trading? y/n" in screen_text(app), what="the resume question")
        assert app.session.halt.halted  # nothing happens before the answer
        await pilot.press("y")
        await wait_for(pilot, lambda: not app.session.halt.halted, what="trading resumed")
        await wait_for(pilot, lambda: "TRADING HALTED" not in screen_text(app), what="the banner gone")
        assert not header.has_class("-halted")

        await pilot.press("question_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen) and "Keys" in screen_text(app),
                       what="the help screen")
        help_text = screen_text(app)
        for description in ("Quit", "Halt trading", "Resume trading", "Show/hide symbol 2: ETHUSDT", "Help"):
            assert description in help_text
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, HelpScreen), what="help closed")

        await pilot.press("q")
        await wait_for(pilot, lambda: not app.is_running, what="the app to quit")
    assert runner.sim is None  # runner.stop() ran and stopped the simulator
    assert all(c.state == "disconnected" for c in runner.session.connections.values())


@pytest.mark.parametrize("size", SIZES)
async def test_untrusted_symbol_is_shown_literally(size):
    app = demo_app()
    async with app.run_test(size=size) as pilot:
        await wait_for(pilot, lambda: subscribed(app), what="subscribed")
        for n in (1, 2, 3):  # make room: the new symbol gets a table of its own
            await pilot.press(str(n))
        now = time.time_ns()
        open_ns = now - now % 1_000_000_000 - 1_000_000_000
        app.session.pipeline.apply_all([
            Trade("BINANCE", EVIL, EVIL, now, now, 1.5, 2.0, "buy", 1),
            Candle("BINANCE", EVIL, EVIL, now, now, "1s", open_ns, 1.0, 2.0, 0.5, 1.5, 7.0, 3, True),
        ])
        shown = "[red]EVIL[2J"  # the escape byte stripped, the brackets kept as text
        await wait_for(pilot, lambda: f"{shown} · BINANCE" in screen_text(app), what="the untrusted symbol")
        text = screen_text(app)
        assert not any(ch in text for ch in "\x1b\x9b\x00\x07")
        strips = app.screen._compositor.render_strips()
        assert all("\x1b" not in seg.text for strip in strips for seg in strip)
        evil = table(app, EVIL)
        assert any(line.startswith("  ") and "1.50000" in line for line in evil.text_lines()[2:])


async def test_start_failure_is_reported_and_the_app_keeps_running(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    # Recording under a regular file cannot work: Session.start raises inside the app's worker.
    app = ClearTermApp(Runner(SessionConfig(mode="live", record_path=str(blocker / "rec.jsonl"))))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: "start failed" in screen_text(app), what="the start error")
        assert app.query_one(HeaderBar).has_class("-error")
        await pilot.press("h")
        await wait_for(pilot, lambda: app.session.halt.halted, what="halt still works")
        assert app.is_running


async def test_unchanged_data_redraws_nothing():
    app = ClearTermApp(Runner(SessionConfig(mode="live", venues=[], interval="1s")))
    async with app.run_test(size=(80, 24)) as pilot:
        now = time.time_ns()
        open_ns = now - now % 1_000_000_000
        app.session.pipeline.apply_all([
            Candle("BINANCE", "BTCUSDT", "BTC/USD", now, now, "1s", open_ns - 10**9, 10.0, 11.0, 9.0, 10.5, 1.0, 2,
                   True),
            Candle("BINANCE", "BTCUSDT", "BTC/USD", now, now, "1s", open_ns, 10.5, 10.6, 10.4, 10.5, 0.1, 1, False),
        ])
        await wait_for(pilot, lambda: "› " in screen_text(app), what="the BTCUSDT table with its forming bar")
        t = table(app, "BTCUSDT")
        state = app.session.pipeline.state.symbols[("BINANCE", "BTCUSDT")]
        await wait_for(pilot, lambda: t.sync(state) is False, what="the table to catch up")
        await pilot.pause()
        assert t.sync(state) is False  # same versions: no rebuild, no refresh
        app.session.pipeline.apply_all([
            Candle("BINANCE", "BTCUSDT", "BTC/USD", now, now, "1s", open_ns, 10.5, 10.9, 10.4, 10.8, 0.2, 2, False)])
        assert t.sync(state) is True
        lines = t.text_lines()
        assert lines[2].startswith("› ") and "10.800" in lines[2]  # the forming bar, marked, on top
        assert lines[3].startswith("  ") and "10.500" in lines[3]  # then the closed bar


async def test_duration_quits_by_itself_and_stops_the_runner():
    runner = Runner(SessionConfig(mode="demo", interval="1s"))
    app = ClearTermApp(runner, duration=1.0)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: not app.is_running, what="the app to quit after --duration")
    assert runner.started and runner.sim is None
