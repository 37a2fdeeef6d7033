"""Asks for a recorded time of day, ``HH:MM:SS`` (UTC), and dismisses with seconds since midnight or None."""
from __future__ import annotations

import re

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static

_TIME = re.compile(r"\s*(\d{1,2}):(\d{2})(?::(\d{2}))?\s*\Z")


def parse_time_of_day(text: str) -> int | None:
    """``"12:03:30"`` or ``"12:03"`` -> seconds since midnight; anything else -> None."""
    m = _TIME.match(text)
    if m is None:
        return None
    h, mi, s = int(m.group(1)), int(m.group(2)), int(m.group(3) or 0)
    if h > 23 or mi > 59 or s > 59:
        return None
    return h * 3600 + mi * 60 + s


class GotoScreen(ModalScreen[int | None]):
    AUTO_FOCUS = "Input"
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="goto_cancel")]

    def __init__(self, day: str, current: str) -> None:
        super().__init__()
        self.day = day  # the recorded day, "2026-01-01"
        self.current = current  # the replay position, "12:00:44"

    def compose(self) -> ComposeResult:
        with Vertical(id="goto-box", classes="modal-box"):
            yield Static(Text(f"Go to a time on {self.day} (UTC), now {self.current}", end=""))
            yield Input(placeholder="HH:MM:SS", id="goto-input", max_length=8)
            yield Static(Text("", end=""), id="goto-error")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        seconds = parse_time_of_day(event.value)
        if seconds is None:
            self.query_one("#goto-error", Static).update(Text("expected HH:MM:SS, e.g. 12:05:00", end=""))
            return
        self.dismiss(seconds)

    def action_cancel(self) -> None:
        self.dismiss(None)
