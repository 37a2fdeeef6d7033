"""Backfilled bars warm the strategy even when the REST answer comes after the first live bars closed.

The simulator on loopback has 40 s of past 1 s bars; its REST answers pass through a gate (a real HTTP
server on 127.0.0.1) that opens only once the strategy has seen a live closed bar on every series, so
the history always lands behind live bars, as it does on a loaded machine or a slow venue.
"""
import asyncio

from waiting import until

from feeds.sim.server import Simulator
from strategy.scalper import ScalpStrategy
from tui.runtime.session import Session, SessionConfig

SYMBOLS = ["BTCUSDT", "ETHUSDT", "SOLUSDT"]




async def gated_rest(upstream_port: int, gate: asyncio.Event) -> asyncio.Server:
    """An HTTP server passing each request on to the upstream port once ``gate`` is set (one per connection)."""
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        await gate.wait()
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", upstream_port)
        up_writer.write(head)
        writer.write(await up_reader.read())  # the simulator answers and closes (Connection: close)
        up_writer.close()
        await writer.drain()
        writer.close()
    return await asyncio.start_server(handle, "127.0.0.1", 0)


async def test_backfill_landing_after_live_bars_warms_every_series_without_signals():
    gate = asyncio.Event()
    async with Simulator(symbols=SYMBOLS, intervals=("1s",), venues=["BINANCE"], history_s=40) as sim:
        server = await gated_rest(sim.port, gate)
        port = server.sockets[0].getsockname()[1]
        session = Session(SessionConfig(mode="demo", venues=["BINANCE"], symbols=SYMBOLS, interval="1s",
                                        endpoints={"BINANCE": [sim.ws_url("BINANCE")]},
                                        rest_endpoints={"BINANCE": f"http://127.0.0.1:{port}"}))
        strategy = session.strategy
        keys = [("BINANCE", s, "1s") for s in SYMBOLS]
        await session.start()
        try:
            await until(lambda: all(strategy.values(*k) is not None for k in keys), 15.0,
                        "a live closed bar on every series")
            gate.set()  # the history arrives now, behind the live bars
            await until(lambda: all(strategy.values(*k)["slow_ema"] is not None for k in keys), 10.0,
                        "every series warm")
            slow = strategy.params.slow_ema
            for key in keys:  # checked with no await in between: no bar lands meanwhile
                series = session.pipeline.state.symbols[key[:2]].candles["1s"]
                live = [b for b in series.bars if b.source == "live"]
                assert 0 < len(live) < slow, "warm from the backfilled history, not from live bars"
                in_order = ScalpStrategy(strategy.params)
                for bar in series.bars:
                    in_order.on_candle(bar, 0)
                assert strategy.values(*key) == in_order.values(*key)  # as if the bars had come in order
            live_opens = {(b.venue, b.symbol, b.open_ns) for k in keys
                          for b in session.pipeline.state.symbols[k[:2]].candles["1s"].bars if b.source == "live"}
            assert all((d.signal.venue, d.signal.symbol, d.signal.bar_open_ns) in live_opens
                       for d in session.signal_log)  # never a signal on a history bar
        finally:
            await session.stop()
            server.close()
            await server.wait_closed()
