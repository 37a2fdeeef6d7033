"""Writes small captures in cryptofeed's raw format from the simulator, one set per cryptofeed exchange id.

    .venv/bin/python tests/captures/write_sim_captures.py [SECONDS]

For each id (BINANCE, BINANCE_US, BINANCE_TR from the spot simulator; BINANCE_FUTURES from the futures
one; COINBASE, whose book comes whole on the stream: no ``.http`` file) it writes ``ID.0`` (the exchangeInfo answer and the ``configuration:`` line), ``ID.http.0.0`` (the depth
snapshots, fetched once the diff stream has started as cryptofeed does, and for futures open-interest
answers) and ``ID.ws.1.0`` (the connection line, then every received frame), gzip'd into ``sim/`` below this folder.
URLs are the real venues' (cryptofeed records those); the traffic comes from the simulator on 127.0.0.1.
"""
from __future__ import annotations

import asyncio
import gzip
import sys
import time
from pathlib import Path

import orjson
import websockets

from feeds.drivers import rest
from feeds.sim.server import Simulator

OUT = Path(__file__).resolve().parent / "sim"  # never beside the real captures: the names are the same
SYMBOLS = ("BTCUSDT", "ETHUSDT")
SPOT_STREAMS = ("depth@100ms", "bookTicker", "aggTrade", "kline_1m")
# id -> (simulator venue, WebSocket base, REST base, REST path prefix, extra streams)
IDS = {
    "BINANCE": ("BINANCE", "wss://stream.binance.com:9443", "https://api.binance.com", "/api/v3", ()),
    "BINANCE_US": ("BINANCE", "wss://stream.binance.us:9443", "https://api.binance.us", "/api/v3", ()),
    "BINANCE_TR": ("BINANCE", "wss://stream-cloud.trbinance.com", "https://api.binance.me", "/api/v3", ()),
    "BINANCE_FUTURES": ("BINANCE_FUTURES", "wss://fstream.binance.com", "https://fapi.binance.com", "/fapi/v1",
                        ("markPrice@1s", "forceOrder")),
}


def stamp() -> str:
    return f"{time.time():.6f}"


async def capture(sim: Simulator, cf_id: str, seconds: float) -> None:
    venue, ws_base, rest_base, prefix, extra = IDS[cf_id]
    streams = "/".join(f"{s.lower()}@{kind}" for s in SYMBOLS for kind in (*SPOT_STREAMS, *extra))
    path = f"/stream?streams={streams}"
    main, http, ws_lines = [], [], []
    info = await rest.get(f"{sim.rest_url(venue)}{prefix}/exchangeInfo")
    main.append(f"{rest_base}{prefix}/exchangeInfo -> {stamp()}: {info.body.decode()}")
    pairs = [f"{s[:-4]}-{s[-4:]}" + ("-PERP" if venue == "BINANCE_FUTURES" else "") for s in SYMBOLS]
    main.append("configuration: " + orjson.dumps({"trades": pairs, "l2_book": pairs, "candles": pairs,
                                                  "ticker": pairs}).decode())
    snapshots_due = set(SYMBOLS)
    async with websockets.connect(sim.ws_url(venue) + path) as ws:
        ws_lines.append(f"{ws_base}{path} <-> {stamp()}")
        deadline = time.monotonic() + seconds
        next_oi = time.monotonic()
        liquidations = 0 if venue == "BINANCE_FUTURES" else None  # futures: go on until one was seen
        while time.monotonic() < deadline or (liquidations == 0 and time.monotonic() < deadline + 60):
            try:
                frame = await asyncio.wait_for(ws.recv(), timeout=max(1.0, deadline - time.monotonic()))
            except TimeoutError:
                break
            ws_lines.append(f"{stamp()}: {frame}")
            data = orjson.loads(frame)["data"]
            if data.get("e") == "forceOrder" and liquidations is not None:
                liquidations += 1
            if data.get("e") == "depthUpdate" and data["s"] in snapshots_due:
                snapshots_due.discard(data["s"])  # the stream is buffering: now the snapshot, as cryptofeed does
                query = f"/depth?symbol={data['s']}&limit=1000"
                answer = await rest.get(f"{sim.rest_url(venue)}{prefix}{query}")
                http.append(f"{rest_base}{prefix}{query} -> {stamp()}: {answer.body.decode()}")
            if venue == "BINANCE_FUTURES" and time.monotonic() >= next_oi:
                next_oi += 1.0
                for s in SYMBOLS:
                    query = f"/openInterest?symbol={s}"
                    answer = await rest.get(f"{sim.rest_url(venue)}{prefix}{query}")
                    http.append(f"{rest_base}{prefix}{query} -> {stamp()}: {answer.body.decode()}")
    for name, lines in ((f"{cf_id}.0", main), (f"{cf_id}.http.0.0", http), (f"{cf_id}.ws.1.0", ws_lines)):
        with gzip.open(OUT / f"{name}.gz", "wt", encoding="utf-8") as f:
            f.write("\n".join(lines) + "\n")


async def capture_coinbase(sim: Simulator, seconds: float) -> None:
    """COINBASE: one subscribe frame per channel, as cryptofeed sends them, then every frame received."""
    products = [f"{s[:-4]}-USD" for s in SYMBOLS]
    base = "wss://ws-feed.pro.coinbase.com"
    answer = await rest.get(f"{sim.rest_url('COINBASE')}/products")
    main = [f"https://api.pro.coinbase.com/products -> {stamp()}: {answer.body.decode()}",
            "configuration: " + orjson.dumps({"ticker": products, "trades": products, "l2_book": products}).decode()]
    ws_lines = []
    async with websockets.connect(sim.ws_url("COINBASE")) as ws:
        ws_lines.append(f"{base} <-> {stamp()}")
        for channel in ("level2_batch", "matches", "ticker"):  # level2 itself now needs auth
            frame = orjson.dumps({"type": "subscribe", "product_ids": products, "channels": [channel]}).decode()
            await ws.send(frame)
            ws_lines.append(f"{base} <- {stamp()}: {frame}")
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                frame = await asyncio.wait_for(ws.recv(), timeout=max(0.01, deadline - time.monotonic()))
            except TimeoutError:
                break
            ws_lines.append(f"{stamp()}: {frame}")
    for name, lines in (("COINBASE.0", main), ("COINBASE.ws.1.0", ws_lines)):
        with gzip.open(OUT / f"{name}.gz", "wt", encoding="utf-8") as f:
            f.write("\n".join(lines) + "\n")


async def main(seconds: float) -> None:
    async with Simulator(symbols=SYMBOLS, seed=11, venues=("BINANCE", "BINANCE_FUTURES", "COINBASE"),
                         intervals=("1m",), trades_per_second=5.0) as sim:
        await asyncio.gather(*(capture(sim, cf_id, seconds) for cf_id in IDS), capture_coinbase(sim, seconds))


if __name__ == "__main__":
    asyncio.run(main(float(sys.argv[1]) if len(sys.argv) > 1 else 6.0))
