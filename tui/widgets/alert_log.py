"""The alerts panel (key ``A``): the rules in force, the alerts fired (newest last), and a line to add a
rule or remove one with a leading ``-``.

Dismisses with the text typed, or None on escape; the app asks the session to change the rules and
reports a bad rule in one line.
"""
from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static

from strategy.alerts import Alert
from tui.widgets.formatting import utc_hms
from tui.widgets.line_log import LineLog
from tui.widgets.safe_text import clean

HINT = ('Add a rule, e.g. "BTCUSDT price > 65000", "ETHUSDT move > 2% in 5m", "BTCUSDT spread > 10 bps", '
        '"BTCUSDT arb > 5 bps", "stale", "gap", "skew > 500 ms", "halt"; remove one with a leading "-"')


class AlertLog(LineLog):
    """Fired alerts, newest last: time, rule, what made it true."""

    COMPONENT_CLASSES = {"alert-log--muted", "alert-log--alert"}

    def on_mount(self) -> None:
        self.border_title = "Alerts fired"

    def sync(self, alerts: list[Alert], fired: int) -> bool:
        if not self.changed((fired, alerts[-1] if alerts else None)):
            return False
        muted = self.style_of("alert-log--muted")
        strong = self.style_of("alert-log--alert")
        lines = []
        for alert in alerts:
            text = Text()
            text.append(utc_hms(alert.at_ns, millis=True), muted)
            text.append(" ")
            text.append(clean(alert.rule), strong)
            text.append("  " + clean(alert.detail))
            lines.append(text)
        if not lines:
            lines.append(Text("no alert fired yet", muted))
        self.border_title = f"Alerts fired  {fired}"
        self.set_lines(lines)
        return True


class AlertsScreen(ModalScreen[str | None]):
    AUTO_FOCUS = "Input"
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="alerts_cancel")]

    def __init__(self, rules: list[str], alerts: list[Alert], fired: int) -> None:
        super().__init__()
        self.rules = list(rules)
        self.alerts = list(alerts)
        self.fired = fired

    def compose(self) -> ComposeResult:
        with Vertical(id="alerts-box", classes="modal-box"):
            yield Static(Text(HINT, end=""))
            rules = "\n".join(f"  {clean(r)}" for r in self.rules) or "  none"
            yield Static(Text(f"rules:\n{rules}", end=""), id="alerts-rules")
            yield AlertLog(id="alert-log")
            yield Input(placeholder="RULE or -RULE", id="alerts-input", max_length=120)

    def on_mount(self) -> None:
        self.query_one(AlertLog).sync(self.alerts, self.fired)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value.strip() or None)

    def action_cancel(self) -> None:
        self.dismiss(None)
