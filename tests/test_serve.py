"""``clearterm serve``: recordings played back as the venues' own protocols, to a plain websockets client.

The expected frames are read from the files directly (not through the server's loader).
"""
from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import orjson
from websockets.asyncio.client import connect

from feeds.sim.replay_server import ReplayServer, load_frames
from tui.runtime.runner import Runner
from tui.runtime.session import SessionConfig

COINBASE_TYPES = {"l2update": "level2", "snapshot": "level2", "ticker": "ticker", "match": "matches",
                  "last_match": "matches"}


def cryptofeed_frames(path: Path) -> list[dict]:
    """The received frames of a cryptofeed capture file: ``<ts>: <payload>`` lines."""
    out = []
    for line in path.read_text().splitlines():
        head, sep, payload = line.partition(": ")
        if not sep or " " in head:  # blank, configuration, sent frames, opens
            continue
        try:
            float(head)
        except ValueError:
            continue
        out.append(orjson.loads(payload))
    return out


async def receive(ws, count: int, timeout: float = 30) -> list[dict]:
    got = []
    deadline = time.monotonic() + timeout
    while len(got) < count:
        got.append(orjson.loads(await asyncio.wait_for(ws.recv(), deadline - time.monotonic())))
    return got


async def test_a_cryptofeed_capture_served_as_binance_and_coinbase(captures):
    binance = [f for f in cryptofeed_frames(captures / "BINANCE.ws.1.0") if "stream" in f]
    coinbase = [f for f in cryptofeed_frames(captures / "COINBASE.ws.28.0") if f.get("type") in COINBASE_TYPES]
    assert len(binance) > 200 and len(coinbase) > 9000
    frames = load_frames([str(captures / "BINANCE"), str(captures / "COINBASE")], "cryptofeed")
    server = await ReplayServer(frames, speed=None).start()
    try:
        streams = list(dict.fromkeys(f["stream"] for f in binance))
        # combined, every stream in the URL: every frame in recorded order, as recorded
        async with connect(f"ws://127.0.0.1:{server.port}/stream?streams={'/'.join(streams)}") as ws:
            assert await receive(ws, len(binance)) == binance
        # raw, by SUBSCRIBE, two streams only: exactly those streams' payloads, in order
        two = streams[:2]
        async with connect(f"ws://127.0.0.1:{server.port}/ws") as ws:
            await ws.send(orjson.dumps({"method": "SUBSCRIBE", "params": two, "id": 1}).decode())
            wanted = [f["data"] for f in binance if f["stream"] in two]
            got = await receive(ws, len(wanted) + 1)
            assert got[0] == {"result": None, "id": 1}
            assert got[1:] == wanted
        products = sorted({f["product_id"] for f in coinbase})
        async with connect(f"ws://127.0.0.1:{server.port}/") as ws:
            await ws.send(orjson.dumps({"type": "subscribe", "product_ids": products,
                                        "channels": ["level2", "ticker", "matches"]}).decode())
            got = await receive(ws, len(coinbase) + 1)
            assert got[0]["type"] == "subscriptions"
            assert got[1:] == coinbase
    finally:
        await server.stop()


async def test_pacing_follows_recorded_time_times_speed(captures):
    frames = load_frames([str(captures / "BINANCE")], "cryptofeed")
    span_s = (frames["BINANCE"][-1].recv_ns - frames["BINANCE"][0].recv_ns) / 1e9
    speed = 20.0
    server = await ReplayServer(frames, speed=speed).start()
    try:
        streams = server.streams("BINANCE")
        async with connect(f"ws://127.0.0.1:{server.port}/stream?streams={'/'.join(streams)}") as ws:
            started = time.monotonic()
            await receive(ws, len(frames["BINANCE"]), timeout=span_s / speed + 20)
            elapsed = time.monotonic() - started
        assert elapsed >= span_s / speed * 0.95  # never faster than recorded time x speed
    finally:
        await server.stop()


async def test_a_clearterm_recording_served_back_frame_for_frame(tmp_path):
    record = tmp_path / "demo.jsonl"
    runner = Runner(SessionConfig(mode="demo", venues=["BINANCE", "COINBASE"], symbols=["BTCUSDT", "ETHUSDT"],
                                  interval="1s", record_path=str(record)), sim_options={"history_s": 5})
    await runner.start()
    await asyncio.sleep(2.5)  # let the demo market produce a few seconds of traffic
    await runner.stop()
    by_venue: dict[str, list[dict]] = defaultdict(list)
    for line in record.read_text().splitlines()[1:]:
        rec = orjson.loads(line)
        if rec["k"] == "recv":
            by_venue[rec["c"].partition("#")[0]].append(orjson.loads(rec["p"]))
    binance = [f for f in by_venue["BINANCE"] if "stream" in f]
    coinbase = [f for f in by_venue["COINBASE"] if f.get("type") in COINBASE_TYPES]
    assert len(binance) > 50 and len(coinbase) > 50
    server = await ReplayServer(load_frames([str(record)]), speed=None).start()
    try:
        streams = list(dict.fromkeys(f["stream"] for f in binance))
        async with connect(f"ws://127.0.0.1:{server.port}/stream?streams={'/'.join(streams)}") as ws:
            assert await receive(ws, len(binance)) == binance
        async with connect(f"ws://127.0.0.1:{server.port}/coinbase") as ws:
            products = sorted({f["product_id"] for f in coinbase})
            await ws.send(orjson.dumps({"type": "subscribe", "product_ids": products,
                                        "channels": ["level2", "ticker", "matches"]}).decode())
            got = await receive(ws, len(coinbase) + 1)
            assert got[1:] == coinbase
    finally:
        await server.stop()


def test_serve_command_prints_its_urls_and_a_bad_path_exits_2(captures, tmp_path):
    proc = subprocess.Popen([sys.executable, "-m", "tui.runtime.cli", "serve", str(captures / "BINANCE"),
                             "--format", "cryptofeed", "--speed", "max"], stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert line.startswith("BINANCE: ws://127.0.0.1:") and "nknusdt@depth@100ms" in line
    finally:
        proc.terminate()
        proc.wait(10)
    bad = subprocess.run([sys.executable, "-m", "tui.runtime.cli", "serve", str(tmp_path / "missing.jsonl")],
                         capture_output=True, text=True, timeout=30)
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1
