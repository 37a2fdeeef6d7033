"""The symbol summary: one line per configured symbol with a badge and the last price for each venue.

A badge (●) is green when the venue's data for the symbol is fresh, red when it is stale and grey when
nothing arrived yet. Prices of pairs quoted in USDT/USDC but shown as USD are marked "≈". Hidden
symbols (keys 1-9) are greyed; the symbol of the focused candle table is highlighted.

More symbols than lines: the list scrolls (wheel, scrollbar, or tab to it then ↑ ↓ PgUp PgDn Home End)
and its last line says how many rows are above and below. Line API; a line is redrawn only when its row
changed, and formatted only when drawn; rows coming into sight are asked for at once (``rows_for``).
"""
from __future__ import annotations

from collections.abc import Callable

from rich.text import Text
from textual import events
from textual.geometry import Region, Size
from textual.scroll_view import ScrollView
from textual.strip import Strip

from tui.widgets.candle_table import price_decimals
from tui.widgets.formatting import short_venue
from tui.widgets.safe_text import clean
from tui.widgets.strips import text_strip
from tui.widgets.style_cache import CachedStyles

Row = tuple  # (number, name, [(venue, price, status, approximate)...], hidden)
RowsFor = Callable[[range], list[Row]]  # every row, those in the range built afresh


class SymbolList(CachedStyles, ScrollView, can_focus=True):
    COMPONENT_CLASSES = {
        "symbol-list--name",
        "symbol-list--fresh",
        "symbol-list--stale",
        "symbol-list--none",
        "symbol-list--muted",
        "symbol-list--selected",
        "symbol-list--more",
    }

    def __init__(self, rows_for: RowsFor | None = None, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.rows_for = rows_for
        self._rows: list[Row] = []
        self._strips: list[Strip | None] = []
        self._width = -1  # the width the strips were built for
        self._fit: tuple[int, bool] = (0, False)  # (name width, full venue names) the strips were built for
        self.selected: int | None = None  # the row highlighted (the focused table's symbol)

    # -- geometry ---------------------------------------------------------------------------------
    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return max(1, len(self._rows))

    @property
    def overflowing(self) -> bool:
        """More rows than lines: the last line is the "more" line and the list scrolls."""
        return len(self._rows) > self.size.height

    @property
    def more_line_shown(self) -> bool:
        """Overflowing with room for a row besides the "more" line (one line high, it shows a row instead)."""
        return len(self._rows) > self.size.height >= 2

    @property
    def lines_for_rows(self) -> int:
        height = self.size.height
        return height - 1 if self.more_line_shown else height

    def rows_in_sight(self) -> range:
        """The indexes of the rows on screen."""
        top = self.scroll_offset.y
        return range(top, min(len(self._rows), top + self.lines_for_rows))

    def allow_focus(self) -> bool:
        return self.overflowing  # nothing to scroll: tab goes straight to the tables

    def _fit_scroll(self) -> None:
        """The scroll range for the rows and the height: one line more than the rows when the "more" line shows."""
        rows = len(self._rows)
        size = Size(0, rows + 1 if self.more_line_shown else rows)
        if size != self.virtual_size:
            self.virtual_size = size

    def on_resize(self, event: events.Resize) -> None:
        self._fit_scroll()
        self._catch_up()

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        if round(old_value) != round(new_value):
            self._catch_up()

    def _catch_up(self) -> None:
        """Rows coming into sight show the latest prices now, not at the next refresh."""
        if self.rows_for is not None and self._rows:
            self.show(self.rows_for(self.rows_in_sight()))

    # -- rows -------------------------------------------------------------------------------------
    def show(self, rows: list[Row]) -> bool:
        """``rows``: (number, name, [(venue, price, status, approximate)...], hidden) per symbol.

        Only the lines whose row changed are redrawn, and a line is formatted when it is drawn: the rows
        scrolled out of sight (30 symbols in a list a dozen lines high) cost a comparison, not a format."""
        width = self.scrollable_content_region.width
        if rows == self._rows and width == self._width:
            return False
        relayout = len(rows) != len(self._rows)
        fit = self._fitting(rows, width)
        if relayout or width != self._width or fit != self._fit:
            self._rows, self._fit, self._width = rows, fit, width
            self._strips = [None] * len(rows)
            if relayout:
                if self.selected is not None and self.selected >= len(rows):
                    self.selected = None
                self._fit_scroll()
            self.refresh(layout=relayout)
            return True
        strips = self._strips
        top = self.scroll_offset.y
        in_sight = range(top, top + self.lines_for_rows)
        for i, (old, new) in enumerate(zip(self._rows, rows)):
            if old != new:
                strips[i] = None
                if i in in_sight:
                    self.refresh(Region(0, i - top, width, 1))
        self._rows = rows
        return True

    def select(self, index: int | None) -> None:
        """Highlight row ``index`` (None: no row) and, when the highlight moved, scroll it into view."""
        if index == self.selected:
            return
        for i in (self.selected, index):
            if i is not None and i < len(self._strips):
                self._strips[i] = None
                self.refresh_line(i)
        self.selected = index
        if index is not None:
            self.scroll_to_row(index)

    def scroll_page_down(self, **_: object) -> None:
        """A page is the rows shown (the "more" line is not one): paging skips no row."""
        self.scroll_to(y=self.scroll_offset.y + self.lines_for_rows, animate=False)

    def scroll_page_up(self, **_: object) -> None:
        self.scroll_to(y=self.scroll_offset.y - self.lines_for_rows, animate=False)

    def scroll_to_row(self, index: int) -> None:
        """Scroll the least that brings row ``index`` into view."""
        top, lines = self.scroll_offset.y, self.lines_for_rows
        if index < top:
            self.scroll_to(y=index, animate=False)
        elif index >= top + lines:
            self.scroll_to(y=index - lines + 1, animate=False)

    # -- drawing ----------------------------------------------------------------------------------
    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._strips = [None] * len(self._strips)  # cached strips carry the old colours
        self.refresh()

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        if width != self._width:
            self._width, self._fit = width, self._fitting(self._rows, width)
            self._strips = [None] * len(self._rows)
        base = self.base_style()
        rows = self._rows
        if not rows:
            if y == 0:
                return text_strip(self.app.console, Text("no symbols", self.style_of("symbol-list--muted")), width, base)
            return Strip.blank(width, base)
        lines = self.lines_for_rows
        if y == lines:
            return self._more_line(width, base)
        index = self.scroll_offset.y + y
        if y > lines or index >= len(rows):
            return Strip.blank(width, base)
        strip = self._strips[index]
        if strip is None:
            if index == self.selected:  # highlighted across the whole line
                base = base + self.style_of("symbol-list--selected", partial=False)
            strip = self._strips[index] = text_strip(self.app.console, self._line(rows[index]), width, base)
        return strip

    def more_text(self) -> str:
        """The "more" line's words (empty when every row fits)."""
        if not self.overflowing:
            return ""
        top = self.scroll_offset.y
        above, below = top, max(0, len(self._rows) - top - self.lines_for_rows)
        keys = "↑↓ PgUp PgDn Home End" if self.has_focus else "wheel, or tab here then ↑↓ PgUp PgDn"
        return f"↑ {above} more  ↓ {below} more  ({len(self._rows)} symbols; {keys})"

    def _more_line(self, width: int, base) -> Strip:
        text = Text(self.more_text(), self.style_of("symbol-list--more"))
        return text_strip(self.app.console, text, width, base)

    def text_lines(self) -> list[str]:
        """The symbol rows on screen, as plain text (tests); the "more" line is ``more_text()``."""
        return [self.render_line(y).text for y in range(len(self.rows_in_sight()) if self._rows else self.size.height)]

    def _fitting(self, rows: list[Row], width: int) -> tuple[int, bool]:
        """The name column's width, and whether full venue names fit on every line."""
        name_w = max((len(r[1]) for r in rows), default=7) + 1
        return name_w, all(self._natural(r, name_w, full=True) <= width for r in rows)

    def _line(self, row: Row) -> Text:
        style = self.style_of
        muted = style("symbol-list--muted", partial=True)
        name_w, long_names = self._fit
        number, unified, venues, hidden = row
        text = Text()
        text.append(f"{number} " if number else "  ", muted)
        text.append(clean(unified).ljust(name_w), style("symbol-list--name", partial=True))
        for venue, price, status, approx in venues:
            text.append(" ● ", style(f"symbol-list--{status}", partial=True))
            text.append(clean(venue if long_names else short_venue(venue)), muted)
            text.append(" ")
            if price is None:
                text.append("-".rjust(11))
            else:
                text.append(f"{'≈' if approx else ''}{price:.{price_decimals(price)}f}".rjust(11))
        if hidden:
            text.append("  hidden", muted)
            text.stylize(muted)
        return text

    @staticmethod
    def _natural(row: Row, name_w: int, full: bool) -> int:
        venues = row[2]
        return 2 + name_w + sum(3 + (len(v[0]) if full else 3) + 1 + 11 for v in venues)
