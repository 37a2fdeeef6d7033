"""Book sync state machines: hand-made Binance and Coinbase sequences, then the real captures."""
from __future__ import annotations

from pathlib import Path

import orjson

from feeds.core.book_sync import BinanceBookSync, CoinbaseBookSync, OrderBooks
from feeds.events import BookDelta, BookSnapshot
from feeds.symbols import SymbolMap
from feeds.venues.binance import BinanceCodec, parse_depth_snapshot

from capture_files import capture_dir


def delta(first, last, bids=(), asks=(), venue="BINANCE", symbol="BTCUSDT"):
    return BookDelta(venue, symbol, "BTC/USD", 0, 0, tuple(bids), tuple(asks), first, last)


def snap(update_id, bids=((100.0, 1.0),), asks=((101.0, 1.0),), venue="BINANCE", symbol="BTCUSDT"):
    return BookSnapshot(venue, symbol, "BTC/USD", 0, 0, tuple(bids), tuple(asks), update_id)


def binance():
    return BinanceBookSync("BINANCE", "BTCUSDT", "BTC/USD")


def synced_binance(update_id=100):
    sync = binance()
    assert sync.on_snapshot(snap(update_id)) == 1
    assert sync.state == "synced"
    return sync


# --- Binance: the documented procedure -------------------------------------------------------------

def test_deltas_are_buffered_until_a_snapshot_and_the_first_asks_for_one():
    sync = binance()
    assert sync.state == "waiting_snapshot" and not sync.needs_snapshot
    assert sync.on_delta(delta(101, 103, bids=[(100.5, 2.0)])) == 0
    assert sync.needs_snapshot
    sync.snapshot_requested()
    assert not sync.needs_snapshot
    assert sync.on_delta(delta(104, 104, asks=[(100.8, 3.0)])) == 0
    assert sync.needs_snapshot is False  # asked once per buffering round
    assert sync.book.best_bid() is None and sync.applied_deltas == 0
    assert sync.on_snapshot(snap(102)) == 3
    assert sync.state == "synced" and sync.book_id == 104
    assert sync.book.best_bid() == (100.5, 2.0)
    assert sync.book.best_ask() == (100.8, 3.0)
    assert (sync.applied_snapshots, sync.applied_deltas, sync.skipped_stale) == (1, 2, 0)


def test_snapshot_older_than_the_first_buffered_update_is_refetched():
    sync = binance()
    sync.on_delta(delta(110, 112))
    sync.snapshot_requested()
    assert sync.on_snapshot(snap(105)) == 0  # updates 106..109 would be missing
    assert sync.state == "waiting_snapshot" and sync.needs_snapshot
    assert sync.stale_snapshots == 1 and sync.applied_snapshots == 0
    assert sync.book.best_bid() is None
    # lastUpdateId + 1 == first U is the exact bracket: accepted
    assert sync.on_snapshot(snap(109)) == 2
    assert sync.state == "synced" and sync.book_id == 112 and not sync.needs_snapshot


def test_buffered_deltas_up_to_the_snapshot_are_dropped_and_not_counted():
    sync = binance()
    sync.on_delta(delta(100, 105, bids=[(99.0, 7.0)]))
    sync.on_delta(delta(106, 110, bids=[(99.5, 1.0)]))
    sync.on_delta(delta(111, 115, asks=[(101.0, 0.0), (102.0, 4.0)]))
    assert sync.on_snapshot(snap(108)) == 3  # snapshot + two deltas
    assert sync.skipped_stale == 1 and sync.applied_deltas == 2
    assert sync.book.top(5) == ([(100.0, 1.0), (99.5, 1.0)], [(102.0, 4.0)])
    assert sync.book_id == 115


def test_first_delta_must_bracket_the_snapshot():
    sync = binance()
    sync.on_delta(delta(100, 105))
    sync.on_delta(delta(110, 112))  # 106..109 never arrived
    sync.snapshot_requested()
    assert sync.on_snapshot(snap(105)) == 1  # the snapshot itself is applied, then the gap shows
    assert sync.state == "resyncing" and sync.needs_snapshot
    assert sync.gaps == 1 and sync.resyncs == 1 and sync.skipped_stale == 1
    assert "gap" in sync.last_problem


def test_steady_state_chain_and_stale_or_overlapping_deltas():
    sync = synced_binance(100)
    assert sync.on_delta(delta(101, 101, bids=[(100.2, 1.0)])) == 1
    assert sync.on_delta(delta(102, 110, bids=[(100.3, 1.0)])) == 1
    assert sync.on_delta(delta(95, 110, bids=[(50.0, 1.0)])) == 0  # u == book_id: stale
    assert sync.on_delta(delta(90, 99, bids=[(50.0, 1.0)])) == 0  # u < book_id: stale
    assert sync.skipped_stale == 2
    assert sync.on_delta(delta(108, 112, bids=[(100.3, 2.0)])) == 1  # overlaps, ends past the book
    assert sync.book_id == 112 and sync.book.best_bid() == (100.3, 2.0)
    assert sync.book.depth_counts() == (3, 1)  # the stale level 50.0 never went in
    assert sync.applied_deltas == 3 and sync.gaps == 0


def test_gap_starts_a_resync_that_keeps_the_last_good_book_readable():
    sync = synced_binance(100)
    sync.on_delta(delta(101, 105, bids=[(100.5, 1.0)]))
    before = sync.book.top(10)
    assert sync.on_delta(delta(107, 108, bids=[(100.7, 9.0)])) == 0  # 106 is missing
    assert sync.state == "resyncing" and sync.needs_snapshot
    assert sync.gaps == 1 and sync.resyncs == 1
    assert sync.book.top(10) == before  # nothing cleared, nothing applied
    assert sync.to_stats() == {"state": "resyncing", "bid": [100.5, 1.0], "ask": [101.0, 1.0]}
    sync.snapshot_requested()
    assert sync.on_delta(delta(109, 110, asks=[(100.9, 1.0)])) == 0  # buffered
    assert sync.book.top(10) == before
    # The new snapshot must not be older than the gap delta, which was kept as the first buffered one.
    assert sync.on_snapshot(snap(105, bids=[(100.6, 1.0)], asks=[(101.0, 1.0)])) == 0
    assert sync.needs_snapshot and sync.stale_snapshots == 1
    assert sync.on_snapshot(snap(107, bids=[(100.6, 1.0)], asks=[(101.0, 1.0)])) == 3
    assert sync.state == "synced" and sync.book_id == 110
    assert sync.book.top(10) == ([(100.7, 9.0), (100.6, 1.0)], [(100.9, 1.0), (101.0, 1.0)])


def test_gap_in_the_middle_of_a_flush_rebuffers_the_rest():
    sync = binance()
    for first, last in ((100, 105), (106, 110), (115, 120), (121, 125)):
        sync.on_delta(delta(first, last))
    assert sync.on_snapshot(snap(105)) == 2  # snapshot + 106..110, then the gap at 115
    assert sync.state == "resyncing" and sync.gaps == 1
    assert sync.on_snapshot(snap(118)) == 3  # 115..120 brackets 119, then 121..125
    assert sync.state == "synced" and sync.book_id == 125
    assert (sync.applied_snapshots, sync.applied_deltas, sync.skipped_stale) == (2, 3, 1)


def test_crossed_book_after_a_delta_resyncs():
    sync = synced_binance(100)
    assert sync.on_delta(delta(101, 101, bids=[(101.5, 1.0)])) == 1  # applied, counted, then crossed
    assert sync.state == "resyncing" and sync.needs_snapshot
    assert sync.crossings == 1 and sync.resyncs == 1 and sync.gaps == 0
    assert "crossed" in sync.last_problem
    assert sync.on_delta(delta(102, 102)) == 0  # buffered for the next snapshot
    assert sync.on_snapshot(snap(101)) == 2
    assert sync.state == "synced" and not sync.book.is_crossed()


def test_crossed_snapshot_resyncs():
    sync = binance()
    assert sync.on_snapshot(snap(50, bids=[(102.0, 1.0)], asks=[(101.0, 1.0)])) == 1
    assert sync.state == "resyncing" and sync.needs_snapshot and sync.crossings == 1


def test_snapshot_not_newer_than_a_synced_book_is_ignored():
    sync = synced_binance(100)
    sync.on_delta(delta(101, 120, bids=[(100.5, 1.0)]))
    assert sync.on_snapshot(snap(110, bids=[(90.0, 1.0)])) == 0
    assert sync.book.best_bid() == (100.5, 1.0) and sync.applied_snapshots == 1
    assert sync.on_snapshot(snap(130, bids=[(90.0, 1.0)])) == 1
    assert sync.book.best_bid() == (90.0, 1.0) and sync.book_id == 130


def test_returned_counts_equal_the_counters():
    sync = binance()
    total = 0
    for first in range(1, 50, 2):
        total += sync.on_delta(delta(first, first + 1, bids=[(99.0 - first / 100, 1.0)]))
        if first == 21:
            total += sync.on_snapshot(snap(10))
    assert total == sync.applied_snapshots + sync.applied_deltas == 1 + 20
    assert sync.skipped_stale == 5


# --- Coinbase --------------------------------------------------------------------------------------

def cb_delta(bids=(), asks=()):
    return BookDelta("COINBASE", "BTC-USD", "BTC/USD", 0, 0, tuple(bids), tuple(asks))


def cb_snap(bids=((100.0, 1.0),), asks=((101.0, 1.0),)):
    return BookSnapshot("COINBASE", "BTC-USD", "BTC/USD", 0, 0, tuple(bids), tuple(asks))


def test_coinbase_updates_need_a_snapshot_first():
    sync = CoinbaseBookSync("COINBASE", "BTC-USD", "BTC/USD")
    assert sync.on_delta(cb_delta(bids=[(99.0, 1.0)])) == 0
    assert sync.skipped == 1 and sync.state == "waiting_snapshot"
    assert sync.on_snapshot(cb_snap()) == 1
    assert sync.on_delta(cb_delta(bids=[(100.0, 0.0), (100.5, 2.0)])) == 1
    assert sync.to_stats() == {"state": "synced", "bid": [100.5, 2.0], "ask": [101.0, 1.0]}
    assert sync.key == "COINBASE:BTC-USD"


def test_coinbase_crossed_book_asks_for_a_resubscribe_and_keeps_the_book():
    sync = CoinbaseBookSync("COINBASE", "BTC-USD", "BTC/USD")
    sync.on_snapshot(cb_snap())
    assert sync.on_delta(cb_delta(asks=[(99.5, 1.0)])) == 1
    assert sync.state == "resyncing" and sync.needs_resubscribe and sync.crossings == 1
    assert sync.on_delta(cb_delta(asks=[(99.5, 0.0)])) == 0  # ignored until the new snapshot
    assert sync.book.best_ask() == (99.5, 1.0)
    sync.resubscribe_requested()
    assert not sync.needs_resubscribe
    assert sync.on_snapshot(cb_snap(asks=[(100.5, 1.0)])) == 1
    assert sync.state == "synced" and sync.book.best_ask() == (100.5, 1.0)


def test_coinbase_sequence_gap_resyncs():
    sync = CoinbaseBookSync("COINBASE", "BTC-USD", "BTC/USD")
    sync.on_gap()
    assert sync.state == "waiting_snapshot" and sync.needs_resubscribe and sync.resyncs == 0
    sync.on_snapshot(cb_snap())
    assert not sync.needs_resubscribe
    sync.on_gap("sequence_num 7 after 5")
    assert sync.state == "resyncing" and sync.needs_resubscribe
    assert sync.gaps == 2 and sync.resyncs == 1 and sync.last_problem == "sequence_num 7 after 5"
    assert sync.book.best_bid() == (100.0, 1.0)


def test_order_books_route_by_venue_and_symbol():
    books = OrderBooks()
    assert books.on_event(delta(1, 2, bids=[(1.0, 1.0)])) == 0
    assert books.on_event(cb_snap()) == 1
    assert [s.key for s in books.wanting_snapshot()] == ["BINANCE:BTCUSDT"]
    assert books.on_event(snap(1)) == 2
    assert books.wanting_snapshot() == []
    books.on_gap("COINBASE")
    assert [s.key for s in books.wanting_resubscribe()] == ["COINBASE:BTC-USD"]
    assert books.stats() == {
        "BINANCE:BTCUSDT": {"state": "synced", "bid": [100.0, 1.0], "ask": [101.0, 1.0]},
        "COINBASE:BTC-USD": {"state": "resyncing", "bid": [100.0, 1.0], "ask": [101.0, 1.0]},
    }
    assert isinstance(books.get("BINANCE", "BTCUSDT"), BinanceBookSync)


# --- real captures ---------------------------------------------------------------------------------

def _capture(name: str) -> Path:
    return capture_dir() / name


def _levels(rows) -> tuple:
    return tuple([(float(p), float(q)) for p, q in rows])


def binance_book_events():
    """Depth diffs and REST snapshots from both Binance files, merged in receive-time order."""
    timed = []
    for line in _capture("BINANCE.ws.1.0").read_text().splitlines():
        head, sep, payload = line.partition(": ")
        if not sep or "@depth" not in payload or " " in head:
            continue
        m = orjson.loads(payload)["data"]
        timed.append((float(head), BookDelta("BINANCE", m["s"], m["s"], m["E"] * 1_000_000, 0,
                                             _levels(m["b"]), _levels(m["a"]), m["U"], m["u"])))
    for line in _capture("BINANCE.http.0.0").read_text().splitlines():
        head, sep, body = line.partition(": ")
        if not sep:
            continue
        url, _, ts = head.partition(" -> ")
        symbol = url.split("symbol=")[1].split("&")[0]
        m = orjson.loads(body)
        timed.append((float(ts), BookSnapshot("BINANCE", symbol, symbol, 0, 0, _levels(m["bids"]),
                                              _levels(m["asks"]), m["lastUpdateId"])))
    timed.sort(key=lambda item: item[0])
    return [ev for _, ev in timed]


def test_binance_capture_gives_176_book_updates_and_four_synced_books():
    events = binance_book_events()
    assert sum(type(ev) is BookDelta for ev in events) == 177
    books = OrderBooks()
    total = 0
    for ev in events:
        sync = books.get(ev.venue, ev.symbol)
        if type(ev) is BookSnapshot:
            assert sync.needs_snapshot  # every snapshot in the capture came after diffs started
        total += books.on_event(ev)
        assert not sync.book.is_crossed(), ev
    syncs = list(books.syncs.values())
    assert total == 176
    assert sum(s.applied_snapshots for s in syncs) == 4
    assert sum(s.applied_deltas for s in syncs) == 172
    assert sum(s.skipped_stale for s in syncs) == 5
    assert sum(s.gaps + s.resyncs + s.crossings + s.stale_snapshots for s in syncs) == 0
    assert sorted(books.stats()) == ["BINANCE:BLZETH", "BINANCE:LRCBTC", "BINANCE:NKNUSDT",
                                     "BINANCE:RUNEEUR"]
    assert all(stats["state"] == "synced" for stats in books.stats().values())
    for sync in syncs:
        assert sync.book.spread() > 0
        assert min(sync.book.depth_counts()) > 100  # the limit=1000 snapshots were loaded


def coinbase_book_events():
    for line in _capture("COINBASE.ws.28.0").read_text().splitlines():
        head, sep, payload = line.partition(": ")
        if not sep or " " in head:  # blank lines, sent frames
            continue
        m = orjson.loads(payload)
        kind = m.get("type")
        if kind == "snapshot":
            yield BookSnapshot("COINBASE", m["product_id"], m["product_id"], 0, 0,
                               _levels(m["bids"]), _levels(m["asks"]))
        elif kind == "l2update":
            changes = m["changes"]
            yield BookDelta("COINBASE", m["product_id"], m["product_id"], 0, 0,
                            tuple([(float(p), float(q)) for side, p, q in changes if side == "buy"]),
                            tuple([(float(p), float(q)) for side, p, q in changes if side == "sell"]))


def test_coinbase_capture_gives_9729_book_updates_and_ten_synced_books():
    books = OrderBooks()
    total = 0
    seen = 0
    for ev in coinbase_book_events():
        seen += 1
        total += books.on_event(ev)
        assert not books.syncs[(ev.venue, ev.symbol)].book.is_crossed(), ev
    syncs = list(books.syncs.values())
    assert seen == 9729
    assert total == 9729
    assert sum(s.applied_snapshots for s in syncs) == 10
    assert sum(s.skipped + s.gaps + s.resyncs + s.crossings for s in syncs) == 0
    assert len(syncs) == 10
    assert all(stats["state"] == "synced" for stats in books.stats().values())


def test_binance_capture_through_the_real_codec():
    codec = BinanceCodec(SymbolMap())
    timed = []
    for line in _capture("BINANCE.ws.1.0").read_text().splitlines():
        head, sep, payload = line.partition(": ")
        if sep and " " not in head and "@depth" in payload:
            timed.extend((float(head), ev) for ev in codec.decode(payload, 0))
    for line in _capture("BINANCE.http.0.0").read_text().splitlines():
        head, sep, body = line.partition(": ")
        if sep:
            url, _, ts = head.partition(" -> ")
            symbol = url.split("symbol=")[1].split("&")[0]
            timed.append((float(ts), parse_depth_snapshot(body, symbol, 0)))
    timed.sort(key=lambda item: item[0])
    books = OrderBooks()
    assert sum(books.on_event(ev) for _, ev in timed) == 176
    assert all(stats["state"] == "synced" for stats in books.stats().values())
