"""``python -m tui.bench.transport [--frames N] [--reps R] [--clients a,b]``: websockets vs aiohttp vs picows
(native, and its websockets-compatible layer), client side.

The simulator runs in a child process (``SimChild``) and floods the client with pre-encoded frames, so
the server is not the bottleneck. Each client connects to the same combined-stream URL with 30 symbols,
and is measured twice: receive-only (count frames) and full pipeline (each frame into a real Pipeline
with the Binance codec and guard, as the live Connection does). Rate between 5% and 95% of the frames, and
the client's CPU per frame (robust on a loaded machine). The runs are paired: each repetition measures every
client, in a rotated order, and the CPU ratios to websockets are taken within a repetition.
aiohttp and picows are optional: not installed, they are reported as such.
"""
from __future__ import annotations

import argparse
import asyncio
import importlib
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Coroutine
from typing import Any

import orjson

from tui.bench.bench import CONN, SYMBOLS, VENUE, BenchError, Json, SimChild, _child_env, _rate_of
from tui.bench.corpus import bench_symbols

Sink = Callable[[str], None]
Client = Callable[[str, Sink, asyncio.Event, asyncio.Event], Coroutine[Any, Any, None]]


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


def _websockets_api(module: str) -> Client:
    """A client with websockets' API from ``module``: websockets itself, or picows' compatible layer
    (``picows.websockets``: websockets' API on picows' transport, the one the live connection uses)."""
    async def run(url: str, sink: Sink, ready: asyncio.Event, done: asyncio.Event) -> None:
        connect = importlib.import_module(module).connect
        async with connect(url, max_size=2**20, max_queue=None, compression=None, proxy=None) as ws:
            ready.set()
            async for raw in ws:
                sink(raw)  # text frames
                if done.is_set():
                    break
    return run


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


CLIENTS = {"websockets": _websockets_api("websockets.asyncio.client"), "aiohttp": _aiohttp, "picows": _picows,
           "picows_compat": _websockets_api("picows.websockets")}


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


def _summary(runs: list[tuple[float, float]]) -> Json:
    cpu = [c for _, c in runs]
    return {"best_msg_s": round(max(r for r, _ in runs)), "runs_msg_s": [round(r) for r, _ in runs],
            "median_cpu_us_per_msg": round(statistics.median(cpu), 2), "best_cpu_us_per_msg": round(min(cpu), 2),
            "runs_cpu_us_per_msg": [round(c, 2) for c in cpu]}


def main(argv: list[str] | None = None) -> int:
    """Paired runs: each repetition measures every client once, in a rotated order, so a change in the
    machine's load falls on all of them; the ratios are taken within a repetition (CPU time, not wall)."""
    ap = argparse.ArgumentParser(prog="python -m tui.bench.transport")
    ap.add_argument("--frames", type=int, default=100_000)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--clients", default=",".join(CLIENTS), help="comma-separated, of: " + ", ".join(CLIENTS))
    args = ap.parse_args(argv)
    clients = [c for c in args.clients.split(",") if c]
    if not clients or any(c not in CLIENTS for c in clients):
        print(f"python -m tui.bench.transport: --clients takes {', '.join(CLIENTS)}", file=sys.stderr)
        return 2
    runs: dict[str, list[tuple[float, float]]] = {}
    out: Json = {}
    with tempfile.TemporaryDirectory() as home:
        for rep in range(args.reps):
            for pipeline in (False, True):
                for client in clients[rep % len(clients):] + clients[:rep % len(clients)]:
                    name = f"{client}_{'pipeline' if pipeline else 'receive_only'}"
                    if isinstance(out.get(name), str):
                        continue  # not installed, or failed
                    sim = SimChild(_child_env(home))  # a fresh server each time: no muted connections left
                    try:
                        run = asyncio.run(measure(sim, client, args.frames, pipeline))
                    except ImportError as exc:
                        out[name] = f"not installed: {exc.name}"
                        continue
                    except BenchError as exc:
                        out[name] = f"failed: {exc}"
                        continue
                    finally:
                        sim.close()
                    runs.setdefault(name, []).append(run)
                    print(f"rep {rep} {name}: {run[0]:.0f} msg/s, {run[1]:.2f} us CPU/msg", file=sys.stderr, flush=True)
    for name, r in runs.items():
        if not isinstance(out.get(name), str):
            out[name] = _summary(r)
    # paired: the CPU ratio to websockets within each repetition, then its median
    for mode in ("receive_only", "pipeline"):
        base = runs.get(f"websockets_{mode}")
        for client in clients:
            other = runs.get(f"{client}_{mode}")
            if client == "websockets" or not base or not other or len(other) != len(base):
                continue
            ratios = [b[1] / o[1] for b, o in zip(base, other)]
            out[f"{client}_{mode}_cpu_gain_vs_websockets"] = {
                "median": round(statistics.median(ratios), 2), "runs": [round(x, 2) for x in ratios]}
    sys.stdout.write(orjson.dumps(out).decode() + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
