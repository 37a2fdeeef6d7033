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
    "bus down": "-bad",  # a viewer: the venue may be fine, the bus that carries it is not
    "bus connecting": "-warn",
}


def bus_badge_state(bus) -> str | None:
    """What a viewer's venue badges show instead of the venue's state while its bus is not up."""
    if bus is None or not hasattr(bus, "state"):  # none, or a publisher (its venues are its own)
        return None
    state = bus.state()
    return None if state == "connected" else f"bus {state}"


def bus_summary(bus) -> str:
    """The bus in the summary line: up or down, and lag (viewer) or what is still to publish (collector)."""
    if bus is None:
        return ""
    stats = bus.stats()
    text = "  bus " + ("up" if stats["connected"] else "DOWN")
    if stats["role"] == "viewer":
        if stats.get("lag_ms") is not None:
            text += f" lag {short_ms(stats['lag_ms'])}ms"
    else:
        text += f" pending {stats['pending']} dropped {stats['dropped']}"
    return text


def short_ms(ms: float) -> str:
    if ms >= 1000:
        return f"{ms / 1000:.1f}s"
    if ms >= 100:
        return f"{ms:.0f}"
    if ms >= 1:
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
        self.rate: float | None = None  # messages per second
        self.p50: float | None = None  # latency, ms
        self.p99: float | None = None
        self._shown: tuple | None = None

    def show_state(self, state: str) -> None:
        """Called every tick: a no-op unless the state changed. Its class sets the colour."""
        if state != self.state:
            self.remove_class(*set(STATE_CLASSES.values()))
            self.add_class(STATE_CLASSES.get(state, "-bad"))
            self.state = state
            self._draw()

    def show_numbers(self, rate: float | None, p50: float | None, p99: float | None) -> None:
        """Called about once a second with the message rate and recent latency percentiles."""
        self.rate, self.p50, self.p99 = rate, p50, p99
        self._draw()

    def _draw(self) -> None:
        shown = (self.state, self.rate, self.p50, self.p99)
        if shown == self._shown:
            return
        self._shown = shown
        text = Text(no_wrap=True, overflow="ellipsis", end="")
        text.append(clean(self.venue), "bold")
        text.append(" ")
        text.append(clean(self.state))
        if self.rate is not None:
            text.append(f" {short_rate(self.rate)}/s")
        if self.p50 is not None and self.p99 is not None:
            text.append(f" {short_ms(self.p50)}/{short_ms(self.p99)}ms")
        self.update(text, layout=False)
