"""The symbol summary's row shows a price for every venue it lists, a perpetual's included: the demo's
BTC/USD row lists BINANCE, COINBASE and BINANCE_FUTURES, whose instrument is BTC/USD:PERP."""
from __future__ import annotations

from waiting import until

from feeds.venues import DEMO_VENUES
from tui.app import ClearTermApp
from tui.runtime.runner import Runner
from tui.runtime.session import SessionConfig
from tui.widgets.symbol_list import SymbolList


def cells(line: str) -> dict[str, str]:
    """{venue short name: price text} of one summary line ("1 BTC/USD ● BIN ≈61261.85 ● CB 61276.48 ● BFU -")."""
    words = line.split()
    return {words[i + 1]: words[i + 2] for i, word in enumerate(words[:-2]) if word == "●"}


async def test_every_venue_of_a_row_shows_its_own_price_the_perpetual_too():
    assert "BINANCE_FUTURES" in DEMO_VENUES
    app = ClearTermApp(Runner(SessionConfig(mode="demo", interval="1s", venues=list(DEMO_VENUES))))
    async with app.run_test(size=(160, 48)):
        box = app.query_one(SymbolList)
        await until(lambda: len(cells(box.text_lines()[0])) == len(DEMO_VENUES), what="a row with every venue")
        await until(lambda: "-" not in cells(box.text_lines()[0]).values(), what="a price in every venue's cell")
        perp = app.session.pipeline.state.symbols[("BINANCE_FUTURES", "BTCUSDT")]
        assert perp.unified == "BTC/USD:PERP"  # a different instrument from the row's BTC/USD, shown all the same
        for text in cells(box.text_lines()[0]).values():
            float(text.lstrip("≈"))  # whole numbers, not elided
