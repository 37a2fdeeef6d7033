"""A library user's tick listener cannot stop the live ticks (the watchdog, the aggregates and the stale-feed
halt run on them): one that raises, or an ``async def`` one, is reported in ``callback_errors``."""
import pytest
from waiting import wait_for

from feeds.api import Feed
from feeds.sim.server import Simulator

SYMBOL = "BTCUSDT"


@pytest.mark.parametrize("kind", ["async", "raises", "returns a count"])
async def test_a_bad_tick_listener_is_reported_and_the_ticks_go_on(kind):
    async with Simulator(symbols=(SYMBOL,), seed=3, venues=("BINANCE",), intervals=("1s",)) as sim:
        feed = Feed(["BINANCE"], [SYMBOL], interval="1s", endpoints={"BINANCE": [sim.ws_url("BINANCE")]},
                    startup_bars=0)
        ticks: list[int] = []

        async def on_tick_async(now_ns: int) -> None:
            ticks.append(now_ns)

        def on_tick_raises(now_ns: int) -> None:
            raise ValueError("a user's bug")

        def on_tick_count(now_ns: int) -> int:
            return len(ticks)

        bad = {"async": on_tick_async, "raises": on_tick_raises, "returns a count": on_tick_count}[kind]
        feed.tick_listeners.append(bad)
        feed.tick_listeners.append(lambda now_ns: ticks.append(now_ns))  # a good one after it
        await feed.start()
        try:
            assert await wait_for(lambda: len(ticks) >= 10, 10), len(ticks)  # ten ticks after the bad listener ran
            assert not feed._ticker.done()
            errors = list(feed.pipeline.callback_errors)
            if kind == "returns a count":
                assert not errors  # a plain function's return value is ignored, as it always was
            else:
                assert errors and all(e.startswith(f"tick listener {bad.__name__}") for e in errors), errors
        finally:
            await feed.stop()
