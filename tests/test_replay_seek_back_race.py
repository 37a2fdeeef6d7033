"""A seek back while the paced replay waits for its next record: the old play loop must stop there.

On Python 3.11 ``asyncio.wait_for`` returns normally when its task is cancelled after the event it waits for
was set (a control just before the seek sets it), so the cancelled old loop lived on and applied its records
to the new session (the bus viewer's DVR test failed now and then: a seek landed 17 ms past its target)."""
from __future__ import annotations

from feeds.clock import ManualClock
from feeds.drivers.recording import Recorder
from tests.waiting import until
from tui.runtime.replay_runner import ReplayRunner

T0 = 10**18
STEP = 200_000_000  # a record every 200 ms of recorded time
RECORDS = 6


async def test_a_seek_back_while_waiting_leaves_one_loop_applying_each_record_once(tmp_path):
    path = tmp_path / "paced.jsonl"
    recorder = Recorder(path, {"venues": ["BINANCE"], "symbols": ["BTCUSDT"], "started_ns": T0}, clock=ManualClock(T0))
    for i in range(RECORDS):
        recorder.write(T0 + i * STEP, "operator", "note", '{"text": "tick"}')
    recorder.close()
    runner = ReplayRunner([str(path)], speed=1.0)
    await runner.start()
    try:
        await until(lambda: runner.driver.records == 3, 10, "three records")  # now it waits 200 ms for the 4th
        old = runner.session
        target = runner.first_ns + STEP // 2
        runner.set_speed(1.0)  # a control and a seek in one step, as a key press and the DVR bar can make them:
        runner.seek(target)  # back, a new session from the first record, while the old loop's wait just ended
        await until(lambda: runner.session is not old and runner.paused and runner.position_ns == target, 5,
                    "the seek to land")
        assert runner.driver.records == 1
        runner.set_speed(None)
        runner.toggle_pause()
        await until(lambda: runner.finished.is_set(), 5, "the end of the recording")
        assert runner.driver.records == RECORDS  # each record once, by one loop
        assert runner.position_ns == T0 + (RECORDS - 1) * STEP
    finally:
        await runner.stop()
