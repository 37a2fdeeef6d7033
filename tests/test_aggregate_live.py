"""The aggregator on live data: a venue the simulator stalls is excluded from the aggregate and shown stale."""

import waiting

from tui.runtime.runner import Runner
from tui.runtime.session import SessionConfig


async def until(predicate, timeout: float = 15.0, what: str = "the condition") -> None:
    await waiting.until(predicate, timeout, what)


async def test_a_stalled_venue_is_excluded_from_the_aggregate_and_shown_stale():
    runner = Runner(SessionConfig(mode="demo", venues=["BINANCE", "COINBASE"], symbols=["BTCUSDT"], interval="1s",
                                  record_path=None, stale_after_s=2.5, startup_bars=0))
    await runner.start()
    try:
        session = runner.session
        both = lambda: (agg := session.aggregates.get("BTC/USD")) is not None and not agg.stale_venues \
            and {v.venue for v in agg.venues if not v.stale} == {"BINANCE", "COINBASE"}  # noqa: E731
        await until(both, what="both venues in the aggregate")
        runner.sim.stall(seconds=30.0, venue="COINBASE")
        await until(lambda: session.aggregates["BTC/USD"].stale_venues == ["COINBASE"], what="COINBASE stale")
        agg = session.aggregates["BTC/USD"]
        binance = next(v for v in agg.venues if v.venue == "BINANCE")
        assert agg.best_bid_venue == agg.best_ask_venue == "BINANCE"
        assert agg.best_bid == binance.bid and agg.best_ask == binance.ask
        assert agg.median == binance.price  # the stale venue takes no part in any figure
        await until(lambda: session.connections["COINBASE#1"].state == "stale", what="the COINBASE badge stale")
        assert session.connections["BINANCE#1"].state == "subscribed"
        assert session.halt.halted and "COINBASE" in session.halt.cause
        stats = session.stats()["aggregate"]["BTC/USD"]
        assert stats["stale_venues"] == ["COINBASE"] and stats["venues"]["COINBASE"]["stale"] is True
    finally:
        await runner.stop()
