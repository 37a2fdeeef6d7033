"""The help screen: every key binding with its description, generated from the app's bindings."""
from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Static


class HelpScreen(ModalScreen[None]):
    BINDINGS = [
        Binding("escape", "dismiss", "Close", id="help_close"),
        Binding("question_mark", "dismiss", "Close", show=False),
        Binding("q", "dismiss", "Close", show=False),
    ]

    def __init__(self, rows: list[tuple[str, str]]) -> None:
        super().__init__()
        self.rows = rows  # (keys, description)

    def compose(self) -> ComposeResult:
        width = max((len(k) for k, _ in self.rows), default=1)
        text = Text(end="")
        text.append("Keys\n\n", "bold")
        for keys, description in self.rows:
            text.append(keys.rjust(width), "bold")
            text.append(f"  {description}\n")
        text.append("\nescape, ? or q closes this help")
        with Vertical(id="help-box"):
            yield Static(text, id="help-text")
