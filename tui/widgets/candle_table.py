"""One symbol's candles as a table drawn with the line API: newest bar at the top, the forming bar marked.

Each screen line is a cached ``Strip``. ``sync`` (called by the app's timer) does nothing unless the
symbol's or the series' ``version`` moved; then it rebuilds only the rows whose bar changed and
refreshes just those lines. While a bar forms that is one line per tick; when a bar closes every row
shifts down once. The columns that do not fit the width are dropped, least useful first.
"""
from __future__ import annotations

import math
import time

from rich.style import Style
from rich.text import Text
from textual.binding import Binding
from textual.geometry import Region
from textual.strip import Strip
from textual.widget import Widget

from feeds.core.state import CandleSeries, SymbolState
from feeds.events import Candle
from tui.widgets.safe_text import clean
from tui.widgets.strips import text_strip
from tui.widgets.style_cache import CachedStyles

# Column keys in display order, and the order in which they are kept when space runs out.
COLUMNS = ("time", "open", "high", "low", "close", "volume", "trades")
HEADERS = {"time": "time", "open": "open", "high": "high", "low": "low", "close": "close",
           "volume": "volume", "trades": "trades"}
KEEP_ORDER = ("time", "close", "high", "low", "open", "volume", "trades")
MARKER_WIDTH = 2  # "› " before the forming bar
TOP_LINES = 2  # the title line and the column header line


def price_decimals(price: float) -> int:
    """About six significant digits: 67234.12, 3456.78, 145.321, 0.123456."""
    if not (price > 0.0 and math.isfinite(price)):
        return 2
    return min(8, max(2, 5 - math.floor(math.log10(price))))


def compact_number(x: float) -> str:
    """A short volume: 0.1234, 12.35, 1234.5, 12.3k, 4.56M."""
    ax = abs(x)
    if ax >= 1e9:
        return f"{x / 1e9:.2f}G"
    if ax >= 1e6:
        return f"{x / 1e6:.2f}M"
    if ax >= 1e4:
        return f"{x / 1e3:.1f}k"
    if ax >= 100:
        return f"{x:.1f}"
    if ax >= 1:
        return f"{x:.2f}"
    return f"{x:.4f}"


def bar_time(open_ns: int, interval: str) -> str:
    t = time.gmtime(open_ns // 1_000_000_000)
    if interval.endswith(("d", "w", "M")):
        return time.strftime("%Y-%m-%d", t)
    return time.strftime("%H:%M:%S", t)


class CandleTable(CachedStyles, Widget, can_focus=True):
    """Candles of one (venue, symbol) for one interval; focusable so the palette can point at it, and so
    that tab reaches tables below the fold and the page keys scroll the grid they sit in."""

    BINDINGS = [  # noqa: RUF012 - Textual's own convention
        Binding("pagedown", "scroll_grid(1)", "Page down", show=False),
        Binding("pageup", "scroll_grid(-1)", "Page up", show=False),
    ]

    COMPONENT_CLASSES = {
        "candle-table--title",
        "candle-table--header",
        "candle-table--forming",
        "candle-table--up",
        "candle-table--down",
        "candle-table--muted",
    }

    def __init__(self, venue: str, symbol: str, group: str, interval: str, number: int = 0,
                 *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.venue = venue
        self.symbol = symbol  # the venue's symbol, as the data names it
        self.group = group  # the configured symbol this table belongs to (what 1..9 toggles)
        self.interval = interval
        self.number = number  # the key that toggles it, 0 for none
        self._state: SymbolState | None = None
        self._seen = (-1, -1)  # (symbol version, series version) drawn last
        self._title: Strip | None = None
        self._title_plain = ""
        self._title_key: tuple | None = None  # (price, interval, bars) the title was built from
        self._header: Strip | None = None
        self._rows: list[Strip] = []
        self._row_bars: list[Candle] = []
        self._layout: tuple | None = None  # (width, height, columns, widths, decimals)
        # id(bar) -> (bar, decimals, cells) for the bars on screen: a closed bar never changes, so its cells
        # are formatted once, not again each time a bar closes and every row moves down one line
        self._cells_of: dict[int, tuple[Candle, int, dict[str, str]]] = {}
        self._dirty = True  # rebuild everything at the next sync or render (size, style change)
        self.behind = False  # the app skipped a sync while it was out of sight: catch up when drawn

    # -- data -----------------------------------------------------------------------------------
    @property
    def series(self) -> CandleSeries | None:
        st = self._state
        if st is None or not st.candles:
            return None
        s = st.candles.get(self.interval)
        return s if s is not None else next(iter(st.candles.values()))

    @property
    def has_state(self) -> bool:
        """Whether a sync gave it its symbol's state (until then the app syncs it even out of sight)."""
        return self._state is not None

    def _versions(self) -> tuple[int, int]:
        st = self._state
        series = self.series
        return (st.version if st is not None else -1, series.version if series is not None else -1)

    def sync(self, state: SymbolState | None) -> bool:
        """Take the latest state; redraw what changed. Returns True when anything was redrawn."""
        if state is not None:
            self._state = state
        seen = self._versions()
        if seen == self._seen and not self._dirty:
            return False
        self._seen = seen
        if self._dirty or self._layout is None:
            self._rebuild()
            self.refresh()
            return True
        title_changed = self._build_title()
        changed = self._update_rows()
        if changed is None:
            self.refresh()
            return True
        lines = [TOP_LINES + i for i in changed]
        if title_changed:
            lines.append(0)
        if lines:  # one region over the changed lines (the usual tick: the title and the forming bar)
            top = min(lines)
            self.refresh(Region(0, top, self.size.width, max(lines) - top + 1))
        return True

    def forget(self) -> None:
        """Drop the state this table shows (its session was replaced); the next sync starts afresh."""
        self._state = None
        self._seen = (-1, -1)
        self._dirty = True
        self.refresh()

    def visible_bars(self) -> list[Candle]:
        """The bars on screen, top to bottom: the forming bar (if any), then closed bars newest first."""
        n = max(0, self.size.height - TOP_LINES)
        series = self.series
        if series is None or n == 0:
            return []
        out: list[Candle] = []
        if series.forming is not None:
            out.append(series.forming)
        bars = series.bars
        i = len(bars) - 1
        while len(out) < n and i >= 0:
            out.append(bars[i])
            i -= 1
        return out

    def action_scroll_grid(self, direction: int) -> None:
        grid = self.parent
        if isinstance(grid, Widget):
            if direction > 0:
                grid.scroll_page_down(animate=False)
            else:
                grid.scroll_page_up(animate=False)

    # -- line API -------------------------------------------------------------------------------
    def render_line(self, y: int) -> Strip:
        if self.behind:
            # the app skips syncing a table out of sight: coming into view, it draws its state as it is now
            # (a table in sight is synced by the timer, row by row, and never rebuilt here)
            self.behind = False
            if self._versions() != self._seen:
                self._seen = self._versions()
                self._dirty = True
        if self._dirty or self._layout is None or self._layout[:2] != (self.size.width, self.size.height):
            self._rebuild()
        if y == 0 and self._title is not None:
            return self._title
        if y == 1 and self._header is not None:
            return self._header
        i = y - TOP_LINES
        if 0 <= i < len(self._rows):
            return self._rows[i]
        return Strip.blank(self.size.width, self.rich_style)

    def on_resize(self) -> None:
        # The Resize message may arrive after render_line already laid out the new size.
        if self._layout is None or self._layout[:2] != (self.size.width, self.size.height):
            self._dirty = True

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._dirty = True  # theme or class change: the cached strips carry old colours

    # -- building strips ------------------------------------------------------------------------
    def _strip(self, text: Text, style: Style) -> Strip:
        return text_strip(self.app.console, text, self.size.width, style)

    def _rebuild(self) -> None:
        self._dirty = False
        bars = self.visible_bars()
        self._layout = self._plan(bars)
        self._title_plain = ""
        self._title_key = None
        self._build_title()
        base = self.style_of("candle-table--header", partial=False)
        header = Text()
        _, _, cols, widths, _ = self._layout
        header.append(" " * MARKER_WIDTH)
        for key, w in zip(cols, widths):
            label = HEADERS[key]
            header.append((label.ljust(w) if key == "time" else label.rjust(w)) + " ")
        self._header = self._strip(header, base)
        self._row_bars = bars
        self._rows = [self._row_strip(bar) for bar in bars]

    def _plan(self, bars: list[Candle]) -> tuple:
        """Which columns fit the width, how wide each is, and how many decimals prices get."""
        width, height = self.size.width, self.size.height
        ref = bars[0].close if bars else 0.0
        dec = price_decimals(ref)
        cells = {key: [len(HEADERS[key])] for key in COLUMNS}
        known, self._cells_of = self._cells_of, {}
        for bar in bars:
            for key, txt in self._cached_cells(bar, dec, known).items():
                cells[key].append(len(txt))
        natural = {key: max(v) for key, v in cells.items()}
        # Leave room for prices to grow a digit without a full re-layout.
        for key in ("open", "high", "low", "close"):
            natural[key] += 1
        kept: set[str] = set()
        used = MARKER_WIDTH
        for key in KEEP_ORDER:
            need = natural[key] + 1
            if used + need > width:
                break
            kept.add(key)
            used += need
        cols = tuple(k for k in COLUMNS if k in kept)
        return (width, height, cols, tuple(natural[k] for k in cols), dec)

    def _cells(self, bar: Candle, dec: int) -> dict[str, str]:
        return {
            "time": bar_time(bar.open_ns, bar.interval),
            "open": f"{bar.open:.{dec}f}",
            "high": f"{bar.high:.{dec}f}",
            "low": f"{bar.low:.{dec}f}",
            "close": f"{bar.close:.{dec}f}",
            "volume": compact_number(bar.volume),
            "trades": str(bar.trades),
        }

    def _cached_cells(self, bar: Candle, dec: int, known: dict[int, tuple[Candle, int, dict[str, str]]]) -> dict[str, str]:
        """``bar``'s cells, from ``known`` when formatted before (same bar object, same decimals); kept for the
        next call in ``self._cells_of``."""
        entry = known.get(id(bar))
        if entry is None or entry[0] is not bar or entry[1] != dec:
            entry = (bar, dec, self._cells(bar, dec))
        if bar.closed:  # a forming bar is replaced at every update: not worth keeping
            self._cells_of[id(bar)] = entry
        return entry[2]

    def _row_strip(self, bar: Candle) -> Strip:
        assert self._layout is not None, "rows are built after _plan set the layout"
        _, _, cols, widths, dec = self._layout
        cells = self._cached_cells(bar, dec, self._cells_of)
        forming = not bar.closed
        base = self.style_of("candle-table--forming", partial=False) if forming else self.base_style()
        direction = self.style_of(
            "candle-table--up" if bar.close >= bar.open else "candle-table--down")
        text = Text()
        text.append("› " if forming else "  ")
        for key, w in zip(cols, widths):
            cell = cells[key]
            if len(cell) > w:
                return self._strip_too_wide()
            cell = cell.ljust(w) if key == "time" else cell.rjust(w)
            text.append(cell, direction if key == "close" else None)
            text.append(" ")
        return self._strip(text, base)

    def _strip_too_wide(self) -> Strip:
        # A value outgrew its column: lay the table out again at the next render.
        self._dirty = True
        self.refresh()
        return Strip.blank(self.size.width, self.rich_style)

    def _build_title(self) -> bool:
        """Rebuild the title strip; True when its text changed."""
        st = self._state
        series = self.series
        price = st.last_price() if st is not None else None
        key = (price, series.interval if series else self.interval, len(series.bars) if series is not None else None)
        if key == self._title_key and self._title is not None:  # what it would say is what it says
            return False
        self._title_key = key
        muted = self.style_of("candle-table--muted")
        title = Text()
        if self.number:
            title.append(f"{self.number} ", muted)
        title.append(clean(self.symbol), "bold")
        title.append(" · ")
        title.append(clean(self.venue))
        if price is not None:
            title.append("  ")
            title.append(f"{price:.{price_decimals(price)}f}", "bold")
        title.append(f"  {clean(series.interval if series else self.interval)}", muted)
        if series is not None:
            title.append(f"  {len(series.bars)} bars", muted)
        else:
            title.append("  waiting for data…", muted)
        plain = title.plain
        if plain == self._title_plain and self._title is not None:
            return False
        self._title_plain = plain
        self._title = self._strip(title, self.style_of("candle-table--title", partial=False))
        return True

    def _update_rows(self) -> list[int] | None:
        """Rebuild changed rows; the list of changed row indexes, or None when the layout changed."""
        bars = self.visible_bars()
        old = self._row_bars
        if len(bars) != len(old):
            self._rebuild()
            return None
        changed = [i for i, bar in enumerate(bars) if bar is not old[i]]
        # Only the forming bar moved (the usual tick): keep the layout, a value outgrowing its column
        # re-lays the table out (_strip_too_wide). A closed bar moved: plan the columns again.
        if any(bars[i].closed for i in changed) and self._plan(bars) != self._layout:
            self._rebuild()
            return None
        # a closed bar that only moved down a line keeps its strip (the layout is the same)
        moved = {id(bar): strip for bar, strip in zip(old, self._rows) if bar.closed} if len(changed) > 1 else {}
        for i in changed:
            bar = bars[i]
            strip = moved.get(id(bar)) if bar.closed else None
            self._rows[i] = strip if strip is not None else self._row_strip(bar)
        self._row_bars = bars
        return changed

    def text_lines(self) -> list[str]:
        """What the table shows, as plain text lines (for tests and screenshots)."""
        return [self.render_line(y).text for y in range(self.size.height)]
