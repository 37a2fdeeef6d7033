"""``python -m tui.bench.transport [--frames N] [--reps R]``: websockets vs aiohttp vs picows, client side.

The simulator runs in a child process (``SimChild``) and floods the client with pre-encoded frames, so
the server is not the bottleneck. Each client connects to the same combined-stream URL with 30 symbols,
and is measured twice: receive-only (count frames) and full pipeline (each frame into a real Pipeline
with the Binance codec and guard, as the live Connection does). Rate between 5% and 95% of the frames, and the client's CPU per frame (robust on a loaded machine).
aiohttp and picows are optional: not installed, they are reported as such.
"""
from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

import orjson

from tui.bench.bench import CONN, SYMBOLS, VENUE, BenchError, SimChild, _child_env, _rate_of
from tui.bench.corpus import bench_symbols

Sink = Callable[[str], None]


def _pipeline_sink() -> tuple[Sink, Any]:
    from feeds.clock import ManualClock
    from feeds.core.pipeline import Pipeline
    from feeds.symbols import SymbolMap
    from feeds.venues import VENUES
    pipeline = Pipeline(ManualClock(time.time_ns()), interval="1s")
    pipeline.attach(CONN, VENUE, VENUES[VENUE].make_codec(SymbolMap()))
    feed, now = pipeline.feed, time.time_ns

    def sink(raw: str) -> None:
        feed(CONN, raw, now())
    return sink, pipeline


async def _websockets(url: str, sink: Sink, ready: asyncio.Event, done: asyncio.Event) -> None:
    from websockets.asyncio.client import connect
    async with connect(url, max_size=2**20, max_queue=None, compression=None, proxy=None) as ws:
        ready.set()
        async for raw in ws:
            sink(raw)  # type: ignore[arg-type]  # text frames
            if done.is_set():
                break


async def _aiohttp(url: str, sink: Sink, ready: asyncio.Event, done: asyncio.Event) -> None:
    import aiohttp
    async with aiohttp.ClientSession() as session, session.ws_connect(url, max_msg_size=2**20, compress=0) as ws:
        ready.set()
        async for msg in ws:
            sink(msg.data)
            if done.is_set():
                break


async def _picows(url: str, sink: Sink, ready: asyncio.Event, done: asyncio.Event) -> None:
    from picows import WSFrame, WSListener, WSMsgType, WSTransport, ws_connect

    class Listener(WSListener):
        def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
            if frame.msg_type == WSMsgType.TEXT:
                sink(frame.get_payload_as_utf8_text())

    transport, _ = await ws_connect(Listener, url, max_frame_size=2**20)
    ready.set()
    try:
        await done.wait()
    finally:
        transport.disconnect()


CLIENTS = {"websockets": _websockets, "aiohttp": _aiohttp, "picows": _picows}


async def measure(sim: SimChild, client: str, frames: int, pipeline: bool) -> tuple[float, float]:
    """(frames per second between 5% and 95%, client CPU microseconds per frame)."""
    from feeds.venues import VENUES
    url = VENUES[VENUE].connect_url(sim.ws_url, bench_symbols(SYMBOLS), "1s")
    count = [0]
    inner: Sink = _pipeline_sink()[0] if pipeline else (lambda raw: None)

    def sink(raw: str) -> None:
        count[0] += 1
        inner(raw)

    ready, done = asyncio.Event(), asyncio.Event()
    task = asyncio.get_running_loop().create_task(CLIENTS[client](url, sink, ready, done))
    try:
        await asyncio.wait_for(ready.wait(), 10)
        await asyncio.sleep(0.5)  # the combined stream is subscribed on open; let live data settle
        cpu0, base = time.process_time(), count[0]
        sim.flood(frames)
        rate = await _rate_of(lambda: count[0], frames, 60)
        # CPU per frame: what a loaded machine does not distort (the rate waits for a CPU too)
        return rate, (time.process_time() - cpu0) / max(1, count[0] - base) * 1e6
    finally:
        done.set()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tui.bench.transport")
    ap.add_argument("--frames", type=int, default=100_000)
    ap.add_argument("--reps", type=int, default=3)
    args = ap.parse_args(argv)
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as home:
        for client in CLIENTS:
            for pipeline in (False, True):
                name = f"{client}_{'pipeline' if pipeline else 'receive_only'}"
                runs = []
                for _ in range(args.reps):
                    sim = SimChild(_child_env(home))  # a fresh server each time: no muted connections left
                    try:
                        runs.append(asyncio.run(measure(sim, client, args.frames, pipeline)))
                    except ImportError as exc:
                        out[name] = f"not installed: {exc.name}"
                        break
                    except BenchError as exc:
                        out[name] = f"failed: {exc}"
                        break
                    finally:
                        sim.close()
                if runs:
                    out[name] = {"best_msg_s": round(max(r for r, _ in runs)), "runs_msg_s": [round(r) for r, _ in runs],
                                 "best_cpu_us_per_msg": round(min(c for _, c in runs), 2),
                                 "runs_cpu_us_per_msg": [round(c, 2) for _, c in runs]}
                print(name, out[name], file=sys.stderr, flush=True)
    sys.stdout.write(orjson.dumps(out).decode() + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
