"""The clearterm Textual app: header, connection badges, candle tables, signal log, footer.

The app never hears about single messages. One timer (``refresh_hz``, 10 by default) reads the
session's plain state objects and copies what changed into the widgets inside ``batch_update()``,
using the ``version`` counters to skip widgets whose data did not move. Rates and latencies are
recomputed once a second.
"""
from __future__ import annotations

import asyncio
import time

from textual import work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Container, Horizontal
from textual.widgets import Footer, Static
from textual.worker import Worker, WorkerState

from tui.runner import Runner
from tui.widgets.candle_table import CandleTable
from tui.widgets.confirm_screen import ConfirmScreen
from tui.widgets.connection_badge import ConnectionBadge
from tui.widgets.header_bar import HeaderBar
from tui.widgets.help_screen import HelpScreen
from tui.widgets.safe_text import clean, plain
from tui.widgets.signal_panel import SignalPanel

SLOW_PERIOD_S = 1.0  # rates and latency percentiles
STOP_TIMEOUT_S = 5.0
TABLE_COLUMNS = ((180, 3), (120, 2), (0, 1))  # terminal width -> table grid columns


def _toggle_bindings() -> list[Binding]:
    out = [Binding("1", "toggle_symbol(1)", "Show/hide symbol", key_display="1-9", id="toggle_symbol_1")]
    out += [Binding(str(n), f"toggle_symbol({n})", f"Show/hide symbol {n}", show=False,
                    id=f"toggle_symbol_{n}") for n in range(2, 10)]
    return out


class ClearTermApp(App):
    CSS_PATH = "app.tcss"
    TITLE = "clearterm"
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (100, "-wide")]
    VERTICAL_BREAKPOINTS = [(0, "-short"), (40, "-tall")]
    BINDINGS = [
        Binding("q", "quit", "Quit", id="quit"),
        Binding("h", "halt", "Halt trading", id="halt"),
        Binding("u", "resume", "Resume", tooltip="Resume trading (asks to confirm)", id="resume"),
        *_toggle_bindings(),
        Binding("question_mark", "help", "Help", key_display="?", id="help"),
    ]

    def __init__(self, runner: Runner, refresh_hz: float = 10.0, duration: float | None = None) -> None:
        super().__init__()
        self.runner = runner  # a Runner, or anything with .session, start() and stop() (replay)
        self.refresh_hz = refresh_hz
        self.duration = duration  # quit by itself after this many seconds (--duration)
        self._session_shown = runner.session
        self.start_error = ""
        self._stopped = False
        self._tables: dict[tuple[str, str], CandleTable] = {}
        self._groups: list[str] = []  # symbol names in key order: key N toggles _groups[N - 1]
        self._badges: dict[str, ConnectionBadge] = {}
        self._known_symbols = 0
        self._halted_shown: bool | None = None
        self._visible_shown: tuple | None = None
        self._slow_at = 0.0
        self._last_counts: dict[str, tuple[float, int]] = {}  # venue -> (monotonic s, messages)
        self._columns = 0
        self._tables_box: Container | None = None  # set on mount

    @property
    def session(self):
        """The runner's current session (a replay seeking backwards replaces it)."""
        return self.runner.session

    # -- layout ---------------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        cfg = self.session.config
        yield HeaderBar(cfg.mode, id="header")
        with Horizontal(id="badges"):
            for venue in cfg.venues:
                badge = self._badges[venue] = ConnectionBadge(venue, id=f"badge-{venue.lower()}")
                yield badge
            yield Static(id="summary")
        with Container(id="tables"):
            for table in self._configured_tables():
                yield table
            yield Static(plain("all symbols hidden: press 1-9 to show them again"), id="tables-empty")
        yield SignalPanel(id="signals")
        yield Footer()

    def _configured_tables(self) -> list[CandleTable]:
        cfg = self.session.config
        self._groups = list(cfg.symbols)
        tables = []
        for venue in cfg.venues:
            try:
                venue_symbols = self.session.venue_symbols(venue)
            except Exception:  # noqa: BLE001 - an unknown venue shows no table instead of crashing
                continue
            for number, (group, symbol) in enumerate(zip(cfg.symbols, venue_symbols), 1):
                tables.append(self._new_table(venue, symbol, group, number))
        return tables

    def _new_table(self, venue: str, symbol: str, group: str, number: int) -> CandleTable:
        table = CandleTable(venue, symbol, group, self.session.config.interval,
                            number=number if number <= 9 else 0)
        self._tables[(venue, symbol)] = table
        return table

    def on_mount(self) -> None:
        self._header = self.query_one(HeaderBar)
        self._signals = self.query_one(SignalPanel)
        self._summary = self.query_one("#summary", Static)
        self._tables_box = self.query_one("#tables", Container)
        for badge in self._badges.values():
            badge.show_state("starting")
        self._start_runner()
        self.set_interval(1.0 / self.refresh_hz, self.refresh_view, name="refresh-view")
        if self.duration is not None:
            self.set_timer(self.duration, self.action_quit, name="duration")
        self.refresh_view()

    def on_resize(self) -> None:
        self._layout_tables()

    # -- runner lifecycle -----------------------------------------------------------------------
    @work(exit_on_error=False, group="runner", name="runner-start")
    async def _start_runner(self) -> None:
        try:
            await self.runner.start()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - shown in the header, the app keeps running
            self._report_start_failure(exc)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.name == "runner-start" and event.state == WorkerState.ERROR:
            self._report_start_failure(event.worker.error)

    def _report_start_failure(self, exc: BaseException | None) -> None:
        self.start_error = f"start failed: {type(exc).__name__}: {exc}"
        self.notify(clean(self.start_error), severity="error", timeout=10, markup=False)
        self.refresh_view()

    async def _stop_runner(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        self.workers.cancel_group(self, "runner")
        try:
            await asyncio.wait_for(self.runner.stop(), STOP_TIMEOUT_S)
        except Exception as exc:  # noqa: BLE001 - quitting must not fail
            self.log.error(f"runner.stop failed: {exc!r}")

    async def action_quit(self) -> None:
        await self._stop_runner()
        self.exit()

    async def on_unmount(self) -> None:
        await self._stop_runner()

    # -- the refresh timer ----------------------------------------------------------------------
    def refresh_view(self) -> None:
        """Copy what changed since the last tick into the widgets (the only path state -> screen)."""
        session = self.session
        if session is not self._session_shown:
            self._forget_session()
        now = time.monotonic()
        slow = now - self._slow_at >= SLOW_PERIOD_S
        if slow:
            self._slow_at = now
        with self.batch_update():
            self._sync_header()
            if len(session.pipeline.state.symbols) != self._known_symbols:
                self._discover_symbols()
            self._sync_visibility()
            self._layout_tables()  # cheap when nothing changed; resizes do not always reach the app
            symbols = session.pipeline.state.symbols
            for key, table in self._tables.items():
                if table.display:
                    table.sync(symbols.get(key))
            self._sync_badges(slow, now)
            hint = f"no signals yet: the strategy needs {session.strategy.params.slow_ema}+ closed bars"
            self._signals.sync(session.signal_log, hint)

    def _forget_session(self) -> None:
        """A new session replaced the old one: every widget redraws from it."""
        self._session_shown = self.session
        self._known_symbols = -1
        self._visible_shown = None
        self._halted_shown = None
        self._last_counts.clear()
        for table in self._tables.values():
            table.forget()
        self._signals.forget()

    def _sync_header(self) -> None:
        header = self._header
        halt = self.session.halt
        header.show_clock(self.session.clock.now_ns())
        last_by = halt.history[-1].by if halt.halted and halt.history else ""
        header.show_status(halt.halted, halt.cause, last_by, self.start_error)
        if halt.halted != self._halted_shown:
            self._halted_shown = halt.halted
            self.refresh_bindings()

    def _sync_badges(self, slow: bool, now: float) -> None:
        conns = {c.venue: c for c in self.session.connections.values()}
        telemetry = self.session.pipeline.telemetry
        for venue, badge in self._badges.items():
            conn = conns.get(venue)
            if conn is None:
                continue
            badge.show_state(conn.state)
            if not slow:
                continue
            rate = p50 = p99 = None
            before = self._last_counts.get(venue)
            self._last_counts[venue] = (now, conn.messages)
            if before is not None and now > before[0]:
                rate = (conn.messages - before[1]) / (now - before[0])
            tel = telemetry.get(venue)
            if tel is not None and tel.latency.n:
                recent = sorted(tel.latency.recent_samples())  # the last 512: what the feed does now
                p50 = recent[len(recent) // 2]
                p99 = recent[min(len(recent) - 1, int(len(recent) * 0.99))]
            badge.show_numbers(rate, p50, p99)
        if slow:
            p = self.session.pipeline
            summary = plain(f"msgs {p.messages}  rejected {sum(p.rejected.values())}  gaps {p.total_gaps}  "
                            f"dup {p.duplicates}")
            summary.no_wrap = True
            summary.overflow = "ellipsis"
            self._summary.update(summary, layout=False)

    def _discover_symbols(self) -> None:
        """Give a table to any (venue, symbol) that appeared in the data without being configured."""
        symbols = self.session.pipeline.state.symbols
        self._known_symbols = len(symbols)
        new = []
        for key in list(symbols):
            if key in self._tables:
                continue
            venue, symbol = key
            if symbol not in self._groups:
                self._groups.append(symbol)
            new.append(self._new_table(venue, symbol, symbol, self._groups.index(symbol) + 1))
        if new:
            self._tables_box.mount_all(new, before="#tables-empty")
            self._visible_shown = None

    def _sync_visibility(self) -> None:
        hidden = self.session.hidden
        visible = tuple(t.group not in hidden for t in self._tables.values())
        if visible == self._visible_shown:
            return
        self._visible_shown = visible
        for table, shown in zip(self._tables.values(), visible):
            table.display = shown
        self.query_one("#tables-empty").display = not any(visible) and bool(visible)
        self._layout_tables()

    def _layout_tables(self) -> None:
        if self._tables_box is None:
            return
        width = self.size.width
        columns = next(c for w, c in TABLE_COLUMNS if width >= w)
        shown = sum(1 for t in self._tables.values() if t.display) or 1
        columns = min(columns, shown)
        if columns != self._columns:
            self._columns = columns
            self._tables_box.styles.grid_size_columns = columns

    # -- actions --------------------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "halt":
            return None if self.session.halt.halted else True
        if action == "resume":
            return True if self.session.halt.halted else None
        if action == "toggle_symbol":
            n = parameters[0] if parameters else 0
            return True if isinstance(n, int) and 1 <= n <= len(self._groups) else None
        return True

    def action_halt(self) -> None:
        self.session.halt.halt("operator key", by="operator")
        self.refresh_view()

    def action_resume(self) -> None:
        def answered(yes: bool | None) -> None:
            if yes:
                self.session.halt.resume(by="operator")
            self.refresh_view()

        self.push_screen(ConfirmScreen("Resume trading? y/n"), answered)

    def action_toggle_symbol(self, n: int) -> None:
        if 1 <= n <= len(self._groups):
            self.session.toggle_symbol(self._groups[n - 1])
            self.refresh_view()

    def action_help(self) -> None:
        self.push_screen(HelpScreen(self.help_rows()))

    def help_rows(self) -> list[tuple[str, str]]:
        """(keys, description) for every binding of the main screen, symbol keys named."""
        rows = []
        ours = {b.id for b in self.BINDINGS if isinstance(b, Binding)}
        for key, active in self.screen.active_bindings.items():
            b = active.binding
            if b.id not in ours and b.action != "command_palette":
                continue
            if b.action.startswith("toggle_symbol("):
                n = int(b.action[len("toggle_symbol("):-1])
                if n > len(self._groups):
                    continue
                rows.append((key, f"Show/hide symbol {n}: {clean(self._groups[n - 1])}"))
                continue
            rows.append((self.get_key_display(b), b.tooltip or b.description))
        return rows


async def run_app(runner: Runner, mouse: bool = True, refresh_hz: float = 10.0) -> None:
    """Run the app on an already-running event loop until the operator quits."""
    await ClearTermApp(runner, refresh_hz=refresh_hz).run_async(mouse=mouse)
