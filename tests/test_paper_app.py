"""The P&L view in the real app on a replay, and the ``paper`` statistics after the app's seek back.

The seek is the app's own (left arrow: one minute back, which rebuilds the session from the start of
the recording); playing on to the end must give the very same bytes as the first pass.
"""
from __future__ import annotations

import time
from pathlib import Path

import orjson
from waiting import press

from strategy.paper import PaperExecutor
from tui.app import ClearTermApp
from tui.runtime.replay_runner import ReplayRunner
from tui.widgets.equity_curve import EquityCurve, bar_rows, columns
from tui.widgets.pnl_view import FillsLog, PaperPositions


async def wait_for(pilot, predicate, timeout: float = 20.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await pilot.pause(0.02)

FIXTURE = Path(__file__).parent / "fixtures" / "app_session.jsonl.gz"


def test_columns_keep_the_newest_value_and_bars_fill_in_eighths():
    assert columns([1.0, 2.0, 3.0, 4.0], 2) == [2.0, 4.0]
    assert columns([1.0, 2.0], 5) == [1.0, 1.0, 1.0, 2.0, 2.0]
    assert bar_rows([1.0, 0.5, 0.0625], 2) == ["█  ", "██▁"]


async def test_pnl_view_shows_positions_fills_and_curve_and_a_seek_back_replays_them_exactly():
    runner = ReplayRunner([str(FIXTURE)], speed=None)
    app = ClearTermApp(runner, log_to_file=False)
    async with app.run_test(size=(160, 40)) as pilot:
        await wait_for(pilot, runner.finished.is_set, what="the replay to end")
        first = orjson.dumps(runner.session.stats()["paper"])
        paper: PaperExecutor = runner.session.paper
        assert paper.fill_count > 0
        await press(pilot, "p")
        log = app.query_one(FillsLog)
        # the view's widgets fill at the next refresh after the key
        await wait_for(pilot, lambda: log.lines and "fills" in str(log.border_title)
                       and app.query_one(PaperPositions).text_lines() and app.query_one(EquityCurve).text_lines(),
                       what="the fills log, the positions and the curve")
        fills = app.query_one(FillsLog).text_lines()
        assert len(fills) == paper.fill_count
        last = paper.fills[-1]
        assert last.symbol in fills[-1] and last.reason in fills[-1]
        positions = app.query_one(PaperPositions).text_lines()
        assert positions[0].startswith(f"equity {paper.equity:,.2f}")
        assert f"fills {paper.fill_count}" in positions[1]
        traded = {(f.venue, f.symbol) for f in paper.fills}
        assert sum(1 for line in positions if line.split()[:2] and tuple(line.split()[:2]) in traded) == len(traded)
        curve = app.query_one(EquityCurve).text_lines()
        assert any(ch in "".join(curve) for ch in "▁▂▃▄▅▆▇█")
        old_session = runner.session
        await press(pilot, "left")  # one minute back: the session is rebuilt from the start
        await wait_for(pilot, lambda: runner.session is not old_session and runner.paused, what="the seek to land")
        assert runner.session.paper is not paper and runner.session.paper.fill_count == 0  # 12:00:15, before any
        await wait_for(pilot, lambda: "".join(app.query_one(FillsLog).text_lines()[:1]).startswith("no paper fills yet"),
                       what="the view to follow the rebuilt session")
        await press(pilot, "space")
        await wait_for(pilot, runner.finished.is_set, what="the replay to end again")
        assert orjson.dumps(runner.session.stats()["paper"]) == first
        await wait_for(pilot, lambda: len(app.query_one(FillsLog).text_lines()) == paper.fill_count,
                       what="the fills log after the second pass")
