"""Line-API building blocks: one line of rich ``Text`` as a ``Strip`` of an exact width, and a widget
that shows a list of such lines, caching each line's strip and redrawing only the lines that changed."""
from __future__ import annotations

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.geometry import Region
from textual.strip import Strip
from textual.widget import Widget

from tui.widgets.style_cache import CachedStyles

ELLIPSIS = "…"


def text_strip(console, text: Text, width: int, style: Style) -> Strip:
    """``text`` on one line over ``style``, padded to ``width`` or, when longer, cut with ``…`` in the last
    cell: a value cut by the edge is always visibly cut (``text`` is changed: pass a copy if it is kept)."""
    text.no_wrap = True
    text.end = ""
    text.stylize_before(style)
    return window(Strip(list(text.render(console))), 0, width, style)


def window(strip: Strip, start: int, width: int, style: Style) -> Strip:
    """Cells ``start`` to ``start + width`` of ``strip``, padded; an end where more text goes on (left of
    ``start``, right of the window) shows ``…`` instead of a silently cut value."""
    length = strip.cell_length
    out = strip.crop_extend(start, start + width, style)
    if width <= 0:
        return out
    if length > start + width:
        out = Strip.join([out.crop(0, width - 1), _mark(out, width - 1)])
    if start > 0 and length > start:
        out = Strip.join([_mark(out, 0), out.crop(1, width)])
    return out


def _mark(strip: Strip, cell: int) -> Strip:
    """The ellipsis in the style of the cell it replaces."""
    segments = list(strip.crop(cell, cell + 1))
    seg_style = segments[0].style if segments else None
    return Strip([Segment(ELLIPSIS, seg_style)], 1)


class TextLines(CachedStyles, Widget):
    """Shows ``self._lines``; subclasses build them for a width and hand them to ``set_lines``."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._lines: list[Text] = []
        self._strips: list[Strip | None] = []
        self._width = -1  # the width the lines were built for

    def relayout(self, width: int) -> list[Text] | None:
        """The lines rebuilt for a new width, or None to keep them (the size changed since they were built)."""
        return None

    def set_lines(self, lines: list[Text], layout: bool = False) -> None:
        """Show ``lines``; only the lines that differ from those shown are redrawn."""
        width = self.size.width
        if layout or width != self._width or len(lines) != len(self._lines):
            self._width = width
            self._lines = lines
            self._strips = [None] * len(lines)
            self.refresh(layout=layout)
            return
        strips = self._strips
        for i, (old, new) in enumerate(zip(self._lines, lines)):
            if old != new:
                strips[i] = None
                self.refresh(Region(0, i, width, 1))
        self._lines = lines

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._strips = [None] * len(self._strips)  # cached strips carry the old colours
        self.refresh()

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        if width != self._width:
            lines = self.relayout(width)
            if lines is not None:
                self._lines = lines
            self._width = width
            self._strips = [None] * len(self._lines)
        base = self.base_style()
        if y >= len(self._lines):
            return Strip.blank(width, base)
        strip = self._strips[y]
        if strip is None:
            strip = self._strips[y] = text_strip(self.app.console, self._lines[y].copy(), width, base)
        return strip

    def text_lines(self) -> list[str]:
        """What the widget shows, as plain text lines (for tests and screenshots)."""
        return [self.render_line(y).text for y in range(self.size.height)]
