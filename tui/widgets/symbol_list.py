"""The symbol summary: one line per configured symbol with a badge and the last price for each venue.

A badge (●) is green when the venue's data for the symbol is fresh, red when it is stale and grey when
nothing arrived yet. Prices of pairs quoted in USDT/USDC but shown as USD are marked "≈". Hidden
symbols (keys 1-9) are greyed. Line API; a line is redrawn only when its row changed, and formatted only
when drawn.
"""
from __future__ import annotations

from rich.text import Text
from textual.geometry import Region, Size
from textual.strip import Strip

from tui.widgets.candle_table import price_decimals
from tui.widgets.formatting import short_venue
from tui.widgets.safe_text import clean
from tui.widgets.strips import TextLines, text_strip


class SymbolList(TextLines):
    COMPONENT_CLASSES = {
        "symbol-list--name",
        "symbol-list--fresh",
        "symbol-list--stale",
        "symbol-list--none",
        "symbol-list--muted",
    }

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._rows: list[tuple] = []
        self._fit: tuple[int, bool] = (0, False)  # (name width, full venue names) the strips were built for

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return max(1, len(self._rows))

    def rows_in_sight(self) -> range:
        """The indexes of the rows on screen (the list is a few lines high: most of 30 symbols are not)."""
        top = self.scroll_offset.y
        return range(top, top + self.size.height)

    def show(self, rows: list[tuple]) -> bool:
        """``rows``: (number, unified, [(venue, price, status, approximate)...], hidden) per symbol.

        Only the lines whose row changed are redrawn, and a line is formatted when it is drawn: the rows
        scrolled out of sight (30 symbols in a list six lines high) cost a comparison, not a format."""
        width = self.size.width
        if rows == self._rows and width == self._width:
            return False
        relayout = len(rows) != len(self._rows)
        fit = self._fitting(rows, width)
        if relayout or width != self._width or fit != self._fit:
            self._rows, self._fit, self._width = rows, fit, width
            self._strips = [None] * len(rows)
            self.refresh(layout=relayout)
            return True
        strips = self._strips
        for i, (old, new) in enumerate(zip(self._rows, rows)):
            if old != new:
                strips[i] = None
                self.refresh(Region(0, i, width, 1))
        self._rows = rows
        return True

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        if width != self._width:
            self._width, self._fit = width, self._fitting(self._rows, width)
            self._strips = [None] * len(self._rows)
        base = self.base_style()
        if not self._rows:
            if y == 0:
                return text_strip(self.app.console, Text("no symbols", self.style_of("symbol-list--muted")), width, base)
            return Strip.blank(width, base)
        if y >= len(self._rows):
            return Strip.blank(width, base)
        strip = self._strips[y]
        if strip is None:
            strip = self._strips[y] = text_strip(self.app.console, self._line(self._rows[y]), width, base)
        return strip

    def _fitting(self, rows: list[tuple], width: int) -> tuple[int, bool]:
        """The name column's width, and whether full venue names fit on every line."""
        name_w = max((len(r[1]) for r in rows), default=7) + 1
        return name_w, all(self._natural(r, name_w, full=True) <= width for r in rows)

    def _line(self, row: tuple) -> Text:
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
    def _natural(row: tuple, name_w: int, full: bool) -> int:
        venues = row[2]
        return 2 + name_w + sum(3 + (len(v[0]) if full else 3) + 1 + 11 for v in venues)
