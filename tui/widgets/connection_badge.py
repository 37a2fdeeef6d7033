"""A fixed-width badge for one venue connection: state (coloured by CSS class), msg/s, latency p50/p99.

Its width is set in CSS, so updates use ``Static.update(..., layout=False)``: no layout pass.
"""
from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from tui.widgets.safe_text import clean

STATE_CLASSES = {
    "subscribed": "-good",
    "connecting": "-warn",
    "reconnecting": "-warn",
    "starting": "-warn",
    "stale": "-bad",
    "failed": "-bad",
    "disconnected": "-bad",
}


def short_ms(ms: float) -> str:
    if ms >= 1000:
        return f"{ms / 1000:.1f}s"
    if ms >= 100:
        return f"{ms:.0f}"
    if ms >= 10:
        return f"{ms:.1f}"
    return f"{ms:.2f}"


def short_rate(per_s: float) -> str:
    if per_s >= 10_000:
        return f"{per_s / 1000:.0f}k"
    if per_s >= 1000:
        return f"{per_s / 1000:.1f}k"
    return f"{per_s:.0f}"


class ConnectionBadge(Static):
    def __init__(self, venue: str, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.venue = venue
        self.state = ""
        self._shown: tuple | None = None

    def show(self, state: str, rate: float | None, p50: float | None, p99: float | None) -> None:
        """Redraw when anything shown changed; the state's class sets the colour."""
        shown = (state, rate, p50, p99)
        if shown == self._shown:
            return
        self._shown = shown
        if state != self.state:
            self.remove_class(*set(STATE_CLASSES.values()))
            self.add_class(STATE_CLASSES.get(state, "-bad"))
            self.state = state
        text = Text(no_wrap=True, overflow="ellipsis", end="")
        text.append(clean(self.venue), "bold")
        text.append(" ")
        text.append(clean(state))
        if rate is not None:
            text.append(f"  {short_rate(rate)}/s")
        if p50 is not None and p99 is not None:
            text.append(f"  {short_ms(p50)}/{short_ms(p99)}ms")
        self.update(text, layout=False)
