"""Every view, at the smallest supported terminal and a large one, shows each number whole or visibly
elided (…), never silently cut: the screens of the deterministic replay (tui/screenshots.py's views) are
scanned region by region for a number touching the right edge of the widget that shows it (the value
may go on past the edge; a whole value keeps a space before it) or cut at its decimal point (``61267.``).
"""
from __future__ import annotations

import re

import pytest
from textual.geometry import Region
from textual.widget import Widget

from tui.screenshots import FIXTURE, FIXTURE_OF, SHOTS, replay_app, settle
from tui.widgets.strips import text_strip

SIZES = [(80, 24), (160, 48)]
AT_EDGE = re.compile(r"\d[.,:]?$")  # a digit (or a number's separator) in the last cell of a region
CUT_AT_POINT = re.compile(r"\d\.(?=\s|$)")  # ``61267.`` followed by nothing


def regions(app) -> list[tuple[Widget, int, int, int, int]]:
    """(widget, x, y, width, height) of the part of every visible widget's content on the active screen."""
    out = []
    for widget, geometry in app.screen._compositor.full_map.items():
        if not widget.display or not widget.visible:
            continue
        content = geometry.region.shrink(widget.styles.gutter)
        if widget.show_vertical_scrollbar:
            content = Region(content.x, content.y, content.width - widget.scrollbar_size_vertical, content.height)
        visible = content.intersection(geometry.clip)
        if visible.width > 0 and visible.height > 0:
            out.append((widget, visible.x, visible.y, visible.width, visible.height))
    return out


def cut_numbers(app) -> list[str]:
    """Every place on the active screen where a number is cut without a mark."""
    strips = app.screen._compositor.render_strips()
    found = []
    for widget, x, y, width, height in regions(app):
        for row in range(y, y + height):
            text = strips[row].crop(x, x + width).text
            if AT_EDGE.search(text) or CUT_AT_POINT.search(text):
                found.append(f"{widget!r} row {row}: {text!r}")
    return found


@pytest.fixture(autouse=True)
def utf8_locale(monkeypatch):
    monkeypatch.setenv("LANG", "C.UTF-8")  # no start-up warning over the views
    monkeypatch.delenv("LC_ALL", raising=False)
    monkeypatch.delenv("LC_CTYPE", raising=False)


@pytest.mark.parametrize("size", SIZES, ids=["80x24", "160x48"])
@pytest.mark.parametrize("view", list(SHOTS))
async def test_no_number_is_cut_without_a_mark(view, size):
    app = replay_app(FIXTURE_OF.get(view, FIXTURE))
    async with app.run_test(size=size) as pilot:
        await settle(pilot)
        for key in SHOTS[view]:
            await pilot.press(key)
        app.refresh_view(slow=True)
        await pilot.pause()
        screen = "\n".join(strip.text for strip in app.screen._compositor.render_strips())
        assert cut_numbers(app) == [], screen


def test_a_line_longer_than_its_widget_ends_in_an_ellipsis():
    from rich.console import Console
    from rich.style import Style
    from rich.text import Text

    console = Console(width=80)
    assert text_strip(console, Text("price 61267.53"), 12, Style()).text == "price 61267…"
    assert text_strip(console, Text("price 61267.53"), 14, Style()).text == "price 61267.53"  # fits: whole
    assert text_strip(console, Text("price 1.5"), 12, Style()).text == "price 1.5   "
