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

# What the latency figures on screen measure (one line each, after the keys).
FIGURES = (
    ("latency p50/p99", "per venue, last 512 frames: our clock when a frame was processed minus the"),
    ("", "exchange's timestamp in it (network + queueing + decoding, ms). A venue's catch-up data"),
    ("", "(Coinbase's last_match and first ticker) is left out: its age is not a delay. 0 means the"),
    ("", "exchange's clock ran ahead of ours (clock skew): the delay is unknown below it"),
    ("badge …/…ms", "the same p50/p99 as the latency panel"),
    ("--json latency_ms", "the same measure over the whole run; clock_ahead counts the samples below 0"),
    ("signal 2.31→0.01ms", "the signal's bar: exchange time -> received, then received -> decided"),
    ("", "(in demo and headless runs the simulator shares our process: its loop delay counts too)"),
)


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
        text.append("\nFigures\n\n", "bold")
        fig_width = max(len(name) for name, _ in FIGURES)
        for name, line in FIGURES:
            text.append(name.rjust(fig_width), "bold")
            text.append(f"  {line}\n")
        text.rstrip()
        with VerticalScroll(id="help-box"):
            yield Static(text, id="help-text")

    def on_mount(self) -> None:
        self.query_one("#help-box").focus()
