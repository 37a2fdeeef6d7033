"""The replay bar: recorded time (UTC), progress when the end is known, speed, PAUSED / END / AT NOW.

Shown in ``clearterm replay`` and in the DVR view of a live session. Its height is fixed, so updates
use ``Static.update(..., layout=False)``; it is redrawn only when its text changes.
"""
from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from tui.widgets.formatting import utc_datetime

BAR_WIDTH = 20


def speed_text(speed: float | None) -> str:
    if speed is None:
        return "max"
    return f"{speed:g}x"


def progress_bar(fraction: float, width: int = BAR_WIDTH) -> str:
    filled = max(0, min(width, round(fraction * width)))
    return "━" * filled + "─" * (width - filled)


class ReplayBar(Static):
    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._shown = ""

    def show(self, label: str, position_ns: int, first_ns: int, end_ns: int | None, speed: float | None,
             paused: bool, finished: bool, hint: str = "", *, halted_then: bool = False,
             at_now: bool = False) -> None:
        """``halted_then``: the replayed session was halted at the time shown (the DVR, whose header
        shows the live halt); ``at_now``: a DVR that has played everything recorded so far."""
        text = Text(no_wrap=True, overflow="ellipsis", end="")
        text.append(f" {label} ", "reverse bold")
        text.append(f" {utc_datetime(position_ns)} UTC ")
        if end_ns and end_ns > first_ns and position_ns:
            fraction = min(1.0, max(0.0, (position_ns - first_ns) / (end_ns - first_ns)))
            text.append(progress_bar(fraction))
            text.append(f" {fraction * 100:3.0f}% ")
        text.append(f" {speed_text(speed)} ")
        if finished:
            text.append(" END ", "bold reverse")
        elif paused:
            text.append(" PAUSED ", "bold reverse")
        elif at_now:
            text.append(" AT NOW ", "bold reverse")
        if halted_then:
            text.append(" halted then ", "bold")
        if hint:
            text.append(f"  {hint}")
        if text.plain == self._shown:
            return
        self._shown = text.plain
        self.update(text, layout=False)
