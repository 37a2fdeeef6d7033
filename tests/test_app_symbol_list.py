"""The symbol list with more symbols than lines, in the real app on the built-in simulator over loopback: a
trader who asked for 30 symbols can bring every one into view (keys, mouse wheel) and read its price; the
list says how many rows are out of sight, and the focused table's symbol is scrolled into view."""
from __future__ import annotations

import re

import pytest
from textual import events
from textual.geometry import Offset
from textual.pilot import _get_mouse_message_arguments
from waiting import press, until

from feeds.symbols import split_binance
from tui.app import ClearTermApp
from tui.runtime.runner import Runner
from tui.runtime.session import SessionConfig
from tui.widgets.candle_table import CandleTable
from tui.widgets.symbol_list import SymbolList

# every symbol the demo lists on Binance: ten bases against USDT, USDC and FDUSD
SYMBOLS = [b + q for q in ("USDT", "USDC", "FDUSD")
           for b in ("BTC", "ETH", "SOL", "BNB", "XRP", "DOGE", "ADA", "LTC", "AVAX", "LINK")]
CALM_SIM = {"trades_per_second": 3.0, "tick_hz": 10.0}  # as tests/test_app.py: keys are handled promptly
PRICE = re.compile(r"≈?\d+\.\d+")


def demo_app() -> ClearTermApp:
    cfg = SessionConfig(mode="demo", venues=["BINANCE"], symbols=list(SYMBOLS), interval="1s")
    return ClearTermApp(Runner(cfg, sim_options=CALM_SIM))


def names_of(symbol: str) -> set[str]:
    """What may name ``symbol``'s row: as configured, or unified without the USDT/USDC -> USD alias (an
    aliased BTC/USD would name the USDT and the USDC pair alike)."""
    base, quote = split_binance(symbol)
    return {symbol, f"{base}/{quote}"}


def list_on_screen(app) -> list[str]:
    """The symbol list's part of the screen, as the terminal shows it, one string per line."""
    region = app.query_one(SymbolList).region
    screen = [strip.text for strip in app.screen._compositor.render_strips()]
    return [line[region.x:region.right] for line in screen[region.y:region.bottom]]


def rows_on_screen(app) -> dict[str, str]:
    """{row name: price text} of the symbol rows on screen (the "more" line has no badge)."""
    out = {}
    for line in list_on_screen(app):
        words = line.split()
        if "●" not in words:
            continue
        name = words[1] if words[0].isdigit() else words[0]
        out[name] = words[words.index("●") + 2]
    return out


def last_price(app, symbol: str) -> float | None:
    st = app.session.pipeline.state.symbols.get(("BINANCE", symbol))
    return None if st is None else st.last_price()


async def wheel(pilot, widget, down: bool) -> None:
    """One turn of the mouse wheel over ``widget``, routed by the screen to what is under the pointer."""
    cls = events.MouseScrollDown if down else events.MouseScrollUp
    args = _get_mouse_message_arguments(widget, (2, 1))
    pilot.app.mouse_position = Offset(args["x"], args["y"])
    pilot.app.screen._forward_event(cls(**args))


async def every_price_known(app) -> None:
    """Every symbol traded, and the rows on screen show it."""
    await until(lambda: all(last_price(app, s) for s in SYMBOLS), timeout=30, what="a trade of every symbol")
    await until(lambda: "-" not in rows_on_screen(app).values(), what="the rows on screen with their prices")


def check_rows(app, seen: dict[str, str]) -> None:
    """Every subscribed symbol was on screen, under a name of its own, with a whole price near its last trade."""
    for symbol in SYMBOLS:
        shown = [n for n in seen if n in names_of(symbol)]
        assert shown, f"{symbol} never came into view; seen: {sorted(seen)}"
        text = seen[shown[0]]
        assert PRICE.fullmatch(text), f"{symbol}: {text!r} is not a whole price"
        assert abs(float(text.lstrip("≈")) / last_price(app, symbol) - 1) < 0.05, (symbol, text)


@pytest.mark.parametrize("size", [(160, 48), (80, 24)])
async def test_every_symbol_can_be_scrolled_into_view_with_the_keys_and_shows_its_price(size):
    app = demo_app()
    async with app.run_test(size=size) as pilot:
        box = app.query_one(SymbolList)
        await until(lambda: len(box._rows) == len(SYMBOLS), what="a row per symbol")
        await every_price_known(app)
        more = list_on_screen(app)[-1]
        assert re.search(r"↓ \d+ more", more), more  # the list says rows are out of sight, and how many
        first = box.region.height - 1
        assert f"↑ 0 more  ↓ {len(SYMBOLS) - first} more" in more
        assert 6 <= box.region.height <= size[1] // 3
        for _ in range(8):  # tab reaches the list first when it has rows out of sight
            if app.focused is box:
                break
            await press(pilot, "tab")
        assert app.focused is box, f"tab never reached the symbol list (focused: {app.focused})"
        seen = rows_on_screen(app)
        while box.scroll_offset.y < box.max_scroll_y:
            top = box.scroll_offset.y
            await press(pilot, "down")
            await until(lambda top=top: box.scroll_offset.y == top + 1, what="the list one row down")
            await pilot.pause()
            seen.update(rows_on_screen(app))
        check_rows(app, seen)
        assert re.search(r"↑ \d+ more  ↓ 0 more", list_on_screen(app)[-1])
        await press(pilot, "home")
        await until(lambda: box.scroll_offset.y == 0, what="home: back to the first row")
        paged = rows_on_screen(app)
        while box.scroll_offset.y < box.max_scroll_y:  # a page is the rows shown: paging skips none
            top = box.scroll_offset.y
            await press(pilot, "pagedown")
            await until(lambda top=top: box.scroll_offset.y > top, what="the list a page down")
            await pilot.pause()
            paged.update(rows_on_screen(app))
        check_rows(app, paged)


async def test_the_mouse_wheel_scrolls_the_list_and_the_focused_tables_symbol_is_kept_in_view():
    app = demo_app()
    async with app.run_test(size=(160, 48)) as pilot:
        box = app.query_one(SymbolList)
        await until(lambda: len(box._rows) == len(SYMBOLS), what="a row per symbol")
        await every_price_known(app)
        seen = rows_on_screen(app)
        assert box.max_scroll_y > 0, "the list cannot scroll"
        while box.scroll_offset.y < box.max_scroll_y:  # the wheel over the list, the list not focused
            top = box.scroll_offset.y
            await wheel(pilot, box, down=True)
            await until(lambda top=top: box.scroll_offset.y > top, what="the list scrolled by the wheel")
            await pilot.pause()
            seen.update(rows_on_screen(app))
        assert app.focused is not box
        check_rows(app, seen)

        while box.scroll_offset.y > 0:
            top = box.scroll_offset.y
            await wheel(pilot, box, down=False)
            await until(lambda top=top: box.scroll_offset.y < top, what="the list scrolled up by the wheel")
        assert "LINKFDUSD" not in rows_on_screen(app) and "LINK/FDUSD" not in rows_on_screen(app)
        last = [t for t in app.query(CandleTable) if t.symbol == "LINKFDUSD"][0]
        last.focus()  # where the initial focus lands varies with start-up timing: the last table, directly
        await until(lambda: app.focused is last, what="the last table focused")
        await until(lambda: "LINK/FDUSD" in rows_on_screen(app), what="the focused table's symbol in view")
        assert box.selected == len(SYMBOLS) - 1
        await press(pilot, "9")  # symbol 9 hidden: its row comes into view, saying so
        await until(lambda: any(line.split()[:1] == ["9"] and "hidden" in line for line in list_on_screen(app)),
                    what="row 9 in view, hidden")
