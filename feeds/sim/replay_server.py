"""A recording served as the venues' own WebSocket protocols, so any client can be tested on a recorded day.

Binance: ``/ws/<s1>/<s2>`` (raw frames), ``/stream?streams=<s1>/<s2>`` (combined ``{"stream","data"}``),
``/ws`` and ``/stream`` with ``SUBSCRIBE`` (the simulator's stream names and control replies). Coinbase:
``/`` or ``/coinbase`` with ``{"type":"subscribe","product_ids":[...],"channels":[...]}``, answered by a
``subscriptions`` message. Every connection plays the recording from its start (from its first
subscription), paced by recorded receive time / speed (``None``: as fast as the client reads), and gets
only the streams it asked for. A frame is sent as it was recorded when its form (raw or combined) is the
one asked for; otherwise it is wrapped or unwrapped.
"""
from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import Iterable
from typing import Any, NamedTuple

import orjson
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from feeds.drivers.replay import read_recordings
from feeds.sim.binance import parse_stream

COINBASE_CHANNELS = {"l2update": "level2", "snapshot": "level2", "ticker": "ticker", "match": "matches",
                     "last_match": "matches", "heartbeat": "heartbeat", "received": "full", "open": "full",
                     "done": "full", "change": "full", "activate": "full", "status": "status"}
BINANCE_EVENTS = {"trade": "trade", "aggTrade": "aggTrade", "24hrTicker": "ticker", "24hrMiniTicker": "miniTicker",
                  "depthUpdate": "depth"}


class Frame(NamedTuple):
    recv_ns: int
    stream: str  # Binance: the stream name; Coinbase: "<channel>:<product id>"
    text: str  # as recorded
    combined: bool  # Binance: the recorded text is {"stream", "data"}
    data: Any  # Binance: the payload without the wrapper


def _binance_stream(obj: dict[str, Any], asked: set[str]) -> str | None:
    """The stream of a raw Binance payload: by its event, made precise by what its connection asked for."""
    symbol = str(obj.get("s", "")).lower()
    event = obj.get("e")
    if event == "kline" and isinstance(obj.get("k"), dict):
        kind = f"kline_{obj['k'].get('i')}"
    elif event in BINANCE_EVENTS:
        kind = BINANCE_EVENTS[event]
    elif event is None and {"u", "s", "b", "a"} <= obj.keys():
        kind = "bookTicker"
    else:
        return None
    name = f"{symbol}@{kind}"
    for stream in asked:  # e.g. depth -> depth@100ms when that is what was subscribed
        if stream.startswith(name):
            return stream
    return name


def load_frames(paths: Iterable[str], fmt: str | None = None) -> dict[str, list[Frame]]:
    """Per venue, the recorded received frames that belong to a stream, in recorded order."""
    _, stream = read_recordings([str(p) for p in paths], fmt)
    asked: dict[str, set[str]] = defaultdict(set)  # connection -> Binance streams it asked for
    frames: dict[str, list[Frame]] = defaultdict(list)
    try:
        for rec in stream:
            venue = rec.conn.partition("#")[0].upper()
            if rec.kind == "open" and "streams=" in rec.payload:
                asked[rec.conn].update(s for s in rec.payload.split("streams=", 1)[1].split("&")[0].split("/") if s)
            elif rec.kind == "open" and "/ws/" in rec.payload:
                asked[rec.conn].update(s for s in rec.payload.split("/ws/", 1)[1].split("?")[0].split("/") if s)
            elif rec.kind == "send":
                try:
                    sent = orjson.loads(rec.payload)
                except orjson.JSONDecodeError:
                    continue
                if isinstance(sent, dict) and sent.get("method") == "SUBSCRIBE" and isinstance(sent.get("params"), list):
                    asked[rec.conn].update(str(p) for p in sent["params"])
            if rec.kind != "recv":
                continue
            try:
                obj = orjson.loads(rec.payload)
            except orjson.JSONDecodeError:
                continue
            if not isinstance(obj, dict):
                continue
            if venue == "BINANCE":
                if isinstance(obj.get("stream"), str) and "data" in obj:
                    frames[venue].append(Frame(rec.recv_ns, obj["stream"], rec.payload, True, obj["data"]))
                elif (name := _binance_stream(obj, asked[rec.conn])) is not None:
                    frames[venue].append(Frame(rec.recv_ns, name, rec.payload, False, obj))
            elif venue == "COINBASE":
                channel = COINBASE_CHANNELS.get(str(obj.get("type")))
                if channel is not None and isinstance(obj.get("product_id"), str):
                    frames[venue].append(Frame(rec.recv_ns, f"{channel}:{obj['product_id']}", rec.payload, False, None))
    finally:
        stream.close()
    return dict(frames)


class ReplayServer:
    """Serves recorded frames over WebSocket on 127.0.0.1 (see the module docstring)."""

    def __init__(self, frames: dict[str, list[Frame]], speed: float | None = 1.0, host: str = "127.0.0.1",
                 port: int = 0) -> None:
        self.frames = frames
        self.speed = speed
        self.host = host
        self.port = port
        self._server: Any = None

    async def start(self) -> ReplayServer:
        self._server = await serve(self._handle, self.host, self.port, max_size=2**24)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    def url(self, venue: str) -> str:
        return f"ws://{self.host}:{self.port}" + ("/stream" if venue == "BINANCE" else "/coinbase")

    def streams(self, venue: str) -> list[str]:
        """The recorded streams of a venue, in order of first appearance."""
        return list(dict.fromkeys(f.stream for f in self.frames.get(venue, [])))

    async def _handle(self, ws: ServerConnection) -> None:
        assert ws.request is not None  # the handshake is over before the handler runs
        path, _, query = ws.request.path.partition("?")
        try:
            if path.startswith(("/ws", "/stream")):
                await self._binance(ws, path, query)
            elif path in ("", "/", "/coinbase", "/coinbase/"):
                await self._coinbase(ws)
            else:
                await ws.close(1008, f"unknown path {path[:100]}")
        except ConnectionClosed:
            pass

    async def _binance(self, ws: ServerConnection, path: str, query: str) -> None:
        combined = path.startswith("/stream")
        if combined:
            params = dict(p.partition("=")[::2] for p in query.split("&") if p)
            names = [s for s in params.get("streams", "").split("/") if s]
        else:
            names = [s for s in path[4:].split("/") if s]
        wanted: set[str] = {n for n in names if parse_stream(n) is not None}
        started = asyncio.Event()
        if wanted:
            started.set()
        player = asyncio.create_task(self._play(ws, self.frames.get("BINANCE", []), wanted, started,
                                                lambda f: self._binance_text(f, combined)))
        try:
            async for message in ws:
                try:
                    req = orjson.loads(message)
                except orjson.JSONDecodeError:
                    await ws.send(orjson.dumps({"error": {"code": 3, "msg": "Invalid JSON"}}).decode())
                    continue
                if not isinstance(req, dict):
                    continue
                raw_params = req.get("params")
                names_asked: list[Any] = raw_params if isinstance(raw_params, list) else []
                if req.get("method") == "SUBSCRIBE":
                    wanted.update(str(p) for p in names_asked if parse_stream(p) is not None)
                    started.set()
                elif req.get("method") == "UNSUBSCRIBE":
                    wanted.difference_update(str(p) for p in names_asked)
                elif req.get("method") == "LIST_SUBSCRIPTIONS":
                    await ws.send(orjson.dumps({"result": sorted(wanted), "id": req.get("id")}).decode())
                    continue
                await ws.send(orjson.dumps({"result": None, "id": req.get("id")}).decode())
        finally:
            player.cancel()

    @staticmethod
    def _binance_text(frame: Frame, combined: bool) -> str:
        if frame.combined == combined:
            return frame.text
        if combined:
            return orjson.dumps({"stream": frame.stream, "data": frame.data}).decode()
        return orjson.dumps(frame.data).decode()

    async def _coinbase(self, ws: ServerConnection) -> None:
        wanted: set[str] = set()
        started = asyncio.Event()
        player = asyncio.create_task(self._play(ws, self.frames.get("COINBASE", []), wanted, started,
                                                lambda f: f.text))
        try:
            async for message in ws:
                try:
                    req = orjson.loads(message)
                except orjson.JSONDecodeError:
                    await ws.send(orjson.dumps({"type": "error", "message": "Malformed JSON"}).decode())
                    continue
                if not isinstance(req, dict) or req.get("type") not in ("subscribe", "unsubscribe"):
                    await ws.send(orjson.dumps({"type": "error", "message": "Failed to subscribe",
                                                "reason": "Type has to be either subscribe or unsubscribe"}).decode())
                    continue
                ids = [str(p) for p in req.get("product_ids") or [] if isinstance(p, str)]
                pairs: set[str] = set()
                for channel in req.get("channels") or []:
                    if isinstance(channel, str):
                        pairs.update(f"{channel}:{p}" for p in ids)
                    elif isinstance(channel, dict) and isinstance(channel.get("name"), str):
                        pids = [str(p) for p in channel.get("product_ids") or ids]
                        pairs.update(f"{channel['name']}:{p}" for p in pids)
                if req["type"] == "subscribe":
                    wanted.update(pairs)
                    started.set()
                else:
                    wanted.difference_update(pairs)
                channels: dict[str, list[str]] = defaultdict(list)
                for pair in sorted(wanted):
                    name, _, pid = pair.partition(":")
                    channels[name].append(pid)
                await ws.send(orjson.dumps({"type": "subscriptions", "channels": [
                    {"name": n, "product_ids": p} for n, p in channels.items()]}).decode())
        finally:
            player.cancel()

    async def _play(self, ws: ServerConnection, frames: list[Frame], wanted: set[str], started: asyncio.Event,
                    text_of: Any) -> None:
        """The recording from its start once the client asked for something, paced by recorded time."""
        await started.wait()
        if not frames:
            return
        wall0, rec0 = time.monotonic(), frames[0].recv_ns
        sent = 0
        for frame in frames:
            if frame.stream not in wanted:
                continue
            if self.speed is not None:
                delay = wall0 + (frame.recv_ns - rec0) / 1e9 / self.speed - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
            await ws.send(text_of(frame))
            sent += 1
            if sent % 500 == 0:
                await asyncio.sleep(0)  # as fast as possible, yet other connections get their turn


async def serve_recording(paths: list[str], fmt: str | None, port: int, speed: float | None,
                          print_fn: Any = print) -> None:
    """``clearterm serve``: until interrupted."""
    frames = load_frames(paths, fmt)
    server = await ReplayServer(frames, speed, port=port).start()
    for venue, venue_frames in sorted(frames.items()):
        names = server.streams(venue)
        shown = "".join(ch if ch.isprintable() else "?" for ch in " ".join(names[:8]))  # recorded text: no escapes
        print_fn(f"{venue}: {server.url(venue)}  {len(venue_frames)} frames, {len(names)} streams: {shown}"
                 + (" ..." if len(names) > 8 else ""), flush=True)
    if not frames:
        print_fn("the recording holds no frame of a known stream", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await server.stop()
