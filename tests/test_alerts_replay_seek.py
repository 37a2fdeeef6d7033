"""A replay asked to deliver alerts (``--alert-webhook``) sends each alert once, however often the operator
seeks back and plays the same stretch again: the webhook's receiver cannot tell a second POST of the same
alert from a new one. Real app, the app's own seek (left arrow), a real HTTP server on 127.0.0.1."""
from __future__ import annotations

import time
from pathlib import Path

import orjson
from test_alerts_delivery import Hook
from waiting import press

from tui.app import ClearTermApp
from tui.runtime.replay_runner import ReplayRunner

FIXTURE = Path(__file__).parent / "fixtures" / "app_session.jsonl.gz"
RULE = "BTCUSDT price > 1"  # true from the first evaluation: fires once a pass, near the start


async def wait_for(pilot, predicate, timeout: float = 20.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out after {timeout}s waiting for {what}"
        await pilot.pause(0.02)


async def test_a_seek_back_does_not_send_an_alert_to_the_webhook_again():
    hook = Hook()
    try:
        runner = ReplayRunner([str(FIXTURE)], speed=None,
                              overrides={"alerts": [RULE], "alert_webhook": hook.url, "alert_desktop": False})
        app = ClearTermApp(runner, log_to_file=False)
        async with app.run_test(size=(160, 40)) as pilot:
            await wait_for(pilot, runner.finished.is_set, what="the replay to end")
            first = runner.session.alerts.history[-1]
            await wait_for(pilot, lambda: len(hook.bodies) == 1, what="the first POST")
            old = runner.session
            await press(pilot, "left")  # one minute back: a new session plays fast from the first record
            await wait_for(pilot, lambda: runner.session is not old and runner.paused, what="the seek to land")
            await press(pilot, "space")
            await wait_for(pilot, runner.finished.is_set, what="the replay to end again")
            assert list(runner.session.alerts.history) == [first]  # the second pass fired the same alert
        # the app's exit stopped the runner, which drained the dispatcher: every POST it would make is made
        assert len(hook.bodies) == 1 and orjson.loads(hook.bodies[0])["at_ns"] == first.at_ns
        deliveries = runner.session.stats()["alerts"]["deliveries"]
        assert deliveries["webhook"]["sent"] == 1 and deliveries["repeats"] == 1
    finally:
        hook.close()
