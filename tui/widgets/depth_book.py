"""One order book as a ladder: the top 10 levels per side with size bars, mid, spread and sync state.

Line API: a title line (symbol, venue, a state badge synced/resyncing/waiting, mid and spread), a column
header, then one line per level, bids on the left and asks on the right of a centre rule, each with a bar
proportional to its size (the largest visible level fills its bar). ``sync`` reads ``top(10)`` and
redraws only the lines whose level changed.
"""
from __future__ import annotations

from rich.text import Text

from tui.widgets.candle_table import compact_number, price_decimals
from tui.widgets.safe_text import clean
from tui.widgets.strips import TextLines

LEVELS = 10
TOP_LINES = 2
STATE_NAMES = {"synced": "synced", "resyncing": "resyncing", "waiting_snapshot": "waiting"}
PRICE_W = 12
SIZE_W = 9


def bar(size: float, largest: float, width: int) -> str:
    if width <= 0 or largest <= 0 or size <= 0:
        return ""
    return "█" * max(1, round(size / largest * width))


class DepthBook(TextLines):
    COMPONENT_CLASSES = {
        "depth-book--title",
        "depth-book--header",
        "depth-book--bid",
        "depth-book--ask",
        "depth-book--synced",
        "depth-book--resyncing",
        "depth-book--waiting",
        "depth-book--muted",
    }

    def __init__(self, venue: str, symbol: str, group: str, approximate: bool = False, *,
                 id: str | None = None) -> None:
        super().__init__(id=id)
        self.venue = venue
        self.symbol = symbol
        self.group = group
        self.approximate = approximate
        self._key: tuple[str, tuple, tuple, str] | None = None  # (state, bids, asks, problem) last drawn

    def sync(self, book_sync) -> bool:
        """Take the latest state of a ``feeds.core.book_sync`` sync (or None); redraw the lines that changed."""
        if book_sync is None:
            key = ("waiting_snapshot", (), (), "")
        else:
            bids, asks = book_sync.book.top(LEVELS)
            key = (book_sync.state, tuple(bids), tuple(asks), book_sync.last_problem)
        if key == self._key and self._width == self.size.width:
            return False
        self._key = key
        self.set_lines(self._build(*key))
        return True

    def forget(self) -> None:
        self._key = None

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._key = None

    def relayout(self, width: int) -> list[Text]:
        return self._build(*self._key) if self._key is not None else []

    def _build(self, state: str, bids: tuple, asks: tuple, problem: str) -> list[Text]:
        style = self.style_of
        muted = style("depth-book--muted", partial=True)
        width = self.size.width
        ref = (bids[0][0] if bids else asks[0][0] if asks else 0.0)
        dec = price_decimals(ref)
        title = Text()
        title.append(clean(self.symbol), style("depth-book--title", partial=True))
        if self.approximate:
            title.append("≈", muted)
        title.append(" · ")
        title.append(clean(self.venue))
        title.append("  ")
        name = STATE_NAMES.get(state, state)
        title.append(f" {clean(name)} ", style(f"depth-book--{name if name in STATE_NAMES.values() else 'waiting'}",
                                               partial=True))
        if bids and asks:
            best_bid, best_ask = bids[0][0], asks[0][0]
            mid = (best_bid + best_ask) / 2
            spread = best_ask - best_bid
            title.append(f"  mid {mid:.{dec + 1}f}", muted)
            title.append(f"  spread {spread:.{dec}f} ({spread / mid * 1e4:.2f} bps)", muted)
        elif state != "synced":
            title.append("  waiting for a snapshot" if not problem else f"  {clean(problem)}", muted)
        half = (width - 1) // 2
        bar_w = half - PRICE_W - SIZE_W - 2
        header = Text()
        header.append(" " * max(0, bar_w + 1) + "size".rjust(SIZE_W) + "bid".rjust(PRICE_W) + " ")
        header.append("│")
        header.append(" " + "ask".ljust(PRICE_W) + "size".ljust(SIZE_W))
        header.stylize(style("depth-book--header", partial=True))
        lines = [title, header]
        largest = max([s for _, s in bids] + [s for _, s in asks] + [0.0])
        bid_style = style("depth-book--bid", partial=True)
        ask_style = style("depth-book--ask", partial=True)
        for i in range(LEVELS):
            row = Text()
            if i < len(bids):
                price, size = bids[i]
                row.append(bar(size, largest, bar_w).rjust(max(0, bar_w)) + " ", bid_style)
                row.append(compact_number(size).rjust(SIZE_W))
                row.append(f"{price:.{dec}f}".rjust(PRICE_W) + " ", bid_style)
            else:
                row.append(" " * max(0, half))
            row.append("│", muted)
            if i < len(asks):
                price, size = asks[i]
                row.append(" " + f"{price:.{dec}f}".ljust(PRICE_W), ask_style)
                row.append(compact_number(size).ljust(SIZE_W))
                row.append(" " + bar(size, largest, bar_w), ask_style)
            lines.append(row)
        return lines
