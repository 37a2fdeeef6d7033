"""The symbol summary formats only the lines it draws: 30 symbols in a list six lines high (five rows and a line
saying how many more) cost five lines."""
from __future__ import annotations

from rich.text import Text
from textual.app import App, ComposeResult

from tui.widgets.symbol_list import SymbolList


def rows(prices: list[float]) -> list[tuple]:
    return [(i + 1 if i < 9 else 0, f"S{i}/USD", [("BINANCE", p, "fresh", True)], False) for i, p in enumerate(prices)]


class CountingList(SymbolList):
    """Counts the lines it formats."""

    formatted = 0

    def _line(self, row: tuple) -> Text:
        self.formatted += 1
        return super()._line(row)


class ListApp(App[None]):
    CSS = "CountingList { height: auto; max-height: 6; }"

    def compose(self) -> ComposeResult:
        yield CountingList(id="symbols")


async def test_only_the_lines_in_sight_are_formatted_and_they_show_every_price_whole():
    app = ListApp()
    async with app.run_test(size=(80, 10)) as pilot:
        box = app.query_one(CountingList)
        prices = [100.0 + i for i in range(30)]
        box.show(rows(prices))
        await pilot.pause()
        assert box.size.height == 6
        assert box.formatted == 5
        assert box.text_lines()[0].split() == ["1", "S0/USD", "●", "BINANCE", "≈100.000"]
        assert box.more_text().startswith("↑ 0 more  ↓ 25 more")
        prices[20] = 5.0  # out of sight: nothing to format
        prices[2] = 12345.678  # in sight: its line is redrawn with the new price, whole
        assert box.show(rows(prices))
        await pilot.pause()
        assert box.formatted == 6  # the one changed line in sight
        assert box.text_lines()[2].split()[-1] == "≈12345.68"


class OneLineApp(App[None]):
    CSS = "SymbolList { height: auto; max-height: 1; }"  # a terminal a few lines high: 28% of it is one line

    def compose(self) -> ComposeResult:
        yield SymbolList(id="symbols")


async def test_a_list_one_line_high_shows_a_row_and_pages_through_every_symbol():
    app = OneLineApp()
    async with app.run_test(size=(80, 7)) as pilot:
        box = app.query_one(SymbolList)
        box.show(rows([100.0 + i for i in range(30)]))
        await pilot.pause()
        assert box.size.height == 1 and box.overflowing
        seen = []
        for _ in range(30):
            seen += [w for line in box.text_lines() for w in line.split() if w.endswith("/USD")]  # a row, not "more"
            box.action_page_down()
            await pilot.pause()
        assert seen == [f"S{i}/USD" for i in range(30)]
