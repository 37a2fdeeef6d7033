"""Recently rejected frames: time, connection, reason key and sentence, then a safe excerpt of the frame."""
from __future__ import annotations

from rich.text import Text

from tui.widgets.formatting import utc_hms
from tui.widgets.line_log import LineLog
from tui.widgets.safe_text import clean, excerpt


class RejectionLog(LineLog):
    COMPONENT_CLASSES = {"rejection-log--reason", "rejection-log--muted"}

    def on_mount(self) -> None:
        self.border_title = "Rejected frames"

    def sync(self, pipeline) -> bool:
        recent = pipeline.recent_rejections
        total = sum(pipeline.rejected.values())
        if not self.changed((total, len(recent), recent[-1] if recent else None)):
            return False
        muted = self.style_of("rejection-log--muted")
        reason_style = self.style_of("rejection-log--reason")
        lines = []
        for conn, ev in recent:
            text = Text()
            text.append(utc_hms(ev.recv_ns, millis=True), muted)
            text.append(" ")
            text.append(clean(conn).ljust(11), muted)
            text.append(clean(ev.reason).ljust(16), reason_style)
            text.append(clean(ev.detail))
            lines.append(text)
            lines.append(Text("    raw: " + excerpt(ev.raw), muted))
        if not lines:
            lines.append(Text("no rejected frames", muted))
        by_reason = ", ".join(f"{clean(k)} {v}" for k, v in sorted(pipeline.rejected.items()))
        self.border_title = f"Rejected frames  {total}" + (f" ({by_reason})" if by_reason else "")
        self.set_lines(lines)
        return True
