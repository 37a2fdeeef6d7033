"""A scrollable list of text lines drawn with the line API; it follows the tail unless scrolled up.

Subclasses turn some session state into ``rich.text.Text`` lines and call ``set_lines``; only the
visible lines are turned into strips, and those strips are cached until the lines change. Used by the
signal log, the market log and the errors view, which change at most a few times a second.
"""
from __future__ import annotations

from rich.text import Text
from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.strip import Strip

from tui.widgets.strips import window
from tui.widgets.style_cache import CachedStyles


class LineLog(CachedStyles, ScrollView, can_focus=True):
    """Lines oldest first; new lines keep the view at the bottom if it was at the bottom."""

    follow_tail = True  # a log; False for a table that is read from the top

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.lines: list[Text] = []
        self.header: Text | None = None  # a line kept on top while the lines scroll (column names)
        self._strips: dict[int, Strip] = {}
        self._key: object = object()  # what the lines were built from; a new key means rebuild

    def changed(self, key: object) -> bool:
        """True (and remember ``key``) when the source moved on since the last build."""
        if key == self._key:
            return False
        self._key = key
        return True

    def forget(self) -> None:
        """The session was replaced: rebuild at the next sync."""
        self._key = object()

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._key = object()  # lines carry colours from component styles
        self._strips.clear()

    def set_lines(self, lines: list[Text]) -> None:
        """Show ``lines``; when as many lines as before, only the lines that differ are redrawn."""
        follow = self.follow_tail and self.is_vertical_scroll_end and not self.is_vertical_scrollbar_grabbed
        for line in lines:
            line.no_wrap = True
            line.end = ""
        old = self.lines
        self.lines = lines
        top = 1 if self.header is not None else 0
        size = Size(max((line.cell_len for line in lines), default=0), len(lines) + top)
        if len(old) == len(lines) and size == self.virtual_size:
            scroll_y = self.scroll_offset.y
            for i, (a, b) in enumerate(zip(old, lines)):
                if a != b:
                    self._strips.pop(i, None)
                    if scroll_y <= i + top < scroll_y + self.size.height:
                        self.refresh_line(i + top)
            return
        self._strips.clear()
        self.virtual_size = size
        if follow:
            self.scroll_end(animate=False, immediate=True, x_axis=False, force=True)
        self.refresh()

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        width = self.scrollable_content_region.width
        style = self.base_style()
        index = scroll_y + y
        if self.header is not None:
            if y == 0:
                header = self.header.copy()
                header.stylize_before(style)
                return window(Strip(list(header.render(self.app.console))), scroll_x, width, style)
            index -= 1
        if index >= len(self.lines):
            return Strip.blank(width, style)
        strip = self._strips.get(index)
        if strip is None:
            line = self.lines[index].copy()
            line.stylize_before(style)
            strip = self._strips[index] = Strip(list(line.render(self.app.console)))
        return window(strip, scroll_x, width, style).apply_offsets(scroll_x, index)

    def text_lines(self) -> list[str]:
        """Every line as plain text (tests, screenshots)."""
        return [line.plain for line in self.lines]
