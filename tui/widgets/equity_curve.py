"""The paper equity curve drawn in the terminal: one column per slice of the session, bars in eighths.

Line API: the rows are built once per change of data or size and kept as strips; a refresh with the
same data draws nothing new. The left gutter labels the top and bottom of the scale; a column is green
(``equity-curve--up``) at or above the starting equity and red (``equity-curve--down``) below it.
"""
from __future__ import annotations

from collections.abc import Sequence

from rich.segment import Segment
from textual.strip import Strip
from textual.widget import Widget

from tui.widgets.style_cache import CachedStyles

BLOCKS = " ▁▂▃▄▅▆▇█"
GUTTER = 11  # "  10012.34 " labels on the left


def columns(values: Sequence[float], width: int) -> list[float]:
    """``values`` spread over exactly ``width`` columns (fewer values are stretched, more are squeezed to
    the last value of each slice), so the whole session fills the width and the newest value is last."""
    n = len(values)
    if n == 0 or width <= 0:
        return []
    if n <= width:
        return [values[i * n // width] for i in range(width)]
    return [values[(i + 1) * n // width - 1] for i in range(width)]


def scale_label(value: float) -> str:
    """A gutter label whole in GUTTER - 1 cells: 2 decimals, or 4 significant digits when that is too wide."""
    text = f"{value:.2f}"
    return text if len(text) < GUTTER else f"{value:.4g}"


def bar_rows(heights: Sequence[float], height: int) -> list[str]:
    """Rows top to bottom of a bar chart; ``heights`` are fractions 0..1 of the full height."""
    eighths = [round(h * height * 8) for h in heights]
    rows = []
    for row in range(height):
        floor = (height - 1 - row) * 8  # eighths below this row
        rows.append("".join(BLOCKS[max(0, min(8, e - floor))] for e in eighths))
    return rows


class EquityCurve(CachedStyles, Widget):
    COMPONENT_CLASSES = {"equity-curve--up", "equity-curve--down", "equity-curve--muted"}

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._values: list[float] = []
        self._base = 0.0
        self._strips: list[Strip] = []
        self._built_for: tuple[object, ...] = ()

    def show(self, values: Sequence[float], base: float, title: str) -> None:
        """Show equity ``values`` (oldest first) against the starting equity ``base``."""
        self.border_title = title
        values = list(values)
        if values == self._values and base == self._base:
            return
        self._values, self._base = values, base
        self._built_for = ()
        self.refresh()

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._built_for = ()
        self.refresh()

    def _build(self, width: int, height: int) -> list[Strip]:
        base_style = self.base_style()
        muted = base_style + self.style_of("equity-curve--muted")
        if not self._values or width <= GUTTER or height <= 0:
            text = "no paper fills yet" if not self._values else ""
            if len(text) > width:
                text = text[:max(0, width - 1)] + "…"
            first = Strip([Segment(text.ljust(width), muted)])
            return [first] + [Strip.blank(width, base_style)] * (height - 1)
        cols = columns(self._values, width - GUTTER)
        low = min(min(cols), self._base)
        high = max(max(cols), self._base)
        span = high - low or 1.0
        # bars start a little below the lowest value, so the lowest column still shows
        heights = [0.05 + 0.95 * (v - low) / span for v in cols]
        rows = bar_rows(heights, height)
        up = base_style + self.style_of("equity-curve--up")
        down = base_style + self.style_of("equity-curve--down")
        styles = [up if v >= self._base else down for v in cols]
        strips = []
        for y, row in enumerate(rows):
            label = scale_label(high) if y == 0 else scale_label(low) if y == height - 1 else ""
            segments = [Segment(label.rjust(GUTTER - 1) + " ", muted)]
            run_start = 0
            for x in range(1, len(row) + 1):  # one segment per run of one colour
                if x == len(row) or styles[x] is not styles[run_start]:
                    segments.append(Segment(row[run_start:x], styles[run_start]))
                    run_start = x
            strips.append(Strip(segments).extend_cell_length(width, base_style))
        return strips

    def render_line(self, y: int) -> Strip:
        width, height = self.size.width, self.size.height
        key = (width, height)
        if key != self._built_for:
            self._strips = self._build(width, height)
            self._built_for = key
        return self._strips[y] if y < len(self._strips) else Strip.blank(width, self.base_style())

    def text_lines(self) -> list[str]:
        return [self.render_line(y).text for y in range(self.size.height)]

