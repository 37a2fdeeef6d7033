"""The market log: arbitrage windows and price spikes from the session's aggregator, newest last."""
from __future__ import annotations

from rich.text import Text

from tui.widgets.formatting import utc_hms
from tui.widgets.line_log import LineLog
from tui.widgets.safe_text import clean


class MarketLog(LineLog):
    COMPONENT_CLASSES = {"market-log--arb", "market-log--spike", "market-log--muted"}

    def on_mount(self) -> None:
        self.border_title = "Arbitrage and spikes"

    def sync(self, market_log) -> bool:
        """``market_log``: a deque of (ns, text)."""
        if not self.changed((len(market_log), market_log[-1] if market_log else None)):
            return False
        muted = self.style_of("market-log--muted")
        arb = self.style_of("market-log--arb")
        spike = self.style_of("market-log--spike")
        lines = []
        for ns, line in market_log:
            text = Text()
            text.append(utc_hms(ns, millis=True), muted)
            text.append(" ")
            text.append(clean(line), arb if line.startswith("ARB") else spike)
            lines.append(text)
        if not lines:
            lines.append(Text("no arbitrage window or price spike yet", muted))
        self.border_title = f"Arbitrage and spikes  {len(market_log)}"
        self.set_lines(lines)
        return True
