"""The errors view explains the header's counters: each gap and duplicate with venue, symbol, time and
cause, in the real app replaying a recorded session (tests/fixtures/app_session.jsonl.gz)."""
import gzip

import orjson
from waiting import press

from tui.screenshots import FIXTURE, replay_app, settle
from tui.widgets.health_log import HealthLog


def last_binance_trade() -> tuple[int, str]:
    """The recording's last aggTrade frame of BINANCE#1 and its receive time."""
    found = (0, "")
    with gzip.open(FIXTURE, "rb") as f:
        for line in f:
            rec = orjson.loads(line)
            if rec.get("c") == "BINANCE#1" and rec.get("k") == "recv" and "@aggTrade" in rec["p"]:
                found = (rec["t"], rec["p"])
    return found


async def test_the_errors_view_lists_each_gap_and_duplicate():
    at_ns, frame = last_binance_trade()
    app = replay_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        # The recording holds no duplicate (a ticker repeats only when every figure is equal): the venue
        # sends its last trade once more, as one does after a reconnect.
        app.runner.session.pipeline.feed("BINANCE#1", frame, at_ns + 1_000_000)
        await press(pilot, "e")
        app.refresh_view(slow=True)
        await pilot.pause()
        stats = app.runner.session.stats()
        lines = [line.plain for line in app.query_one(HealthLog).lines]
    symbol = orjson.loads(frame)["data"]["s"]
    gaps = [line for line in lines if " gap " in line]
    dups = [line for line in lines if " duplicate " in line]
    assert len(gaps) == stats["gaps"] == 2 and len(dups) == stats["duplicates"] == 1
    assert any("BINANCE SOLUSDT" in line and "trade ids 5743220-5743245 missing" in line for line in gaps)
    assert any("BINANCE SOLUSDT" in line and "7 1s bars missing before this one" in line for line in gaps)
    assert f"BINANCE {symbol}" in dups[0] and "Trade already seen" in dups[0]
    assert all(line[2] == ":" and line[5] == ":" for line in gaps + dups)  # each with its time
