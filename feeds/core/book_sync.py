"""Keeping local order books in sync with a venue: pure state machines, no I/O.

Each sync owns one ``OrderBook`` for one venue symbol. It consumes ``BookSnapshot`` / ``BookDelta``
events and returns how many book updates it applied (the ``book`` count of the statistics object:
one per snapshot or delta applied; deltas older than their snapshot are skipped and not counted).
When it needs I/O it raises a flag for the runtime instead of doing it:

- ``BinanceBookSync.needs_snapshot``: fetch ``/api/v3/depth`` and pass the result to ``on_snapshot``
  (call ``snapshot_requested()`` once the fetch is under way).
- ``CoinbaseBookSync.needs_resubscribe``: unsubscribe and subscribe the book channel again, so the
  venue sends a new snapshot (call ``resubscribe_requested()`` once done).

States: ``"waiting_snapshot"`` (no book yet), ``"synced"``, ``"resyncing"`` (the last good book stays
readable in ``.book`` until the new snapshot replaces it). Rules: protocols.md 1.6 (Binance),
2.4/2.5 (Coinbase level2) and 3.5/3.6 (Coinbase Advanced Trade l2_data).
"""
from __future__ import annotations

from collections import deque
from typing import Any

from feeds.core.book import OrderBook
from feeds.core.book_l3 import Level3Book
from feeds.events import BookDelta, BookSnapshot, Level3Snapshot, Level3Update
from feeds.venues import BOOK_FROM_REST_SNAPSHOT, VENUES
from feeds.venues.base import BOOK_LEVEL3, CHAIN_PREV_ID

WAITING = "waiting_snapshot"
SYNCED = "synced"
RESYNCING = "resyncing"

# Deltas kept while waiting for a REST snapshot (about 16 minutes of a 100 ms stream); older ones go.
MAX_BUFFERED = 10_000


class _BookSync:
    """What both venues share: the book, the state, counters and the statistics form."""

    def __init__(self, venue: str, symbol: str, unified: str) -> None:
        self.venue = venue
        self.symbol = symbol
        self.unified = unified
        self.book = OrderBook()
        self.state = WAITING
        self.applied_snapshots = 0
        self.applied_deltas = 0
        self.resyncs = 0
        self.gaps = 0
        self.crossings = 0
        self.last_problem = ""  # why the last resync started, one sentence

    @property
    def key(self) -> str:
        """The statistics-object key: ``"BINANCE:BTCUSDT"``."""
        return f"{self.venue}:{self.symbol}"

    def to_stats(self) -> dict[str, Any]:
        """``{"state": "synced", "bid": [price, size], "ask": [price, size]}``; [0.0, 0.0] for an empty side."""
        bid = self.book.best_bid()
        ask = self.book.best_ask()
        return {"state": self.state,
                "bid": list(bid) if bid else [0.0, 0.0],
                "ask": list(ask) if ask else [0.0, 0.0]}


class BinanceBookSync(_BookSync):
    """Diff-depth stream plus REST snapshot, by the documented procedure (protocols.md 1.6).

    Deltas are buffered until a snapshot arrives. A snapshot older than the buffer (``lastUpdateId + 1
    < first U``: some update would be missing between them) is discarded and another one asked for.
    Buffered deltas with ``u <= lastUpdateId`` are dropped; after that every delta must continue the
    book: ``u <= book_id`` is stale (skipped, not counted), ``U > book_id + 1`` is a gap, anything else
    applies and sets ``book_id = u``. For the first delta after a snapshot this is the bracket rule
    ``U <= lastUpdateId + 1 <= u``; afterwards it is ``U == previous u + 1``. A gap or a crossed book
    starts a resync: the book stays as it is, new deltas are buffered, a new snapshot is asked for.
    """

    def __init__(self, venue: str, symbol: str, unified: str) -> None:
        super().__init__(venue, symbol, unified)
        self.book_id = 0  # the update id the book is at (lastUpdateId, then the last applied u)
        self.needs_snapshot = False
        self.skipped_stale = 0
        self.stale_snapshots = 0  # snapshots discarded because they were older than the buffer
        self._buffer: deque[BookDelta] = deque(maxlen=MAX_BUFFERED)
        self._bridged = False  # has a delta been applied since the snapshot? (the chained rule asks)

    @property
    def bridged(self) -> bool:
        """A delta has been applied over the last snapshot: the next delta's ids start right after the book's.
        (Until then the snapshot may already hold changes the stream has not sent yet.)"""
        return self._bridged

    def snapshot_requested(self) -> None:
        """The caller has started fetching a snapshot: stop asking."""
        self.needs_snapshot = False

    def _follows(self, delta: BookDelta) -> str | None:
        """None: the delta continues the book; "": it is stale; else why it is a gap."""
        if delta.last_id <= self.book_id:
            return ""
        if delta.first_id > self.book_id + 1:
            return f"gap: update {delta.first_id} follows {self.book_id}"
        return None

    def _buffer_after(self, last_id: int) -> deque[BookDelta] | None:
        """The buffered deltas to play over a snapshot at ``last_id``; None: the snapshot is older than them."""
        buffer = self._buffer
        return None if buffer and last_id + 1 < buffer[0].first_id else buffer

    def on_delta(self, delta: BookDelta) -> int:
        """Apply or buffer one diff; returns the book updates applied (0 or 1)."""
        if self.state != SYNCED:
            if not self._buffer:
                self.needs_snapshot = True  # fetched after the first diff, as the procedure says
            self._buffer.append(delta)
            return 0
        problem = self._follows(delta)
        if problem is not None:
            if not problem:
                self.skipped_stale += 1
                return 0
            self.gaps += 1
            self._resync(problem)
            self._buffer.append(delta)
            return 0
        book = self.book
        book.apply_levels(delta.bids, delta.asks)
        self.book_id = delta.last_id
        self._bridged = True
        self.applied_deltas += 1
        if book.is_crossed():
            self.crossings += 1
            self._resync(f"crossed book after update {delta.last_id}")
        return 1

    def on_snapshot(self, snapshot: BookSnapshot) -> int:
        """Load a REST snapshot and flush the buffer; returns the book updates applied (1 + deltas)."""
        last_id = snapshot.update_id
        buffer = self._buffer_after(last_id)
        if buffer is None:
            self.stale_snapshots += 1
            self.needs_snapshot = True
            return 0
        if self.state == SYNCED and last_id <= self.book_id:
            return 0  # not newer than the book we already have
        self.book.apply_snapshot(snapshot.bids, snapshot.asks)
        self.book_id = last_id
        self.applied_snapshots += 1
        self.state = SYNCED
        self.needs_snapshot = False
        self._bridged = False
        self._buffer = deque(maxlen=MAX_BUFFERED)
        applied = 1
        if self.book.is_crossed():
            self.crossings += 1
            self._resync(f"crossed snapshot {last_id}")
        # a resync during the flush re-buffers the rest through on_delta
        for delta in buffer:
            applied += self.on_delta(delta)
        return applied

    def _resync(self, why: str) -> None:
        self.state = RESYNCING
        self.resyncs += 1
        self.last_problem = why
        self.needs_snapshot = True
        self._buffer = deque(maxlen=MAX_BUFFERED)


class ChainedBookSync(BinanceBookSync):
    """Binance USD-M futures: deltas chained by ``pu`` (Binance's "How to manage a local order book correctly").

    Deltas are buffered until a snapshot (``lastUpdateId`` L) arrives. Buffered deltas with ``u < L`` are
    dropped; the first one applied must bracket the snapshot, ``U <= L <= u`` (if the first one left starts
    after L, the snapshot is too old: another is asked for). Every later delta must have ``pu`` equal to the
    previous ``u``; one with ``u`` not past the book is stale (skipped, not counted); anything else is a gap
    and starts a resync, as does a crossed book. The rest is spot's procedure.
    """

    def _follows(self, delta: BookDelta) -> str | None:
        book_id = self.book_id
        if not self._bridged:
            if delta.last_id < book_id:
                return ""
            if delta.first_id > book_id:
                return f"gap: first update {delta.first_id} starts after snapshot {book_id}"
            return None
        if delta.prev_id == book_id:
            return None
        if delta.last_id <= book_id:
            return ""
        return f"gap: pu {delta.prev_id} is not the previous u {book_id}"

    def _buffer_after(self, last_id: int) -> deque[BookDelta] | None:
        buffer = deque((d for d in self._buffer if d.last_id >= last_id), maxlen=MAX_BUFFERED)
        if buffer and buffer[0].first_id > last_id:
            self._buffer = buffer
            return None
        return buffer


class Level3BookSync(BinanceBookSync):
    """A level-3 book (Coinbase Exchange ``full``) by Coinbase's rule (feeds/venues/coinbase_full.py).

    Messages are queued until a REST snapshot (every order, at ``sequence`` S) arrives; queued messages with
    sequence <= S are dropped, and the first one left must be S + 1 (if it starts later, the snapshot is older
    than the queue: another is asked for). After that every message must carry the previous sequence + 1: a
    lower one is stale (skipped), a higher one is a gap and starts a resync (the book stays readable, messages
    queue, a new snapshot is asked for), as does a crossed book. ``book`` holds the aggregated price levels;
    ``orders`` the orders themselves. A BinanceBookSync by descent so the feed core fetches its snapshots.
    """

    def __init__(self, venue: str, symbol: str, unified: str) -> None:
        super().__init__(venue, symbol, unified)
        self.orders = Level3Book()
        self.book = self.orders.levels
        self.messages = 0  # sequenced messages applied in order, whether they changed the book or not
        self._queue: deque[Level3Update] = deque(maxlen=MAX_BUFFERED)

    def on_update(self, u: Level3Update) -> int:
        """Apply or queue one message; returns the book updates applied (0 or 1)."""
        if self.state != SYNCED:
            if not self._queue:
                self.needs_snapshot = True  # fetched after the first message, as the procedure says
            self._queue.append(u)
            return 0
        seq, book_seq = u.sequence, self.book_id
        if seq <= book_seq:
            self.skipped_stale += 1
            return 0
        if seq != book_seq + 1:
            self.gaps += 1
            self._resync(f"gap: sequence {seq} follows {book_seq}")
            self._queue.append(u)
            return 0
        self.book_id = seq
        self.messages += 1
        if not self.orders.apply(u):
            return 0
        self.applied_deltas += 1
        if self.book.is_crossed():
            self.crossings += 1
            self._resync(f"crossed book after sequence {seq}")
        return 1

    def on_level3(self, snapshot: Level3Snapshot) -> int:
        """Load a REST snapshot and play the queue back; returns the book updates applied (1 + messages)."""
        seq = snapshot.sequence
        queue = [u for u in self._queue if u.sequence > seq]
        if queue and queue[0].sequence > seq + 1:
            self.stale_snapshots += 1
            self.needs_snapshot = True
            self._queue = deque(queue, maxlen=MAX_BUFFERED)
            return 0
        if self.state == SYNCED and seq <= self.book_id:
            return 0  # not newer than the book we already have
        self.orders.load(snapshot)
        self.book_id = seq
        self.applied_snapshots += 1
        self.state = SYNCED
        self.needs_snapshot = False
        self._queue = deque(maxlen=MAX_BUFFERED)
        applied = 1
        if self.book.is_crossed():
            self.crossings += 1
            self._resync(f"crossed snapshot {seq}")
        for u in queue:  # a resync during the playback queues the rest through on_update
            applied += self.on_update(u)
        return applied

    def _resync(self, why: str) -> None:
        super()._resync(why)
        self._queue = deque(maxlen=MAX_BUFFERED)


class CoinbaseBookSync(_BookSync):
    """Coinbase books: Exchange ``level2``/``level2_batch`` and Advanced Trade ``l2_data``.

    Both send a snapshot on subscribe, then absolute-size updates. Level2 has no sequence numbers: a
    snapshot resets the book, updates apply. Advanced Trade numbers every envelope per connection; the
    codec reports a jump as a gap ``Control`` and the caller passes it on with ``on_gap``. A gap or a
    crossed book starts a resync: the book stays readable, updates are ignored until the new snapshot,
    and ``needs_resubscribe`` asks the caller to resubscribe.
    """

    def __init__(self, venue: str, symbol: str, unified: str) -> None:
        super().__init__(venue, symbol, unified)
        self.needs_resubscribe = False
        self.skipped = 0  # updates that came with no valid book to apply them to

    def resubscribe_requested(self) -> None:
        """The caller has resubscribed: stop asking."""
        self.needs_resubscribe = False

    def on_delta(self, delta: BookDelta) -> int:
        if self.state != SYNCED:
            self.skipped += 1
            return 0
        book = self.book
        book.apply_levels(delta.bids, delta.asks)
        self.applied_deltas += 1
        if book.is_crossed():
            self.crossings += 1
            self._resync("crossed book after an update")
        return 1

    def on_snapshot(self, snapshot: BookSnapshot) -> int:
        self.book.apply_snapshot(snapshot.bids, snapshot.asks)
        self.applied_snapshots += 1
        self.state = SYNCED
        self.needs_resubscribe = False
        if self.book.is_crossed():
            self.crossings += 1
            self._resync("crossed snapshot")
        return 1

    def on_gap(self, detail: str = "sequence gap") -> None:
        """Messages were lost on this book's connection: the book can no longer be trusted."""
        self.gaps += 1
        if self.state != WAITING:
            self._resync(detail)
        else:
            self.needs_resubscribe = True

    def _resync(self, why: str) -> None:
        self.state = RESYNCING
        self.resyncs += 1
        self.last_problem = why
        self.needs_resubscribe = True


class OrderBooks:
    """One sync per venue symbol, created on first sight: a pipeline book listener.

    ``on_event(ev)`` routes a ``BookSnapshot`` / ``BookDelta`` and returns the book updates applied.
    The venue's declared book kind picks the sync rule: ``BinanceBookSync`` for a book anchored by a
    REST snapshot (``ChainedBookSync`` where its deltas chain by ``pu``), ``Level3BookSync`` for an order-by-order
    book, ``CoinbaseBookSync`` for one the stream sends whole (also for unknown venues).
    """

    def __init__(self) -> None:
        self.syncs: dict[tuple[str, str], BinanceBookSync | CoinbaseBookSync] = {}

    def get(self, venue: str, symbol: str, unified: str = "") -> BinanceBookSync | CoinbaseBookSync:
        sync = self.syncs.get((venue, symbol))
        if sync is None:
            declared = VENUES.get(venue)
            cls: type[BinanceBookSync | CoinbaseBookSync] = CoinbaseBookSync
            if declared is not None and declared.book_kind == BOOK_FROM_REST_SNAPSHOT:
                cls = ChainedBookSync if declared.book_chain == CHAIN_PREV_ID else BinanceBookSync
            elif declared is not None and declared.book_kind == BOOK_LEVEL3:
                cls = Level3BookSync
            sync = self.syncs[(venue, symbol)] = cls(venue, symbol, unified or symbol)
        return sync

    def on_event(self, ev: BookDelta | BookSnapshot | Level3Update | Level3Snapshot) -> int:
        sync = self.syncs.get((ev.venue, ev.symbol)) or self.get(ev.venue, ev.symbol, ev.unified)
        if isinstance(ev, BookDelta):  # isinstance, not type() is: mypy narrows the other branch too
            return sync.on_delta(ev)
        if isinstance(ev, BookSnapshot):
            return sync.on_snapshot(ev)
        if not isinstance(sync, Level3BookSync):
            return 0  # order messages for a venue that keeps no level-3 book
        if isinstance(ev, Level3Update):
            return sync.on_update(ev)
        return sync.on_level3(ev)

    def on_gap(self, venue: str, detail: str = "sequence gap") -> None:
        """A gap on a Coinbase connection: every book of that venue resyncs."""
        for (v, _), sync in self.syncs.items():
            if v == venue and isinstance(sync, CoinbaseBookSync):
                sync.on_gap(detail)

    def wanting_snapshot(self) -> list[BinanceBookSync]:
        return [s for s in self.syncs.values() if isinstance(s, BinanceBookSync) and s.needs_snapshot]

    def wanting_resubscribe(self) -> list[CoinbaseBookSync]:
        return [s for s in self.syncs.values() if isinstance(s, CoinbaseBookSync) and s.needs_resubscribe]

    def stats(self) -> dict[str, dict[str, Any]]:
        """The statistics object's ``books`` member: ``{"BINANCE:BTCUSDT": {...}}``."""
        return {sync.key: sync.to_stats() for sync in self.syncs.values()}
