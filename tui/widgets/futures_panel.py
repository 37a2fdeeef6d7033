"""Perpetuals: per symbol a PERP-tagged line (mark, funding and its countdown, open interest and its change,
basis to spot in bps) and a detail line (index, funding annualised, the spot venue compared with)."""
from __future__ import annotations

from rich.text import Text

from feeds.core.perp import PerpFigures
from tui.widgets.formatting import bps_text, short_venue
from tui.widgets.line_log import LineLog
from tui.widgets.safe_text import clean


def countdown(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}"


def funding_text(rate: float) -> str:
    return f"{rate * 100:+.4f}%"


def oi_text(figures: PerpFigures) -> str:
    if figures.open_interest is None:
        return "OI -"
    change = "" if figures.open_interest_change is None else f" ({figures.open_interest_change * 100:+.2f}%)"
    return f"OI {figures.open_interest:,.3f}{change}"


class FuturesPanel(LineLog):
    COMPONENT_CLASSES = {"futures-panel--tag", "futures-panel--muted", "futures-panel--up", "futures-panel--down"}
    follow_tail = False

    def on_mount(self) -> None:
        self.border_title = "Perpetuals"

    def sync(self, rows: list[PerpFigures]) -> bool:
        if not self.changed(tuple((r.symbol, r.mark, r.funding_rate, int(r.seconds_to_funding), r.open_interest,
                                   None if r.basis_bps is None else round(r.basis_bps, 2)) for r in rows)):
            return False
        tag, muted = self.style_of("futures-panel--tag"), self.style_of("futures-panel--muted")
        up, down = self.style_of("futures-panel--up"), self.style_of("futures-panel--down")
        lines = []
        for r in rows:
            line = Text()
            line.append("PERP ", tag)
            line.append(f"{clean(r.symbol)} {short_venue(r.venue)}  ")
            line.append(f"mark {r.mark:,.2f}  ")
            line.append("fund ")
            line.append(funding_text(r.funding_rate), up if r.funding_rate >= 0 else down)
            line.append(f" in {countdown(r.seconds_to_funding)}  basis {bps_text(r.basis_bps)} bps")
            lines.append(line)
            spot = f"vs {short_venue(r.spot_venue)}" if r.spot_venue else "no spot"
            lines.append(Text(f"     idx {r.index:,.2f}  {r.funding_annual * 100:+.2f}%/yr  {oi_text(r)}  {spot}",
                              muted))
        if not lines:
            lines.append(Text("no perpetual with a mark price yet", muted))
        self.set_lines(lines)
        return True
