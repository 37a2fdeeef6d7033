"""The errors view explains the header's counters: each gap and duplicate with venue, symbol, time and
cause, in the real app replaying a recorded session (tests/fixtures/app_session.jsonl.gz)."""
from tui.screenshots import replay_app, settle
from tui.widgets.health_log import HealthLog


async def test_the_errors_view_lists_each_gap_and_duplicate():
    app = replay_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        await pilot.press("e")
        app.refresh_view(slow=True)
        await pilot.pause()
        stats = app.runner.session.stats()
        lines = [line.plain for line in app.query_one(HealthLog).lines]
    gaps = [line for line in lines if " gap " in line]
    dups = [line for line in lines if " duplicate " in line]
    assert len(gaps) == stats["gaps"] == 2 and len(dups) == stats["duplicates"] == 2
    assert any("BINANCE SOLUSDT" in line and "trade ids 5743220-5743245 missing" in line for line in gaps)
    assert any("BINANCE SOLUSDT" in line and "7 1s bars missing before this one" in line for line in gaps)
    assert all("COINBASE ETH-USD" in line and "the same 24 h statistics event again" in line for line in dups)
    assert all(line[2] == ":" and line[5] == ":" for line in gaps + dups)  # each with its time
