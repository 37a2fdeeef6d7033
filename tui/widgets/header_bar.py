"""The top line: app name, mode (LIVE/DEMO/REPLAY/DVR), the HALTED banner or a start-up error, UTC clock.

The clock is the session's clock: the wall clock live, the recorded time in a replay.

While trading is halted the whole line turns red (class ``-halted``): the operator cannot miss it.
"""
from __future__ import annotations

import time

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Static

from tui.widgets.safe_text import clean


class HeaderBar(Horizontal):
    def __init__(self, mode: str, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.mode = mode
        self._banner: tuple | None = None
        self._second: tuple | None = None

    def compose(self) -> ComposeResult:
        yield Static(Text("clearterm", style="bold", end=""), id="app-name")
        yield Static(Text(clean(self.mode.upper()), end=""), id="mode")
        yield Static(id="banner")
        yield Static(id="clock")

    def show_mode(self, mode: str) -> None:
        """LIVE, DEMO, REPLAY or DVR (a replay of the running session)."""
        if mode != self.mode:
            self.mode = mode
            self.query_one("#mode", Static).update(Text(clean(mode.upper()), end=""), layout=False)

    def show_clock(self, now_ns: int) -> None:
        second = now_ns // 1_000_000_000
        narrow = self.app.size.width < 100  # the app's -narrow breakpoint
        if (second, narrow) == self._second:
            return
        self._second = (second, narrow)
        # Narrow terminals (class set by the app's breakpoints) drop the date to leave room for the banner.
        fmt = "%H:%M:%S UTC" if narrow else "%Y-%m-%d %H:%M:%S UTC"
        stamp = time.strftime(fmt, time.gmtime(second)) if second > 0 else "--:--:-- UTC"
        self.query_one("#clock", Static).update(Text(stamp, end=""), layout=False)

    def show_status(self, halted: bool, cause: str = "", by: str = "", error: str = "") -> None:
        """Halted beats an error; both turn the line red."""
        banner = (halted, cause, by, error)
        if banner == self._banner:
            return
        self._banner = banner
        self.set_class(halted, "-halted")
        self.set_class(bool(error) and not halted, "-error")
        text = Text(no_wrap=True, overflow="ellipsis", end="")
        if halted:
            text.append("■ TRADING HALTED", "bold")
            if cause:
                text.append(f": {clean(cause)}")
            if by:
                text.append(f" ({clean(by)})")
            text.append("  · u resume")
        elif error:
            text.append(clean(error))
        self.query_one("#banner", Static).update(text, layout=False)
