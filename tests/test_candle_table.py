"""The candle table's incremental redraw: what a table updated tick by tick shows is what a table built from
scratch on the same state shows, and a bar closing does not format again the rows that only moved down."""
from __future__ import annotations

import re

from textual.app import App, ComposeResult
from textual.containers import Horizontal

from feeds.core.state import SymbolState
from feeds.events import Candle
from tui.widgets.candle_table import CandleTable

S = 1_000_000_000


def bar(t: int, closed: bool, price: float) -> Candle:
    return Candle("BINANCE", "BTCUSDT", "BTC/USD", t * S, t * S, "1s", t * S, price, price + 0.5, price - 0.25,
                  price + 0.125, 1.5 + t % 5, 10 + t, closed)


class Tables(App[None]):
    CSS = "CandleTable { width: 1fr; height: 14; }"

    def compose(self) -> ComposeResult:
        with Horizontal():
            yield CandleTable("BINANCE", "BTCUSDT", "BTCUSDT", "1s", id="ticked")
            yield CandleTable("BINANCE", "BTCUSDT", "BTCUSDT", "1s", id="fresh")


async def test_a_table_updated_tick_by_tick_shows_what_a_fresh_table_shows():
    app = Tables()
    async with app.run_test(size=(140, 16)) as pilot:
        ticked, fresh = app.query_one("#ticked", CandleTable), app.query_one("#fresh", CandleTable)
        state = SymbolState("BINANCE", "BTCUSDT", "BTC/USD")
        series = state.series("1s")
        for t in range(5):
            series.apply(bar(t, True, 9990.0 + t))
        ticked.sync(state)
        await pilot.pause()
        # prices climb through 10000 (a digit more: the columns widen) and bars keep closing
        for t in range(5, 30):
            for tick in range(3):
                series.apply(bar(t, tick == 2, 9990.0 + 1.5 * t + tick / 4))
                state.version += 1
                ticked.sync(state)
                fresh.forget()
                fresh.sync(state)
                await pilot.pause()
                assert ticked.text_lines() == fresh.text_lines(), (t, tick)
        assert any(re.search(r"\b100\d\d\.\d", line) for line in ticked.text_lines()[2:])  # the wider prices are in sight


async def test_a_bar_closing_keeps_the_strips_of_the_rows_that_moved_down():
    app = Tables()
    async with app.run_test(size=(140, 16)) as pilot:
        table = app.query_one("#ticked", CandleTable)
        state = SymbolState("BINANCE", "BTCUSDT", "BTC/USD")
        series = state.series("1s")
        for t in range(20):
            series.apply(bar(t, True, 100.0))
        series.apply(bar(20, False, 100.0))
        table.sync(state)
        await pilot.pause()
        before = list(table._rows)  # forming bar, then closed bars newest first
        series.apply(bar(20, True, 100.0))
        series.apply(bar(21, False, 100.0))
        state.version += 1
        table.sync(state)
        after = table._rows
        # rows 0 (the new forming bar) and 1 (the bar that just closed) are new; the others moved down one line
        assert after[2:] == before[1:-1]
        assert all(a is b for a, b in zip(after[2:], before[1:-1]))
