"""Cross-venue view per unified symbol: venues side by side, best bid/ask, spread, deviation, staleness.

For each symbol: a title line (best bid and ask with their venues in bold, the cross-venue spread in bps,
red when one venue's bid is above another's ask, and the price dispersion), a column header, then one row
per venue: bid, ask, last, deviation from the median in bps and data age. The best bid and ask cells are
bold; a stale venue's row is greyed and says so. Prices of pairs quoted in USDT/USDC but shown as USD are
marked "≈". Redrawn when the session's aggregates were recomputed (its 100 ms tick), changed lines only.
"""
from __future__ import annotations

from rich.text import Text

from feeds.core.aggregator import Aggregate, VenueView
from tui.widgets.candle_table import price_decimals
from tui.widgets.formatting import bps_text
from tui.widgets.line_log import LineLog
from tui.widgets.safe_text import clean

COLUMNS = (("venue", 11), ("bid", 13), ("ask", 13), ("last", 13), ("dev bps", 9), ("age", 10))


def age_text(view: VenueView) -> str:
    if view.age_ns is None:
        return "no data"
    seconds = view.age_ns / 1e9
    age = f"{seconds:.1f}s" if seconds < 100 else f"{seconds / 60:.0f}m"
    return f"stale {age}" if view.stale else age


class AggregateView(LineLog):
    follow_tail = False
    COMPONENT_CLASSES = {
        "aggregate-view--title",
        "aggregate-view--header",
        "aggregate-view--best",
        "aggregate-view--stale",
        "aggregate-view--crossed",
        "aggregate-view--muted",
    }

    def on_mount(self) -> None:
        self.border_title = "Cross-venue"

    def sync(self, aggregates: dict[str, Aggregate], is_approximate) -> bool:
        """``aggregates``: the session's dict (replaced on every tick); ``is_approximate(venue symbol)``."""
        if not self.changed(id(aggregates)):
            return False
        self._approx = is_approximate
        lines: list[Text] = []
        muted = self.style_of("aggregate-view--muted")
        for agg in aggregates.values():
            if lines:
                lines.append(Text())
            lines.extend(self._block(agg))
        if not lines:
            lines.append(Text("waiting for quotes and trades…", muted))
        self.set_lines(lines)
        return True

    def _block(self, agg: Aggregate) -> list[Text]:
        style = self.style_of
        muted = style("aggregate-view--muted", partial=True)
        best = style("aggregate-view--best", partial=True)
        ref = agg.median or agg.best_bid or next((v.price for v in agg.venues if v.price), None) or 0.0
        dec = price_decimals(ref)
        title = Text()
        title.append(clean(agg.unified), style("aggregate-view--title", partial=True))
        if agg.best_bid is not None:
            title.append("  bid ", muted)
            title.append(f"{agg.best_bid:.{dec}f} ")
            title.append(clean(agg.best_bid_venue or ""), best)
        if agg.best_ask is not None:
            title.append("  ask ", muted)
            title.append(f"{agg.best_ask:.{dec}f} ")
            title.append(clean(agg.best_ask_venue or ""), best)
        if agg.spread_bps is not None:
            crossed = agg.spread_bps < 0
            title.append("  spread ", muted)
            title.append(f"{agg.spread_bps:.2f} bps",
                         style("aggregate-view--crossed", partial=True) if crossed else None)
        if agg.dispersion_bps is not None:
            title.append("  disp ", muted)
            title.append(f"{agg.dispersion_bps:.2f} bps")
        header = Text("  ")
        for name, width in COLUMNS:
            header.append(name.ljust(width) if name == "venue" else name.rjust(width))
        header.stylize(style("aggregate-view--header", partial=True))
        lines = [title, header]
        for view in agg.venues:
            lines.append(self._row(agg, view, dec, best, muted))
        return lines

    def _row(self, agg: Aggregate, view: VenueView, dec: int, best, muted) -> Text:
        approx = "≈" if self._approx(view.symbol) else " "
        row = Text("  ")
        row.append(clean(view.venue).ljust(COLUMNS[0][1]))

        def price(value: float | None, width: int, is_best: bool) -> None:
            cell = "-" if value is None else f"{approx}{value:.{dec}f}"
            row.append(cell.rjust(width), best if is_best else None)

        price(view.bid, COLUMNS[1][1], not view.stale and view.venue == agg.best_bid_venue and view.bid == agg.best_bid)
        price(view.ask, COLUMNS[2][1], not view.stale and view.venue == agg.best_ask_venue and view.ask == agg.best_ask)
        price(view.last, COLUMNS[3][1], False)
        row.append(bps_text(view.deviation_bps).rjust(COLUMNS[4][1]))
        row.append(age_text(view).rjust(COLUMNS[5][1]), muted)
        if view.stale:
            row.stylize(self.style_of("aggregate-view--stale"))
        return row
