"""Adds or removes a symbol while the session runs: type ``ETHUSDT`` to add it, ``-ETHUSDT`` to remove it.

Dismisses with the text typed (stripped), or None on escape; the app does the change and reports errors.
"""
from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static

from tui.widgets.safe_text import clean


class SymbolPicker(ModalScreen[str | None]):
    AUTO_FOCUS = "Input"
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="picker_cancel")]

    def __init__(self, symbols: list[str]) -> None:
        super().__init__()
        self.symbols = list(symbols)

    def compose(self) -> ComposeResult:
        with Vertical(id="picker-box", classes="modal-box"):
            yield Static(Text("Add a symbol (e.g. ADAUSDT or ADA/USD), or remove one with a leading '-'",
                              end=""))
            yield Static(Text("now: " + (", ".join(clean(s) for s in self.symbols) or "none"), end=""),
                         id="picker-symbols")
            yield Input(placeholder="SYMBOL or -SYMBOL", id="picker-input", max_length=40)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        text = event.value.strip()
        self.dismiss(text or None)

    def action_cancel(self) -> None:
        self.dismiss(None)
