"""The Textual app driven by a pilot: the real app, the real Runner, the built-in simulator over loopback.

Waits are conditions with a deadline (``wait_for``), never fixed sleeps. Layout scenarios run at the
smallest supported terminal (80x24) and a large one (160x48). Replay keys and the DVR are in
test_app_replay.py; the rendered views are pinned by test_snapshots.py.
"""
from __future__ import annotations

import asyncio
import logging
import os
import re
import signal
import sys
import time

import pytest
from rich.text import Text
from textual import events
from textual.app import App
from textual.keys import _character_to_key
from textual.screen import Screen
from textual.widgets import Input, Static
from waiting import press

from feeds.events import Candle, Trade
from tui.app import ClearTermApp
from tui.runtime.config import UISettings
from tui.runtime.logsetup import log_path, setup_logging
from tui.runtime.runner import Runner
from tui.runtime.session import SessionConfig
from tui.terminal import TERMINAL_GONE_EXIT_S, alert_sequence, locale_is_utf8
from tui.widgets.aggregate_view import AggregateView
from tui.widgets.candle_table import CandleTable
from tui.widgets.confirm_screen import ConfirmScreen
from tui.widgets.connection_badge import ConnectionBadge
from tui.widgets.depth_book import DepthBook
from tui.widgets.formatting import utc_hms
from tui.widgets.header_bar import HeaderBar
from tui.widgets.help_screen import HelpScreen
from tui.widgets.latency_panel import VenueLatency
from tui.widgets.line_log import LineLog
from tui.widgets.symbol_picker import SymbolPicker

SIZES = [(80, 24), (160, 48)]
EVIL = "[red]EVIL\x1b[2J"


async def wait_for(pilot, predicate, timeout: float = 10.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}\n{screen_text(pilot.app)}")
        await pilot.pause(0.05)


async def type_text(pilot, text: str) -> None:
    """Type ``text`` into the focused Input: the key events pilot.press sends, each one waited for by its
    effect (the character in the field) rather than by pilot.press's wait for an idle process (CALM_SIM)."""
    app = pilot.app
    await wait_for(pilot, lambda: isinstance(app.focused, Input), what="a focused input")
    field = app.focused
    for ch in text:
        expected = field.value + ch
        app.post_message(events.Key(ch if ch.isalnum() else _character_to_key(ch), ch))
        await wait_for(pilot, lambda expected=expected: field.value == expected, what=f"{expected!r} typed")


def screen_text(app) -> str:
    """The active screen as plain text, one line per terminal row."""
    return "\n".join(strip.text for strip in app.screen._compositor.render_strips())


# Pilot.press waits, twice per key, until the process is idle (textual._wait.wait_for_idle: up to 1 s),
# which a demo at the simulator's full rate never is: 2 s a key. Tests that type use a calmer simulator
# (same symbols, bars and protocol; fewer trades, fewer ticks): typing BNBUSDT went from 15 s to 1.3 s.
CALM_SIM = {"trades_per_second": 3.0, "tick_hz": 10.0}


def demo_app(**kwargs) -> ClearTermApp:
    return ClearTermApp(Runner(SessionConfig(mode="demo", interval="1s")), **kwargs)


def calm_demo_app(**kwargs) -> ClearTermApp:
    """The demo with a calm simulator, for tests that press many keys (see CALM_SIM)."""
    return ClearTermApp(Runner(SessionConfig(mode="demo", interval="1s"), sim_options=CALM_SIM), **kwargs)


def quiet_app(**kwargs) -> ClearTermApp:
    """A live app with no venues: nothing connects, tests put events into its pipeline by hand."""
    return ClearTermApp(Runner(SessionConfig(mode="live", venues=[], interval="1s")), **kwargs)


def table(app, symbol: str) -> CandleTable:
    return next(t for t in app.query(CandleTable) if t.symbol == symbol)


def subscribed(app) -> bool:
    return app.query_one(ConnectionBadge).state == "subscribed" and "BINANCE subscribed" in screen_text(app)


def latency_figures(app, venue: str) -> tuple[float, float] | None:
    """The (p50, p99) the latency panel shows for ``venue``; None while it shows none."""
    row = next(r for r in app.query(VenueLatency) if r.venue == venue)
    label = str(row.query_one(".latency-label", Static).content)
    m = re.fullmatch(r"\S+ (\d+(?:\.\d+)?)/(\d+(?:\.\d+)?)ms", label)
    return (float(m[1]), float(m[2])) if m else None


def notices(app) -> list[str]:
    return [str(n.message) for n in app._notifications]


@pytest.mark.parametrize("size", SIZES)
async def test_demo_shows_symbols_connection_and_candles(size):
    app = demo_app()
    async with app.run_test(size=size) as pilot:
        await wait_for(pilot, lambda: subscribed(app), what="the BINANCE badge to say subscribed")
        text = screen_text(app)
        for number, unified in ((1, "BTC/USD"), (2, "ETH/USD"), (3, "SOL/USD")):
            assert f"{number} {unified}" in text  # the symbol summary
        assert "BTCUSDT · BINANCE" in text
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
        await wait_for(pilot, lambda: "≈" in screen_text(app), what="a USDT price marked approximate")
        await wait_for(pilot, lambda: latency_figures(app, "BINANCE") is not None, what="BINANCE latency p50/p99")
        p50, p99 = latency_figures(app, "BINANCE")
        samples = app.session.pipeline.telemetry["BINANCE"].latency
        # loopback: a few ms, never below 0, and no figure above the run's worst delay
        assert 0.0 <= p50 <= p99 <= samples.max + 0.5 and p99 < 1000.0, (p50, p99, samples.summary())


@pytest.mark.parametrize("size", SIZES)
async def test_keys_views_halt_resume_help_quit(size):
    app = calm_demo_app()
    runner = app.runner
    async with app.run_test(size=size) as pilot:
        await wait_for(pilot, lambda: subscribed(app), what="subscribed")

        await press(pilot, "2")
        await wait_for(pilot, lambda: "ETHUSDT · BINANCE" not in screen_text(app), what="ETHUSDT hidden")
        assert "ETHUSDT" in app.session.hidden
        assert not table(app, "ETHUSDT").display
        await press(pilot, "2")
        await wait_for(pilot, lambda: "ETHUSDT · BINANCE" in screen_text(app), what="ETHUSDT shown again")

        await press(pilot, "a")
        await wait_for(pilot, lambda: "Cross-venue" in screen_text(app) and "BTC/USD  bid" in screen_text(app),
                       what="the aggregate view")
        assert app.query_one(AggregateView).display and not app.query_one("#main").display
        await press(pilot, "d")
        await wait_for(pilot, lambda: "BTCUSDT≈ · BINANCE" in screen_text(app) and " synced " in screen_text(app),
                       what="the depth view with a synced book")
        book = next(b for b in app.query(DepthBook) if b.symbol == "BTCUSDT")

        def ladder_row() -> str:
            lines = book.text_lines()
            return lines[2] if len(lines) > 2 else ""

        # the book's levels are drawn at the view's next refresh after " synced " shows
        await wait_for(pilot, lambda: "│" in ladder_row() and "█" in ladder_row(), what="bid │ ask with size bars")
        await press(pilot, "e")
        conn = app.session.connections["BINANCE#1"]
        change = conn.history[-1]  # the row of the connection's latest state, with its time and reason
        row = f"{utc_hms(change.at_ns, millis=True)} {conn.name.ljust(11)}{change.state}"
        await wait_for(pilot, lambda: "Feed health" in screen_text(app) and row in screen_text(app),
                       what=f"the errors view with the row {row!r}")
        await press(pilot, "m")
        await wait_for(pilot, lambda: "BTCUSDT · BINANCE" in screen_text(app), what="the main view again")

        header = app.query_one(HeaderBar)
        await press(pilot, "h")
        await wait_for(pilot, lambda: "TRADING HALTED" in screen_text(app), what="the HALTED banner")
        assert app.session.halt.history[-1].by == "operator"
        assert header.has_class("-halted")
        assert app.alerts_sent == []  # an operator halt rings nothing

        await press(pilot, "u")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen)
                       and "Resume trading? y/n" in screen_text(app), what="the resume question")
        assert app.session.halt.halted  # nothing happens before the answer
        await press(pilot, "y")
        await wait_for(pilot, lambda: not app.session.halt.halted, what="trading resumed")
        await wait_for(pilot, lambda: "TRADING HALTED" not in screen_text(app), what="the banner gone")

        await press(pilot, "question_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen), what="the help screen")
        rows = {description: keys for keys, description, *_ in app.screen.rows}
        assert rows["Halt trading"] == "h" and rows["Resume trading (asks to confirm)"] == "u"
        assert rows["Show/hide symbol 2: ETHUSDT"] == "2"
        assert rows["Depth view: order books"] == "d"
        assert rows["Pause the replay (in a replay)"] == "space"
        assert "Keys" in screen_text(app) and "Halt trading" in screen_text(app)
        await press(pilot, "escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, HelpScreen), what="help closed")

        await press(pilot, "q")
        await wait_for(pilot, lambda: not app.is_running, what="the app to quit")
    assert runner.sim is None  # runner.stop() ran and stopped the simulator
    assert all(c.state == "disconnected" for c in runner.session.connections.values())


async def test_theme_from_settings_and_the_theme_key():
    app = quiet_app(settings=UISettings(theme="ansi-light"))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: app.theme == "ansi-light", what="the configured theme")
        await press(pilot, "t")
        await wait_for(pilot, lambda: app.theme == "textual-dark", what="the next theme (wraps around)")
        await press(pilot, "t")
        await wait_for(pilot, lambda: app.theme == "textual-light", what="textual-light")


async def test_keys_are_remapped_from_settings():
    app = quiet_app(settings=UISettings(keys={"halt": "x", "view_depth": "f5,D", "nonsense": "z"}))
    async with app.run_test(size=(80, 24)) as pilot:
        await press(pilot, "h")
        await pilot.pause()
        assert not app.session.halt.halted  # h no longer halts
        await press(pilot, "x")
        await wait_for(pilot, lambda: app.session.halt.halted, what="x halts")
        await press(pilot, "f5")
        await wait_for(pilot, lambda: app.view == "depth", what="f5 shows the depth view")
        rows = {description: keys for keys, description, *_ in app.help_rows()}
        assert rows["Resume trading (the halt key toggles; asks to confirm)"] == "x"  # halted: x now resumes
        assert rows["Depth view: order books"] == "f5, D"
        assert any("nonsense" in n for n in notices(app))  # an unknown binding id is reported


async def test_command_palette_finds_actions_and_symbols():
    app = calm_demo_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await wait_for(pilot, lambda: subscribed(app), what="subscribed")
        await press(pilot, "ctrl+p")
        await wait_for(pilot, lambda: "Search for commands" in screen_text(app), what="the palette")
        await press(pilot, *"errors", "enter")  # pilot.press: its idle wait lets the palette's search finish
        await wait_for(pilot, lambda: app.view == "errors", what="the errors view chosen in the palette")
        app.session.toggle_symbol("SOLUSDT")  # hidden: choosing it must show it again
        await press(pilot, "ctrl+p")
        await wait_for(pilot, lambda: "Search for commands" in screen_text(app), what="the palette again")
        await press(pilot, *"SOL/USD")
        await wait_for(pilot, lambda: "Symbol SOL/USD" in screen_text(app), what="the unified symbol in the palette")
        await press(pilot, "enter")
        await wait_for(pilot, lambda: app.view == "main" and isinstance(app.focused, CandleTable)
                       and app.focused.group == "SOLUSDT", what="SOLUSDT shown and its table focused")
        assert "SOLUSDT" not in app.session.hidden


async def test_symbol_picker_adds_and_removes_symbols():
    app = calm_demo_app()
    async with app.run_test(size=(160, 48), notifications=True) as pilot:
        await wait_for(pilot, lambda: subscribed(app), what="subscribed")
        await press(pilot, "s")
        await wait_for(pilot, lambda: isinstance(app.screen, SymbolPicker), what="the symbol picker")
        await type_text(pilot, "BNBUSDT")
        await press(pilot, "enter")
        await wait_for(pilot, lambda: "BNBUSDT" in app.session.config.symbols, what="BNBUSDT added")
        await wait_for(pilot, lambda: "BNBUSDT · BINANCE" in screen_text(app), what="its table")
        await press(pilot, "s")
        await wait_for(pilot, lambda: isinstance(app.screen, SymbolPicker), what="the picker again")
        await type_text(pilot, "-ETHUSDT")
        await press(pilot, "enter")
        await wait_for(pilot, lambda: "ETHUSDT · BINANCE" not in screen_text(app), what="ETHUSDT removed")
        await press(pilot, "s")
        await wait_for(pilot, lambda: isinstance(app.screen, SymbolPicker), what="the picker once more")
        await type_text(pilot, "-NOSUCH")
        await press(pilot, "enter")
        await wait_for(pilot, lambda: any("NOSUCH" in n for n in notices(app)), what="the error shown")


async def test_a_stalled_feed_halts_rings_and_notifies_an_operator_halt_does_not():
    """The simulator stops sending: the watchdog halts trading by itself, and the terminal gets one OSC 9
    notification naming the cause plus a bell; the operator's own halt before it rang nothing."""
    threshold = 1.5
    app = ClearTermApp(Runner(SessionConfig(mode="demo", interval="1s", stale_after_s=threshold)),
                       settings=UISettings(notify="both"))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: subscribed(app), what="subscribed")
        halt = app.session.halt
        await press(pilot, "h")
        await wait_for(pilot, lambda: "TRADING HALTED" in screen_text(app), what="the operator halt")
        await press(pilot, "u")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="the resume question")
        await press(pilot, "y")
        await wait_for(pilot, lambda: not halt.halted, what="trading resumed")
        assert app.alerts_sent == []
        app.runner.sim.stall(None, threshold + 3.0)
        await wait_for(pilot, lambda: app.alerts_sent, timeout=threshold + 8.0, what="the automatic halt's alert")
        record = halt.history[-1]
        assert (record.by, halt.halted) == ("auto", True) and record.cause.startswith("stale feed BINANCE ")
        assert app.alerts_sent == [f"\x1b]9;clearterm: HALTED — {record.cause}\x07\x07"]
        assert any("HALTED" in n for n in notices(app))
        await press(pilot, "q")
        await wait_for(pilot, lambda: not app.is_running, what="the app to quit")


class LogHost(App):
    """Just one log on a screen: the widget as the app uses it, fed by hand."""

    def compose(self):
        yield LineLog(id="log")


async def test_log_follows_the_tail_unless_scrolled_up():
    app = LogHost()
    async with app.run_test(size=(40, 10)) as pilot:
        log = app.query_one(LineLog)
        log.set_lines([Text(f"line {i}") for i in range(100)])
        await pilot.pause()
        assert log.scroll_offset.y == log.max_scroll_y > 0  # at the newest line
        log.set_lines([Text(f"line {i}") for i in range(101)])
        await pilot.pause()
        assert log.scroll_offset.y == log.max_scroll_y  # followed
        log.scroll_to(y=10, animate=False)
        await pilot.pause()
        log.set_lines([Text(f"line {i}") for i in range(102)])
        await pilot.pause()
        assert log.scroll_offset.y == 10  # the reader scrolled up: the view stays where it is
        assert "line 10" in log.render_line(0).text
        log.scroll_end(animate=False)
        await pilot.pause()
        log.set_lines([Text(f"line {i}") for i in range(103)])
        await pilot.pause()
        assert log.scroll_offset.y == log.max_scroll_y and "line 102" in screen_text(app)


def test_alert_sequences():
    assert alert_sequence("bell", "x") == "\x07"
    assert alert_sequence("none", "x") == ""
    assert alert_sequence("osc9", "stale\x07feed") == "\x1b]9;clearterm: HALTED — stalefeed\x07"
    assert alert_sequence("both", "c").count("\x07") == 2


def test_locale_check():
    assert locale_is_utf8({"LANG": "en_US.UTF-8"}) == (True, "en_US.UTF-8")
    assert locale_is_utf8({"LANG": "C.utf8"})[0]
    assert locale_is_utf8({"LC_ALL": "C", "LANG": "en_US.UTF-8"}) == (False, "C")  # LC_ALL wins
    assert locale_is_utf8({"LC_CTYPE": "POSIX"}) == (False, "POSIX")
    assert locale_is_utf8({}) == (False, "")


async def test_non_utf8_locale_is_warned_about(monkeypatch):
    monkeypatch.setenv("LANG", "C")
    monkeypatch.delenv("LC_ALL", raising=False)
    monkeypatch.delenv("LC_CTYPE", raising=False)
    app = quiet_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: any("not UTF-8" in n for n in notices(app)), what="the locale warning")


@pytest.mark.skipif(not hasattr(signal, "SIGHUP"), reason="no SIGHUP on this platform")
async def test_sighup_exits_within_the_hangup_deadline():
    app = demo_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: subscribed(app), what="subscribed")
        assert app.terminal_watch.signal_installed  # else the signal below would kill the test process
        sent = time.monotonic()
        os.kill(os.getpid(), signal.SIGHUP)
        # in a real terminal the watch forces the exit at TERMINAL_GONE_EXIT_S; here (in the test
        # process) nothing forces it, so the app must have stopped by itself in that time
        await wait_for(pilot, lambda: not app.is_running, timeout=TERMINAL_GONE_EXIT_S + 1.0,
                       what="the app to exit")
        assert time.monotonic() - sent < TERMINAL_GONE_EXIT_S
    assert app.runner.sim is None


def test_logging_goes_to_the_state_file_not_the_terminal(tmp_path, capfd):
    path = setup_logging()
    assert path == log_path() == tmp_path / "xdg_state_home" / "clearterm" / "clearterm.log"
    stray = logging.StreamHandler(sys.stderr)
    logging.getLogger().addHandler(stray)
    setup_logging()  # again: replaces its own file handler and drops handlers that print
    assert stray not in logging.getLogger().handlers
    logging.getLogger("clearterm.test").warning("a warning for the log file")
    for handler in logging.getLogger().handlers:
        handler.flush()
    assert "a warning for the log file" in path.read_text()
    assert "a warning for the log file" not in capfd.readouterr().err


@pytest.mark.parametrize("size", SIZES)
async def test_untrusted_symbol_is_shown_literally(size):
    app = quiet_app()
    async with app.run_test(size=size) as pilot:
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
        await press(pilot, "h")
        await wait_for(pilot, lambda: app.session.halt.halted, what="halt still works")
        assert app.is_running


async def test_unchanged_data_redraws_nothing():
    app = quiet_app()
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


async def test_the_halt_key_toggles_and_asks_before_resuming():
    app = quiet_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await press(pilot, "h")
        await wait_for(pilot, lambda: app.session.halt.halted, what="h halts")
        await press(pilot, "h")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen)
                       and "Resume trading? y/n" in screen_text(app), what="h asks the resume question")
        await press(pilot, "n")
        await wait_for(pilot, lambda: not isinstance(app.screen, ConfirmScreen), what="the question answered")
        assert app.session.halt.halted  # no: still halted
        await press(pilot, "h", "y")
        await wait_for(pilot, lambda: not app.session.halt.halted, what="h then y resumes")
        assert [r.action for r in app.session.halt.history] == ["halt", "resume"]
        rows = {description: keys for keys, description, *_ in app.help_rows()}
        assert rows["Halt trading"] == "h"


def _luminance(color) -> float:
    def channel(c: int) -> float:
        c = c / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4
    r, g, b = color
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)


def contrast(fg, bg) -> float:
    hi, lo = sorted((_luminance(fg), _luminance(bg)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


@pytest.mark.parametrize("view", ["main", "aggregate", "depth", "errors"])
async def test_light_theme_text_is_readable(view):
    from tui.screenshots import SHOTS, replay_app, settle

    app = replay_app(settings=UISettings(theme="textual-light"))
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        for key in SHOTS[view]:
            await press(pilot, key)
        app.refresh_view(slow=True)
        await pilot.pause()
        faint = set()
        for strip in app.screen._compositor.render_strips():
            for seg in strip:
                style = seg.style
                if not any(ch.isalnum() for ch in seg.text) or style is None or style.color is None:
                    continue
                if style.color.triplet is None or style.bgcolor is None or style.bgcolor.triplet is None:
                    continue
                # white on the light grey was 1.3; the weakest pair left is green on the forming row's
                # blue (2.3), readable though below WCAG's 3 for large text
                if contrast(style.color.triplet, style.bgcolor.triplet) < 2.0:
                    faint.add((seg.text.strip(), style.color.triplet.hex, style.bgcolor.triplet.hex))
        assert not faint, sorted(faint)[:10]


@pytest.mark.parametrize("size", SIZES)
async def test_signal_log_has_headers_plain_sizes_and_whole_reasons(size):
    from tui.screenshots import replay_app, settle
    from tui.widgets.signal_panel import SignalPanel, size_text

    assert [size_text(x) for x in (10960.0, 1.6436, 34.0298, 0.00085361, 0.0)] == [
        "10960", "1.644", "34.03", "0.0008536", "0"]  # no 1.096e+04
    app = replay_app()
    async with app.run_test(size=size) as pilot:
        await settle(pilot)
        app.refresh_view(slow=True)
        await pilot.pause()
        panel = app.query_one(SignalPanel)
        shown = [strip.text for strip in app.screen._compositor.render_strips()]
        top = panel.content_region.y
        assert shown[top].startswith("time     symbol   venue    status") and "size" in shown[top]
        panel.scroll_home(animate=False, immediate=True)  # the header stays while the lines scroll
        await pilot.pause()
        shown = [strip.text for strip in app.screen._compositor.render_strips()]
        assert shown[top].startswith("time     symbol")
        text = " ".join(" ".join(line.plain.split()) for line in panel.lines)
        for decision in app.session.signal_log.entries:
            assert " ".join(decision.reason.split()) in text  # every reason readable whole
        assert "e+" not in text and "e-" not in text


async def test_signal_hint_says_what_is_missing_when_bars_are_enough():
    app = quiet_app()
    async with app.run_test(size=(120, 36)) as pilot:
        now = time.time_ns()
        start = now - now % 1_000_000_000 - 60 * 1_000_000_000
        bars = [Candle("BINANCE", "BTCUSDT", "BTC/USD", now, now, "1s", start + i * 1_000_000_000,
                       100.0 + i, 100.5 + i, 99.5 + i, 100.0 + i, 1.0, 2, True) for i in range(47)]
        app.session.pipeline.apply_all(bars)  # 47 closed bars rising steadily: warm, and never a cross
        await wait_for(pilot, lambda: "47 bars" in screen_text(app), what="the table with 47 bars")
        await wait_for(pilot, lambda: "indicators warm on every series" in screen_text(app),
                       what="the hint for a warm strategy")
        assert "needs 21+" not in screen_text(app)
        assert app.session.signal_log.counts["total"] == 0


async def test_symbol_picker_knows_one_symbol_by_every_name_and_keeps_digit_keys():
    app = calm_demo_app()
    async with app.run_test(size=(160, 48), notifications=True) as pilot:
        await wait_for(pilot, lambda: subscribed(app), what="subscribed")

        async def pick(text: str) -> None:
            await press(pilot, "s")
            await wait_for(pilot, lambda: isinstance(app.screen, SymbolPicker), what="the symbol picker")
            await type_text(pilot, text)
            await press(pilot, "enter")

        await pick("BNBUSDT")
        await wait_for(pilot, lambda: "BNBUSDT" in app.session.config.symbols, what="BNBUSDT added")
        await wait_for(pilot, lambda: "4 BNB/USD" in screen_text(app), what="BNB/USD on key 4")
        await pick("bnb/usd")  # the same symbol by its unified name, in lower case
        await wait_for(pilot, lambda: any("already shown as BNBUSDT" in n for n in notices(app)),
                       what="the duplicate refused")
        assert [s for s in app.session.config.symbols if s.upper().startswith("BNB")] == ["BNBUSDT"]

        await pick("-eth/usd")  # removes ETHUSDT: lower case and the unified name are understood
        await wait_for(pilot, lambda: "ETHUSDT" not in app.session.config.symbols, what="ETHUSDT removed")
        await wait_for(pilot, lambda: "2 ETH/USD" not in screen_text(app), what="ETH/USD gone from the list")
        text = screen_text(app)
        assert "3 SOL/USD" in text and "4 BNB/USD" in text  # the others keep their keys
        await press(pilot, "3")
        await wait_for(pilot, lambda: "SOLUSDT" in app.session.hidden, what="key 3 still toggles SOLUSDT")
        rows = {description: keys for keys, description, *_ in app.help_rows()}
        assert rows["Show/hide symbol 4: BNBUSDT"] == "4"
        await pick("-BNB/USD")
        await wait_for(pilot, lambda: "BNBUSDT" not in app.session.config.symbols, what="BNBUSDT removed by alias")


async def test_palette_offers_replay_actions_only_in_a_replay():
    app = quiet_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await press(pilot, "ctrl+p")
        await wait_for(pilot, lambda: "Search for commands" in screen_text(app), what="the palette")
        await press(pilot, *"replay")
        await wait_for(pilot, lambda: "Replay this session so far" in screen_text(app), what="the DVR command")
        text = screen_text(app)
        for replay_only in ("Pause the replay", "Seek back one minute", "Replay faster", "Leave the replay"):
            assert replay_only not in text
    from tui.screenshots import replay_app, settle

    app = replay_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await press(pilot, "ctrl+p")
        await wait_for(pilot, lambda: "Search for commands" in screen_text(app), what="the palette in a replay")
        await press(pilot, *"seek back")
        await wait_for(pilot, lambda: "Seek back one minute" in screen_text(app), what="a replay command")


async def test_help_explains_marks_and_how_to_reach_the_tables_that_do_not_fit():
    from tui.screenshots import replay_app, settle

    app = replay_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        rows = {keys: description for keys, description, *_ in app.help_rows()}
        assert "USDT" in rows["≈"] and "forming" in rows["›"]
        assert "Stale" in rows["badge red"] and "PgDn" in rows["tab, shift+tab"]
        box = app.query_one("#tables")
        assert box.max_scroll_y > 0  # six tables at 80x24: the grid scrolls
        for _ in range(12):  # what the help says: tab to a table ...
            if isinstance(app.focused, CandleTable):
                break
            await press(pilot, "tab")
        assert isinstance(app.focused, CandleTable)
        await press(pilot, "pagedown")  # ... then PgDn scrolls the grid
        await wait_for(pilot, lambda: box.scroll_y > 0, what="the table grid scrolled")


async def test_tables_out_of_sight_are_not_redrawn_and_catch_up_when_scrolled_to():
    """The refresh timer leaves tables scrolled out of sight alone; scrolled to, they show the latest bar."""
    app = quiet_app()
    names = ("BTCUSDT", "ETHUSDT", "SOLUSDT", "BNBUSDT", "XRPUSDT", "ADAUSDT", "DOGEUSDT", "LTCUSDT")
    now = time.time_ns()
    open_ns = now - now % 1_000_000_000

    def bars(close: float) -> list[Candle]:
        return [Candle("BINANCE", s, s[:-4] + "/USD", now, now, "1s", open_ns, 10.0, 99.0, 9.0, close, 0.1, 1, False)
                for s in names]

    async with app.run_test(size=(80, 24)) as pilot:
        app.session.pipeline.apply_all(bars(10.5))
        box = app.query_one("#tables")
        await wait_for(pilot, lambda: len(app.query(CandleTable)) == len(names) and box.max_scroll_y > 0
                       and "10.500" in screen_text(app), what="eight tables, the grid scrolling")
        on_screen = app.screen._compositor.visible_widgets
        hidden = [t for t in app.query(CandleTable) if t not in on_screen]
        shown = [t for t in app.query(CandleTable) if t in on_screen]
        assert hidden and shown
        app.session.pipeline.apply_all(bars(12.25))
        await wait_for(pilot, lambda: "12.250" in "".join(shown[0].text_lines()), what="a visible table updated")
        app.refresh_view()
        app.refresh_view()
        far = hidden[-1]
        assert far._seen != far._versions()  # never rebuilt while out of sight

        def far_on_screen() -> str:
            region = far.region
            rows = screen_text(app).splitlines()[region.y:region.bottom]
            return "\n".join(row[region.x:region.right] for row in rows)

        box.scroll_to_widget(far, animate=False)
        await wait_for(pilot, lambda: far in app.screen._compositor.visible_widgets, what="the far table in view")
        await pilot.pause()
        text = far_on_screen()
        assert far.symbol in text and "12.250" in text and "10.500" not in text, text


async def test_tables_beneath_a_dialog_keep_updating():
    """The resume question is asked over the main view: the prices beneath it keep moving meanwhile."""
    app = quiet_app()
    now = time.time_ns()
    open_ns = now - now % 1_000_000_000

    def bar(close: float) -> Candle:
        return Candle("BINANCE", "BTCUSDT", "BTC/USD", now, now, "1s", open_ns, 10.0, 99.0, 9.0, close, 0.1, 1, False)

    async with app.run_test(size=(100, 30)) as pilot:
        app.session.pipeline.apply_all([bar(10.5)])
        await wait_for(pilot, lambda: "10.500" in screen_text(app), what="the BTCUSDT table")
        await press(pilot, "h", "u")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="the resume question")
        app.session.pipeline.apply_all([bar(12.25)])
        app.refresh_view()
        t = table(app, "BTCUSDT")
        assert t._seen == t._versions()  # synced by the timer, not left for later


async def test_the_refresh_timer_syncs_the_tables_in_turns_and_none_is_left_behind():
    """One timer tick syncs one table in TABLE_TURNS (so no single loop turn repaints every table), the next
    ticks the others: every table in sight shows the new bar within TABLE_TURNS ticks."""
    from tui.app import TABLE_TURNS
    app = quiet_app()
    names = ("BTCUSDT", "ETHUSDT", "SOLUSDT", "BNBUSDT")
    now = time.time_ns()
    open_ns = now - now % 1_000_000_000

    def bars(close: float) -> list[Candle]:
        return [Candle("BINANCE", s, s[:-4] + "/USD", now, now, "1s", open_ns, 10.0, 99.0, 9.0, close, 0.1, 1, False)
                for s in names]

    async with app.run_test(size=(160, 48)) as pilot:
        app.session.pipeline.apply_all(bars(10.5))
        await wait_for(pilot, lambda: len(app.query(CandleTable)) == len(names)
                       and all("10.500" in "".join(t.text_lines()) for t in app.query(CandleTable)),
                       what="four tables in sight")
        for timer in list(app._timers):
            if timer.name == "refresh-view":
                timer.pause()  # the test ticks it
        app._slow_at = asyncio.get_running_loop().time()  # not the once-a-second tick (it leaves the tables)
        app.session.pipeline.apply_all(bars(12.25))
        tables = list(app.query(CandleTable))
        synced: list[int] = []
        for _ in range(TABLE_TURNS):
            app._refresh_tick()
            synced.append(sum(t._seen == t._versions() for t in tables))
        assert synced == [len(tables) * (i + 1) // TABLE_TURNS for i in range(TABLE_TURNS)]
        await pilot.pause()
        assert all("12.250" in "".join(t.text_lines()) for t in tables)


async def test_symbol_rows_out_of_sight_are_not_rebuilt_and_catch_up_in_sight():
    """The symbol list is shorter than its 20 rows: a refresh builds the rows in sight (prices looked up, compared,
    redrawn) and keeps the others as they were; scrolled into sight, a row shows the latest price at once, not
    at the next refresh."""
    from tui.widgets.symbol_list import SymbolList
    app = quiet_app()
    names = tuple(f"S{i:02d}USDT" for i in range(20))
    now = time.time_ns()

    def trades(price: float, t: int) -> list[Trade]:
        return [Trade("BINANCE", s, s[:-4] + "/USD", t, t, price, 1.0, "buy", t % 10**9) for s in names]

    async with app.run_test(size=(160, 48)) as pilot:
        app.session.pipeline.apply_all(trades(10.5, now))
        symbol_list = app.query_one(SymbolList)
        await wait_for(pilot, lambda: len(symbol_list._rows) == len(names)
                       and "10.50" in "".join(symbol_list.text_lines()[:1]), what="twenty rows, the first with its price")
        in_sight = symbol_list.rows_in_sight()
        assert 0 < len(in_sight) < len(names)
        before = list(symbol_list._rows)
        app.session.pipeline.apply_all(trades(12.25, now + 1_000_000))
        await wait_for(pilot, lambda: all("12.25" in line for line in symbol_list.text_lines()),
                       what="the rows in sight with the new price")
        rows = symbol_list._rows
        # rows that came into sight meanwhile (the layout settling the list's height) are built at once, by design
        seen = set(in_sight) | set(symbol_list.rows_in_sight())
        assert all(rows[i] is before[i] for i in range(len(names)) if i not in seen)  # never rebuilt
        assert all(rows[i] is not before[i] for i in in_sight)
        for timer in list(app._timers):
            if timer.name == "refresh-view":
                timer.pause()  # no refresh from here on: what comes into sight is built by the scroll itself
        symbol_list.scroll_end(animate=False)
        await wait_for(pilot, lambda: symbol_list.rows_in_sight()[-1] == len(names) - 1, what="the last rows in sight")
        await pilot.pause()
        lines = symbol_list.text_lines()
        assert len(lines) == len(in_sight) and all("12.25" in line for line in lines), lines


@pytest.mark.parametrize("size,classes", [((80, 24), {"-narrow", "-short"}), ((160, 48), {"-wide", "-tall"})])
async def test_the_screen_is_born_with_its_size_classes(size, classes):
    """The screen-size classes are the screen's from its creation: set by the first resize, after the compose,
    they restyled every widget once more before the first frame (only the screen's resume restyles it now)."""
    app = demo_app()
    restyled = []
    update_styles = app.update_styles

    def counting(node, animate=True):
        restyled.append(node)
        update_styles(node, animate)

    app.update_styles = counting
    async with app.run_test(size=size) as pilot:
        await wait_for(pilot, lambda: app._mounted, what="the app mounted")
        await pilot.pause()
        assert set(app.screen.classes) >= classes
        assert sum(isinstance(node, Screen) for node in restyled) == 1
