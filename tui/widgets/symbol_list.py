"""The symbol summary: one line per configured symbol with a badge and the last price for each venue.

A badge (●) is green when the venue's data for the symbol is fresh, red when it is stale and grey when
nothing arrived yet. Prices of pairs quoted in USDT/USDC but shown as USD are marked "≈". Hidden
symbols (keys 1-9) are greyed. Line API; a line is redrawn only when its text changed.
"""
from __future__ import annotations

from rich.text import Text
from textual.geometry import Size

from tui.widgets.candle_table import price_decimals
from tui.widgets.formatting import short_venue
from tui.widgets.safe_text import clean
from tui.widgets.strips import TextLines


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

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return max(1, len(self._rows))

    def show(self, rows: list[tuple]) -> bool:
        """``rows``: (number, unified, [(venue, price, status, approximate)...], hidden) per symbol."""
        width = self.size.width
        if rows == self._rows and width == self._width:
            return False
        relayout = len(rows) != len(self._rows)
        self._rows = rows
        self.set_lines(self._build(rows, width), layout=relayout)
        return True

    def relayout(self, width: int) -> list[Text]:
        return self._build(self._rows, width)

    def _build(self, rows: list[tuple], width: int) -> list[Text]:
        style = self.style_of
        muted = style("symbol-list--muted", partial=True)
        name_w = max((len(r[1]) for r in rows), default=7) + 1
        long_names = all(self._natural(r, name_w, full=True) <= width for r in rows)
        lines = []
        for number, unified, venues, hidden in rows:
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
            lines.append(text)
        if not lines:
            lines.append(Text("no symbols", muted))
        return lines

    @staticmethod
    def _natural(row: tuple, name_w: int, full: bool) -> int:
        venues = row[2]
        return 2 + name_w + sum(3 + (len(v[0]) if full else 3) + 1 + 11 for v in venues)
