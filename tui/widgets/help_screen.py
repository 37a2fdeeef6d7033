"""The help screen: every key binding with its description, generated from the app's bindings.

Keys that do nothing right now (resume while trading, replay keys in a live view) are dimmed.

The list scrolls (arrow keys, page keys, the mouse) when the terminal is too short to show it whole.
"""
from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static


class HelpScreen(ModalScreen[None]):
    BINDINGS = [
        Binding("escape", "dismiss", "Close", id="help_close"),
        Binding("question_mark", "dismiss", "Close", show=False),
        Binding("q", "dismiss", "Close", show=False),
    ]

    def __init__(self, rows: list[tuple]) -> None:
        super().__init__()
        self.rows = rows  # (keys, description) or (keys, description, usable now)

    def compose(self) -> ComposeResult:
        width = max((len(row[0]) for row in self.rows), default=1)
        text = Text(end="")
        text.append("Keys", "bold")
        text.append("  (escape, ? or q closes; arrows scroll)\n\n")
        for keys, description, *usable in self.rows:
            dim = usable and not usable[0]
            text.append(keys.rjust(width), "dim" if dim else "bold")
            text.append(f"  {description}\n", "dim" if dim else "")
        text.rstrip()
        with VerticalScroll(id="help-box"):
            yield Static(text, id="help-text")

    def on_mount(self) -> None:
        self.query_one("#help-box").focus()
