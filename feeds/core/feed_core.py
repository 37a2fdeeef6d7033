"""The feed core: everything a feed decides, with no I/O.

The shape of websockets' ``Protocol``: it is fed (frames, REST answers, connection state changes,
clock ticks) and drained (``take_requests()``: what it wants done over the network, as typed
requests). It never awaits, never reads a wall clock and never touches a socket, so the live driver
(feeds/api.py ``Feed``), replay (feeds/drivers/replay_source.py) and tests run the same decisions.

Its ``tick(now_ns)`` does the periodic work: the pipeline's (trade-built bars close, latencies fold),
the staleness watchdog (a stream silent for ``stale_after_s`` marks its venue's connections stale and
is reported as a happening, the automatic halt's input), stale reconnects, book resyncs and backfill
planning. Replay turns requests off (``requests_enabled = False``): its recording already holds what
the live requests got, so nothing is asked twice.

The core is the one owner of the feed's state: market state (candles, quotes, trades, tickers) and
telemetry in ``pipeline``, order books in ``books``, cross-venue ``aggregates`` (recomputed each tick),
and the ``happenings`` log. Happenings (stale, zombie, fresh, stale_reconnect, reconnect, gap,
duplicate, rejection, candle_mismatch, book_mismatch; the session adds halt, resume and skew) are `Happening` records
delivered to ``listeners`` as they happen and kept in one bounded `HappeningLog`; nobody has to diff
counters to find them.
"""
from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any, NamedTuple, Protocol

from feeds.core.aggregator import Aggregate, Aggregator
from feeds.core.backfill import BackfillPlanner, KlinesRequest, closed_open_times
from feeds.core.book_check import PERSIST_S, BookCheck
from feeds.core.book_sync import SYNCED, BinanceBookSync, CoinbaseBookSync, OrderBooks
from feeds.core.pipeline import Pipeline
from feeds.core.state import MAX_BARS
from feeds.core.trade_candles import CandleCheck, TradeCandleBuilder
from feeds.core.watchdog import OK
from feeds.events import Candle, Control, Rejected, Trade
from feeds.intervals import INTERVALS
from feeds.symbols import SymbolMap
from feeds.venues import VENUES, RestRequest
from feeds.venues.base import Codec

# Connection states, in the order a healthy connection goes through them.
DISCONNECTED, CONNECTING, SUBSCRIBED, STALE, RECONNECTING, FAILED = (
    "disconnected", "connecting", "subscribed", "stale", "reconnecting", "failed")
STATES = (DISCONNECTED, CONNECTING, SUBSCRIBED, STALE, RECONNECTING, FAILED)

SNAPSHOT_RETRY_NS = 1_000_000_000  # a failed book snapshot is asked for again after this long
REST_BAN_PAUSE_NS = 60_000_000_000  # after HTTP 429/418 no backfill request goes to that venue for this long
HAPPENINGS_PER_KIND = 500  # the log keeps this many of each kind: a flood of one never hides the others
MAX_REST_ERRORS = 50
FOLD_SLICE = 1024  # latency samples folded per tick slice (a tick's worth at 10 k msg/s; about 200 us)


class Clock(Protocol):
    def now_ns(self) -> int: ...


class StateChange(NamedTuple):
    at_ns: int
    state: str
    reason: str


class Connection(Protocol):
    """What the core, the statistics and the app read of a connection, live or replayed."""

    name: str
    venue: str
    state: str
    state_since_ns: int  # when the current state began
    history: list[StateChange]
    state_counts: dict[str, int]  # changes into each state
    endpoint_index: int
    messages: int  # frames fed to the pipeline
    reconnects: int  # sockets opened after the first
    attempts: int
    failed_attempts: int
    rollovers: int
    failed_rollovers: int
    overlap_duplicates: int
    oversize_frames: int
    max_queue_depth: int

    @property
    def url(self) -> str: ...

    def set_state(self, state: str, reason: str = "") -> None: ...

    def mark_subscribed(self) -> None: ...

    def queue_depth(self) -> int: ...


# -- requests: what the core wants done over the network ------------------------------------------------
class Subscribe(NamedTuple):
    conn: str
    frames: tuple[str, ...]


class Unsubscribe(NamedTuple):
    conn: str
    frames: tuple[str, ...]


class Resubscribe(NamedTuple):
    """A book that lost its sequence asks its channel again, so the venue sends a new snapshot."""

    conn: str
    frames: tuple[str, ...]
    venue: str
    symbol: str


class FetchSnapshot(NamedTuple):
    conn: str
    rest: RestRequest  # what to GET; its answer is routed by this request, never by re-parsing the URL
    venue: str
    symbol: str

    @property
    def path(self) -> str:  # appended to the venue's REST base by the driver
        return self.rest.path


class FetchBackfill(NamedTuple):
    conn: str
    rest: RestRequest
    klines: KlinesRequest

    @property
    def path(self) -> str:
        return self.rest.path


class Reconnect(NamedTuple):
    conn: str
    reason: str
    seamless: bool  # True: open the replacement before closing the old socket (a rollover)


class FetchPoll(NamedTuple):
    """A REST call the venue declares for polling (open interest); its answer is events."""

    conn: str
    rest: RestRequest

    @property
    def path(self) -> str:
        return self.rest.path


Fetch = FetchSnapshot | FetchBackfill | FetchPoll
Request = Subscribe | Unsubscribe | Resubscribe | Fetch | Reconnect


class Happening(NamedTuple):
    """Something that happened to the feed, for listeners and the errors view."""

    at_ns: int
    kind: str  # stale | zombie | fresh | stale_reconnect | reconnect | ...
    venue: str
    symbol: str
    detail: str  # the cause, in words
    conn: str = ""


class HappeningLog:
    """The newest happenings of each kind, and how many of each there were."""

    def __init__(self, per_kind: int = HAPPENINGS_PER_KIND) -> None:
        self.per_kind = per_kind
        self.total = 0  # ever added: a reader's cheap "anything new?"
        self.counts: dict[str, int] = {}
        self._by_kind: dict[str, deque[Happening]] = {}

    def add(self, h: Happening) -> None:
        kept = self._by_kind.get(h.kind)
        if kept is None:
            kept = self._by_kind[h.kind] = deque(maxlen=self.per_kind)
        kept.append(h)
        self.counts[h.kind] = self.counts.get(h.kind, 0) + 1
        self.total += 1

    def of(self, *kinds: str) -> list[Happening]:
        """The kept happenings of ``kinds`` (all kinds when none are named), oldest first."""
        chosen = kinds or tuple(self._by_kind)
        out = [h for k in chosen for h in self._by_kind.get(k, ())]
        out.sort(key=lambda h: h.at_ns)
        return out

    def __len__(self) -> int:
        return sum(len(d) for d in self._by_kind.values())


class FeedCore:
    """Market state, books, watchdog and backfill planning for a set of venues and symbols."""

    def __init__(self, venues: list[str], symbols: list[str], interval: str, clock: Clock,
                 symbol_map: SymbolMap | None = None, startup_bars: int = 200, backfill: bool = True,
                 stale_after_s: float = 5.0, stale_reconnect_s: float | None = 30.0) -> None:
        self.venues = list(venues)
        self.symbols = list(symbols)
        self.interval = interval
        self.clock = clock
        self.symbol_map = symbol_map or SymbolMap()
        self.pipeline = Pipeline(clock, interval=interval)
        self.watchdog = self.pipeline.watchdog
        self.watchdog.threshold_ns = int(stale_after_s * 1e9)
        self.books = OrderBooks()
        self.book_check = BookCheck()  # a level-3 book against the level-2 book of the same product
        self.aggregator = Aggregator(stale_after_s=stale_after_s)
        self.aggregates: dict[str, Aggregate] = {}  # unified symbol -> venues side by side, as of the last tick
        self.pipeline.book_listeners.append(self.books.on_event)
        self.pipeline.control_listeners.append(self._on_control)
        self.pipeline.integrity_listeners.append(self._on_integrity)
        self.pipeline.rejection_listeners.append(self._on_rejection)
        self.pipeline.guard.on_gap = self._on_trade_gap
        self.connections: dict[str, Connection] = {}
        self.state_listeners: list[Callable[[Connection, StateChange], None]] = []
        self.listeners: list[Callable[[Happening], None]] = []
        # (venue, exchange time, its receive time): one call per new pair each tick (clock-skew checks)
        self.clock_listeners: list[Callable[[str, int, int], None]] = []
        self.happenings = HappeningLog()
        self._clock_seen: dict[str, int] = {}
        self.backfill = backfill
        self.planner = BackfillPlanner(startup_bars, MAX_BARS)
        self.stale_reconnect_s = stale_reconnect_s
        self.stale_reconnects = 0
        self.rest_errors: list[str] = []  # recent REST failures, for the errors view
        self.requests_enabled = True  # replay: False (the recording holds what requests got)
        self._requests: list[Request] = []
        self._reconnect_asked: set[str] = set()  # stale connections already asked to reconnect
        self._reconnects_seen: dict[str, int] = {}
        self._series_opens: dict[tuple[str, str, str], tuple[tuple[int, Candle | None, Candle | None], list[int]]] = {}
        self._rest_paused_until: dict[str, int] = {}  # venue -> ns
        self._snapshot_retries: list[tuple[int, BinanceBookSync]] = []
        self.poll_period_s: dict[str, float] = {}  # venue -> seconds between polls (open interest); default: declared
        self._polled_at: dict[str, int] = {}  # venue -> ns of its last poll
        self._request_id = 0  # ids of live SUBSCRIBE/UNSUBSCRIBE requests

    # -- the draining side ----------------------------------------------------------------------------
    def take_requests(self) -> list[Request]:
        """What the core wants done, oldest first; each request is handed out once."""
        out, self._requests = self._requests, []
        return out

    def _ask(self, request: Request) -> None:
        if self.requests_enabled:
            self._requests.append(request)

    def happened(self, kind: str, venue: str, symbol: str, detail: str, conn: str = "",
                 at_ns: int | None = None) -> Happening:
        """Log a happening and tell the listeners (the session adds halts and resumes this way too)."""
        h = Happening(self.clock.now_ns() if at_ns is None else at_ns, kind, venue, symbol, detail, conn)
        self.happenings.add(h)
        for fn in self.listeners:
            fn(h)
        return h

    # -- connections --------------------------------------------------------------------------------
    def venue_symbols(self, venue: str) -> list[str]:
        v = VENUES[venue]
        return [v.venue_symbol(self.symbol_map, s) for s in self.symbols]

    def attach(self, conn: Connection, codec: Codec) -> None:
        """A connection of one of the venues, and the codec that decodes its frames."""
        self.prepare_venue(conn.venue)
        self.connections[conn.name] = conn
        self.pipeline.attach(conn.name, conn.venue, codec, self.venue_symbols(conn.venue))

    def prepare_venue(self, venue: str) -> None:
        """Venue-specific pipeline parts: candles built from trades, checks of the venue's candles."""
        v = VENUES[venue]
        if v.builds_candles(self.interval) and venue not in self.pipeline.trade_candles:
            self.pipeline.trade_candles[venue] = TradeCandleBuilder(INTERVALS[self.interval], self.interval)
        if v.candle_check and venue not in self.pipeline.candle_checks:
            check = self.pipeline.candle_checks[venue] = CandleCheck(INTERVALS[v.candle_check], v.candle_check)
            check.listeners.append(self._on_candle_mismatch)

    def state_changed(self, conn: Connection, change: StateChange) -> None:
        """Every state change of every connection comes here (live and replay alike)."""
        if change.state != STALE:
            self._reconnect_asked.discard(conn.name)
        seen = self._reconnects_seen.get(conn.name, 0)
        if conn.reconnects > seen:
            self._reconnects_seen[conn.name] = conn.reconnects
            for _ in range(conn.reconnects - seen):
                self.happened("reconnect", conn.venue, "", change.reason, conn.name, change.at_ns)
        if change.state == SUBSCRIBED:
            for symbol in self.venue_symbols(conn.venue):
                self.watchdog.expect(conn.venue, symbol, "candle", change.at_ns)
            if self.backfill and self.requests_enabled:
                self._watch_series(conn.venue)
        for fn in self.state_listeners:
            fn(conn, change)

    def _on_control(self, conn_name: str, ev: Control) -> None:
        conn = self.connections.get(conn_name)
        if conn is None:
            return
        if ev.what == "response":
            conn.mark_subscribed()
        elif ev.what == "shutdown":
            self._ask(Reconnect(conn_name, "the venue announced a shutdown", seamless=True))
        elif ev.what == "gap":  # messages lost on the connection: its books cannot be trusted
            self.books.on_gap(conn.venue, ev.detail or "sequence gap")
            self.happened("gap", ev.venue, ev.symbol, ev.detail or "sequence gap", conn_name, ev.recv_ns)

    def _on_integrity(self, kind: str, ev: Any, cause: str) -> None:
        self.happened(kind, ev.venue, ev.symbol, cause, at_ns=ev.recv_ns)

    def _on_trade_gap(self, ev: Trade, first: int, last: int) -> None:
        ids = f"trade id {first} missing" if first == last else f"trade ids {first}-{last} missing"
        self.happened("gap", ev.venue, ev.symbol, ids, at_ns=ev.recv_ns)

    def _on_rejection(self, conn: str, ev: Rejected) -> None:
        self.happened("rejection", ev.venue, ev.symbol, f"{ev.reason}: {ev.detail}", conn, ev.recv_ns)

    def _on_candle_mismatch(self, candle: Candle, difference: str) -> None:
        opened = datetime.fromtimestamp(candle.open_ns / 1e9, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        self.happened("candle_mismatch", candle.venue, candle.symbol,
                      f"{candle.interval} bar at {opened} differs from its trades: {difference}", at_ns=candle.recv_ns)

    def add_rejection(self, conn_name: str, ev: Rejected) -> None:
        """A rejection found by a driver (e.g. a frame the WebSocket library refused)."""
        self.pipeline.add_rejection(ev, conn_name)

    # -- the feeding side ----------------------------------------------------------------------------
    def receive_rest(self, conn: str, request: RestRequest, body: str | bytes, recv_ns: int) -> None:
        """Events from the REST body answering ``request`` (snapshot, backfill) into the pipeline: live and
        replay alike."""
        codec = self.pipeline.codecs.get(conn)
        if codec is None:
            return
        events = VENUES[self.pipeline.venue_of[conn]].rest_events(codec, request, body, recv_ns)
        if events:
            self.pipeline.apply_all(events, conn)

    def rest_answered(self, request: Fetch, url: str, status: int, body: str, recv_ns: int,
                      error: str = "") -> None:
        """The answer to a request this core made (``status`` 0: no HTTP answer, ``error`` says why)."""
        if status == 200:
            self.receive_rest(request.conn, request.rest, body, recv_ns)
        else:
            self.rest_errors.append(f"{url}: {error or status}"[:300])
            del self.rest_errors[:-MAX_REST_ERRORS]
            if status in (418, 429):  # rate limited or banned: back off from this venue
                self._rest_paused_until[self.pipeline.venue_of.get(request.conn, "")] = recv_ns + REST_BAN_PAUSE_NS
        if isinstance(request, FetchSnapshot):
            if status != 200:  # ask again in a while: the sync would otherwise wait forever
                self._snapshot_retries.append((recv_ns + SNAPSHOT_RETRY_NS,
                                               self._binance_sync(request.venue, request.symbol)))
        elif isinstance(request, FetchBackfill):
            returned = closed_open_times(body, recv_ns // 1_000_000) if status == 200 else None
            self.planner.done(request.klines, returned, self.clock.now_ns() // 1_000_000,
                              INTERVALS[request.klines.key[2]])

    def _binance_sync(self, venue: str, symbol: str) -> BinanceBookSync:
        sync = self.books.get(venue, symbol)
        assert isinstance(sync, BinanceBookSync)  # only these fetch snapshots
        return sync

    # -- symbols added and removed while running -------------------------------------------------------
    def add_symbol(self, symbol: str) -> None:
        """Start a symbol on every connection: subscribe requests, watchdog and backfill expectations."""
        self._subscriptions(symbol, subscribe=True)
        if symbol not in self.symbols:
            self.symbols.append(symbol)
        now = self.clock.now_ns()
        for venue in self.venues:
            self.pipeline.set_symbols(venue, self.venue_symbols(venue))
            self.watchdog.expect(venue, VENUES[venue].venue_symbol(self.symbol_map, symbol), "candle", now)
            if self.backfill and self.requests_enabled:
                self._watch_series(venue)

    def remove_symbol(self, symbol: str) -> None:
        self._subscriptions(symbol, subscribe=False)
        if symbol in self.symbols:
            self.symbols.remove(symbol)
        for venue in self.venues:
            self.pipeline.set_symbols(venue, self.venue_symbols(venue))
            self.watchdog.forget(venue, VENUES[venue].venue_symbol(self.symbol_map, symbol))

    def _subscriptions(self, symbol: str, subscribe: bool) -> None:
        for conn in self.connections.values():
            v = VENUES[conn.venue]
            self._request_id += 1
            make = v.subscribe_live if subscribe else v.unsubscribe_live
            frames = tuple(make([v.venue_symbol(self.symbol_map, symbol)], self.interval, self._request_id))
            self._ask(Subscribe(conn.name, frames) if subscribe else Unsubscribe(conn.name, frames))

    # -- the clock -----------------------------------------------------------------------------------
    def tick(self, now_ns: int) -> None:
        """The periodic work, ten times a second of the feed's clock (live: wall; replay: recorded)."""
        for _ in self.tick_slices(now_ns):
            pass

    def tick_slices(self, now_ns: int) -> Iterator[None]:
        """``tick`` in slices: the live driver lets frames in between them (each yield), so no piece holds its
        loop long; nothing in a slice depends on frames not having come since the one before."""
        for tel in list(self.pipeline.telemetry.values()):  # the pipeline's tick folds these too: the bulk here
            for stats in (tel.latency, tel.processing):
                for _ in range(-(-len(stats.pending) // FOLD_SLICE)):
                    stats.fold(FOLD_SLICE)
                    yield
        self.pipeline.tick(now_ns)  # bars built from trades close, latency samples fold
        yield
        self.aggregates = yield from self.aggregator.compute_slices(self.pipeline.state, now_ns)
        yield
        self._check_streams(now_ns)
        if self.clock_listeners:
            self._report_clocks()
        if self.stale_reconnect_s is not None:
            self._reconnect_stale(now_ns)
        self._check_books(now_ns)
        self._resync_books(now_ns)
        yield
        if self.backfill and self.requests_enabled:
            yield from self._request_missing_bars(now_ns)
        if self.requests_enabled:
            self._poll(now_ns)
        yield  # then the tick listeners (the session's checks)

    def _poll(self, now_ns: int) -> None:
        """The REST calls a venue declares for polling (open interest), each venue at most once a period."""
        for venue in self.venues:
            period_ns = int(self.poll_period_s.get(venue, VENUES[venue].poll_period_s) * 1e9)
            conn = f"{venue}#1"
            last = self._polled_at.get(venue)
            if period_ns <= 0 or conn not in self.connections or self._rest_paused_until.get(venue, 0) > now_ns \
                    or (last is not None and now_ns - last < period_ns):
                continue
            self._polled_at[venue] = now_ns
            for symbol in self.venue_symbols(venue):
                for request in VENUES[venue].poll_requests(symbol):
                    self._ask(FetchPoll(conn, request))

    def _check_streams(self, now_ns: int) -> None:
        for change in self.watchdog.check(now_ns):
            status = change.status
            self.happened(status if status != OK else "fresh", change.venue, change.symbol,
                          f"{change.kind}: {change.detail}", at_ns=now_ns)
            venue_conns = [c for c in self.connections.values() if c.venue == change.venue]
            if status != OK:
                for conn in venue_conns:
                    if conn.state == SUBSCRIBED:
                        conn.set_state(STALE, f"{change.symbol} {change.detail}")
            elif not any(k[0] == change.venue for k in self.watchdog.unhealthy()):
                for conn in venue_conns:
                    if conn.state == STALE:
                        conn.set_state(SUBSCRIBED, "data flowing again")

    def _report_clocks(self) -> None:
        for venue, tel in self.pipeline.telemetry.items():
            if tel.last_exch_recv_ns != self._clock_seen.get(venue, 0):  # one observation per new pair
                self._clock_seen[venue] = tel.last_exch_recv_ns
                for fn in self.clock_listeners:
                    fn(venue, tel.last_exch_ns, tel.last_exch_recv_ns)

    def _reconnect_stale(self, now_ns: int) -> None:
        assert self.stale_reconnect_s is not None
        limit_ns = int(self.stale_reconnect_s * 1e9)
        for conn in self.connections.values():
            if conn.state != STALE or conn.name in self._reconnect_asked or now_ns - conn.state_since_ns < limit_ns:
                continue
            self._reconnect_asked.add(conn.name)
            self.stale_reconnects += 1
            reason = f"stale for {self.stale_reconnect_s:.0f}s: reconnecting"
            self.happened("stale_reconnect", conn.venue, "", reason, conn.name, now_ns)
            self._ask(Reconnect(conn.name, reason, seamless=False))

    def _check_books(self, now_ns: int) -> None:
        """Books a declaration checks against another venue's (level 3 vs level 2): a lasting difference is a
        ``book_mismatch`` happening and resyncs the unsequenced one."""
        syncs = self.books.syncs
        for (venue, symbol), sync in syncs.items():
            declared = VENUES.get(venue)
            other = syncs.get((declared.checked_against, symbol)) if declared and declared.checked_against else None
            if other is None:
                continue
            if sync.state != SYNCED or other.state != SYNCED:
                self.book_check.forget((venue, symbol))
                continue
            difference = self.book_check.compare((venue, symbol), sync.book, other.book, now_ns)
            if difference:
                detail = f"{other.venue} book differs from {venue}'s for {PERSIST_S:g}s: {difference}"
                self.happened("book_mismatch", other.venue, symbol, detail, at_ns=now_ns)
                if isinstance(other, CoinbaseBookSync):
                    other.on_gap(detail)

    def _resync_books(self, now_ns: int) -> None:
        due = [sync for at, sync in self._snapshot_retries if at <= now_ns]
        if due:
            self._snapshot_retries = [(at, s) for at, s in self._snapshot_retries if at > now_ns]
            for sync in due:
                if sync.state != SYNCED:
                    sync.needs_snapshot = True
        if not self.requests_enabled:
            return
        for bsync in self.books.wanting_snapshot():
            conn = f"{bsync.venue}#1"
            snapshot = VENUES[bsync.venue].snapshot_request(bsync.symbol)
            if conn in self.connections and snapshot is not None:
                bsync.snapshot_requested()
                self._ask(FetchSnapshot(conn, snapshot, bsync.venue, bsync.symbol))
        for csync in self.books.wanting_resubscribe():
            conn = f"{csync.venue}#1"
            frames = VENUES[csync.venue].resubscribe_book(csync.symbol)
            if conn in self.connections and frames:
                csync.resubscribe_requested()
                self._ask(Resubscribe(conn, tuple(frames), csync.venue, csync.symbol))

    # -- backfill -----------------------------------------------------------------------------------
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
        bars = series.bars
        cached = self._series_opens.get(key)
        # the closed bars, not the version (every forming update moves it): a bar added or dropped changes one end
        mark = (len(bars), bars[0], bars[-1]) if bars else (0, None, None)
        if cached is None or cached[0] != mark:
            cached = self._series_opens[key] = (mark, [b.open_ns // 1_000_000 for b in bars])
        forming = series.forming
        return cached[1], forming.open_ns // 1_000_000 if forming is not None else None

    def _request_missing_bars(self, now_ns: int, per_slice: int = 10) -> Iterator[None]:
        now_ms = now_ns // 1_000_000
        for n, key in enumerate(list(self.planner.plans), 1):
            if not n % per_slice:
                yield
            venue, symbol, interval = key
            conn = f"{venue}#1"
            if conn not in self.connections or self._rest_paused_until.get(venue, 0) > now_ns:
                continue
            opens, forming = self._opens_ms(key)
            req = self.planner.next_request(key, opens, forming, now_ms, INTERVALS[interval])
            if req is not None:
                klines = VENUES[venue].klines_request(symbol, interval, req.start_ms, req.end_ms, req.limit)
                if klines is not None:
                    self._ask(FetchBackfill(conn, klines, req))

