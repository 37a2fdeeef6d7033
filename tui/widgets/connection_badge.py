"""A fixed-width badge for one venue connection: state (coloured by CSS class), msg/s, latency p50/p99.

While the connection is down, the numbers give way to why (the last failure: ``DNS failure``,
``connection refused``, ``HTTP 451``, ``closed with code 1008``) and the countdown to the next try;
the whole cause is the badge's tooltip. Its width is set in CSS, so updates use
``Static.update(..., layout=False)``: no layout pass.
"""
from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from tui.widgets.formatting import short_venue
from tui.widgets.safe_text import clean

DOWN_STATES = ("connecting", "reconnecting", "disconnected", "failed")  # the failure cause is news in these
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


def short_cause(cause: str) -> str:
    """``DNS failure: ...`` -> ``DNS failure``, ``closed with code 1008: ...`` -> ``closed 1008``..."""
    return cause.split(":", 1)[0].removeprefix("connection ").replace("closed with code", "closed")


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
    several = stats.get("collectors", 0) > 1  # a viewer of several collectors: how many, copies dropped
    text = "  bus" + (f"×{stats['collectors']} " if several else " ") + ("up" if stats["connected"] else "DOWN")
    if stats["role"] == "viewer":
        if stats.get("lag_ms") is not None:
            text += f" lag {short_ms(stats['lag_ms'])}ms"
        if several:
            text += f" copies {stats['duplicates']}"
        if stats.get("collectors_gone"):  # collectors whose heartbeats stopped
            text += f" gone {stats['collectors_gone']}"
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
        self.failure = ""  # the last failure cause, shown while the connection is down
        self.retry_in_s: int | None = None  # whole seconds to the next attempt
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

    def show_failure(self, cause: str, retry_in_s: float | None) -> None:
        """Called every tick: the connection's last failure and the seconds until it tries again."""
        retry = None if retry_in_s is None else max(0, int(retry_in_s + 0.999))  # counts down 3, 2, 1, 0
        if (cause, retry) != (self.failure, self.retry_in_s):
            if cause != self.failure:
                self.tooltip = clean(cause) or None
            self.failure, self.retry_in_s = cause, retry
            self._draw()

    def on_resize(self) -> None:
        self._draw()

    def _draw(self) -> None:
        down = self.state in DOWN_STATES and bool(self.failure)
        width = self.content_region.width
        shown = (self.state, self.rate, self.p50, self.p99, down and self.failure, down and self.retry_in_s,
                 down and width)
        if shown == self._shown:
            return
        self._shown = shown
        text = Text(no_wrap=True, overflow="ellipsis", end="")
        if down:
            if self.retry_in_s is not None:  # waiting to retry: the colour says down, the words why
                detail = f"{clean(short_cause(self.failure))}, retry {self.retry_in_s}s"
            else:
                detail = f"{clean(self.state)}: {clean(short_cause(self.failure))}"
            venue = self.venue if not width or len(self.venue) + 1 + len(detail) <= width else short_venue(self.venue)
            text.append(clean(venue), "bold")
            text.append(f" {detail}")
        else:
            text.append(clean(self.venue), "bold")
            text.append(f" {clean(self.state)}")
        if not down and self.rate is not None:
            text.append(f" {short_rate(self.rate)}/s")
        if not down and self.p50 is not None and self.p99 is not None:
            text.append(f" {short_ms(self.p50)}/{short_ms(self.p99)}ms")
        self.update(text, layout=False)
