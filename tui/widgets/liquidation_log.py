"""Liquidations, newest last: time, symbol, side, size, price and notional; big ones highlighted."""
from __future__ import annotations

from rich.text import Text

from tui.widgets.formatting import short_venue, utc_hms
from tui.widgets.line_log import LineLog
from tui.widgets.safe_text import clean

DEFAULT_HIGHLIGHT_NOTIONAL = 50_000.0  # quote units (USDT)


class LiquidationLog(LineLog):
    COMPONENT_CLASSES = {"liquidation-log--big", "liquidation-log--muted", "liquidation-log--buy",
                         "liquidation-log--sell"}

    def __init__(self, highlight_notional: float = DEFAULT_HIGHLIGHT_NOTIONAL, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.highlight_notional = highlight_notional

    def on_mount(self) -> None:
        self.border_title = "Liquidations"

    def sync(self, liquidations) -> bool:
        """``liquidations``: a deque of ``Liquidation`` events, oldest first."""
        if not self.changed((len(liquidations), liquidations[-1] if liquidations else None)):
            return False
        muted, big = self.style_of("liquidation-log--muted"), self.style_of("liquidation-log--big")
        sides = {"buy": self.style_of("liquidation-log--buy"), "sell": self.style_of("liquidation-log--sell")}
        lines = []
        for liq in liquidations:
            notional = liq.price * liq.size
            line = Text()
            line.append(utc_hms(liq.exch_ns or liq.recv_ns, millis=True), muted)
            line.append(f" {clean(liq.symbol)} {short_venue(liq.venue)} ")
            line.append(f"{liq.side.upper():4}", sides.get(liq.side, muted))
            line.append(f" {liq.size:,.3f} @ {liq.price:,.2f}  ")
            line.append(f"{notional:,.0f}", big if notional >= self.highlight_notional else muted)
            lines.append(line)
        if not lines:
            lines.append(Text("no liquidation yet", muted))
        self.border_title = f"Liquidations  {len(liquidations)}  (highlighted from {self.highlight_notional:,.0f})"
        self.set_lines(lines)
        return True
