"""Feed health, oldest first: connection state changes, stream staleness changes, each gap and
duplicate (venue, symbol, time and cause, from the feed core's happenings log), and REST errors."""
from __future__ import annotations

from rich.text import Text

from tui.widgets.formatting import utc_hms
from tui.widgets.line_log import LineLog
from tui.widgets.safe_text import clean

GOOD = ("subscribed", "ok")
INTEGRITY = ("gap", "duplicate")  # the happenings behind the header's "gaps" and "dup" counters


class HealthLog(LineLog):
    COMPONENT_CLASSES = {"health-log--good", "health-log--bad", "health-log--muted"}

    def on_mount(self) -> None:
        self.border_title = "Feed health"

    def sync(self, session) -> bool:
        conns = list(session.connections.values())
        events = session.stream_events
        rest_errors = session.feed.rest_errors
        counts = session.happenings.counts
        key = (tuple((c.name, len(c.history), c.history[-1] if c.history else None) for c in conns),
               len(events), events[-1] if events else None, len(rest_errors),
               rest_errors[-1] if rest_errors else None, tuple(counts.get(k, 0) for k in INTEGRITY))
        if not self.changed(key):
            return False
        muted = self.style_of("health-log--muted")
        good = self.style_of("health-log--good")
        bad = self.style_of("health-log--bad")
        rows: list[tuple[int, Text]] = []
        for conn in conns:
            for change in conn.history:
                text = Text()
                text.append(utc_hms(change.at_ns, millis=True), muted)
                text.append(" ")
                text.append(clean(conn.name).ljust(10) + " ", muted)  # always a space: no run-together columns
                text.append(clean(change.state).ljust(12) + " ", good if change.state in GOOD else bad)
                text.append(clean(change.reason), muted)
                rows.append((change.at_ns, text))
        for at_ns, health in events:
            text = Text()
            text.append(utc_hms(at_ns, millis=True), muted)
            text.append(" ")
            text.append(clean(f"{health.venue} {health.symbol} {health.kind}").ljust(23) + " ")
            text.append(clean(health.status).ljust(6) + " ", good if health.status in GOOD else bad)
            text.append(clean(health.detail), muted)
            rows.append((at_ns, text))
        for h in session.happenings.of(*INTEGRITY):
            text = Text()
            text.append(utc_hms(h.at_ns, millis=True), muted)
            text.append(" ")
            text.append(clean(f"{h.venue} {h.symbol}").ljust(24))
            text.append(h.kind.ljust(10), bad)
            text.append(clean(h.detail), muted)
            rows.append((h.at_ns, text))
        rows.sort(key=lambda r: r[0])
        lines = [text for _, text in rows]
        for error in rest_errors:  # REST failures carry no time: they come last
            text = Text()
            text.append("REST".ljust(13), bad)
            text.append(clean(error))
            lines.append(text)
        if not lines:
            lines.append(Text("no connection yet", muted))
        self.set_lines(lines)
        return True
