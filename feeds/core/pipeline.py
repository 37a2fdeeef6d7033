"""The pipeline: raw frame -> codec -> guard -> market state -> listeners. Sans-I/O and synchronous.

Live, demo and replay all call ``feed(conn, raw, recv_ns)``; they differ only in where frames come
from and which clock ``now_ns`` reads. Listeners (strategy, books, library callbacks) hang off it.
"""
from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from functools import partial
from typing import Any, NamedTuple

from msgspec.structs import astuple

from feeds.clock import Clock, now_ns_reader
from feeds.core.backfill import bar_gap
from feeds.core.guard import Guard
from feeds.core.latency import NS, LatencyStats
from feeds.core.state import MarketState, SymbolState
from feeds.core.trade_candles import CandleCheck, TradeCandleBuilder
from feeds.core.watchdog import StalenessWatchdog
from feeds.events import (
    BookDelta,
    BookSnapshot,
    Candle,
    Control,
    Level3Snapshot,
    Level3Update,
    Liquidation,
    MarkPrice,
    OpenInterest,
    Quote,
    Rejected,
    Ticker,
    Trade,
    VenueStatus,
)
from feeds.venues.base import Codec, StreamCodec

EVENT_COUNT_KEYS = ("trade", "candle", "candle_closed", "quote", "ticker", "book", "mark_price", "liquidation",
                    "open_interest")
REORDER_WINDOW = 1_000_000  # a quote this few update ids behind the last one came late; further back, ids restarted


class VenueTelemetry:
    """Per-venue message counts and latencies (exchange time -> processed; receive -> processed)."""

    __slots__ = ("venue", "messages", "latency", "processing", "last_exch_ns", "last_exch_recv_ns")

    def __init__(self, venue: str) -> None:
        self.venue = venue
        self.messages = 0
        self.latency = LatencyStats(NS)  # samples: integer ns, appended per frame by the pipeline
        self.processing = LatencyStats(NS)
        self.last_exch_ns = 0
        self.last_exch_recv_ns = 0  # when the frame carrying last_exch_ns arrived: the pair gives clock skew


class _Route(NamedTuple):
    """A connection's decoder and the telemetry its frames count in (bound methods: no attribute chain per frame)."""

    decode: Callable[[str | bytes, int], list[Any]]
    telemetry: VenueTelemetry
    processing_sample: Callable[[int], None]  # appends to telemetry.processing.pending (ns)
    latency_sample: Callable[[int], None]  # appends to telemetry.latency.pending (ns)
    envelope: Callable[[str | bytes], Any] | None  # the codec's combined-stream split (.stream, .data), if any
    streams: dict[str, _Fused]  # stream name -> its fused path on this connection, bound on its first frame


# One stream's fused path: the codec's typed reader (payload -> event, or None: take the general path) and
# what applies that event, bound to its symbol's guard stream and state (returns the latency sample, as apply_all).
_Fused = tuple[Callable[[Any, int], Any], Callable[[Any, int], int]]
_MAX_FUSED_STREAMS = 4096  # per connection; stream names come from the network


def _no_reader(data: Any, recv_ns: int) -> None:
    return None


_GENERAL: _Fused = (_no_reader, lambda ev, now_ns: 0)  # a stream without a fused path: every frame takes the general one


class Pipeline:
    def __init__(self, clock: Clock, interval: str = "1m", max_rejections_kept: int = 1000) -> None:
        self.clock = clock
        self.interval = interval
        self.state = MarketState()
        self.guard = guard = Guard()
        # market data: its type -> the guard's check of it (every other event is control or a rejection)
        self._checks: dict[type, Callable[[Any, int], str | None]] = {
            Trade: guard.check_trade, Quote: guard.check_quote, Candle: guard.check_candle,
            Ticker: guard.check_ticker, BookDelta: guard.check_book, BookSnapshot: guard.check_book,
            MarkPrice: guard.check_mark, Liquidation: guard.check_liquidation,
            OpenInterest: guard.check_open_interest, Level3Update: guard.check_level3_update,
            Level3Snapshot: guard.check_level3_snapshot}
        self.watchdog = StalenessWatchdog()  # the session sets the threshold and says what to expect
        self.codecs: dict[str, Codec] = {}
        self.venue_of: dict[str, str] = {}
        self._routes: dict[str, _Route] = {}  # conn -> what feed() needs of it: one lookup per frame
        self._now_ns = now_ns_reader(clock)  # bound once: feed() reads it after every frame
        # conn -> the venue symbols it subscribed to; market data for any other symbol is refused
        # before it can create state (None: the source names no set, e.g. a bare codec in a benchmark).
        self.subscribed: dict[str, set[str] | None] = {}
        self.telemetry: dict[str, VenueTelemetry] = {}
        self.events = dict.fromkeys(EVENT_COUNT_KEYS, 0)
        self.rejected: dict[str, int] = {}
        self.recent_rejections: deque[tuple[str, Rejected]] = deque(maxlen=max_rejections_kept)
        self.duplicates = 0
        self.gaps = 0  # gaps reported by codecs (sequence numbers); the guard counts trade-id gaps
        self.bar_gaps = 0  # live closed bars that arrived with bars missing before them
        self.stale_updates = 0  # quotes and forming-bar updates older than what is held (late or reordered)
        self.backfilled_candles = 0
        self.trade_candles: dict[str, TradeCandleBuilder] = {}  # venue -> TradeCandleBuilder, for venues without klines
        self.candle_checks: dict[str, CandleCheck] = {}  # venue -> CandleCheck: its candles vs ones built from trades
        # Listeners: plain callables, called synchronously in the order added.
        self.closed_candle_listeners: list[Callable[[Candle], None]] = []
        self.control_listeners: list[Callable[[str, Control], None]] = []
        # return book updates applied
        self.book_listeners: list[Callable[[BookDelta | BookSnapshot | Level3Update | Level3Snapshot], int]] = []
        self.rejection_listeners: list[Callable[[str, Rejected], None]] = []
        self.event_listeners: list[Callable[[object], None]] = []  # every accepted event (library API)
        self.integrity_listeners: list[Callable[[str, object, str], None]] = []  # ("duplicate" | "gap", event, cause)
        self.callback_errors: deque[str] = deque(maxlen=100)  # failures of users' async callbacks
        # What apply_all reads on every call, in one attribute: containers created here and only ever mutated.
        self._apply_refs = (self._checks, self.state.symbols, self.state.get, self.events, self.event_listeners,
                            self.trade_candles)

    # -- sources --------------------------------------------------------------------------------
    def attach(self, conn: str, venue: str, codec: Codec, symbols: Iterable[str] | None = None) -> None:
        """Register the codec that decodes frames of connection ``conn`` and the venue symbols it subscribed to."""
        self.codecs[conn] = codec
        self.venue_of[conn] = venue
        self.subscribed[conn] = None if symbols is None else set(symbols)
        tel = self.telemetry.get(venue)
        if tel is None:
            tel = self.telemetry[venue] = VenueTelemetry(venue)
        envelope = codec.envelope if isinstance(codec, StreamCodec) else None
        self._routes[conn] = _Route(codec.decode, tel, tel.processing.pending.append, tel.latency.pending.append,
                                    envelope, {})

    def set_symbols(self, venue: str, symbols: Iterable[str]) -> None:
        """The venue symbols every connection of ``venue`` is subscribed to from now on."""
        for conn, v in self.venue_of.items():
            if v == venue:
                self.subscribed[conn] = set(symbols)
                self._routes[conn].streams.clear()  # each stream's subscription is decided again

    def feed(self, conn: str, raw: str | bytes, recv_ns: int) -> None:
        """Decode and apply one raw frame received on ``conn`` at ``recv_ns``."""
        decode, tel, processing_sample, latency_sample, envelope, streams = self._routes[conn]
        tel.messages += 1
        ev = None
        if envelope is not None:
            try:
                env = envelope(raw)
                fused = streams.get(env.stream) or self._bind(conn, env.stream)
                ev = fused[0](env.data, recv_ns)
            except Exception:  # noqa: BLE001, S110 - not a well-formed frame of its stream's kind: the general
                pass  # path decodes it again and says what is wrong
        if ev is not None:
            exch_ns = fused[1](ev, recv_ns)
        else:
            exch_ns = self.apply_all(decode(raw, recv_ns), conn, recv_ns)
        done_ns = self._now_ns()
        processing_sample(done_ns - recv_ns)  # LatencyStats folds them on the tick
        if exch_ns:
            tel.last_exch_ns = exch_ns
            tel.last_exch_recv_ns = recv_ns
            latency_sample(done_ns - exch_ns)

    # -- events ---------------------------------------------------------------------------------
    def apply_all(self, events: Iterable[Any], conn: str = "", now_ns: int = 0, built: bool = False) -> int:
        """Apply decoded events; returns the newest exchange time of live data (0 if none): the latency sample.

        ``now_ns`` is what the guard takes as now (a frame's receive time); 0 reads the clock.
        ``built``: the events are candles built here from trades, not the venue's own.
        Events are ``Any``: dispatch is on ``type(ev)`` held in a local, which mypy cannot narrow."""
        if not now_ns:
            now_ns = self._now_ns()
        checks, states, get_state, counts, listeners, trade_candles = self._apply_refs
        allowed = self.subscribed.get(conn)
        newest = 0
        for ev in events:
            t = ev.__class__
            guard_check = checks.get(t)
            if guard_check is not None:
                if allowed is not None and ev.symbol not in allowed:
                    self._unexpected(ev, conn)
                    continue
                reason = guard_check(ev, now_ns)
                if reason:
                    self._refuse(reason, ev, conn)
                    continue
            live = True  # False for catch-up data: its exchange time says how old it is, not how late
            if t is Trade:
                st = states.get((ev.venue, ev.symbol)) or get_state(ev.venue, ev.symbol, ev.unified)  # a dict hit once known
                live = st.trades != 0  # the first is the venue's last trade before we came (last_match)
                st.last_trade = ev
                st.trades += 1
                st.volume += ev.size
                counts["trade"] += 1
                if trade_candles:
                    self._build_from_trade(ev, conn, now_ns)
            elif t is Quote:
                st = states.get((ev.venue, ev.symbol)) or get_state(ev.venue, ev.symbol, ev.unified)
                last = st.quote
                live = last is not None  # Coinbase's first quote rides on its catch-up ticker
                if last is not None:
                    uid, last_uid = ev.update_id, last.update_id
                    if uid <= last_uid and uid:  # the usual case, a newer id, costs one comparison
                        if uid == last_uid:
                            self._duplicate(ev, "the same quote update id again")
                            continue
                        if last_uid - uid < REORDER_WINDOW:
                            self.stale_updates += 1  # older than the quote held: it came late
                            continue
                st.quote = ev
                counts["quote"] += 1
            elif t is Candle:
                candle_state = self._apply_candle(ev, built)
                if candle_state is None:
                    continue
                st = candle_state
            elif t is BookDelta or t is BookSnapshot or t is Level3Update or t is Level3Snapshot:
                st = get_state(ev.venue, ev.symbol, ev.unified)
                for on_book in self.book_listeners:
                    counts["book"] += on_book(ev)
            elif t is Ticker:
                st = get_state(ev.venue, ev.symbol, ev.unified)
                last_ticker = st.ticker
                live = last_ticker is not None  # the first describes the last trade before we came
                # Tickers carry no id of their own (Coinbase's sequence is checked by its codec): the same
                # event sent twice decodes to the same record; a new one at the same time differs in its figures.
                if last_ticker is not None and ev.exch_ns == last_ticker.exch_ns and astuple(ev)[5:] == astuple(last_ticker)[5:]:
                    self._duplicate(ev, "the same 24 h statistics event again")
                    continue
                st.ticker = ev
                counts["ticker"] += 1
            elif t is MarkPrice:
                st = get_state(ev.venue, ev.symbol, ev.unified)
                if st.mark is not None and ev.exch_ns <= st.mark.exch_ns:
                    self.duplicates += ev == st.mark
                    self.stale_updates += ev != st.mark
                    continue
                st.mark = ev
                counts["mark_price"] += 1
            elif t is Liquidation:
                st = get_state(ev.venue, ev.symbol, ev.unified)
                self.state.liquidations.append(ev)
                counts["liquidation"] += 1
            elif t is OpenInterest:
                st = get_state(ev.venue, ev.symbol, ev.unified)
                if st.open_interest is not None and ev.exch_ns <= st.open_interest.exch_ns:
                    self.duplicates += 1  # the same poll answer again
                    continue
                st.open_interest_prev = st.open_interest
                st.open_interest = ev
                counts["open_interest"] += 1
            elif t is Rejected:
                self.add_rejection(ev, conn)
                continue
            elif t is Control:
                if ev.what == "gap":
                    self.gaps += 1
                for on_control in self.control_listeners:
                    on_control(conn, ev)
                continue
            elif t is VenueStatus:
                continue
            else:
                continue
            # Reached only by accepted market data.
            st.messages += 1
            st.last_recv_ns = ev.recv_ns
            st.version += 1
            exch = ev.exch_ns
            if exch:
                st.last_exch_ns = exch
                if exch > newest and live:
                    newest = exch
            if listeners:
                for on_event in listeners:
                    on_event(ev)
        return newest

    # -- fused per-stream paths ---------------------------------------------------------------
    # A combined stream's name says its symbol and kind, so what apply_all decides per event (its type, the
    # subscription, the guard's stream, the symbol's state) is decided once per (connection, stream): the
    # path bound here decodes the payload with the kind's typed reader and applies it as apply_all would.
    def _bind(self, conn: str, stream: str) -> _Fused:
        streams = self._routes[conn].streams
        if len(streams) >= _MAX_FUSED_STREAMS:
            streams.clear()
        fused = _GENERAL
        codec = self.codecs[conn]
        route = codec.stream_reader(stream) if isinstance(codec, StreamCodec) else None
        if route is not None:
            event_type, venue, symbol, unified, read = route
            allowed = self.subscribed.get(conn)
            if allowed is not None and symbol not in allowed:
                fused = (read, self._unexpected_path(conn))
            elif event_type is Trade:
                fused = (read, self._trade_path(conn, venue, symbol, unified))
            elif event_type is Quote:
                fused = (read, self._quote_path(conn, venue, symbol, unified))
            elif event_type is Candle:
                fused = (read, self._candle_path(conn))
            else:
                fused = (read, partial(self._apply_one, conn))
        streams[stream] = fused
        return fused

    def _apply_one(self, conn: str, ev: Any, now_ns: int) -> int:
        return self.apply_all((ev,), conn, now_ns)

    def _unexpected_path(self, conn: str) -> Callable[[Any, int], int]:
        def apply(ev: Any, now_ns: int) -> int:
            self._unexpected(ev, conn)
            return 0
        return apply

    def _trade_path(self, conn: str, venue: str, symbol: str, unified: str) -> Callable[[Trade, int], int]:
        check = self.guard.trade_check(venue, symbol)
        get_state, counts, listeners, trade_candles = self.state.get, self.events, self.event_listeners, \
            self.trade_candles
        refuse = self._refuse
        st: SymbolState | None = None  # created by the first accepted trade, as apply_all does

        def apply(ev: Trade, now_ns: int) -> int:
            nonlocal st
            reason = check(ev, now_ns)
            if reason:
                refuse(reason, ev, conn)
                return 0
            if st is None:
                st = get_state(venue, symbol, unified)
            live = st.trades != 0  # the first is the venue's last trade before we came
            st.last_trade = ev
            st.trades += 1
            st.volume += ev.size
            counts["trade"] += 1
            if trade_candles:
                self._build_from_trade(ev, conn, now_ns)
            st.messages += 1
            st.last_recv_ns = now_ns  # the frame's receive time, which the reader gave the event
            st.version += 1
            exch = ev.exch_ns
            if exch:
                st.last_exch_ns = exch
            for on_event in listeners:
                on_event(ev)
            return exch if live and exch > 0 else 0
        return apply

    def _quote_path(self, conn: str, venue: str, symbol: str, unified: str) -> Callable[[Quote, int], int]:
        check = self.guard.quote_check(venue, symbol)
        get_state, counts, listeners = self.state.get, self.events, self.event_listeners
        refuse = self._refuse
        st: SymbolState | None = None

        def apply(ev: Quote, now_ns: int) -> int:
            nonlocal st
            reason = check(ev, now_ns)
            if reason:
                refuse(reason, ev, conn)
                return 0
            if st is None:
                st = get_state(venue, symbol, unified)
            last = st.quote
            if last is not None:
                uid, last_uid = ev.update_id, last.update_id
                if uid <= last_uid and uid:  # the usual case, a newer id, costs one comparison
                    if uid == last_uid:
                        self._duplicate(ev, "the same quote update id again")
                        return 0
                    if last_uid - uid < REORDER_WINDOW:
                        self.stale_updates += 1  # older than the quote held: it came late
                        return 0
            st.quote = ev
            counts["quote"] += 1
            st.messages += 1
            st.last_recv_ns = now_ns  # the frame's receive time, which the reader gave the event
            st.version += 1
            exch = ev.exch_ns
            if exch:
                st.last_exch_ns = exch
            for on_event in listeners:
                on_event(ev)
            return exch if last is not None and exch > 0 else 0  # the first quote may ride on catch-up data
        return apply

    def _candle_path(self, conn: str) -> Callable[[Candle, int], int]:
        check, apply_candle, listeners, refuse = self.guard.check_candle, self._apply_candle, \
            self.event_listeners, self._refuse

        def apply(ev: Candle, now_ns: int) -> int:
            reason = check(ev, now_ns)
            if reason:
                refuse(reason, ev, conn)
                return 0
            st = apply_candle(ev, False)
            if st is None:
                return 0
            st.messages += 1
            st.last_recv_ns = now_ns  # the frame's receive time, which the reader gave the event
            st.version += 1
            exch = ev.exch_ns
            if exch:
                st.last_exch_ns = exch
            for on_event in listeners:
                on_event(ev)
            return exch if exch > 0 else 0
        return apply

    def _apply_candle(self, ev: Candle, built: bool) -> SymbolState | None:
        """Apply a candle; its symbol's state when it counts as market data, None when it does not (a duplicate,
        a stale update, a REST body's forming row, or one only checked against the bars built from trades)."""
        if not ev.closed and ev.source == "backfill":
            return None  # a REST body's still-forming last row: the stream owns forming bars
        check = None if built else self.candle_checks.get(ev.venue)
        if check is not None and ev.interval == check.interval:
            check.exchange(ev)  # the venue's own candles validate the ones built from its trades
            return None
        st = self.state.get(ev.venue, ev.symbol, ev.unified)
        if ev.source != "backfill":  # REST answers say nothing about the stream's health
            self.watchdog.seen(ev.venue, ev.symbol, "candle", ev.exch_ns, ev.recv_ns)
        series = st.series(ev.interval)
        forming = series.forming
        if forming is not None and not ev.closed and ev.exch_ns == forming.exch_ns \
                and astuple(ev)[5:] == astuple(forming)[5:]:
            # the same update sent twice: every figure equal, not only the time
            self._duplicate(ev, "the same forming-bar update again")
            return None
        outcome = series.apply(ev)
        if outcome == "duplicate":
            self._duplicate(ev, "a closed bar already held")
            return None
        if outcome == "stale":
            self.stale_updates += 1
            return None
        counts = self.events
        counts["candle"] += 1
        if outcome == "closed":
            counts["candle_closed"] += 1
            if ev.source == "backfill":
                self.backfilled_candles += 1
            elif ev.venue not in self.trade_candles:  # built bars skip quiet spells by design
                bars = series.bars
                # between two live bars only: a hole after the startup backfill is that window's
                if len(bars) > 1 and bars[-1] is ev and bars[-2].source == "live" \
                        and bar_gap(bars[-2].open_ns, ev.open_ns, ev.interval):
                    self.bar_gaps += 1
                    self._integrity("gap", ev, f"{bar_gap(bars[-2].open_ns, ev.open_ns, ev.interval)} "
                                               f"{ev.interval} bars missing before this one")
            for on_closed in self.closed_candle_listeners:
                on_closed(ev)
        return st

    def _build_from_trade(self, ev: Trade, conn: str, now_ns: int) -> None:
        """Venues without klines: the trade updates the bars built from trades (and their check)."""
        builder = self.trade_candles.get(ev.venue)
        if builder is not None:
            self.apply_all(builder.update(ev), conn, now_ns, built=True)
            check = self.candle_checks.get(ev.venue)
            if check is not None:
                check.trade(ev)

    def _unexpected(self, ev: Any, conn: str) -> None:
        """Market data for a symbol ``conn`` did not subscribe to: counted and dead-lettered, never state."""
        self.add_rejection(Rejected(ev.venue, ev.symbol, "", ev.exch_ns, ev.recv_ns, "unexpected_symbol",
                                    f"{type(ev).__name__} for a symbol this connection did not subscribe to",
                                    repr(ev)[:512]), conn)

    def _refuse(self, reason: str, ev: Any, conn: str) -> None:
        if reason == "duplicate":
            self._duplicate(ev, f"{type(ev).__name__} already seen (the guard's check)")
            return
        self.add_rejection(Rejected(ev.venue, ev.symbol, ev.unified, ev.exch_ns, ev.recv_ns, reason,
                              f"{type(ev).__name__} failed the {reason} check", repr(ev)[:512]), conn)

    def _duplicate(self, ev: Any, cause: str) -> None:
        self.duplicates += 1
        self._integrity("duplicate", ev, cause)

    def _integrity(self, kind: str, ev: Any, cause: str) -> None:
        for fn in self.integrity_listeners:
            fn(kind, ev, cause)

    def tick(self, now_ns: int) -> None:
        """Periodic work on the pipeline's clock: close trade-built bars whose time is over, fold latencies."""
        for tel in self.telemetry.values():
            tel.latency.fold()
            tel.processing.fold()
        for builder in self.trade_candles.values():
            closed = builder.close_due(now_ns)
            if closed:
                self.apply_all(closed, built=True)
        for check in self.candle_checks.values():
            check.close_due(now_ns)

    def add_rejection(self, ev: Rejected, conn: str) -> None:
        if ev.reason == "duplicate":  # a codec saw a repeated sequence number: not bad data
            self._duplicate(ev, ev.detail)
            return
        self.rejected[ev.reason] = self.rejected.get(ev.reason, 0) + 1
        self.recent_rejections.append((conn, ev))
        for fn in self.rejection_listeners:
            fn(conn, ev)

    # -- statistics -----------------------------------------------------------------------------
    @property
    def messages(self) -> int:
        """Frames fed so far (each is counted once, in its venue's telemetry)."""
        return sum(tel.messages for tel in self.telemetry.values())

    @property
    def total_gaps(self) -> int:
        return self.gaps + self.guard.gaps + self.bar_gaps

    def rejected_summary(self) -> dict[str, Any]:
        return {"total": sum(self.rejected.values()), "by_reason": dict(sorted(self.rejected.items()))}
