"""The signal log: every risk decision kept by the session, oldest first, following the newest.

Each line shows the decision time, symbol, venue, status (coloured by CSS component classes), side,
price, size, the signal's latencies (exchange -> receive, receive -> decision) and the risk reason.
Latencies read "exch→decision": exchange -> receive, then receive -> decision, in ms. The border title
carries the counts. Rebuilt only when a decision was added.
"""
from __future__ import annotations

from rich.text import Text

from strategy.risk import Decision
from tui.widgets.candle_table import price_decimals
from tui.widgets.formatting import ms_number, utc_hms
from tui.widgets.line_log import LineLog
from tui.widgets.safe_text import clean


class SignalPanel(LineLog):
    COMPONENT_CLASSES = {
        "signal-panel--approved",
        "signal-panel--suppressed",
        "signal-panel--rejected",
        "signal-panel--muted",
    }

    def on_mount(self) -> None:
        self.border_title = "Signals"

    def sync(self, signal_log, hint: str = "") -> bool:
        counts = signal_log.counts
        entries = signal_log.entries
        if not self.changed((counts["total"], hint)):
            return False
        self.border_title = (f"Signals  {counts['total']} total · {counts['approved']} approved · "
                             f"{counts['suppressed']} suppressed · {counts['rejected']} rejected")
        muted = self.style_of("signal-panel--muted")
        if not entries:
            self.set_lines([Text(hint or "no signals yet", muted)])
            return True
        self.set_lines([self._line(d, muted) for d in entries])
        return True

    def _line(self, d: Decision, muted) -> Text:
        s = d.signal
        status = self.style_of(f"signal-panel--{d.status.lower()}")
        text = Text()
        text.append(utc_hms(s.decided_ns), muted)
        text.append(" ")
        text.append(clean(s.symbol).ljust(9))
        text.append(clean(s.venue).ljust(9), muted)
        text.append(clean(d.status).ljust(11), status)
        text.append(clean(s.side).ljust(6))
        text.append(f"{s.price:>12.{price_decimals(s.price)}f} ")
        text.append(f"{d.size:>10.4g}  ")
        text.append(f"{ms_number(s.exch_to_recv_ms):>5}→{ms_number(s.recv_to_decision_ms)}ms ", muted)
        text.append(clean(d.reason), muted)
        return text
