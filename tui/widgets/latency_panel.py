"""Latency per venue: a sparkline of recent exchange -> processed latencies with their p50 and p99.

A sample is our clock when a frame was processed minus the newest exchange timestamp in it (catch-up data
such as Coinbase's last_match excluded); p50/p99 are over the last 512 samples and never below 0, as in
``LatencyStats`` (``percentiles`` is shared with the connection badges).

Updated about once a second by the app (Sparklines are costly at high rates); each update assigns a new
list, which is what makes a Sparkline redraw.
"""
from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Sparkline, Static

from feeds.core.latency import percentiles
from tui.widgets.formatting import ms_number, short_venue
from tui.widgets.safe_text import clean

SPARK_SAMPLES = 120  # the most recent samples drawn; the Sparkline buckets them to its width


class VenueLatency(Horizontal):
    def __init__(self, venue: str) -> None:
        super().__init__(classes="venue-latency")
        self.venue = venue
        self._shown: tuple | None = None

    def compose(self) -> ComposeResult:
        yield Static(classes="latency-label")
        yield Sparkline([], classes="latency-spark")

    def show(self, samples: list[float], narrow: bool) -> None:
        pct = percentiles(samples)
        label = Text(no_wrap=True, overflow="ellipsis", end="")
        label.append(clean(short_venue(self.venue) if narrow else self.venue), "bold")
        if pct is None:
            label.append(" no data")
        else:
            label.append(f" {ms_number(pct[0])}/{ms_number(pct[1])}ms")
        shown = (label.plain, tuple(samples[-SPARK_SAMPLES:]))
        if shown == self._shown:
            return
        self._shown = shown
        self.query_one(".latency-label", Static).update(label, layout=False)
        self.query_one(Sparkline).data = list(shown[1])


class LatencyPanel(Vertical):
    """One row per venue; the border title names the figures."""

    def __init__(self, venues: list[str], *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.venues = list(venues)

    def compose(self) -> ComposeResult:
        for venue in self.venues:
            yield VenueLatency(venue)

    def on_mount(self) -> None:
        self.border_title = "latency p50/p99"

    def sync(self, telemetry: dict) -> None:
        """``telemetry``: venue -> VenueTelemetry (its ``latency`` LatencyStats)."""
        for venue in telemetry:
            if venue not in self.venues:
                self.venues.append(venue)
                self.mount(VenueLatency(venue))
        narrow = self.size.width < 30
        for row in self.query(VenueLatency):
            tel = telemetry.get(row.venue)
            row.show(tel.latency.recent_samples() if tel is not None else [], narrow)

    def forget(self) -> None:
        for row in self.query(VenueLatency):
            row._shown = None
