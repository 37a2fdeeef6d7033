"""``clearterm collect --publish`` ends on SIGTERM at every moment of its life, over real processes.

Three collector processes read one simulator on 127.0.0.1 and are sent SIGTERM: one before it ever
reached the bus (the bus address takes connections and drops them at once), one while it publishes to
a real ``nats-server -js``, one after that server was killed under it and while it tries again. Each
must exit 0 within its own stop budget (drain 5 s + 2 s to end the publisher + 2 s to close) and say
what it published. Before the fix, nats-py swallowed the publisher's one cancel now and then and the
collector hung for ever in its stop.
"""
from __future__ import annotations

import asyncio
import signal
import sys
import time

import orjson
import pytest

from feeds.sim.server import Simulator
from tests.test_bus import NO_SERVER, NatsServer, free_port, nats_server_binary, subject_counts

EXIT_WITHIN_S = 20.0  # the collector's stop budget is 9 s; a loaded 2-core machine gets twice that


class DroppingListener:
    """A TCP port that takes each connection and closes it at once: a bus that is not there yet."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.attempts = 0
        self.server: asyncio.Server | None = None

    async def start(self) -> None:
        async def drop(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self.attempts += 1
            writer.close()
        self.server = await asyncio.start_server(drop, "127.0.0.1", self.port)

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()


async def collector(sim: Simulator, url: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tui.runtime.cli", "collect", "--venues", "binance", "--symbols", "BTCUSDT",
        "--interval", "1s", "--endpoint", f"binance={sim.ws_url('BINANCE')}",
        "--rest-endpoint", f"binance={sim.rest_url('BINANCE')}", "--no-record", "--json", "--publish", url,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)


async def until(condition, proc: asyncio.subprocess.Process, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not await condition():
        assert proc.returncode is None, f"the collector exited ({proc.returncode}) before {what}"
        assert time.monotonic() < deadline, f"timed out after {timeout} s waiting for {what}"
        await asyncio.sleep(0.1)


async def terminate(proc: asyncio.subprocess.Process) -> dict:
    """SIGTERM; the process must exit 0 within EXIT_WITHIN_S: its --json statistics."""
    proc.send_signal(signal.SIGTERM)
    try:
        out, err = await asyncio.wait_for(proc.communicate(), EXIT_WITHIN_S)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise AssertionError(f"the collector did not exit within {EXIT_WITHIN_S} s of SIGTERM") from None
    assert proc.returncode == 0, err.decode()[-2000:]
    return orjson.loads(out)


async def stream_messages(url: str) -> int:
    import nats
    try:
        nc = await nats.connect(url, connect_timeout=1, allow_reconnect=False, max_reconnect_attempts=0)
    except Exception:  # noqa: BLE001 - not up
        return 0
    try:
        return int((await nc.jetstream().stream_info("CLEARTERM")).state.messages)
    except Exception:  # noqa: BLE001 - no stream yet
        return 0
    finally:
        await nc.close()


async def test_sigterm_ends_a_collector_before_connecting_while_publishing_and_with_the_bus_gone(tmp_path):
    binary = nats_server_binary()
    if binary is None:
        pytest.skip(NO_SERVER)
    sim = Simulator(symbols=("BTCUSDT",), seed=5, port=0, intervals=("1s",), history_s=5)
    await sim.start()
    absent = DroppingListener(free_port())
    await absent.start()
    publishing, gone = NatsServer(binary, tmp_path / "a"), NatsServer(binary, tmp_path / "b")
    publishing.start()
    gone.start()
    procs: list[asyncio.subprocess.Process] = []
    try:
        early, busy, orphan = procs[:] = [await collector(sim, url) for url in
                                          (f"nats://127.0.0.1:{absent.port}", publishing.url, gone.url)]

        async def trying() -> bool:
            return absent.attempts >= 2
        await until(trying, early, 60, "the first collector to try the bus")

        async def published() -> bool:
            return await stream_messages(publishing.url) > 20 and await stream_messages(gone.url) > 20
        await until(published, busy, 60, "the collectors to publish")
        gone.kill()
        again = DroppingListener(gone.port)  # the dead server's port: the third collector's attempts show here
        await again.start()

        async def retrying() -> bool:
            return again.attempts >= 2
        try:
            await until(retrying, orphan, 60, "the third collector to try the dead bus again")
            stats = await asyncio.gather(terminate(early), terminate(busy), terminate(orphan))
            stored = {subject: n for subject, n in (await subject_counts(publishing.url)).items()
                      if subject != "clearterm.hb"}  # heartbeats go straight to the server, never buffered
        finally:
            await again.stop()
    finally:
        for proc in procs:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
        await absent.stop()
        publishing.kill()
        gone.kill()
        await sim.stop()
    before, during, after = (s["bus"] for s in stats)
    assert before["published"] == 0 and before["pending"] > 0 and not before["connected"]
    # stopped while up: everything it wrote was drained to the server before it went (and its header)
    assert during["pending"] == 0 and during["published"] == during["written"] + 1 and during["dropped"] == 0
    assert sum(stored.values()) == during["published"]  # the server holds them: acknowledged means stored
    assert after["outages"] >= 1 and after["pending"] > 0 and after["published"] > 20

