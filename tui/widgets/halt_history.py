"""Every halt and resume of the session: time, action, cause, and who did it (operator or auto)."""
from __future__ import annotations

from rich.text import Text

from tui.widgets.formatting import utc_hms
from tui.widgets.line_log import LineLog
from tui.widgets.safe_text import clean


class HaltHistory(LineLog):
    COMPONENT_CLASSES = {"halt-history--halt", "halt-history--resume", "halt-history--muted"}

    def on_mount(self) -> None:
        self.border_title = "Halt history"

    def sync(self, halt) -> bool:
        history = halt.history
        if not self.changed((len(history), history[-1] if history else None)):
            return False
        muted = self.style_of("halt-history--muted")
        lines = []
        for record in history:
            style = self.style_of(
                "halt-history--halt" if record.action == "halt" else "halt-history--resume")
            text = Text()
            text.append(utc_hms(record.at_ns, millis=True), muted)
            text.append(" ")
            text.append(clean(record.action).upper().ljust(7), style)
            text.append(clean(record.by).ljust(9), muted)
            text.append(clean(record.cause))
            lines.append(text)
        if not lines:
            lines.append(Text("trading has not been halted", muted))
        self.border_title = f"Halt history  {'HALTED' if halt.halted else 'trading'}"
        self.set_lines(lines)
        return True
