"""The signal log panel: the latest risk decisions, newest first, status coloured by CSS component classes.

Redrawn only when a decision was added (at most once per closed bar per symbol).
"""
from __future__ import annotations

import time

from rich.text import Text
from textual.widgets import Static

from strategy.risk import Decision
from tui.widgets.candle_table import price_decimals
from tui.widgets.safe_text import clean

MAX_ROWS = 40  # more than any screen shows; the rest is clipped by the panel's height


class SignalPanel(Static):
    COMPONENT_CLASSES = {
        "signal-panel--title",
        "signal-panel--approved",
        "signal-panel--suppressed",
        "signal-panel--rejected",
        "signal-panel--muted",
    }

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._total = -1

    def on_mount(self) -> None:
        self.show([], {"total": 0, "approved": 0, "suppressed": 0, "rejected": 0}, "")

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._total = -1  # colours come from component styles: redraw at the next sync

    def forget(self) -> None:
        self._total = -1

    def sync(self, signal_log, hint: str = "") -> bool:
        total = signal_log.counts["total"]
        if total == self._total:
            return False
        self.show(signal_log.recent(MAX_ROWS), signal_log.counts, hint)
        return True

    def show(self, decisions: list[Decision], counts: dict, hint: str) -> None:
        self._total = counts["total"]
        muted = self.get_component_rich_style("signal-panel--muted", partial=True)
        text = Text(no_wrap=True, overflow="ellipsis", end="")
        text.append("Signals", self.get_component_rich_style("signal-panel--title", partial=True))
        text.append(f"  {counts['total']} total · {counts['approved']} approved · "
                    f"{counts['suppressed']} suppressed · {counts['rejected']} rejected", muted)
        if not decisions:
            text.append("\n")
            text.append(hint or "no signals yet", muted)
        for d in decisions:
            s = d.signal
            status_style = self.get_component_rich_style(f"signal-panel--{d.status.lower()}", partial=True)
            text.append("\n")
            text.append(time.strftime("%H:%M:%S", time.gmtime(s.decided_ns // 1_000_000_000)), muted)
            text.append(" ")
            text.append(clean(s.symbol).ljust(9))
            text.append(clean(s.venue).ljust(9), muted)
            text.append(clean(d.status).ljust(11), status_style)
            text.append(clean(s.side).ljust(6))
            text.append(f"{s.price:>12.{price_decimals(s.price)}f} ")
            text.append(f"{d.size:>10.4g} ")
            text.append(clean(d.reason), muted)
        self.update(text, layout=False)  # the panel has a fixed height
