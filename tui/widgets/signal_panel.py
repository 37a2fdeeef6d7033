"""The signal log: every risk decision kept by the session, oldest first, following the newest.

Each line shows the decision time, symbol, venue, status (coloured by CSS component classes), side,
price, size, the signal's latencies (exchange -> receive, receive -> decision) and the risk reason.
Latencies read "exch→dec": exchange -> receive, then receive -> decision, in ms. The border title
carries the counts, a header line the column names; a reason too long for the width wraps onto indented
lines below its signal, so it can always be read whole. Rebuilt when a decision was added or the width
changed.
"""
from __future__ import annotations

import math
import textwrap

from rich.style import Style
from rich.text import Text

from strategy.risk import Decision
from tui.widgets.candle_table import price_decimals
from tui.widgets.formatting import ms_number, utc_hms
from tui.widgets.line_log import LineLog
from tui.widgets.safe_text import clean

# column names over the fields _lines writes (the same widths)
HEADER = ("time".ljust(9) + "symbol".ljust(9) + "venue".ljust(9) + "status".ljust(11) + "side".ljust(6)
          + "price".rjust(11) + " " + "size".rjust(10) + " " + "exch→dec ms".ljust(11) + " reason")
REASON_AT = HEADER.index("reason")  # a reason that does not fit after the fields goes on lines below


def size_text(size: float) -> str:
    """A size in plain digits, four significant ones at most, never in exponent notation (``10960``,
    ``1.643``, ``0.0008536``)."""
    if not math.isfinite(size):
        return str(size)
    if size == 0:
        return "0"
    magnitude = math.floor(math.log10(abs(size)))
    decimals = min(8, max(0, 3 - magnitude))
    return f"{size:.{decimals}f}"


class SignalPanel(LineLog):
    """Signals oldest first under a fixed column header; a long reason wraps onto lines of its own."""

    COMPONENT_CLASSES = {
        "signal-panel--approved",
        "signal-panel--suppressed",
        "signal-panel--rejected",
        "signal-panel--muted",
    }

    hint: str | None = None  # why the log is empty, refreshed by the app once a second

    def on_mount(self) -> None:
        self.border_title = "Signals"

    def sync(self, signal_log, hint: str = "") -> bool:
        counts = signal_log.counts
        entries = signal_log.entries
        width = self.scrollable_content_region.width
        if not self.changed((counts["total"], hint, width)):
            return False
        self.border_title = (f"Signals  {counts['total']} total · {counts['approved']} approved · "
                             f"{counts['suppressed']} suppressed · {counts['rejected']} rejected")
        muted = self.style_of("signal-panel--muted")
        if not entries:
            self.header = None
            self.set_lines([Text(line, muted) for line in textwrap.wrap(hint or "no signals yet", max(20, width))])
            return True
        self.header = Text(HEADER, self.style_of("signal-panel--muted") + Style(bold=True))
        lines: list[Text] = []
        for d in entries:
            lines.extend(self._lines(d, muted, width))
        self.set_lines(lines)
        return True

    def _lines(self, d: Decision, muted, width: int) -> list[Text]:
        s = d.signal
        status = self.style_of(f"signal-panel--{d.status.lower()}")
        text = Text()
        text.append(utc_hms(s.decided_ns), muted)
        text.append(" ")
        text.append(clean(s.symbol)[:8].ljust(8) + " ")
        text.append(clean(s.venue)[:8].ljust(8) + " ", muted)
        text.append(clean(d.status).ljust(10) + " ", status)
        text.append(clean(s.side).ljust(5) + " ")
        text.append(f"{s.price:>11.{price_decimals(s.price)}f} ")
        text.append(f"{size_text(d.size):>10} ")
        text.append(f"{ms_number(s.exch_to_recv_ms):>5}→{ms_number(s.recv_to_decision_ms):<5}", muted)
        reason = clean(d.reason)
        if width <= 0 or REASON_AT + len(reason) <= width:
            text.append(" " + reason, muted)
            return [text]
        indent = 11
        wrapped = textwrap.wrap(reason, max(20, width - indent)) or [""]
        return [text, *(Text(" " * indent + part, muted) for part in wrapped)]
