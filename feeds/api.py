"""The library face of ``feeds``: connections + pipeline, with an async iterator and callbacks.

    feed = Feed(["BINANCE"], ["BTCUSDT"], interval="1m")
    feed.on("trade", lambda ev: print(ev.price), symbol="BTCUSDT")
    async with feed:
        async for ev in feed.events():
            ...

The Textual app builds on the same object (tui/session.py); no UI is needed to use it.

Besides wiring connections to the pipeline, the Feed does the periodic I/O the pure parts ask for
(``housekeeping``, ten times a second): book snapshots, backfill of missing closed bars from REST
klines (feeds/backfill.py decides what is missing; responses are recorded and applied like any REST
body, so a replay reproduces them), reconnecting a connection that stayed stale, and flushing the
dead-letter file (every rejected frame with its reason, JSON Lines, bounded size).
"""
from __future__ import annotations

import asyncio
import inspect
import re
import time
from typing import Callable

import orjson

from feeds.drivers import rest
from feeds.core.backfill import BackfillPlanner, KlinesRequest, closed_open_times
from feeds.intervals import INTERVALS
from feeds.core.book_sync import OrderBooks
from feeds.clock import WallClock
from feeds.drivers.dead_letter import DeadLetterFile
from feeds.drivers.connection import (MAX_FRAME_BYTES, STALE, SUBSCRIBED, AttemptBudget, Connection, ReconnectPolicy,
                              StateChange)
from feeds.events import Control, Rejected
from feeds.core.pipeline import Pipeline
from feeds.core.state import MAX_BARS
from feeds.symbols import SymbolMap
from feeds.venues import VENUES, RestRequest

TICK_S = 0.1  # the live tick: periodic pipeline work, health checks and housekeeping, ten times a second
VENUES_SUBSCRIBE, VENUES_UNSUBSCRIBE = "subscribe_live", "unsubscribe_live"
_SYMBOL_TEXT = re.compile(r"[A-Za-z0-9]{2,20}|[A-Za-z0-9]{1,10}[/-][A-Za-z0-9]{1,10}")
SNAPSHOT_RETRY_S = 1.0  # a failed book snapshot is asked for again after this long
REST_BAN_PAUSE_S = 60.0  # after HTTP 429/418 no backfill request goes to that venue for this long


class Feed:
    def __init__(self, venues: list[str], symbols: list[str], interval: str = "1m",
                 endpoints: dict[str, list[str]] | None = None, network: str = "production",
                 recorder=None, clock=None, symbol_map: SymbolMap | None = None,
                 rest_endpoints: dict[str, str] | None = None, policy: ReconnectPolicy | None = None,
                 startup_bars: int = 200, backfill: bool = True, dead_letter_path: str | None = None,
                 dead_letter_max_bytes: int = 16 * 1024 * 1024, stale_reconnect_s: float | None = 30.0,
                 max_frame_bytes: int = MAX_FRAME_BYTES) -> None:
        """``policy``: reconnect/rollover settings for every connection (default: ReconnectPolicy()).
        ``startup_bars``: closed bars fetched when a connection first subscribes (0: none).
        ``backfill``: fetch missing closed bars from REST (startup window and gaps).
        ``dead_letter_path``: a JSON Lines file receiving every rejected frame (None: none).
        ``stale_reconnect_s``: reconnect a connection that stayed "stale" this long (None: never)."""
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
        self.tick_listeners: list[Callable[[int], None]] = []  # called with the time on every live tick
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
        self.policy = policy
        self.max_frame_bytes = max_frame_bytes
        self.budgets: dict[str, AttemptBudget] = {}  # per venue: attempts count against one IP budget
        self.backfill = backfill
        self.planner = BackfillPlanner(startup_bars, MAX_BARS)
        self._series_opens: dict[tuple, tuple[int, list[int]]] = {}  # key -> (series version, opens ms)
        self._rest_paused_until: dict[str, float] = {}
        self.poll_period_s: dict[str, float] = {}  # venue -> seconds between polls (open interest); default: declared
        self._polled_at: dict[str, float] = {}
        self.stale_reconnect_s = stale_reconnect_s
        self.stale_reconnects = 0
        self._request_id = 0  # ids of live SUBSCRIBE/UNSUBSCRIBE requests
        self.dead_letters = DeadLetterFile(dead_letter_path, dead_letter_max_bytes) if dead_letter_path else None
        if self.dead_letters is not None:
            self.pipeline.rejection_listeners.append(self.dead_letters.add)

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

    def apply_rest(self, conn: str, request: RestRequest, body, recv_ns: int) -> None:
        """Events from a REST response (snapshot, backfill) into the pipeline: live and replay alike."""
        codec = self.pipeline.codecs.get(conn)
        if codec is None:
            return
        events = VENUES[self.pipeline.venue_of[conn]].rest_events(codec, request, body, recv_ns)
        if events:
            self.pipeline.apply_all(events, conn)

    async def fetch_rest(self, conn: str, request: RestRequest) -> tuple[rest.RestResponse, int]:
        """GET ``request``, record it, and apply what it says; returns the response and its receive time."""
        url = self.rest_base(self.pipeline.venue_of[conn]) + request.path
        resp = await rest.get(url)
        recv_ns = self.clock.now_ns()
        body = resp.body.decode("utf-8", "replace")
        if self.recorder is not None:
            self.recorder.write(recv_ns, conn, "rest", orjson.dumps(
                {"url": url, "status": resp.status, "body": body, "what": request.what, "symbol": request.symbol,
                 "interval": request.interval}).decode())
        if resp.status != 200:
            self.rest_errors.append(f"{url}: {resp.error or resp.status}")
            del self.rest_errors[:-50]
            if resp.status in (418, 429):  # rate limited or banned: back off from this venue
                self._rest_paused_until[self.pipeline.venue_of.get(conn, "")] = time.monotonic() + REST_BAN_PAUSE_S
            return resp, recv_ns
        self.apply_rest(conn, request, body, recv_ns)
        return resp, recv_ns

    def _spawn(self, coro) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._rest_tasks.add(task)
        task.add_done_callback(self._rest_tasks.discard)

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
        await self._send_subscriptions(symbol, VENUES_SUBSCRIBE)
        self.symbol_added(symbol)
        return None

    async def remove_symbol(self, text: str) -> str | None:
        """Stop showing a symbol; its state stays readable until the session ends."""
        match = next((s for s in self.symbols if s.upper() == text.strip().upper()), None)
        if match is None:
            return f"{text.strip()} is not shown"
        await self._send_subscriptions(match, VENUES_UNSUBSCRIBE)
        self.symbol_removed(match)
        return None

    async def _send_subscriptions(self, symbol: str, which: str) -> None:
        for conn in list(self.connections.values()):
            v = VENUES[conn.venue]
            self._request_id += 1
            for frame in getattr(v, which)([v.venue_symbol(self.symbol_map, symbol)], self.interval,
                                           self._request_id):
                await conn.send(frame)

    def symbol_added(self, symbol: str) -> None:
        """The bookkeeping of a new symbol (live, and replay of a recorded addition)."""
        if symbol not in self.symbols:
            self.symbols.append(symbol)
        now = self.clock.now_ns()
        for venue in self.venues:
            self.pipeline.watchdog.expect(venue, VENUES[venue].venue_symbol(self.symbol_map, symbol), "candle", now)
            self.pipeline.set_symbols(venue, self.venue_symbols(venue))
            self._refresh_urls(venue)
            self._watch_series(venue)

    def symbol_removed(self, symbol: str) -> None:
        if symbol in self.symbols:
            self.symbols.remove(symbol)
        for venue in self.venues:
            self.pipeline.watchdog.forget(venue, VENUES[venue].venue_symbol(self.symbol_map, symbol))
            self.pipeline.set_symbols(venue, self.venue_symbols(venue))
            self._refresh_urls(venue)

    def _refresh_urls(self, venue: str) -> None:
        """A reconnect subscribes to the current set of symbols."""
        for conn in self.connections.values():
            if conn.venue == venue and hasattr(conn, "urls"):
                conn.urls = self._urls(venue)

    def housekeeping(self) -> None:
        """Periodic I/O the pure parts asked for: book snapshots, bar backfill, stale reconnects, DLQ."""
        for sync in self.books.wanting_snapshot():
            conn = f"{sync.venue}#1"
            request = VENUES[sync.venue].snapshot_request(sync.symbol) if sync.venue in VENUES else None
            if conn in self.connections and request is not None:
                sync.snapshot_requested()
                self._spawn(self._fetch_snapshot(conn, sync, request))
        for sync in self.books.wanting_resubscribe():
            conn = self.connections.get(f"{sync.venue}#1")
            frames = VENUES[sync.venue].resubscribe_book(sync.symbol) if sync.venue in VENUES else []
            if conn is not None and frames:
                sync.resubscribe_requested()
                for frame in frames:
                    self._spawn(conn.send(frame))
        if self.backfill:
            self._request_missing_bars()
        self._poll()
        if self.stale_reconnect_s is not None:
            self._reconnect_stale()
        if self.dead_letters is not None:
            self.dead_letters.flush()

    def _poll(self) -> None:
        """The REST calls a venue declares for polling (open interest), each at most once a period."""
        mono = time.monotonic()
        for venue in self.venues:
            period = self.poll_period_s.get(venue, VENUES[venue].poll_period_s)
            conn = f"{venue}#1"
            if period <= 0 or conn not in self.connections or self._rest_paused_until.get(venue, 0.0) > mono \
                    or mono - self._polled_at.get(venue, -period) < period:
                continue
            self._polled_at[venue] = mono
            for symbol in self.venue_symbols(venue):
                for request in VENUES[venue].poll_requests(symbol):
                    self._spawn(self.fetch_rest(conn, request))

    async def _fetch_snapshot(self, conn: str, sync, request: RestRequest) -> None:
        resp, _ = await self.fetch_rest(conn, request)
        if resp.status != 200:  # ask again in a while: the sync would otherwise wait forever
            asyncio.get_running_loop().call_later(SNAPSHOT_RETRY_S, self._want_snapshot, sync)

    @staticmethod
    def _want_snapshot(sync) -> None:
        if sync.state != "synced":
            sync.needs_snapshot = True

    # -- backfill -----------------------------------------------------------------------------
    def _watch_series(self, venue: str) -> None:
        """A connection of ``venue`` subscribed: expect closed bars of every symbol from now on."""
        if self.interval not in VENUES[venue].intervals or self.interval == "1M":
            return
        now_ms = self.clock.now_ns() // 1_000_000
        for symbol in self.venue_symbols(venue):
            self.planner.watch((venue, symbol, self.interval), now_ms, INTERVALS[self.interval])

    def _opens_ms(self, key: tuple[str, str, str]) -> tuple[list[int], int | None]:
        """Open times (ms) of the closed bars held for ``key``, and of the forming bar."""
        venue, symbol, interval = key
        st = self.pipeline.state.symbols.get((venue, symbol))
        series = st.candles.get(interval) if st is not None else None
        if series is None:
            return [], None
        cached = self._series_opens.get(key)
        if cached is None or cached[0] != series.version:
            cached = self._series_opens[key] = (series.version, [b.open_ns // 1_000_000 for b in series.bars])
        forming = series.forming
        return cached[1], forming.open_ns // 1_000_000 if forming is not None else None

    def _request_missing_bars(self) -> None:
        now_ms = self.clock.now_ns() // 1_000_000
        mono = time.monotonic()
        for key in self.planner.plans:
            venue, symbol, interval = key
            conn = f"{venue}#1"
            if conn not in self.connections or self._rest_paused_until.get(venue, 0.0) > mono:
                continue
            iv = INTERVALS[interval]
            opens, forming = self._opens_ms(key)
            req = self.planner.next_request(key, opens, forming, now_ms, iv)
            if req is not None:
                request = VENUES[venue].klines_request(symbol, interval, req.start_ms, req.end_ms, req.limit)
                if request is not None:
                    self._spawn(self._fetch_bars(conn, req, request, iv))

    async def _fetch_bars(self, conn: str, req: KlinesRequest, request: RestRequest, interval_ms: int) -> None:
        returned = None
        try:
            resp, recv_ns = await self.fetch_rest(conn, request)
            if resp.status == 200:
                returned = closed_open_times(resp.body, recv_ns // 1_000_000)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - a failed backfill is retried, never fatal
            self.rest_errors.append(f"{request.path}: {exc!r}"[:300])
            del self.rest_errors[:-50]
        self.planner.done(req, returned, self.clock.now_ns() // 1_000_000, interval_ms)

    # -- stale connections --------------------------------------------------------------------
    def _reconnect_stale(self) -> None:
        limit_ns = int(self.stale_reconnect_s * 1e9)
        now_ns = None
        for conn in self.connections.values():
            if conn.state != STALE or not hasattr(conn, "reconnect_now"):
                continue
            now_ns = now_ns or conn.clock.now_ns()
            if now_ns - conn.state_since_ns >= limit_ns:
                self.stale_reconnects += 1
                conn.reconnect_now(f"stale for {self.stale_reconnect_s:.0f}s: reconnecting")

    async def _housekeeping_loop(self) -> None:
        while True:
            await asyncio.sleep(TICK_S)
            now = self.clock.now_ns()
            self.pipeline.tick(now)  # bars built from trades close, latency samples fold
            for fn in self.tick_listeners:
                fn(now)
            self.housekeeping()

    def prepare_venue(self, venue: str) -> None:
        """Venue-specific pipeline parts (shared by live and replay)."""
        if VENUES[venue].builds_candles(self.interval) and venue not in self.pipeline.trade_candles:
            from feeds.core.trade_candles import TradeCandleBuilder
            self.pipeline.trade_candles[venue] = TradeCandleBuilder(INTERVALS[self.interval], self.interval)
        check_interval = VENUES[venue].candle_check
        if check_interval and venue not in self.pipeline.candle_checks:
            from feeds.core.trade_candles import CandleCheck
            self.pipeline.candle_checks[venue] = CandleCheck(INTERVALS[check_interval], check_interval)

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
            interval = self.interval
            urls = self._urls(venue)
            codec = v.make_codec(self.symbol_map)
            budget = self.budgets.setdefault(venue, AttemptBudget())
            conn = Connection(name, venue, urls, self.pipeline.feed,
                              subscribe_frames=lambda v=v: v.subscribe_frames(self.venue_symbols(v.name), interval),
                              recorder=self.recorder, policy=self.policy, subscribed_on_open=v.subscribed_on_open,
                              on_state=self.notify_state, on_open=getattr(codec, "reset", None),
                              budget=budget, clock=self.clock, on_reject=self._connection_rejected,
                              max_frame_bytes=self.max_frame_bytes)
            self.pipeline.attach(name, venue, codec, self.venue_symbols(venue))
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
        if self.dead_letters is not None:
            self.dead_letters.flush()

    async def __aenter__(self) -> "Feed":
        await self.start()
        return self

    async def __aexit__(self, *exc) -> None:
        await self.stop()

    def _on_control(self, conn_name: str, ev: Control) -> None:
        conn = self.connections.get(conn_name)
        if conn is None:
            return
        if ev.what == "response":
            conn.mark_subscribed()
        elif ev.what == "shutdown" and hasattr(conn, "rollover"):  # replay's connections only replay
            conn.rollover("the venue announced a shutdown")
        elif ev.what == "gap":  # messages lost on the connection: its books cannot be trusted
            self.books.on_gap(conn.venue, ev.detail or "sequence gap")

    def _connection_rejected(self, conn_name: str, ev: Rejected) -> None:
        self.pipeline.add_rejection(ev, conn_name)

    def notify_state(self, conn, change: StateChange) -> None:
        if change.state == SUBSCRIBED and self.backfill and hasattr(conn, "rollover"):
            self._watch_series(conn.venue)
        for fn in self.state_listeners:
            fn(conn, change)

    # -- statistics ---------------------------------------------------------------------------
    def resilience_stats(self) -> dict:
        """Counters of the connection and integrity machinery, for the statistics object and the app."""
        conns = {}
        for name, c in self.connections.items():
            conns[name] = {
                "state": c.state, "url": c.url, "endpoint_index": getattr(c, "endpoint_index", 0),
                "messages": c.messages, "reconnects": c.reconnects,
                **{k: getattr(c, k, 0) for k in ("attempts", "failed_attempts", "rollovers", "failed_rollovers",
                                                 "overlap_duplicates", "oversize_frames")},
                "state_changes": dict(getattr(c, "state_counts", {})),
            }
        return {
            "connections": conns,
            "backfill": {**self.planner.stats(), "backfilled_candles": self.pipeline.backfilled_candles},
            "stale_reconnects": self.stale_reconnects,
            "budget_waits": sum(b.waits for b in self.budgets.values()),
            "dead_letters": self.dead_letters.written if self.dead_letters is not None else 0,
            "backpressure": self.backpressure(),
        }

    def backpressure(self) -> dict:
        """How far processing is behind, per connection: frames waiting in the socket's receive queue
        (now and the most seen) and the venue's receive-to-processed and exchange-to-processed times."""
        out = {}
        for name, c in self.connections.items():
            tel = self.pipeline.telemetry.get(c.venue)
            depth = c.queue_depth() if hasattr(c, "queue_depth") else 0
            out[name] = {"queue_depth": depth, "max_queue_depth": getattr(c, "max_queue_depth", 0),
                         "processing_ms": tel.processing.summary() if tel else {},
                         "latency_ms": tel.latency.summary() if tel else {}}
        out["events_queue"] = self._queue.qsize() if self._queue is not None else 0
        out["callback_queue"] = self._async_calls.qsize() if self._async_calls is not None else 0
        return out
