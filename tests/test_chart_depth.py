"""The depth chart: cumulative size grows away from the mid on both sides, the mid is marked, the book's
state is in the title; in the real app's depth view over the demo simulator."""
from __future__ import annotations

from waiting import press

from tests.test_app import demo_app, wait_for
from tui.widgets.depth_chart import MID, STEPS, DepthChart, depth_rows


def column_heights(rows: list[str]) -> list[int]:
    width = len(rows[0])
    return [sum(STEPS.index(r[c]) if r[c] in STEPS else 0 for r in rows) for c in range(width)]


def test_cumulative_size_grows_away_from_the_mid():
    bids = [(100.0 - i, 1.0 + i) for i in range(10)]  # best first
    asks = [(101.0 + i, 2.0) for i in range(10)]
    rows, sides, axis = depth_rows(bids, asks, 60, 8)
    assert len(rows) == 8 and {len(r) for r in rows} == {60} and len(axis) == 60
    mid_col = sides.index("m")
    assert all(r[mid_col] == MID for r in rows)
    assert set(sides[:mid_col]) <= {"b", " "} and set(sides[mid_col + 1:]) <= {"a", " "}
    h = column_heights(rows)
    left, right = h[:mid_col], h[mid_col + 1:]
    assert left == sorted(left, reverse=True) and right == sorted(right)  # deeper = more size to eat
    assert left[0] == 8 * 8  # the whole bid side (sum 55) is the tallest column: full height
    assert right[-1] == round(20 / 55 * 64)  # all asks (sum 20) relative to it
    assert axis.startswith("91.000 ") and axis.endswith(" 110.000 ") and "mid 100.500" in axis  # price_decimals(100) = 3; one blank column keeps the label off the edge


def test_no_book_draws_nothing():
    rows, sides, axis = depth_rows([], [], 40, 5)
    assert rows == [" " * 40] * 5 and axis.strip() == ""


async def test_depth_view_shows_the_chart_of_a_synced_book():
    app = demo_app(log_to_file=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await press(pilot, "d")
        chart = app.query_one(DepthChart)
        await wait_for(pilot, lambda: chart._lines and " synced " in chart._lines[0].plain, timeout=20,
                       what="a synced book on the depth chart")
        lines = [t.plain for t in chart._lines]
        assert lines[0].startswith("Depth chart · BTCUSDT · BINANCE") and "bps" in lines[0]
        bottom = lines[-2]
        mid = bottom.index(MID)
        assert "█" in bottom[:mid] and "█" in bottom[mid + 1:]  # both sides drawn
        assert "mid " in lines[-1]
