"""A depth chart of one synced book: cumulative bid size left of the mid, cumulative ask size right of it.

Each column is a price step between the deepest bid and the deepest ask shown; its height is the size
one would have to eat through to move the price there. The mid is marked ``┊``, the spread is the empty
band around it, and the title carries the book's state (synced / resyncing / waiting), mid and spread.
``depth_rows`` is pure; the widget is a ``TextLines`` that redraws only lines that changed.
"""
from __future__ import annotations

from bisect import bisect_left, bisect_right
from itertools import accumulate

from rich.text import Text

from tui.widgets.candle_table import compact_number, price_decimals
from tui.widgets.depth_book import STATE_NAMES
from tui.widgets.safe_text import clean
from tui.widgets.strips import TextLines

LEVELS = 50
STEPS = " ▁▂▃▄▅▆▇█"
MID = "┊"


def depth_rows(bids: list[tuple[float, float]], asks: list[tuple[float, float]], width: int,
               height: int) -> tuple[list[str], list[str], str]:
    """(plot rows top first, each cell's side per column "b"/"a"/"m"/" ", the price axis row)."""
    plot_h = height
    if not bids or not asks or width < 10 or plot_h < 1:
        return [" " * width] * plot_h, [" "] * width, " " * width
    low, high = bids[-1][0], asks[-1][0]
    mid = (bids[0][0] + asks[0][0]) / 2
    span = max(high - low, 1e-12)
    bid_prices = [p for p, _ in reversed(bids)]  # ascending
    bid_cum = list(accumulate(s for _, s in bids))[::-1]  # cum size from the best bid down to each, ascending prices
    ask_prices = [p for p, _ in asks]
    ask_cum = list(accumulate(s for _, s in asks))
    largest = max(bid_cum[0], ask_cum[-1])
    heights: list[float] = []
    sides: list[str] = []
    mid_col = min(width - 1, max(0, int((mid - low) / span * (width - 1))))
    for col in range(width):
        price = low + span * col / (width - 1)
        if col == mid_col:
            heights.append(0.0)
            sides.append("m")
        elif price < mid:
            i = bisect_left(bid_prices, price)  # the bids at or above this price are eaten to reach it
            heights.append(bid_cum[i] if i < len(bid_prices) else 0.0)
            sides.append("b" if i < len(bid_prices) else " ")
        else:
            i = bisect_right(ask_prices, price) - 1
            heights.append(ask_cum[i] if i >= 0 else 0.0)
            sides.append("a" if i >= 0 else " ")
    rows = []
    for r in range(plot_h - 1, -1, -1):
        cells = []
        for col, h in enumerate(heights):
            if sides[col] == "m":
                cells.append(MID)
                continue
            eighths = round(h / largest * plot_h * 8) if largest > 0 else 0
            cells.append(STEPS[max(0, min(8, eighths - r * 8))])
        rows.append("".join(cells))
    dec = price_decimals(mid)
    left, centre, right = f"{low:.{dec}f}", f"mid {mid:.{dec}f}", f"{high:.{dec}f}"
    axis = [" "] * width
    for start, label in ((0, left), (max(0, mid_col - len(centre) // 2), centre), (width - len(right) - 1, right)):
        if 0 <= start and start + len(label) <= width and all(c == " " for c in axis[start:start + len(label)]):
            axis[start:start + len(label)] = label
    return rows, sides, "".join(axis)


class DepthChart(TextLines):
    COMPONENT_CLASSES = {"depth-chart--bid", "depth-chart--ask", "depth-chart--muted", "depth-chart--title",
                         "depth-chart--synced", "depth-chart--resyncing", "depth-chart--waiting"}

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.venue = ""
        self.symbol = ""
        self._key: object = None

    def sync(self, venue: str, symbol: str, book_sync) -> bool:
        if book_sync is None:
            key = (venue, symbol, "waiting_snapshot", (), ())
        else:
            bids, asks = book_sync.book.top(LEVELS)
            key = (venue, symbol, book_sync.state, tuple(bids), tuple(asks))
        if key == self._key and self._width == self.size.width:
            return False
        self._key = key
        self.set_lines(self._build(*key))
        return True

    def forget(self) -> None:
        self._key = None

    def relayout(self, width: int) -> list[Text]:
        return self._build(*self._key) if self._key is not None else []  # type: ignore[misc]

    def _build(self, venue: str, symbol: str, state: str, bids: tuple, asks: tuple) -> list[Text]:
        style = self.style_of
        muted = style("depth-chart--muted")
        width, height = self.size.width, self.size.height
        name = STATE_NAMES.get(state, state)
        title = Text()
        title.append(f"Depth chart · {clean(symbol)} · {clean(venue)}  ", style("depth-chart--title"))
        title.append(f" {clean(name)} ", style(f"depth-chart--{name if name in STATE_NAMES.values() else 'waiting'}"))
        if bids and asks:
            mid = (bids[0][0] + asks[0][0]) / 2
            spread = asks[0][0] - bids[0][0]
            title.append(f"  spread {spread:.{price_decimals(mid)}f} ({spread / mid * 1e4:.2f} bps)"
                         f"  bids {compact_number(sum(s for _, s in bids))}  asks {compact_number(sum(s for _, s in asks))}"
                         f"  (top {LEVELS} levels, cumulative)", muted)
        else:
            title.append("  no book yet", muted)
        rows, sides, axis = depth_rows(list(bids), list(asks), width, max(1, height - 2))
        styles = {"b": style("depth-chart--bid"), "a": style("depth-chart--ask"), "m": muted, " ": muted}
        lines = [title]
        for row in rows:
            text = Text()
            start = 0
            for i in range(1, len(row) + 1):
                if i == len(row) or sides[i] != sides[start]:
                    text.append(row[start:i], styles[sides[start]])
                    start = i
            lines.append(text)
        lines.append(Text(axis, muted))
        return lines
