"""The clearterm Textual app: live, demo and replay sessions on one screen with five views.

Views (keys ``m`` ``a`` ``d`` ``e`` ``p``): main (symbol summary, latency, candle tables, signal log),
aggregate (venues side by side per symbol, arbitrage and spike log), depth (order books), errors
(rejected frames, feed health, halt history) and P&L (paper positions, equity curve, fills). A header
(mode, session clock in UTC, HALTED banner) and, while a replay is shown, a replay bar stay on top.

The app never hears about single messages. One timer (``refresh_hz``, 10 by default) reads the session's
plain state objects and copies what changed into the widgets of the visible view inside
``batch_update()``; rates, latency sparklines and the terminal check run once a second. Everything on
screen comes from session state and the session's clock, so a replay draws exactly the same screen.

Replay (``clearterm replay``, or ``r`` in a live session: the DVR): space pauses, ``+``/``-`` change the
speed, ``.`` steps one record, left/right seek one minute (shift: ten), ``g`` goes to a time, ``r`` goes
back to live from the DVR. The replay and DVR controls are in tui/replay_controls.py.
"""
from __future__ import annotations

import asyncio
import gc
import logging
from collections import Counter
from functools import partial

from textual import work
from textual.actions import parse as parse_action
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Container, Horizontal, Vertical
from textual.screen import ModalScreen, Screen
from textual.widgets import ContentSwitcher, Footer, Static
from textual.worker import Worker, WorkerState

from feeds.core.perp import perp_figures
from feeds.venues import VENUES
from tui.commands import LEGEND, action_commands
from tui.layout import (
    TABLE_MIN_HEIGHT,
    assign_digits,
    depth_columns,
    table_grid,
    table_plan,
)
from tui.replay_controls import REPLAY_ACTIONS, ReplayControls, is_replay
from tui.runtime.config import THEMES, UISettings
from tui.runtime.logsetup import setup_logging
from tui.terminal import (
    TerminalWatch,
    alert_sequence,
    locale_is_utf8,
    terminal_driver_class,
)
from tui.widgets.aggregate_view import AggregateView
from tui.widgets.candle_chart import CandleChart, chart_input
from tui.widgets.candle_table import CandleTable
from tui.widgets.connection_badge import ConnectionBadge, bus_badge_state, bus_summary
from tui.widgets.depth_book import DepthBook
from tui.widgets.depth_chart import DepthChart
from tui.widgets.futures_panel import FuturesPanel
from tui.widgets.halt_history import HaltHistory
from tui.widgets.header_bar import HeaderBar
from tui.widgets.health_log import HealthLog
from tui.widgets.latency_panel import LatencyPanel, percentiles
from tui.widgets.line_log import LineLog
from tui.widgets.liquidation_log import LiquidationLog
from tui.widgets.market_log import MarketLog
from tui.widgets.pnl_view import PnlView
from tui.widgets.rejection_log import RejectionLog
from tui.widgets.replay_bar import ReplayBar
from tui.widgets.safe_text import clean, plain
from tui.widgets.signal_panel import SignalPanel
from tui.widgets.symbol_commands import SymbolCommands
from tui.widgets.symbol_list import SymbolList

log = logging.getLogger("clearterm.app")

SLOW_PERIOD_S = 1.0  # rates, latency sparklines
# The candle tables take turns: on each timer tick one table in TABLE_TURNS is synced (each at 5 Hz with the
# default 10 Hz refresh), so one tick never repaints every table: smaller loop turns, frames wait less behind
# them. A forming bar's digits changing 5 times a second are as many as an eye reads; the prices of the
# symbol list and the header's clock keep the full rate.
TABLE_TURNS = 2
STOP_TIMEOUT_S = 5.0
HANGUP_STOP_TIMEOUT_S = 0.8  # the terminal is gone: stop within TerminalWatch's deadline
DEPTH_HEIGHT = 12
VIEWS = ("main", "aggregate", "depth", "errors", "pnl", "chart")


def signal_hint(session, plan: list[tuple[str, str, str]]) -> str:
    """Why the signal log is empty. Closed bars are not enough: a signal needs the fast EMA to cross the
    slow one after both are warm (and RSI in range), so a table can show 47 bars and still no signal."""
    strategy = session.strategy
    p = strategy.params
    interval = session.config.interval
    warm = 0
    for venue, symbol, _ in plan:
        values = strategy.values(venue, symbol, interval)
        warm += values is not None and values.get("slow_ema") is not None
    rule = (f"a signal comes when EMA{p.fast_ema} crosses EMA{p.slow_ema} with RSI < {p.rsi_long_max:g} (long) "
            f"or > {p.rsi_short_min:g} (short)")
    if plan and warm == len(plan):
        return f"no signals yet: indicators warm on every series; {rule}"
    return (f"no signals yet: {warm} of {len(plan)} series warm (EMA{p.slow_ema} needs {p.slow_ema} closed bars "
            f"the strategy saw); {rule}")


def fitted_summary(messages: int, rejected: int, gaps: int, duplicates: int, width: int) -> str:
    """The pipeline's counters in the longest wording that fits ``width``: shorter words before any cut."""
    variants = (f"msgs {messages}  rejected {rejected}  gaps {gaps}  dup {duplicates}",
                f"msgs {messages} rej {rejected} gaps {gaps} dup {duplicates}",
                f"rej {rejected} gaps {gaps} dup {duplicates}")
    return next((v for v in variants if len(v) <= width), variants[-1])


def breakpoint_classes(width: int, height: int) -> list[str]:
    """The screen's size classes for a terminal of ``width`` x ``height``, as Textual's resize sets them."""
    out = []
    for size, points in ((width, ClearTermApp.HORIZONTAL_BREAKPOINTS), (height, ClearTermApp.VERTICAL_BREAKPOINTS)):
        out += [name for at, name in sorted(points, reverse=True) if size >= at][:1]
    return out


def _toggle_bindings() -> list[Binding]:
    out = [Binding("1", "toggle_symbol(1)", "Show/hide", key_display="1-9", id="toggle_symbol_1",
                   tooltip="Show/hide symbol 1", show=False)]
    out += [Binding(str(n), f"toggle_symbol({n})", f"Show/hide symbol {n}", show=False,
                    id=f"toggle_symbol_{n}") for n in range(2, 10)]
    return out


class ClearTermApp(ReplayControls, App):
    CSS_PATH = "app.tcss"
    TITLE = "clearterm"
    COMMANDS = App.COMMANDS | {SymbolCommands}
    AUTO_FOCUS = None  # nothing focused at start: every key goes to the app's bindings
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (100, "-wide")]
    VERTICAL_BREAKPOINTS = [(0, "-short"), (40, "-tall")]
    BINDINGS = [
        Binding("q", "quit", "Quit", id="quit"),
        Binding("question_mark", "help", "Help", key_display="?", tooltip="This help", id="help"),
        Binding("h", "halt", "Halt", tooltip="Halt trading", id="halt"),
        Binding("u", "resume", "Resume", tooltip="Resume trading (asks to confirm)", id="resume"),
        # h toggles: while halted it asks the same question as u (shown in the footer as u only)
        Binding("h", "resume", "Resume", tooltip="Resume trading (the halt key toggles; asks to confirm)", id="halt",
                show=False),
        Binding("m", "view('main')", "Main", tooltip="Main view: symbols, latency, candles, signals",
                id="view_main"),
        Binding("a", "view('aggregate')", "Aggr", tooltip="Aggregate view: venues side by side, arbitrage",
                id="view_aggregate"),
        Binding("d", "view('depth')", "Depth", tooltip="Depth view: order books", id="view_depth"),
        Binding("c", "chart", "Chart", tooltip="Candlestick chart of the selected symbol (again: the next one); "
                "PgUp/PgDn, </>, wheel scroll back, Home/End", id="view_chart"),
        Binding("e", "view('errors')", "Errors", tooltip="Errors view: rejected frames, feed health, halts",
                id="view_errors"),
        Binding("p", "view('pnl')", "P&L", tooltip="P&L view: paper positions, equity curve, fills", id="view_pnl"),
        Binding("r", "dvr", "DVR", tooltip="Replay this session so far (DVR); r returns to live", id="replay"),
        Binding("r", "leave_replay", "Live", tooltip="Leave the DVR: back to live", id="replay"),
        Binding("space", "pause", "Pause", tooltip="Pause the replay", id="replay_pause", priority=True),
        Binding("space", "play", "Play", tooltip="Play the replay", id="replay_pause", priority=True),
        Binding("plus,equals_sign", "faster", "Faster", key_display="+", tooltip="Replay faster",
                id="replay_faster", priority=True, show=False),
        Binding("minus", "slower", "Slower", key_display="-", tooltip="Replay slower", id="replay_slower",
                priority=True, show=False),
        Binding("full_stop", "step", "Step", key_display=".", tooltip="Apply one recorded frame (paused)",
                id="replay_step", priority=True, show=False),
        Binding("left", "seek(-60)", "-1m", tooltip="Seek back one minute", id="replay_back", priority=True,
                show=False),
        Binding("right", "seek(60)", "+1m", tooltip="Seek forward one minute", id="replay_forward",
                priority=True, show=False),
        Binding("shift+left", "seek(-600)", "-10m", tooltip="Seek back ten minutes", id="replay_back_10",
                priority=True, show=False),
        Binding("shift+right", "seek(600)", "+10m", tooltip="Seek forward ten minutes", id="replay_forward_10",
                priority=True, show=False),
        Binding("g", "goto", "Go to", tooltip="Go to a recorded time (HH:MM:SS UTC)", id="replay_goto",
                show=False),
        Binding("s", "symbols", "Symbols", tooltip="Add or remove a symbol", id="symbols", show=False),
        Binding("left_square_bracket", "interval(-1)", "Shorter", key_display="[",
                tooltip="Tables and chart: the next shorter timeframe (--intervals)", id="interval_prev", show=False),
        Binding("right_square_bracket", "interval(1)", "Longer", key_display="]",
                tooltip="Tables and chart: the next longer timeframe (--intervals)", id="interval_next", show=False),
        Binding("w", "watchlist", "Watchlist", tooltip="Next watchlist (config [watchlists]); after the last: all",
                id="watchlist", show=False),
        Binding("A", "alerts", "Alerts", tooltip="Alerts: the rules and the alerts fired; add or remove a rule",
                id="alerts", show=False),
        Binding("t", "next_theme", "Theme", tooltip="Next theme (textual-dark, textual-light, ansi-dark, "
                "ansi-light)", id="theme", show=False),
        *_toggle_bindings(),
    ]

    def __init__(self, runner, refresh_hz: float | None = None, duration: float | None = None,
                 settings: UISettings | None = None, *, log_to_file: bool = True) -> None:
        if log_to_file:
            setup_logging()
        super().__init__(driver_class=terminal_driver_class())
        self.settings = settings or UISettings()
        self.runner = runner  # a Runner (live, demo) or a ReplayRunner
        self.refresh_hz = refresh_hz or self.settings.refresh_hz
        self.duration = duration  # quit by itself after this many seconds (--duration)
        self.dvr = None  # the DVR (tui/replay_controls.py): a replay of the live session's recording, while shown
        self.start_error = ""
        self.alerts_sent: list[str] = []  # terminal sequences written on automatic halts
        self.view = "main"
        self._replay_end_ns = None
        self._session_shown = None
        self._stopped = False
        self.terminal_watch = TerminalWatch(self.hang_up, self._close_recording)
        self._gc_threshold: tuple[int, int, int] | None = None  # the collector's setting before the app's
        self._stop_timeout = STOP_TIMEOUT_S
        self._turn = 0  # the refresh timer's tick, modulo TABLE_TURNS
        self._rows_shown: dict[str, tuple] = {}  # symbol group -> its row in the symbol list, as last built
        self._shared: tuple[tuple[str, ...], set[str]] = ((), set())  # (groups, those sharing a unified name)
        self._mounted = False  # on_mount ran: the widgets exist (the runner starts before, in on_load)
        self._runner_done = False  # the runner's start returned (or failed)
        self._tables: dict[tuple[str, str], CandleTable] = {}
        self._books: dict[tuple[str, str], DepthBook] = {}
        self._plan: list[tuple[str, str, str]] = []  # (venue, venue symbol, group) in display order
        self._groups: list[str] = []  # group names in display order
        self._digits: dict[str, int] = {}  # group -> its digit key, kept while the group exists (0: none)
        self._dropped: set[tuple[str, str]] = set()  # (venue, symbol) of removed symbols
        self._configured: set[tuple[str, str]] = set()  # (venue, symbol) configured at the last look
        self._plan_key: tuple | None = None
        self._badges: dict[str, ConnectionBadge] = {}
        self._visible_shown: tuple | None = None
        self._bindings_shown: tuple | None = None
        self._alerted = 0
        self._alerts_seen: tuple[object, int] = (None, 0)  # (session, alerts fired) already announced
        self._slow_at = 0.0
        self._last_counts: dict[str, tuple[int, int]] = {}  # venue -> (session ns, messages)
        self._rates: dict[str, float | None] = {}
        self._grid: tuple | None = None
        self._depth_columns = 0
        self._tables_box: Container | None = None
        self._chart_key: tuple[str, str] | None = None  # (venue, venue symbol) the chart shows
        self._interval: str | None = None  # the timeframe tables and chart show (None: the session's base)
        self.watchlist: str | None = None  # the watchlist shown (None: every symbol)

    # -- which session is on screen (``replay``: tui/replay_controls.py) ------------------------------
    @property
    def session(self):
        """The session on screen (a replay seeking backwards replaces its session: always read it here)."""
        return (self.dvr or self.runner).session

    @property
    def live_session(self):
        """The app's own session: the one halts, resumes and symbol changes act on."""
        return self.runner.session

    # -- layout ---------------------------------------------------------------------------------------
    def get_default_screen(self) -> Screen:
        # born with the screen-size classes of the terminal's size: set by the first resize instead, after the
        # compose, they restyled every widget once more before the first frame
        size = self.size
        return Screen(id="_default", classes=" ".join(breakpoint_classes(size.width, size.height)))

    @property
    def _perps(self) -> bool:
        """Does the session watch perpetuals (a venue declared ``perpetual``)?"""
        return any(VENUES[v].perpetual for v in self.session.config.venues if v in VENUES)

    def compose(self) -> ComposeResult:
        cfg = self.session.config
        yield HeaderBar(cfg.mode, id="header")
        yield ReplayBar(id="replay-bar")
        with ContentSwitcher(initial="main", id="views"):
            with Vertical(id="main"):
                with Horizontal(id="badges"):
                    for venue in cfg.venues:
                        badge = self._badges[venue] = ConnectionBadge(venue, id=f"badge-{venue.lower()}")
                        yield badge
                    yield Static(id="summary")
                with Horizontal(id="overview"):
                    yield SymbolList(self._symbol_rows, id="symbols")
                    yield LatencyPanel(list(cfg.venues), id="latency")
                with Container(id="tables"):
                    yield Static(plain("all symbols hidden: press 1-9 to show them again"), id="tables-empty")
                yield SignalPanel(id="signals")
            with Vertical(id="aggregate"):
                yield AggregateView(id="aggregates")
                if self._perps:
                    yield FuturesPanel(id="perps")
                    yield LiquidationLog(self.settings.liquidation_highlight, id="liquidations")
                yield MarketLog(id="market-log")
            yield Container(DepthChart(id="depth-chart"), Static(plain("no order books yet"), id="depth-empty"),
                            id="depth")
            yield CandleChart(id="chart")
            with Vertical(id="errors"):
                yield RejectionLog(id="rejections")
                with Horizontal(id="errors-bottom"):
                    yield HealthLog(id="health")
                    yield HaltHistory(id="halts")
            yield PnlView(id="pnl")
        yield Footer(compact=True)

    def on_load(self) -> None:
        # before the stylesheet is applied and the screen composed: the session's connections (and the demo's
        # wait for its simulator) proceed while the first layout and paint are made
        self._start_runner()

    def on_mount(self) -> None:
        self._header = self.query_one(HeaderBar)
        self._replay_bar = self.query_one(ReplayBar)
        self._switcher = self.query_one(ContentSwitcher)
        self._tables_box = self.query_one("#tables", Container)
        self._depth_box = self.query_one("#depth", Container)
        for badge in self._badges.values():
            badge.show_state("starting")
        self._apply_settings()
        driver = self._driver
        fileno = getattr(driver, "fileno", None)
        self.terminal_watch.start(fileno if isinstance(fileno, int) and not self.is_headless else None,
                                  hard_exit=not self.is_headless)
        self._warn_about_locale()
        if is_replay(self.runner):
            self._find_replay_end()
        self._mounted = True
        if self._runner_done:
            self._settle_collector()
        if self.start_error:  # the start failed before the screen was there to say so
            self.notify(clean(self.start_error), severity="error", timeout=10, markup=False)
        self.set_interval(1.0 / self.refresh_hz, self._refresh_tick, name="refresh-view")
        self.refresh_view(slow=True)

    def _apply_settings(self) -> None:
        ui = self.settings
        if ui.theme in self.available_themes:
            self.theme = ui.theme
        else:
            self.notify(f"unknown theme {clean(ui.theme)!r}", severity="warning", markup=False)
        if ui.keys:
            known = {b.id for b in self.BINDINGS if isinstance(b, Binding) and b.id is not None}
            unknown = sorted(set(ui.keys) - known)
            if unknown:
                self.notify(f"[keys]: unknown binding id {clean(', '.join(unknown))}; known: "
                            f"{', '.join(sorted(known))}", severity="warning", timeout=10, markup=False)
            self.set_keymap({k: v for k, v in ui.keys.items() if k in known})

    def _warn_about_locale(self) -> None:
        ok, value = locale_is_utf8()
        if not ok:
            self.notify(f"the locale ({clean(value) or 'unset'}) is not UTF-8: lines and symbols may show "
                        "as garbage; set LANG=C.UTF-8 (or another UTF-8 locale)", severity="warning",
                        timeout=10, markup=False)

    def on_resize(self) -> None:
        self._layout_grids()

    # -- runner lifecycle -----------------------------------------------------------------------------
    @work(exit_on_error=False, group="runner", name="runner-start")
    async def _start_runner(self) -> None:
        try:
            await self.runner.start()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self._report_start_failure(exc)
        self._runner_done = True
        if self._mounted:  # else on_mount does it, once the screen is built
            self._settle_collector()
        if self.duration is not None:  # counted from the start of the feeds: --duration S is S seconds of data
            self.set_timer(self.duration, self.action_quit, name="duration")

    def _settle_collector(self) -> None:
        if self.is_headless or self._gc_threshold is not None:  # a test process runs many apps: it must keep collecting them
            return
        # Everything built so far (modules, Textual's DOM, the session's start) lives as long as the app: out
        # of the collector's sight, a full collection scans only what came later. Measured: gen-2 pauses of
        # 140-180 ms CPU at 30 symbols were the app's worst stalls (92-103 ms after).
        gc.freeze()
        # fewer, larger young collections: Textual's strips (each with its caches) are most of what the
        # refresh allocates, and mostly die young
        self._gc_threshold = gc.get_threshold()
        gc.set_threshold(10_000, 50, 50)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.name == "runner-start" and event.state == WorkerState.ERROR:
            self._report_start_failure(event.worker.error)

    def _report_start_failure(self, exc: BaseException | None) -> None:
        self.start_error = f"start failed: {type(exc).__name__}: {exc}"
        log.error(self.start_error)
        if self._mounted:  # else on_mount says it
            self.notify(clean(self.start_error), severity="error", timeout=10, markup=False)
            self.refresh_view()

    async def _stop_runner(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        self.workers.cancel_group(self, "runner")
        for runner in (self.dvr, self.runner):
            if runner is None:
                continue
            try:
                await asyncio.wait_for(runner.stop(), self._stop_timeout)
            except Exception as exc:
                log.error("runner.stop failed: %r", exc)
        try:
            self._close_recording()  # already closed unless a stop timed out
        except Exception as exc:
            log.error("closing the recording failed: %r", exc)

    async def action_quit(self) -> None:
        await self._stop_runner()
        self.exit()

    async def on_unmount(self) -> None:
        self.terminal_watch.stop()
        await self._stop_runner()
        gc.unfreeze()
        if self._gc_threshold is not None:
            gc.set_threshold(*self._gc_threshold)

    # -- SSH: hang-ups and vanished terminals ---------------------------------------------------------
    def hang_up(self) -> None:
        """The terminal went away (SIGHUP, or it answers EIO): stop quickly and exit."""
        self._stop_timeout = HANGUP_STOP_TIMEOUT_S
        asyncio.get_running_loop().create_task(self.action_quit())

    def _close_recording(self) -> None:
        """The last thing before a forced exit (the session did not stop in time): a whole last line."""
        recorder = getattr(self.live_session, "recorder", None)
        if recorder is not None:
            recorder.close()

    # -- the refresh timer ----------------------------------------------------------------------------
    def _refresh_tick(self) -> None:
        self._turn = (self._turn + 1) % TABLE_TURNS
        self.refresh_view(turn=self._turn)

    def refresh_view(self, slow: bool | None = None, turn: int | None = None) -> None:
        """Copy what changed into the widgets of the visible view (the only path state -> screen). ``turn``: the
        timer's tick, whose share of the candle tables is synced (None, as after a key: all of them)."""
        if not self.is_running or not self._mounted or not self._header.is_attached:  # not built yet, or shutting down
            return
        session = self.session
        if session is not self._session_shown:
            self._forget_session()
        loop_time = asyncio.get_running_loop().time()
        if slow is None:
            slow = loop_time - self._slow_at >= SLOW_PERIOD_S
        if slow:
            self._slow_at = loop_time
        with self.batch_update():
            self._sync_header()
            self._sync_replay_bar()
            self._sync_plan()
            self._check_alerts()
            view = self.view
            if view == "main":
                # the once-a-second work (latency panel, rates, the signal hint) takes the tables' turn
                self._sync_main(session, slow, -1 if slow and turn is not None else turn)
            elif view == "aggregate":
                self.query_one(AggregateView).sync(session.aggregates, session.feed.symbol_map.is_approximate)
                self.query_one(MarketLog).sync(session.market_log)
                if self._perps:
                    state = session.pipeline.state
                    self.query_one(FuturesPanel).sync(perp_figures(state, session.clock.now_ns()))
                    self.query_one(LiquidationLog).sync(state.liquidations)
            elif view == "depth":
                syncs = session.feed.books.syncs
                for key, book in self._books.items():
                    book.sync(syncs.get(key))
                shown = self._chart_key if self._chart_key in self._books else next(iter(self._books), None)
                if shown is not None:  # the chart view's symbol (c), else the first book
                    self.query_one(DepthChart).sync(*shown, syncs.get(shown))
            elif view == "chart":
                self._sync_chart(session)
            elif view == "errors":
                self.query_one(RejectionLog).sync(session.pipeline)
                self.query_one(HealthLog).sync(session)
                self.query_one(HaltHistory).sync(self.live_session.halt)
            elif view == "pnl":
                self.query_one(PnlView).sync(session.paper, session.risk.config.equity)
            self._sync_bindings()

    def _sync_main(self, session, slow: bool, turn: int | None) -> None:
        self._sync_visibility()
        self._layout_grids()
        symbols = session.pipeline.state.symbols
        # the tables' screen (a dialog may be on top: what shows beneath it still updates); the widgets
        # its last frame showed, as Textual's own widgets ask it
        on_screen = self.screen_stack[0]._compositor.visible_widgets
        for i, (key, table) in enumerate(self._tables.items()):
            # a table scrolled out of sight (or hidden) is not touched; it catches up as it is drawn again
            if not table.has_state:
                table.sync(symbols.get(key))
            elif table not in on_screen:
                table.behind = True
            elif turn is None or i % TABLE_TURNS == turn:
                table.sync(symbols.get(key))
        self._sync_badges(slow)
        symbol_list = self.query_one(SymbolList)
        symbol_list.show(self._symbol_rows(symbol_list.rows_in_sight()))
        self._select_in_list(symbol_list)
        if slow:
            self.query_one(LatencyPanel).sync(session.pipeline.telemetry)
        signals = self.query_one(SignalPanel)
        if slow or signals.hint is None:  # the hint walks every series: once a second is enough
            signals.hint = signal_hint(session, self._plan)
        signals.sync(session.signal_log, signals.hint)

    def _forget_session(self) -> None:
        """Another session is on screen (DVR on/off, a backward seek): every widget redraws from it."""
        self._session_shown = self.session
        self._plan_key = None
        self._rows_shown = {}
        self._visible_shown = None
        self._last_counts.clear()
        self._rates.clear()
        for table in self._tables.values():
            table.forget()
        for book in self._books.values():
            book.forget()
        for widget in self.query(LineLog):
            widget.forget()
        self.query_one(LatencyPanel).forget()
        self.query_one(SignalPanel).hint = None

    def _sync_chart(self, session) -> None:
        from feeds.intervals import INTERVALS
        if self._chart_key is None and self._plan:
            self._chart_key = self._plan[0][:2]
        if self._chart_key is None:
            return
        venue, symbol = self._chart_key
        interval = self.shown_interval
        st = session.pipeline.state.symbols.get((venue, symbol))
        series = st.candles.get(interval) if st is not None else None
        halts = [r.at_ns for r in self.live_session.halt.history if r.action == "halt"]
        signals = [(d.signal.bar_open_ns, d.signal.side) for d in session.signal_log
                   if d.status == "APPROVED" and d.signal.venue == venue and d.signal.symbol == symbol]
        key = (id(series), series.version if series is not None else -1, len(halts), len(signals), interval)
        self.query_one(CandleChart).show(
            chart_input(f"{venue} {symbol}", series, interval, INTERVALS.get(interval, 60_000) * 1_000_000,
                        halts, signals), key)

    def _sync_header(self) -> None:
        header = self._header
        halt = self.live_session.halt
        header.show_mode("DVR" if self.dvr is not None else self.session.config.mode)
        header.show_clock(self.session.clock.now_ns())
        last_by = halt.history[-1].by if halt.halted and halt.history else ""
        header.show_status(halt.halted, halt.cause, last_by, self.start_error)

    def _sync_bindings(self) -> None:
        replay = self.replay
        state = (self.live_session.halt.halted, self.view, self.dvr is not None,
                 None if replay is None else (replay.paused, replay.speed, replay.finished.is_set()))
        if state != self._bindings_shown:
            self._bindings_shown = state
            self.refresh_bindings()

    def _check_alerts(self) -> None:
        """Ring / notify once per new automatic halt of the live session (not for replayed ones)."""
        history = self.live_session.halt.history
        new = history[self._alerted:]
        self._alerted = len(history)
        replaying = is_replay(self.runner)
        self._announce_alerts(ring=not replaying)
        if replaying:
            return
        for record in new:
            if record.action == "halt" and record.by == "auto":
                self._alert(record.cause)

    def _announce_alerts(self, ring: bool) -> None:
        """A toast, and the bell / OSC 9, per alert the live session fired since the last look."""
        engine = self.live_session.alerts
        seen_session, seen = self._alerts_seen
        if seen_session is not engine:  # a replay rebuilt its session: count afresh
            seen = 0
        self._alerts_seen = (engine, engine.fired)
        new = min(engine.fired - seen, len(engine.history))
        for alert in list(engine.history)[len(engine.history) - new:] if new > 0 else []:
            self.notify(f"ALERT {clean(alert.rule)}: {clean(alert.detail)}", severity="warning", timeout=10,
                        markup=False)
            if ring:
                self._ring(alert_sequence(self.settings.notify, alert.detail, what=f"ALERT {alert.rule}"))

    def _alert(self, cause: str) -> None:
        log.warning("automatic halt: %s", cause)
        self.notify(f"HALTED: {clean(cause)}", severity="error", timeout=15, markup=False)
        self._ring(alert_sequence(self.settings.notify, cause))

    def _ring(self, sequence: str) -> None:
        if not sequence:
            return
        self.alerts_sent.append(sequence)
        driver = self._driver
        if driver is not None and not self.is_headless:
            driver.write(sequence)  # through Textual's writer: never print() while the app runs
            driver.flush()

    def _sync_badges(self, slow: bool) -> None:
        session = self.session
        conns = {c.venue: c for c in session.connections.values()}
        bus_state = bus_badge_state(session.bus)  # attached: a bus outage shows on every venue
        for venue, badge in self._badges.items():
            conn = conns.get(venue)
            state = bus_state if bus_state is not None else conn.state if conn is not None else None
            if state is None:
                continue
            badge.show_state(state)
            next_ns = getattr(conn, "next_attempt_ns", 0)  # the last failure and the countdown (live only)
            badge.show_failure(getattr(conn, "last_error", ""),
                               (next_ns - session.clock.now_ns()) / 1e9 if next_ns else None)
            if not slow:
                continue
            tel = session.pipeline.telemetry.get(venue)
            # the last 512 samples: what the feed does now, not since the start
            pct = percentiles(tel.latency.recent_samples()) if tel is not None else None
            messages = sum(c.messages for c in session.connections.values() if c.venue == venue)
            badge.show_numbers(self._rate(venue, messages), *(pct or (None, None)))
        if slow:
            p = session.pipeline
            box = self.query_one("#summary", Static)
            bus = bus_summary(session.bus)
            summary = plain(fitted_summary(p.messages, sum(p.rejected.values()), p.total_gaps, p.duplicates,
                                           max(0, box.size.width - len(bus))) + bus)
            summary.no_wrap = True
            summary.overflow = "ellipsis"
            box.update(summary, layout=False)

    def _rate(self, venue: str, messages: int) -> float | None:
        """Messages per second of session time: over the last second while time runs, else the average."""
        session = self.session
        now = session.clock.now_ns()
        replay = self.replay
        if replay is not None and (replay.paused or replay.finished.is_set()):
            elapsed = now - (replay.first_ns or now)
            return messages / (elapsed / 1e9) if elapsed > 0 else None
        before = self._last_counts.get(venue)
        self._last_counts[venue] = (now, messages)
        if before is not None and now > before[0]:
            self._rates[venue] = (messages - before[1]) / ((now - before[0]) / 1e9)
        return self._rates.get(venue)

    # -- symbols, tables and books --------------------------------------------------------------------
    def _sync_plan(self) -> None:
        """Tables and books follow the configured symbols and any symbol that shows up in the data."""
        session = self.session
        cfg = session.config
        key = (tuple(cfg.symbols), tuple(cfg.venues), len(session.pipeline.state.symbols),
               len(session.feed.books.syncs))
        if key == self._plan_key:
            return
        self._plan_key = key
        configured = self._configured_plan(session)
        now_configured = {(v, s) for v, s, _ in configured}
        self._dropped |= self._configured - now_configured  # removed by the operator: no table from stray data
        self._dropped -= now_configured
        self._configured = now_configured
        plan = self._table_plan(session, configured)
        if plan == self._plan:
            return
        self._plan = plan
        self._groups = list(dict.fromkeys(g for _, _, g in plan))
        self._assign_digits()
        self._rebuild_tables()
        self._rebuild_books()
        self._visible_shown = None

    def _configured_plan(self, session) -> list[tuple[str, str, str]]:
        cfg = session.config
        plan: list[tuple[str, str, str]] = []
        for venue in cfg.venues:
            try:
                venue_symbols = session.venue_symbols(venue)
            except Exception:
                continue
            plan.extend((venue, symbol, group) for group, symbol in zip(cfg.symbols, venue_symbols))
        return plan

    def _table_plan(self, session, configured: list[tuple[str, str, str]]) -> list[tuple[str, str, str]]:
        known = {(v, s) for v, s, _ in configured}
        extra = [k for k in [*session.pipeline.state.symbols, *session.feed.books.syncs]
                 if k not in known and k not in self._dropped]
        return table_plan(configured, extra, list(session.config.venues))

    def _assign_digits(self) -> None:
        self._digits = assign_digits(self._groups, self._digits)

    def _number(self, group: str) -> int:
        return self._digits.get(group, 0)

    def _group_for(self, n: object) -> str | None:
        """The symbol group whose digit key is ``n``."""
        return next((g for g, d in self._digits.items() if d and d == n), None)

    def _rebuild_tables(self) -> None:
        box = self._tables_box
        assert box is not None, "set on mount, before any plan is laid out"
        for table in self._tables.values():
            table.remove()
        self._tables = {}
        interval = self.shown_interval
        for venue, symbol, group in self._plan:
            self._tables[(venue, symbol)] = CandleTable(venue, symbol, group, interval, number=self._number(group))
        if self._tables:
            box.mount_all(list(self._tables.values()), before="#tables-empty")
        self._grid = None

    def _rebuild_books(self) -> None:
        approximate = self.session.feed.symbol_map.is_approximate
        for book in self._books.values():
            book.remove()
        self._books = {(v, s): DepthBook(v, s, g, approximate(s)) for v, s, g in self._plan}
        if self._books:
            self._depth_box.mount_all(list(self._books.values()), before="#depth-empty")
        self.query_one("#depth-empty").display = not self._books
        self._depth_columns = 0

    def _symbol_rows(self, in_sight: range | None = None) -> list[tuple]:
        """One row per symbol group; rows out of ``in_sight`` keep what they were (not drawn: no per-symbol work)."""
        session = self.session
        last = self._rows_shown if in_sight is not None else {}
        approximate = session.feed.symbol_map.is_approximate
        aggregates = session.aggregates
        by_group: dict[str, list[tuple[str, str]]] = {}
        for venue, symbol, group in self._plan:
            by_group.setdefault(group, []).append((venue, symbol))
        state = session.pipeline.state.symbols
        shared = self._shared_names(by_group)
        rows = []
        for i, group in enumerate(self._groups):
            kept = last.get(group)
            if kept is not None and in_sight is not None and i not in in_sight:
                rows.append(kept)
                continue
            venues = by_group.get(group, [])
            unified = next((state[k].unified for k in venues if k in state), None)
            if unified is None and venues:
                unified = session.feed.symbol_map.unified(*venues[0])
            cells = []
            for venue, symbol in venues:
                # each venue's own instrument: a perpetual (BTC/USD:PERP) shares the row of its spot market
                own = state[(venue, symbol)].unified if (venue, symbol) in state else unified
                agg = aggregates.get(own)
                view = next((v for v in agg.venues if v.venue == venue and v.symbol == symbol), None) if agg else None
                if view is None or view.age_ns is None:
                    cells.append((venue, None, "none", approximate(symbol)))
                else:
                    price = view.last if view.last is not None else view.price
                    cells.append((venue, price, "stale" if view.stale else "fresh", approximate(symbol)))
            name = group if group in shared else unified or group
            rows.append((self._number(group), name, cells, group in session.hidden))
        self._rows_shown = {g: row for g, row in zip(self._groups, rows)}
        return rows

    def _shared_names(self, by_group: dict[str, list[tuple[str, str]]]) -> set[str]:
        """The groups whose unified name another group has too (BTCUSDT and BTCUSDC are both BTC/USD): their
        rows show the symbol as configured, or two rows would look alike with different prices."""
        key = tuple(self._groups)
        if self._shared[0] != key:
            unify = self.session.feed.symbol_map.unified
            names = {g: unify(*by_group[g][0]) for g in self._groups if by_group.get(g)}
            counts = Counter(names.values())
            self._shared = (key, {g for g, name in names.items() if counts[name] > 1})
        return self._shared[1]

    def symbol_names(self) -> list[tuple[str, str]]:
        """(name, group) for the command palette: configured, venue and unified names of every symbol."""
        state = self.session.pipeline.state.symbols
        out: dict[str, str] = {}
        for venue, symbol, group in self._plan:
            out.setdefault(group, group)
            out.setdefault(symbol, group)
            st = state.get((venue, symbol))
            if st is not None:
                out.setdefault(st.unified, group)
        return list(out.items())

    def show_symbol(self, group: str) -> None:
        """Show a symbol on the main view (un-hidden) and focus its first candle table."""
        self.action_view("main")
        if group in self.session.hidden:
            self.session.toggle_symbol(group)
        self.refresh_view()
        table = next((t for t in self._tables.values() if t.group == group), None)
        if table is not None:
            self.call_after_refresh(self._focus_table, table)

    def _focus_table(self, table: CandleTable) -> None:
        table.focus()
        if self._tables_box is not None:
            self._tables_box.scroll_to_widget(table, animate=False)

    def _sync_visibility(self) -> None:
        hidden = self.session.hidden
        visible = tuple(t.group not in hidden for t in self._tables.values())
        if visible == self._visible_shown:
            return
        self._visible_shown = visible
        for table, shown in zip(self._tables.values(), visible):
            table.display = shown
        self.query_one("#tables-empty").display = not any(visible) and bool(visible)
        self._grid = None
        self._layout_grids()

    def _layout_grids(self) -> None:
        """Grid columns follow the width; rows share the height, or scroll when they would get too small."""
        box = self._tables_box
        if box is None:
            return
        width = self.size.width
        shown = sum(1 for t in self._tables.values() if t.display)
        grid = table_grid(width, shown, len({v for v, _, _ in self._plan}), box.size.height)
        if grid != self._grid:
            self._grid = grid
            columns, squeeze = grid
            box.styles.grid_size_columns = columns
            box.styles.grid_rows = "1fr" if squeeze else str(TABLE_MIN_HEIGHT)
        books = depth_columns(width, len(self._books))
        if books != self._depth_columns:
            self._depth_columns = books
            self._depth_box.styles.grid_size_columns = books

    # -- actions: trading, views, symbols, theme, help ------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """False hides a binding (and lets its key through), None shows it greyed out."""
        modal = isinstance(self.screen, ModalScreen)
        if action in REPLAY_ACTIONS:
            return False if modal else self.check_replay_action(action)
        if action in ("dvr", "leave_replay"):
            return self.check_replay_action(action)
        if action == "halt":
            return not self.live_session.halt.halted
        if action == "resume":
            return self.live_session.halt.halted
        if action == "symbols":
            return not is_replay(self.runner)
        if action == "view":
            return not (parameters and parameters[0] == self.view)  # the view shown: no key needed
        if action == "interval":
            intervals = self.session.config.intervals
            if len(intervals) < 2:
                return False
            i = intervals.index(self.shown_interval) if self.shown_interval in intervals else 0
            step = parameters[0] if parameters and isinstance(parameters[0], int) else 0
            return True if 0 <= i + step < len(intervals) else None
        if action == "toggle_symbol":
            n = parameters[0] if parameters else 0
            return True if self._group_for(n) is not None else None
        return True

    def action_halt(self) -> None:
        self.live_session.halt.halt("operator key", by="operator")
        self.refresh_view()

    def action_resume(self) -> None:
        def answered(yes: bool | None) -> None:
            if yes:
                self.live_session.halt.resume(by="operator")
            self.refresh_view()

        from tui.widgets.confirm_screen import ConfirmScreen  # the dialogs are imported when first shown
        self.push_screen(ConfirmScreen("Resume trading? y/n"), answered)

    def action_view(self, name: str) -> None:
        if name not in VIEWS:
            return
        self.view = name
        self._switcher.current = name
        self.refresh_view()

    @property
    def shown_interval(self) -> str:
        cfg = self.session.config
        if self._interval is not None and self._interval in cfg.intervals:
            return self._interval
        return cfg.interval

    def action_interval(self, step: int) -> None:
        """``[`` / ``]``: the tables and the chart move to the next shorter / longer timeframe."""
        intervals = self.session.config.intervals or [self.session.config.interval]
        i = intervals.index(self.shown_interval) if self.shown_interval in intervals else 0
        self._interval = intervals[max(0, min(len(intervals) - 1, i + step))]
        for table in self._tables.values():
            table.interval = self._interval
            table.forget()
        self.refresh_view()

    def action_watchlist(self) -> None:
        names = list(self.settings.watchlists)
        if not names:
            self.notify("no watchlists: add a [watchlists] table to the config file", severity="warning",
                        markup=False)
            return
        i = names.index(self.watchlist) if self.watchlist in names else -1
        self.show_watchlist(names[i + 1] if i + 1 < len(names) else None)

    def show_watchlist(self, name: str | None) -> None:
        """Show only the symbols of watchlist ``name`` (None: all of them); the others are hidden."""
        session = self.live_session
        unified = session.unify
        wanted = None if name is None else {unified(s) for s in self.settings.watchlists.get(name, [])}
        for group in self._groups:
            show = wanted is None or unified(group.upper()) in wanted
            if show == (group in session.hidden):
                session.toggle_symbol(group)
        self.watchlist = name
        shown = "all symbols" if name is None else f"watchlist {clean(name)}"
        missing = sorted(wanted - {unified(g.upper()) for g in self._groups}) if wanted is not None else []
        self.notify(shown + (f" (not subscribed: {clean(', '.join(missing))}; add with s)" if missing else ""),
                    timeout=4, markup=False)
        self.refresh_view()

    def action_chart(self) -> None:
        """The chart of the focused table's symbol; pressed again in the chart, the next (venue, symbol)."""
        keys = [p[:2] for p in self._plan]
        focused = self.focused
        if self.view == "chart" and keys:
            i = keys.index(self._chart_key) if self._chart_key in keys else -1
            self._chart_key = keys[(i + 1) % len(keys)]
        elif isinstance(focused, CandleTable):
            self._chart_key = (focused.venue, focused.symbol)
        self.action_view("chart")
        self.query_one(CandleChart).focus()

    def action_toggle_symbol(self, n: int) -> None:
        group = self._group_for(n)
        if group is not None:
            self.session.toggle_symbol(group)
            self.refresh_view()
            self.query_one(SymbolList).scroll_to_row(self._groups.index(group))  # its row says "hidden" or not

    def on_descendant_focus(self) -> None:
        if self.screen_stack:  # not when the app is closing
            self._select_in_list()

    def _select_in_list(self, symbol_list: SymbolList | None = None) -> None:
        """The symbol list highlights the focused table's symbol, scrolled into view when it changes."""
        focused = self.screen_stack[0].focused  # a dialog on top keeps what is highlighted beneath it
        group = focused.group if isinstance(focused, CandleTable) else None
        index = self._groups.index(group) if group in self._groups else None
        (symbol_list or self.query_one(SymbolList)).select(index)

    def action_next_theme(self) -> None:
        themes = [t for t in THEMES if t in self.available_themes]
        i = themes.index(self.theme) if self.theme in themes else -1
        self.theme = themes[(i + 1) % len(themes)]

    def action_symbols(self) -> None:
        session = self.live_session
        from tui.widgets.symbol_picker import SymbolPicker
        self.push_screen(SymbolPicker(list(session.config.symbols)), self._change_symbol)

    async def _change_symbol(self, text: str | None) -> None:
        if not text:
            return
        session = self.live_session
        remove = text.startswith("-")
        name = (text[1:] if remove else text).strip().upper()  # eth/usd is ETH/USD
        shown = self._shown_as(session, name)
        if shown is not None:
            if not remove:
                self.notify(f"{clean(name)} is already shown as {clean(shown)}", severity="error", timeout=8,
                            markup=False)
                return
            name = shown  # -ADA/USD removes the ADAUSDT row: the same symbol on every venue
        method = getattr(session, "remove_symbol" if remove else "add_symbol", None)
        if method is None:
            self.notify("this session cannot change its symbols while it runs", severity="error", markup=False)
            return
        try:
            error = await method(name)
        except Exception as exc:
            log.exception("symbol change failed")
            error = f"{type(exc).__name__}: {exc}"
        if error:
            self.notify(clean(error), severity="error", timeout=8, markup=False)
        else:
            self.notify(f"{'removed' if remove else 'added'} {clean(name)}", timeout=4, markup=False)
        self.refresh_view()

    def action_alerts(self) -> None:
        engine = self.live_session.alerts
        from tui.widgets.alert_log import AlertsScreen
        self.push_screen(AlertsScreen([r.text for r in engine.rules], list(engine.history), engine.fired),
                         self._change_alert)

    def _change_alert(self, text: str | None) -> None:
        if not text:
            return
        session = self.live_session
        remove = text.startswith("-")
        error = session.remove_alert(text[1:]) if remove else session.add_alert(text)
        if error:
            self.notify(clean(error), severity="error", timeout=8, markup=False)
        else:
            self.notify(f"alert {'removed' if remove else 'added'}: {clean(text.lstrip('-').strip())}", timeout=4,
                        markup=False)

    @staticmethod
    def _shown_as(session, name: str) -> str | None:
        """The configured symbol that ``name`` (``ADAUSDT``, ``ADA/USD``, ``ada-usd``) names on the venues."""
        try:
            unified = session.feed.symbol_map.unified(session.config.venues[0], name) if "/" not in name else name
        except Exception:
            return None
        for configured in session.config.symbols:
            other = configured.upper()
            if other == name:
                return configured
            if "/" not in other:
                try:
                    other = session.feed.symbol_map.unified(session.config.venues[0], other)
                except Exception:
                    continue
            if other == unified.upper().replace("-", "/"):
                return configured
        return None

    def action_help(self) -> None:
        from tui.widgets.help_screen import HelpScreen
        self.push_screen(HelpScreen(self.help_rows()))

    def help_rows(self) -> list[tuple[str, str, bool]]:
        """(keys, description, usable now) for every binding of ours, in order, keys as remapped."""
        rows: dict[str, tuple[list[str], str, bool]] = {}
        for b in [*self.BINDINGS, Binding("ctrl+p", "command_palette", "Command palette: every action and symbol",
                                          id="command_palette")]:
            if not isinstance(b, Binding):
                continue
            _, name, params = parse_action(b.action)
            available = bool(self.check_action(name, params))
            description = b.tooltip or b.description
            if name == "toggle_symbol":
                n = params[0]
                group = self._group_for(n)
                if group is None:
                    continue
                description = f"Show/hide symbol {n}: {clean(group)}"
            elif name in REPLAY_ACTIONS and self.replay is None:
                description += " (in a replay)"
            keys = self._keymap.get(b.id, b.key) if b.id else b.key
            shown = [self.get_key_display(Binding(k.strip(), b.action)) for k in keys.split(",")]
            key = b.id or b.action
            if key in rows:
                old = rows[key]
                rows[key] = (old[0], old[1] if old[2] or not available else description, old[2] or available)
                continue
            rows[key] = (shown, description, available)
        return [*((", ".join(dict.fromkeys(keys)), description, available)
                  for keys, description, available in rows.values()),
                *((what, meaning, True) for what, meaning in LEGEND)]

    def get_system_commands(self, screen: Screen):
        """The command palette: Textual's own commands, then ours (tui/commands.py)."""
        yield from super().get_system_commands(screen)
        yield from action_commands(self.BINDINGS, self._keymap, self.run_action, self.replay is not None,
                                   REPLAY_ACTIONS | {"leave_replay"}, self._digits)

        for name, symbols in self.settings.watchlists.items():
            yield SystemCommand(f"Watchlist {clean(name)}", clean(", ".join(symbols)), partial(self.show_watchlist, name))
        if self.settings.watchlists:
            yield SystemCommand("Watchlist: all symbols", "key: w after the last list", partial(self.show_watchlist, None))

