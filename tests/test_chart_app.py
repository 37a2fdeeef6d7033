"""The chart view in the real app over the demo simulator: key c, the next symbol on c again, scrolling
back with PgUp / < / the mouse wheel and Home, back to live with End, at 80x24 and 160x48."""
from __future__ import annotations

import pytest
from textual import events
from waiting import press

from tests.test_app import CALM_SIM, wait_for
from tui.app import ClearTermApp
from tui.runtime.runner import Runner
from tui.runtime.session import SessionConfig
from tui.widgets.candle_chart import CandleChart


def bar_columns(chart: CandleChart) -> int:
    lines = chart.text_lines()  # none until the chart's first paint after the key
    return sum(1 for ch in lines[-1] if ch in "▁▂▃▄▅▆▇█") if lines else 0


@pytest.mark.parametrize("size", [(80, 24), (160, 48)], ids=["80x24", "160x48"])
async def test_chart_view_draws_scrolls_and_cycles_symbols(size):
    # ten minutes of simulator history: the 200 bars backfilled at start are more than a screen holds
    app = ClearTermApp(Runner(SessionConfig(mode="demo", interval="1s", venues=["BINANCE", "COINBASE"]),
                              sim_options={"history_s": 600, **CALM_SIM}), log_to_file=False)
    async with app.run_test(size=size) as pilot:
        chart = app.query_one(CandleChart)
        await wait_for(pilot, lambda: app._plan, what="the symbols")
        await press(pilot, "c")
        assert app.view == "chart" and chart.display and app.focused is chart
        await wait_for(pilot, lambda: bar_columns(chart) >= 40 and chart.max_back > 40, timeout=60,
                       what="the backfilled bars on the chart")
        lines = chart.text_lines()
        assert len(lines) == chart.size.height and all(len(line) == chart.size.width for line in lines)
        assert lines[0].startswith("BINANCE BTCUSDT  1s  live")
        assert sum("┤ " in line for line in lines) >= 3  # labelled price levels

        await press(pilot, "pageup")
        await wait_for(pilot, lambda: "bars back" in chart.text_lines()[0], what="a page back")
        back = chart.bars_back
        assert back > 0
        await press(pilot, "less_than_sign")
        assert chart.bars_back > back or chart.bars_back == chart.max_back
        await press(pilot, "end")
        assert chart.bars_back == 0 and "live" in chart.text_lines()[0]
        chart.post_message(events.MouseScrollUp(chart, 1, 1, 0, 0, 0, False, False, False))
        await wait_for(pilot, lambda: chart.bars_back >= 3, what="the wheel")  # more once new bars come: the view stays put
        await press(pilot, "home")
        assert chart.bars_back == chart.max_back
        await press(pilot, "end")

        await press(pilot, "c")  # again: the next (venue, symbol)
        await wait_for(pilot, lambda: not chart.text_lines()[0].startswith("BINANCE BTCUSDT"), what="next symbol")
        assert chart.text_lines()[0].startswith("COINBASE BTC-USD")
        await press(pilot, "left")  # not a replay: arrows are free, and do not scroll the chart
        assert chart.bars_back == 0


async def test_brackets_switch_tables_and_chart_between_timeframes():
    from tui.widgets.candle_table import CandleTable
    app = ClearTermApp(Runner(SessionConfig(mode="demo", interval="1s", intervals=["1s", "1m"],
                                            venues=["BINANCE"]), sim_options={"history_s": 180, **CALM_SIM}), log_to_file=False)
    async with app.run_test(size=(120, 36)) as pilot:
        await wait_for(pilot, lambda: app._tables, what="the tables")
        await press(pilot, "right_square_bracket")
        assert app.shown_interval == "1m" and {t.interval for t in app.query(CandleTable)} == {"1m"}
        await press(pilot, "c")
        chart = app.query_one(CandleChart)
        await wait_for(pilot, lambda: chart.text_lines() and "  1m  " in chart.text_lines()[0], what="a 1m chart")
        await press(pilot, "right_square_bracket")  # no longer one: stays
        assert app.shown_interval == "1m"
        await press(pilot, "left_square_bracket")
        await wait_for(pilot, lambda: "  1s  " in chart.text_lines()[0], what="the 1s chart again")
        assert {t.interval for t in app.query(CandleTable)} == {"1s"}
