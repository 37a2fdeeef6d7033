"""``Feed`` used as a library, as in the README (no session, no app), against the simulator over loopback:
a stream the simulator stalls is found stale, reconnected, and the bars it missed are backfilled."""
import asyncio

from waiting import wait_for

from feeds.api import Feed
from feeds.drivers import rest
from feeds.drivers.connection import ReconnectPolicy
from feeds.sim.server import Simulator
from feeds.venues.binance import parse_klines

SYMBOLS = ("BTCUSDT", "ETHUSDT")




async def exchange_opens(sim, symbol: str, start_ms: int, end_ms: int) -> list[int]:
    url = (f"{sim.rest_url()}/api/v3/klines?symbol={symbol}&interval=1s&startTime={start_ms}&endTime={end_ms}"
           "&limit=1000")
    candles, _ = parse_klines((await rest.get(url)).body, symbol, "1s", 0, sim.now_ms())
    return [c.open_ns // 1_000_000 for c in candles if c.closed]


async def test_a_library_feed_reconnects_a_stalled_stream_and_backfills_the_bars_it_missed():
    async with Simulator(symbols=SYMBOLS, intervals=("1s",), venues=("BINANCE",)) as sim:
        feed = Feed(["BINANCE"], list(SYMBOLS), interval="1s", endpoints={"BINANCE": [sim.ws_url()]},
                    rest_endpoints={"BINANCE": sim.rest_url()}, startup_bars=0, stale_after_s=1.0,
                    stale_reconnect_s=0.3, policy=ReconnectPolicy(initial_s=0.02, cap_s=0.1))
        closed: dict[str, dict[int, str]] = {s: {} for s in SYMBOLS}  # open ms -> source, as the user sees it

        async def consume() -> None:  # the README's loop
            async for ev in feed.events():
                if ev.kind == "candle" and ev.closed:
                    closed[ev.symbol][ev.open_ns // 1_000_000] = ev.source

        async with feed:
            consumer = asyncio.get_running_loop().create_task(consume())
            conn = feed.connections["BINANCE#1"]
            assert await wait_for(lambda: all(len(closed[s]) >= 2 for s in SYMBOLS))
            stall_from = sim.now_ms()
            sim.stall(None, 3.0)
            assert await wait_for(lambda: conn.state == "stale")  # found by the feed itself
            assert await wait_for(lambda: conn.reconnects >= 1)
            stall_to = stall_from + 3000
            assert await wait_for(lambda: all(max(closed[s]) >= stall_to + 1000 for s in SYMBOLS))
            # every bar from before the stall to after it, the missed ones from REST
            assert await wait_for(lambda: all(set(range(min(closed[s]), stall_to + 1000, 1000)) <= closed[s].keys()
                                              for s in SYMBOLS))
            for symbol in SYMBOLS:
                first, last = min(closed[symbol]), max(closed[symbol])
                assert sorted(closed[symbol]) == await exchange_opens(sim, symbol, first, last)
            consumer.cancel()
    kinds = [h.kind for h in feed.happenings.of()]
    assert kinds.index("stale") < kinds.index("stale_reconnect") < kinds.index("reconnect")
    assert feed.stale_reconnects >= 1 and any(c.reason.startswith("stale for") for c in conn.history)
    for symbol in SYMBOLS:  # bars that opened and closed within the stall (with a margin) came from REST
        missed = [o for o in closed[symbol] if stall_from + 200 <= o and o + 1000 <= stall_to - 200]
        assert missed and all(closed[symbol][o] == "backfill" for o in missed)
