"""The futures (pu-chained) book sync rule, chosen by the venue's declaration."""
from __future__ import annotations

from feeds.core.book_sync import RESYNCING, SYNCED, BinanceBookSync, ChainedBookSync, OrderBooks
from feeds.events import BookDelta, BookSnapshot

V = "BINANCE_FUTURES"


def delta(first: int, last: int, prev: int, bids=(), asks=()) -> BookDelta:
    return BookDelta(V, "BTCUSDT", "BTC/USD:PERP", 0, 0, tuple(bids), tuple(asks), first, last, prev)


def snap(last_id: int) -> BookSnapshot:
    return BookSnapshot(V, "BTCUSDT", "BTC/USD:PERP", 0, 0, ((100.0, 1.0),), ((101.0, 1.0),), last_id)


def test_the_declaration_picks_the_rule():
    books = OrderBooks()
    assert type(books.get(V, "BTCUSDT")) is ChainedBookSync
    assert type(books.get("BINANCE", "BTCUSDT")) is BinanceBookSync


def test_buffered_diffs_older_than_the_snapshot_drop_and_the_first_applied_brackets_it():
    s = ChainedBookSync(V, "BTCUSDT", "")
    s.on_delta(delta(90, 95, 80, bids=[(99.0, 5.0)]))  # u < lastUpdateId: dropped
    s.on_delta(delta(96, 100, 95, bids=[(100.0, 2.0)]))  # U <= 100 <= u: the first applied
    s.on_delta(delta(101, 104, 100, asks=[(101.0, 3.0)]))  # pu == previous u
    assert s.needs_snapshot
    assert s.on_snapshot(snap(100)) == 3
    assert s.state == SYNCED and s.book_id == 104
    assert s.book.best_bid() == (100.0, 2.0) and s.book.best_ask() == (101.0, 3.0)
    assert s.book.top(5)[0] == [(100.0, 2.0)]  # the dropped diff (a bid at 99) never touched the book


def test_u_equal_to_last_update_id_is_applied_not_dropped():
    # spot drops u <= lastUpdateId; futures drops only u < lastUpdateId
    s = ChainedBookSync(V, "BTCUSDT", "")
    s.on_delta(delta(95, 100, 90, bids=[(100.0, 7.0)]))
    assert s.on_snapshot(snap(100)) == 2 and s.book.best_bid() == (100.0, 7.0)


def test_a_broken_pu_chain_resyncs_and_a_stale_repeat_is_skipped():
    s = ChainedBookSync(V, "BTCUSDT", "")
    s.on_delta(delta(96, 100, 95))
    s.on_snapshot(snap(100))
    assert s.on_delta(delta(101, 105, 100)) == 1
    assert s.on_delta(delta(101, 105, 100)) == 0 and s.skipped_stale == 1 and s.state == SYNCED  # sent twice
    # the ids continue (U == u + 1) but pu names another frame: spot's rule would accept it, this one must not
    assert s.on_delta(delta(106, 110, 103)) == 0
    assert s.state == RESYNCING and s.gaps == 1 and s.needs_snapshot and "pu 103" in s.last_problem
    s.on_delta(delta(111, 115, 110, bids=[(100.5, 1.0)]))
    assert s.on_snapshot(snap(112)) == 2 and s.state == SYNCED and s.book_id == 115
    assert s.book.best_bid() == (100.5, 1.0)


def test_a_snapshot_older_than_every_buffered_diff_is_discarded():
    s = ChainedBookSync(V, "BTCUSDT", "")
    s.on_delta(delta(120, 125, 119))
    assert s.on_snapshot(snap(100)) == 0  # U 120 > 100: updates 101..119 would be missing
    assert s.stale_snapshots == 1 and s.needs_snapshot and s.state != SYNCED
    assert s.on_snapshot(snap(122)) == 2 and s.state == SYNCED and s.book_id == 125


def test_a_crossed_book_resyncs():
    s = ChainedBookSync(V, "BTCUSDT", "")
    s.on_delta(delta(96, 100, 95))
    s.on_snapshot(snap(100))
    s.on_delta(delta(101, 101, 100, bids=[(102.0, 1.0)]))
    assert s.state == RESYNCING and s.crossings == 1
