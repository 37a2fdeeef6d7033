"""The library face of ``feeds``: a live driver around the sans-I/O feed core, with an async iterator
and callbacks.

    feed = Feed(["BINANCE"], ["BTCUSDT"], interval="1m")
    feed.on("trade", lambda ev: print(ev.price), symbol="BTCUSDT")
    async with feed:
        async for ev in feed.events():
            ...

The Textual app builds on the same object (tui/runtime/session.py); no UI is needed to use it.

Everything a feed decides is in ``FeedCore`` (feeds/core/feed_core.py): staleness, stale reconnects,
book resyncs, backfill of missing closed bars. This driver only does the I/O: it opens the
connections, ticks the core ten times a second and carries out the requests the core returns (REST
fetches, recorded and handed back; subscribe frames; reconnects), and flushes the dead-letter file.
So a library user gets stale detection, stale reconnects and backfill exactly as the app does.
"""
from __future__ import annotations

import asyncio
import inspect
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator
from functools import partial
from typing import Any

import orjson

from feeds.clock import WallClock
from feeds.core.backfill import BackfillPlanner
from feeds.core.book_sync import OrderBooks
from feeds.core.feed_core import (
    Clock,
    Connection,
    FeedCore,
    Fetch,
    FetchBackfill,
    FetchPoll,
    FetchSnapshot,
    Happening,
    HappeningLog,
    Reconnect,
    Request,
    Resubscribe,
    StateChange,
    Subscribe,
    Unsubscribe,
)
from feeds.core.pipeline import Pipeline
from feeds.drivers import rest
from feeds.drivers.connection import MAX_FRAME_BYTES, AttemptBudget, ReconnectPolicy
from feeds.drivers.connection import Connection as LiveConnection
from feeds.drivers.dead_letter import DeadLetterFile
from feeds.events import Rejected
from feeds.symbols import SymbolMap
from feeds.venues import VENUES, RestRequest

TICK_S = 0.1  # the live tick: the core's periodic work and the requests it returns, ten times a second
TICK_SLICE_S = 0.0002  # the longest stretch of tick work before the loop reads frames again (plus one slice)
_SYMBOL_TEXT = re.compile(r"[A-Za-z0-9]{2,20}|[A-Za-z0-9]{1,10}[/-][A-Za-z0-9]{1,10}")


class Feed:
    def __init__(self, venues: list[str], symbols: list[str], interval: str = "1m",
                 endpoints: dict[str, list[str]] | None = None, network: str = "production",
                 recorder: Any = None, clock: Clock | None = None, symbol_map: SymbolMap | None = None,
                 rest_endpoints: dict[str, str] | None = None, policy: ReconnectPolicy | None = None,
                 startup_bars: int = 200, backfill: bool = True, dead_letter_path: str | None = None,
                 dead_letter_max_bytes: int = 16 * 1024 * 1024, stale_after_s: float = 5.0,
                 stale_reconnect_s: float | None = 30.0, max_frame_bytes: int = MAX_FRAME_BYTES) -> None:
        """``policy``: reconnect/rollover settings for every connection (default: ReconnectPolicy()).
        ``startup_bars``: closed bars fetched when a connection first subscribes (0: none).
        ``backfill``: fetch missing closed bars from REST (startup window and gaps).
        ``dead_letter_path``: a JSON Lines file receiving every rejected frame (None: none).
        ``stale_after_s``: a stream silent this long is stale (its connection is marked so).
        ``stale_reconnect_s``: reconnect a connection that stayed "stale" this long (None: never)."""
        unknown = [v for v in venues if v not in VENUES]
        if unknown:
            raise ValueError(f"unknown venue {unknown[0]!r}; known: {', '.join(VENUES)}")
        self.clock: Clock = clock or WallClock()
        self.core = FeedCore(venues, symbols, interval, self.clock, symbol_map, startup_bars=startup_bars,
                             backfill=backfill, stale_after_s=stale_after_s, stale_reconnect_s=stale_reconnect_s)
        self.endpoints = endpoints if endpoints is not None else {}
        self.rest_endpoints = rest_endpoints if rest_endpoints is not None else {}
        self.network = network
        self.recorder = recorder
        self.policy = policy
        self.max_frame_bytes = max_frame_bytes
        self.live: dict[str, LiveConnection] = {}  # the connections this driver opened
        self.budgets: dict[str, AttemptBudget] = {}  # per venue: attempts count against one IP budget
        # called with the time on every live tick; one that returns an iterator is run in slices, like the core's tick
        self.tick_listeners: list[Callable[[int], Iterator[None] | None]] = []
        self._callbacks: dict[str, list[tuple[str | None, Callable[[Any], Any]]]] = {}
        self._queue: asyncio.Queue[Any] | None = None
        self._async_calls: asyncio.Queue[tuple[Callable[[Any], Awaitable[Any]], Any]] | None = None
        self._async_task: asyncio.Task[None] | None = None
        self._ticker: asyncio.Task[None] | None = None
        self._io_tasks: set[asyncio.Task[Any]] = set()
        self.dead_letters = DeadLetterFile(dead_letter_path, dead_letter_max_bytes) if dead_letter_path else None
        if self.dead_letters is not None:
            self.pipeline.rejection_listeners.append(self.dead_letters.add)

    # -- the core's state, read through the driver ----------------------------------------------------
    @property
    def pipeline(self) -> Pipeline:
        return self.core.pipeline

    @property
    def books(self) -> OrderBooks:
        return self.core.books

    @property
    def planner(self) -> BackfillPlanner:
        return self.core.planner

    @property
    def connections(self) -> dict[str, Connection]:
        return self.core.connections

    @property
    def state_listeners(self) -> list[Callable[[Connection, StateChange], None]]:
        return self.core.state_listeners

    @property
    def listeners(self) -> list[Callable[[Happening], None]]:
        return self.core.listeners

    @property
    def happenings(self) -> HappeningLog:
        return self.core.happenings

    @property
    def poll_period_s(self) -> dict[str, float]:
        """Venue -> seconds between its polls (open interest); a venue not named polls as it declares."""
        return self.core.poll_period_s

    @property
    def stale_reconnects(self) -> int:
        return self.core.stale_reconnects

    @property
    def rest_errors(self) -> list[str]:
        return self.core.rest_errors

    @property
    def symbols(self) -> list[str]:
        return self.core.symbols

    @property
    def venues(self) -> list[str]:
        return self.core.venues

    @property
    def interval(self) -> str:
        return self.core.interval

    @property
    def symbol_map(self) -> SymbolMap:
        return self.core.symbol_map

    def venue_symbols(self, venue: str) -> list[str]:
        return self.core.venue_symbols(venue)

    def prepare_venue(self, venue: str) -> None:
        self.core.prepare_venue(venue)

    def apply_rest(self, conn: str, request: RestRequest, body: str | bytes, recv_ns: int) -> None:
        self.core.receive_rest(conn, request, body, recv_ns)

    def notify_state(self, conn: Connection, change: StateChange) -> None:
        self.core.state_changed(conn, change)

    def symbol_added(self, symbol: str) -> None:
        """The bookkeeping of a new symbol (live, and replay of a recorded addition)."""
        self.core.add_symbol(symbol)
        self._run_requests()

    def symbol_removed(self, symbol: str) -> None:
        self.core.remove_symbol(symbol)
        self._run_requests()

    # -- endpoints ----------------------------------------------------------------------------
    def endpoints_for(self, venue: str) -> list[str]:
        known = VENUES[venue].endpoints
        return self.endpoints.get(venue) or known.get(self.network) or known["production"]

    def rest_base(self, venue: str) -> str:
        if venue in self.rest_endpoints:
            return self.rest_endpoints[venue].rstrip("/")
        conn = next((c for c in self.live.values() if c.venue == venue), None)
        base = self.endpoints_for(venue)[conn.endpoint_index if conn is not None else 0]
        return VENUES[venue].rest_base_for(base)

    def _urls(self, venue: str) -> list[str]:
        syms = self.venue_symbols(venue)
        return [VENUES[venue].connect_url(base, syms, self.interval) for base in self.endpoints_for(venue)]

    # -- symbols added and removed while running -------------------------------------------------
    async def add_symbol(self, text: str) -> str | None:
        """Start showing a symbol (``BTCUSDT`` or ``BTC/USD``) on every venue; None, or why not."""
        text = text.strip()
        if not _SYMBOL_TEXT.fullmatch(text):
            return f"not a symbol: {text!r}"
        symbol = text.upper()
        if symbol in (s.upper() for s in self.symbols):
            return f"{symbol} is already shown"
        for venue in self.venues:  # ask each venue first: a symbol it does not list would only go stale
            v = VENUES[venue]
            vs = v.venue_symbol(self.symbol_map, symbol)
            listing = v.listing_request(vs)
            if listing is not None:
                resp = await rest.get(self.rest_base(venue) + listing.path, timeout=5.0)
                if resp.status in (400, 404):
                    return f"{vs} is not listed on {venue}"
                if resp.status != 200:
                    return f"cannot check {vs} on {venue}: {resp.error or resp.status}"
        self.symbol_added(symbol)
        return None

    async def remove_symbol(self, text: str) -> str | None:
        """Stop showing a symbol; its state stays readable until the session ends."""
        match = next((s for s in self.symbols if s.upper() == text.strip().upper()), None)
        if match is None:
            return f"{text.strip()} is not shown"
        self.symbol_removed(match)
        return None

    # -- carrying out the core's requests -----------------------------------------------------------
    def _run_requests(self) -> None:
        """Do what the core asked for; the answers go back to it when they come."""
        for request in self.core.take_requests():
            self._run(request)

    def _run(self, request: Request) -> None:
        conn = self.live.get(request.conn)
        if conn is None:
            return
        if isinstance(request, (Subscribe, Unsubscribe)):
            conn.urls = self._urls(conn.venue)  # a reconnect subscribes to the current set of symbols
            self._spawn(self._send_all(conn, request.frames))
        elif isinstance(request, Resubscribe):
            self._spawn(self._send_all(conn, request.frames))
        elif isinstance(request, (FetchSnapshot, FetchBackfill, FetchPoll)):
            self._spawn(self._fetch(request))
        elif isinstance(request, Reconnect):
            if request.seamless:
                conn.rollover(request.reason)
            else:
                conn.reconnect_now(request.reason)

    @staticmethod
    async def _send_all(conn: LiveConnection, frames: tuple[str, ...]) -> None:
        for frame in frames:
            await conn.send(frame)

    async def _fetch(self, request: Fetch) -> None:
        """GET what ``request`` names, record the answer, and hand it to the core."""
        url = self.rest_base(self.pipeline.venue_of[request.conn]) + request.path
        try:
            resp = await rest.get(url)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - a failed fetch is retried by the core, never fatal
            self.core.rest_answered(request, url, 0, "", self.clock.now_ns(), repr(exc))
            return
        recv_ns = self.clock.now_ns()
        body = resp.body.decode("utf-8", "replace")
        if self.recorder is not None:
            self.recorder.write(recv_ns, request.conn, "rest", orjson.dumps(
                {"url": url, "status": resp.status, "body": body, "what": request.rest.what,
                 "symbol": request.rest.symbol, "interval": request.rest.interval}).decode())
        self.core.rest_answered(request, url, resp.status, body, recv_ns, resp.error)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._io_tasks.add(task)
        task.add_done_callback(self._io_tasks.discard)

    def tick(self, now_ns: int) -> None:
        """One live tick: the core's periodic work, then its requests, then the dead-letter file."""
        for _ in self.tick_slices(now_ns):
            pass

    def tick_slices(self, now_ns: int) -> Iterator[None]:
        """``tick`` in slices of about TICK_SLICE_S, for the loop to read frames between them (the latency of
        those that come meanwhile)."""
        clock = time.perf_counter
        held = clock()
        for _ in self._tick_parts(now_ns):
            if clock() - held > TICK_SLICE_S:
                yield
                held = clock()

    def _tick_parts(self, now_ns: int) -> Iterator[None]:
        yield from self.core.tick_slices(now_ns)
        for fn in self.tick_listeners:
            try:  # a user's listener must not stop the ticks (the watchdog and the stale-feed halt run on them)
                slices = fn(now_ns)
                if inspect.isgenerator(slices):
                    yield from slices
                elif inspect.iscoroutine(slices):
                    slices.close()
                    raise TypeError("a tick listener must be a plain function, not a coroutine function")
            except Exception as exc:  # noqa: BLE001 - report, never stop ticking
                self.pipeline.callback_errors.append(f"tick listener {getattr(fn, '__name__', fn)}: {exc!r}")
            yield
        self._run_requests()
        if self.dead_letters is not None:
            self.dead_letters.flush()

    async def _tick_loop(self) -> None:
        loop = asyncio.get_running_loop()
        due = loop.time()
        while True:
            # TICK_S after the start of the last tick (a tick spread over a busy loop does not delay the next),
            # and at least a fifth of it after its end
            due = max(due + TICK_S, loop.time() + TICK_S / 5)
            await asyncio.sleep(due - loop.time())
            for _ in self.tick_slices(self.clock.now_ns()):
                await asyncio.sleep(0)  # frames waiting meanwhile are read now

    # -- callbacks and iteration --------------------------------------------------------------
    def on(self, kind: str, callback: Callable[[Any], Any], symbol: str | None = None) -> Callable[[Any], Any]:
        """Call ``callback(event)`` for each accepted event of ``kind`` ("trade", "candle", "quote",
        "ticker", "book_snapshot", "book_delta"), optionally only for one venue symbol.
        ``callback`` may be a plain function or a coroutine function (run in order, off the hot path)."""
        if not self._callbacks:
            self.pipeline.event_listeners.append(self._dispatch)
        self._callbacks.setdefault(kind, []).append((symbol, callback))
        return callback

    def events(self) -> AsyncIterator[Any]:
        """An async iterator over every accepted event, in arrival order (unbounded: nothing is dropped)."""
        if self._queue is None:
            self._queue = asyncio.Queue()
            self.pipeline.event_listeners.append(self._queue.put_nowait)
        return self._iterate(self._queue)

    async def _iterate(self, queue: asyncio.Queue[Any]) -> AsyncIterator[Any]:
        while True:
            yield await queue.get()

    def _dispatch(self, ev: Any) -> None:
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
        assert self._async_calls is not None
        while True:
            fn, ev = await self._async_calls.get()
            try:
                await fn(ev)
            except Exception as exc:  # noqa: BLE001 - a user's callback must not stop the feed
                self.pipeline.callback_errors.append(f"{getattr(fn, '__name__', fn)}: {exc!r}")

    # -- lifecycle ----------------------------------------------------------------------------
    async def start(self) -> None:
        for venue in self.venues:
            v = VENUES[venue]
            name = f"{venue}#1"
            codec = v.make_codec(self.symbol_map)
            budget = self.budgets.setdefault(venue, AttemptBudget())
            conn = LiveConnection(name, venue, self._urls(venue), self.pipeline.feed,
                                  subscribe_frames=partial(self._subscribe_frames, venue),
                                  recorder=self.recorder, policy=self.policy, subscribed_on_open=v.subscribed_on_open,
                                  on_state=self.notify_state, on_open=getattr(codec, "reset", None),
                                  budget=budget, clock=self.clock, on_reject=self._connection_rejected,
                                  max_frame_bytes=self.max_frame_bytes)
            self.core.attach(conn, codec)
            self.live[name] = conn
            conn.start()
        self._ticker = asyncio.get_running_loop().create_task(self._tick_loop())

    def _subscribe_frames(self, venue: str) -> list[str]:
        """What a new socket of ``venue`` sends: the current symbols (a reconnect after an addition too)."""
        return list(VENUES[venue].subscribe_frames(self.venue_symbols(venue), self.interval))

    async def stop(self) -> None:
        for task in (self._ticker, *self._io_tasks):
            if task is not None:
                task.cancel()
        await asyncio.gather(*(c.stop() for c in self.live.values()), return_exceptions=True)
        if self._async_task is not None:
            self._async_task.cancel()
        if self.dead_letters is not None:
            self.dead_letters.flush()

    async def __aenter__(self) -> Feed:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def _connection_rejected(self, conn_name: str, ev: Rejected) -> None:
        self.core.add_rejection(conn_name, ev)

    # -- statistics ---------------------------------------------------------------------------
    def resilience_stats(self) -> dict[str, Any]:
        """Counters of the connection and integrity machinery, for the statistics object and the app."""
        conns = {}
        for name, c in self.connections.items():
            conns[name] = {
                "state": c.state, "url": c.url, "endpoint_index": c.endpoint_index,
                "messages": c.messages, "reconnects": c.reconnects,
                "attempts": c.attempts, "failed_attempts": c.failed_attempts, "rollovers": c.rollovers,
                "failed_rollovers": c.failed_rollovers, "overlap_duplicates": c.overlap_duplicates,
                "oversize_frames": c.oversize_frames, "state_changes": dict(c.state_counts),
            }
        return {
            "connections": conns,
            "backfill": {**self.planner.stats(), "backfilled_candles": self.pipeline.backfilled_candles},
            "stale_reconnects": self.stale_reconnects,
            "budget_waits": sum(b.waits for b in self.budgets.values()),
            "dead_letters": self.dead_letters.written if self.dead_letters is not None else 0,
            "backpressure": self.backpressure(),
        }

    def backpressure(self) -> dict[str, Any]:
        """How far processing is behind, per connection: frames waiting in the socket's receive queue
        (now and the most seen) and the venue's receive-to-processed and exchange-to-processed times."""
        out: dict[str, Any] = {}
        for name, c in self.connections.items():
            tel = self.pipeline.telemetry.get(c.venue)
            out[name] = {"queue_depth": c.queue_depth(), "max_queue_depth": c.max_queue_depth,
                         "processing_ms": tel.processing.summary() if tel else {},
                         "latency_ms": tel.latency.summary() if tel else {}}
        out["events_queue"] = self._queue.qsize() if self._queue is not None else 0
        out["callback_queue"] = self._async_calls.qsize() if self._async_calls is not None else 0
        return out
