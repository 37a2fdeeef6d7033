"""Where a live session's processing time goes, per stream kind: ``python -m tui.bench.live_split [SECONDS]``.

A headless Runner (as ``--headless`` runs it) reads the bench's simulator child at 10 k msg/s; each frame's
``pipeline.feed`` is timed with the thread's CPU clock (its own cost, about 1 us a frame, is included) and
filed under its stream kind. The ingest bench's corpus has no depth diffs and no 24 h tickers; a live
session has both, so this is the figure to set beside the bench's µs per message.
"""
from __future__ import annotations

import asyncio
import sys
import tempfile
import time

from tui.bench.bench import SYMBOLS, SimChild, _child_env, _live_config, _subscribed, _until
from tui.bench.corpus import bench_symbols


def _kind(raw: str | bytes) -> str:
    text = raw if isinstance(raw, str) else raw[:80].decode(errors="replace")
    start = text.find("@") + 1
    return text[start:text.find('"', start)].split("_")[0] if start else "?"


async def _run(sim: SimChild, seconds: float) -> None:
    from tui.runtime.runner import Runner
    runner = Runner(_live_config(bench_symbols(SYMBOLS), sim.ws_url, sim.rest_url))
    pipeline = runner.session.pipeline
    feed, clock = pipeline.feed, time.thread_time_ns
    spent: dict[str, list[int]] = {}
    on = [False]

    def timed(conn: str, raw: str | bytes, recv_ns: int) -> None:
        t0 = clock()
        feed(conn, raw, recv_ns)
        if on[0]:
            cell = spent.setdefault(_kind(raw), [0, 0])
            cell[0] += clock() - t0
            cell[1] += 1

    pipeline.feed = timed  # type: ignore[method-assign]  # the connection reads it at connect
    await runner.start()
    try:
        await _until(lambda: _subscribed(runner.session), 10, "the client to subscribe")
        await asyncio.sleep(3.0)  # book snapshots, first bars
        cpu0, wall0, on[0] = time.process_time(), time.perf_counter(), True
        await asyncio.sleep(seconds)
        on[0] = False
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    finally:
        await runner.stop()
    frames = sum(n for _, n in spent.values())
    total = sum(t for t, _ in spent.values())
    print(f"{frames / wall:.0f} frames/s; process CPU {cpu / max(frames, 1) * 1e6:.1f} us/frame, "
          f"feed {total / max(frames, 1) / 1e3:.2f} us/frame")
    for kind, (t, n) in sorted(spent.items(), key=lambda kv: -kv[1][0]):
        print(f"  {kind:14} {n:7} frames {t / n / 1e3:7.2f} us each {t / max(total, 1) * 100:5.1f}% of feed")


def main(argv: list[str]) -> int:
    seconds = float(argv[0]) if argv else 10.0
    with tempfile.TemporaryDirectory() as tmp:
        sim = SimChild(_child_env(tmp))
        try:
            sim.set_rate(10_000)
            asyncio.run(_run(sim, seconds))
        finally:
            sim.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
