"""The candlestick chart as text: sizes from 80x24 to 200x60, round price levels, glyphs that tell up from
down without colour, gaps, backfill, forming bar, signal and halt markers, scrolling back through 500 bars."""
from __future__ import annotations

import re

import pytest
from msgspec.structs import replace

from feeds.events import Candle
from tui.widgets.candle_chart import (
    DOWN_BODY,
    MARK_BACKFILL,
    MARK_FORMING,
    MARK_GAP,
    MARK_HALT,
    MARK_LONG,
    UP_BODY,
    ChartInput,
    ChartStyles,
    chart_lines,
    nice_step,
    price_levels,
)

MIN = 60_000_000_000
T0 = 1_795_000_000 // 60 * 60 * 1_000_000_000  # on a whole minute
MISSING = 497  # no bar at this slot: a gap


def bars(n: int = 500) -> list[Candle]:
    out = []
    price = 60_000.0
    for i in range(n):
        if i == MISSING:
            continue
        step = 35.0 if (i // 7) % 2 else -30.0  # runs of up and down bars
        o, c = price, price + step
        out.append(Candle("BINANCE", "BTCUSDT", "BTC/USD", 0, 0, "1m", T0 + i * MIN, o, max(o, c) + 5,
                          min(o, c) - 5, c, 1.0 + i % 5, 10, True, "backfill" if i < 450 else "live"))
        price = c
    return out


def data(series=None, halts=(), signals=()) -> ChartInput:
    series = bars() if series is None else series
    forming = replace(series[-1], closed=False)
    return ChartInput(series[:-1], forming, "1m", MIN, "BINANCE BTCUSDT", list(halts), list(signals))


def text_rows(d: ChartInput, w: int, h: int, back: int = 0) -> list[str]:
    rows, _ = chart_lines(d, w, h, back, ChartStyles.plain())
    return ["".join(seg.text for seg in row) for row in rows]


def axis_levels(rows: list[str]) -> list[float]:
    return [float(m.group(1).replace(",", "")) for r in rows if (m := re.search(r"┤ ([\d,.]+)\s*$", r))]


@pytest.mark.parametrize("w, h", [(80, 24), (120, 36), (160, 48), (200, 60)])
def test_every_size_fills_exactly_and_labels_round_levels(w, h):
    rows = text_rows(data(), w, h)
    assert len(rows) == h and {len(r) for r in rows} == {w}
    levels = axis_levels(rows)
    assert len(levels) >= 3 and levels == sorted(levels, reverse=True)  # top row is the highest price
    step = min(a - b for a, b in zip(levels, levels[1:]))
    assert step == nice_step(step, 1) and all(abs(lv / step - round(lv / step)) < 1e-9 for lv in levels)
    marker_row = rows[h - 2 - max(2, h // 6)]
    plot_w = marker_row.index(MARK_FORMING) + 1  # the forming bar is the rightmost column
    assert plot_w >= max(40, w - 16)
    time_row = rows[h - 2 - max(2, h // 6) + 1]
    assert re.search(r"\d\d:\d\d", time_row)  # time labels under the bars


def test_up_and_down_bars_differ_without_colour_and_markers_sit_on_their_bars():
    series = bars()
    d = data(series, halts=[T0 + 490 * MIN + 5], signals=[(T0 + 485 * MIN, "long")])
    w, h = 80, 24
    rows = text_rows(d, w, h)
    marker_row = rows[h - 2 - max(2, h // 6)]
    right = marker_row.index(MARK_FORMING)  # the forming bar (slot 499) is the rightmost column
    plot = rows[1:h - 2 - max(2, h // 6)]

    def column(slot: int) -> str:
        return "".join(r[right - (499 - slot)] for r in plot)
    by_open = {b.open_ns: b for b in series}
    for slot in range(440, 499):
        bar = by_open.get(T0 + slot * MIN)
        if bar is None:
            assert column(slot).strip() == "" and marker_row[right - (499 - slot)] == MARK_GAP
            continue
        body = UP_BODY if bar.close >= bar.open else DOWN_BODY
        other = DOWN_BODY if body == UP_BODY else UP_BODY
        assert body in column(slot) and other not in column(slot), slot
    assert marker_row[right - 9] == MARK_HALT and marker_row[right - 14] == MARK_LONG
    assert marker_row[right - 60] == MARK_BACKFILL and marker_row[right - 40] == " "  # slot 439 backfill, 459 live
    assert rows[0].startswith("BINANCE BTCUSDT  1m  live  O ")


def test_scrolling_back_reaches_the_first_bar_and_stops_there():
    d = data()
    rows, max_back = chart_lines(d, 80, 24, 0, ChartStyles.plain())
    marker = 24 - 2 - 4
    plot_w = "".join(seg.text for seg in rows[marker]).index(MARK_FORMING) + 1
    assert max_back == 500 - plot_w
    old = text_rows(d, 80, 24, back=10_000)  # clamped to the oldest page
    assert old == text_rows(d, 80, 24, back=max_back) and f"{max_back} bars back" in old[0]
    first_column = "".join(r[0] for r in old[1:marker])
    assert old[marker][0] == MARK_BACKFILL and DOWN_BODY in first_column  # bar 0 (a down bar) at the left edge
    assert old[marker + 1] != text_rows(d, 80, 24)[marker + 1]  # other times under it
    assert text_rows(d, 80, 24, back=-5) == text_rows(d, 80, 24)


def test_small_windows_and_no_data_say_so():
    assert "too small" in text_rows(data(), 19, 24)[0]
    empty = ChartInput([], None, "1m", MIN, "BINANCE BTCUSDT", [], [])
    rows = text_rows(empty, 80, 24)
    assert "no bars yet" in rows[0] and len(rows) == 24


def test_price_levels_are_at_least_three_round_numbers():
    for low, high, rows in ((61_231.5, 61_240.2, 16), (0.14321, 0.14329, 40), (99.0, 101.0, 4), (1.0, 1.0000001, 10)):
        levels, decimals = price_levels(low, high, rows)
        assert len(levels) >= 3 and all(low <= lv <= high for lv in levels), (low, high, levels)
