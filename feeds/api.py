"""The library face of ``feeds``: connections + pipeline, with an async iterator and callbacks.

    feed = Feed(["BINANCE"], ["BTCUSDT"], interval="1m")
    feed.on("trade", lambda ev: print(ev.price), symbol="BTCUSDT")
    async with feed:
        async for ev in feed.events():
            ...

The Textual app builds on the same object (tui/session.py); no UI is needed to use it.
"""
from __future__ import annotations

import asyncio
import inspect
from typing import Callable

import orjson

from feeds import rest
from feeds.book_sync import OrderBooks
from feeds.clock import WallClock
from feeds.connection import Connection, StateChange
from feeds.events import Control
from feeds.pipeline import Pipeline
from feeds.symbols import SymbolMap
from feeds.venues import VENUES


class Feed:
    def __init__(self, venues: list[str], symbols: list[str], interval: str = "1m",
                 endpoints: dict[str, list[str]] | None = None, network: str = "production",
                 recorder=None, clock=None, symbol_map: SymbolMap | None = None,
                 rest_endpoints: dict[str, str] | None = None) -> None:
        unknown = [v for v in venues if v not in VENUES]
        if unknown:
            raise ValueError(f"unknown venue {unknown[0]!r}; known: {', '.join(VENUES)}")
        self.venues = list(venues)
        self.symbols = list(symbols)
        self.interval = interval
        self.endpoints = endpoints if endpoints is not None else {}
        self.rest_endpoints = rest_endpoints if rest_endpoints is not None else {}
        self.network = network
        self.recorder = recorder
        self.clock = clock or WallClock()
        self.symbol_map = symbol_map or SymbolMap()
        self.pipeline = Pipeline(self.clock, interval=interval)
        self.connections: dict[str, Connection] = {}
        self.state_listeners: list[Callable[[Connection, StateChange], None]] = []
        self._callbacks: dict[str, list[tuple[str | None, Callable]]] = {}
        self._queue: asyncio.Queue | None = None
        self._async_calls: asyncio.Queue | None = None
        self._async_task: asyncio.Task | None = None
        self.pipeline.control_listeners.append(self._on_control)
        self.books = OrderBooks()
        self.pipeline.book_listeners.append(self.books.on_event)
        self.rest_errors: list[str] = []  # recent REST failures, for the app's errors panel
        self._housekeeper: asyncio.Task | None = None
        self._rest_tasks: set[asyncio.Task] = set()

    # -- symbols ------------------------------------------------------------------------------
    def venue_symbols(self, venue: str) -> list[str]:
        v = VENUES[venue]
        return [v.venue_symbol(self.symbol_map, s) for s in self.symbols]

    def endpoints_for(self, venue: str) -> list[str]:
        known = VENUES[venue].endpoints
        return self.endpoints.get(venue) or known.get(self.network) or known["production"]

    def rest_base(self, venue: str) -> str:
        if venue in self.rest_endpoints:
            return self.rest_endpoints[venue].rstrip("/")
        conn = next((c for c in self.connections.values() if c.venue == venue), None)
        base = self.endpoints_for(venue)[conn.endpoint_index if conn is not None else 0]
        return VENUES[venue].rest_base_for(base)

    def apply_rest(self, conn: str, url: str, body, recv_ns: int) -> None:
        """Events from a REST response (snapshot, backfill) into the pipeline: live and replay alike."""
        codec = self.pipeline.codecs.get(conn)
        if codec is None:
            return
        events = VENUES[self.pipeline.venue_of[conn]].rest_events(codec, url, body, recv_ns)
        if events:
            self.pipeline.apply_all(events, conn)

    async def fetch_rest(self, conn: str, url: str) -> None:
        """GET ``url``, record it, and apply what it says."""
        resp = await rest.get(url)
        recv_ns = self.clock.now_ns()
        body = resp.body.decode("utf-8", "replace")
        if self.recorder is not None:
            self.recorder.write(recv_ns, conn, "rest", orjson.dumps(
                {"url": url, "status": resp.status, "body": body}).decode())
        if resp.status != 200:
            self.rest_errors.append(f"{url}: {resp.error or resp.status}")
            del self.rest_errors[:-50]
            return
        self.apply_rest(conn, url, body, recv_ns)

    def _spawn(self, coro) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._rest_tasks.add(task)
        task.add_done_callback(self._rest_tasks.discard)

    def housekeeping(self) -> None:
        """Periodic I/O the pipeline asked for: book snapshots."""
        for sync in self.books.wanting_snapshot():
            conn = f"{sync.venue}#1"
            path_of = VENUES[sync.venue].snapshot_path if sync.venue in VENUES else None
            if conn in self.connections and path_of is not None:
                sync.snapshot_requested()
                self._spawn(self.fetch_rest(conn, self.rest_base(sync.venue) + path_of(sync.symbol)))

    async def _housekeeping_loop(self) -> None:
        while True:
            await asyncio.sleep(0.1)
            self.housekeeping()

    def prepare_venue(self, venue: str) -> None:
        """Venue-specific pipeline parts (shared by live and replay)."""
        if VENUES[venue].candles_from_trades and venue not in self.pipeline.trade_candles:
            from feeds.binance import INTERVALS
            from feeds.trade_candles import TradeCandleBuilder
            self.pipeline.trade_candles[venue] = TradeCandleBuilder(INTERVALS[self.interval], self.interval)

    # -- callbacks and iteration --------------------------------------------------------------
    def on(self, kind: str, callback: Callable, symbol: str | None = None) -> Callable:
        """Call ``callback(event)`` for each accepted event of ``kind`` ("trade", "candle", "quote",
        "ticker", "book_snapshot", "book_delta"), optionally only for one venue symbol.
        ``callback`` may be a plain function or a coroutine function (run in order, off the hot path)."""
        if not self._callbacks:
            self.pipeline.event_listeners.append(self._dispatch)
        self._callbacks.setdefault(kind, []).append((symbol, callback))
        return callback

    def events(self):
        """An async iterator over every accepted event, in arrival order (unbounded: nothing is dropped)."""
        if self._queue is None:
            self._queue = asyncio.Queue()
            self.pipeline.event_listeners.append(self._queue.put_nowait)
        return self._iterate(self._queue)

    async def _iterate(self, queue: asyncio.Queue):
        while True:
            yield await queue.get()

    def _dispatch(self, ev) -> None:
        for symbol, fn in self._callbacks.get(ev.kind, ()):
            if symbol is None or symbol == ev.symbol:
                if inspect.iscoroutinefunction(fn):
                    if self._async_calls is None:
                        self._async_calls = asyncio.Queue()
                        self._async_task = asyncio.get_running_loop().create_task(self._run_async_calls())
                    self._async_calls.put_nowait((fn, ev))
                else:
                    fn(ev)

    async def _run_async_calls(self) -> None:
        while True:
            fn, ev = await self._async_calls.get()
            try:
                await fn(ev)
            except Exception as exc:  # noqa: BLE001 - a user's callback must not stop the feed
                self.pipeline.callback_errors.append(f"{getattr(fn, '__name__', fn)}: {exc!r}")

    # -- lifecycle ----------------------------------------------------------------------------
    async def start(self) -> None:
        for venue in self.venues:
            self.prepare_venue(venue)
            v = VENUES[venue]
            name = f"{venue}#1"
            syms = self.venue_symbols(venue)
            interval = self.interval
            urls = [v.connect_url(base, syms, interval) for base in self.endpoints_for(venue)]
            codec = v.make_codec(self.symbol_map)
            conn = Connection(name, venue, urls, self.pipeline.feed,
                              subscribe_frames=lambda v=v, syms=syms: v.subscribe_frames(syms, interval),
                              recorder=self.recorder, subscribed_on_open=v.subscribed_on_open,
                              on_state=self.notify_state, on_open=getattr(codec, "reset", None))
            self.pipeline.attach(name, venue, codec)
            self.connections[name] = conn
            conn.start()
        self._housekeeper = asyncio.get_running_loop().create_task(self._housekeeping_loop())

    async def stop(self) -> None:
        for task in (self._housekeeper, *self._rest_tasks):
            if task is not None:
                task.cancel()
        await asyncio.gather(*(c.stop() for c in self.connections.values()), return_exceptions=True)
        if self._async_task is not None:
            self._async_task.cancel()

    async def __aenter__(self) -> "Feed":
        await self.start()
        return self

    async def __aexit__(self, *exc) -> None:
        await self.stop()

    def _on_control(self, conn_name: str, ev: Control) -> None:
        conn = self.connections.get(conn_name)
        if conn is not None and ev.what == "response":
            conn.mark_subscribed()

    def notify_state(self, conn, change: StateChange) -> None:
        for fn in self.state_listeners:
            fn(conn, change)
