"""The Coinbase ``full`` channel codec and level-3 book: Coinbase's own example messages decode to what they say,
hostile or mistyped messages become counted rejections naming the field, and the book follows Coinbase's rules
(messages for orders not on the book change nothing)."""
import orjson
import pytest

from feeds.clock import ManualClock
from feeds.core.book_l3 import Level3Book
from feeds.core.book_sync import Level3BookSync
from feeds.core.pipeline import Pipeline
from feeds.events import Level3Snapshot, Level3Update, Rejected, Trade
from feeds.symbols import SymbolMap
from feeds.venues.coinbase_full import CoinbaseFullCodec

T = "2014-11-07T08:19:27.028459Z"
# the examples of docs.cdp.coinbase.com/exchange/websocket-feed/channels ("Full Channel")
RECEIVED = {"type": "received", "time": T, "product_id": "BTC-USD", "sequence": 10,
            "order_id": "d50ec984-77a8-460a-b958-66f114b0de9b", "size": "1.34", "price": "502.1", "side": "buy",
            "order_type": "limit", "client_oid": "d50ec974-76a2-454b-66f135b1ea8c"}
RECEIVED_MARKET = {"type": "received", "time": T, "product_id": "BTC-USD", "sequence": 12,
                   "order_id": "dddec984-77a8-460a-b958-66f114b0de9b", "funds": "3000.234", "side": "buy",
                   "order_type": "market", "client_oid": "d50ec974-76a2-454b-66f135b1ea8c"}
OPEN = {"type": "open", "time": T, "product_id": "BTC-USD", "sequence": 10,
        "order_id": "d50ec984-77a8-460a-b958-66f114b0de9b", "price": "200.2", "remaining_size": "1.00", "side": "sell"}
DONE = {"type": "done", "time": T, "product_id": "BTC-USD", "sequence": 10, "price": "200.2",
        "order_id": "d50ec984-77a8-460a-b958-66f114b0de9b", "reason": "filled", "side": "sell", "remaining_size": "0"}
MATCH = {"type": "match", "trade_id": 10, "sequence": 50, "maker_order_id": "ac928c66-ca53-498f-9c13-a110027a60e8",
         "taker_order_id": "132fb6ae-456b-4654-b4e0-d681ac05cea1", "time": T, "product_id": "BTC-USD",
         "size": "5.23512", "price": "400.23", "side": "sell"}
CHANGE_STP = {"type": "change", "reason": "STP", "time": T, "sequence": 80,
              "order_id": "ac928c66-ca53-498f-9c13-a110027a60e8", "side": "sell", "product_id": "BTC-USD",
              "old_size": "12.234412", "new_size": "5.23512", "price": "400.23"}
CHANGE_MODIFY = {"type": "change", "reason": "modify_order", "time": "2022-06-06T22:55:43.433114Z",
                 "sequence": 24753, "order_id": "c3f16063-77b1-408f-a743-88b7bc20cdcd", "side": "buy",
                 "product_id": "ETH-USD", "old_size": "80", "new_size": "80", "old_price": "7", "new_price": "6"}
ACTIVATE = {"type": "activate", "product_id": "test-product", "timestamp": "1483736448.299000", "user_id": "12",
            "profile_id": "30000727-d308-cf50-7b1c-c06deb1934fc", "order_id": "7b52009b-64fd-0a2a-49e6-d8a939753077",
            "stop_type": "entry", "side": "buy", "stop_price": "80", "size": "2", "funds": "50", "private": True}


def decode(msg: object) -> list:
    return CoinbaseFullCodec(SymbolMap()).decode(orjson.dumps(msg), 1)


def test_coinbases_examples_decode_to_what_they_say():
    (u,) = decode(RECEIVED)
    assert (u.action, u.sequence, u.side, u.price, u.size) == ("received", 10, "buy", 502.1, 1.34)
    assert u.exch_ns == 1415348367028459000 and u.unified == "BTC/USD"
    (u,) = decode(RECEIVED_MARKET)
    assert (u.action, u.price, u.size) == ("received", 0.0, 0.0)
    (u,) = decode(OPEN)
    assert (u.action, u.order_id, u.side, u.price, u.size) == ("open", OPEN["order_id"], "sell", 200.2, 1.0)
    (u,) = decode(DONE)
    assert (u.action, u.size) == ("done", 0.0)
    update, trade = decode(MATCH)
    assert (update.action, update.order_id, update.side, update.size) == ("match", MATCH["maker_order_id"], "sell",
                                                                         5.23512)
    assert isinstance(trade, Trade) and (trade.side, trade.trade_id, trade.price) == ("buy", 10, 400.23)  # up-tick
    (u,) = decode(CHANGE_STP)
    assert (u.action, u.price, u.size) == ("change", 400.23, 5.23512)
    (u,) = decode(CHANGE_MODIFY)
    assert (u.action, u.price, u.size) == ("change", 6.0, 80.0)  # the new price
    assert decode(ACTIVATE) == []  # no sequence, nothing for the book
    (u,) = decode({**ACTIVATE, "sequence": 7, "time": T})
    assert (u.action, u.sequence) == ("activate", 7)


BAD = [  # (message, reason, the field named)
    ({**OPEN, "sequence": "10"}, "bad_field", "sequence"),
    ({**OPEN, "sequence": True}, "bad_field", "sequence"),
    ({**OPEN, "sequence": -1}, "bad_field", "sequence"),
    ({**OPEN, "price": None}, "bad_field", "price"),
    ({**OPEN, "price": ["200.2"]}, "bad_field", "price"),
    ({**OPEN, "remaining_size": "lots"}, "bad_field", "remaining_size"),
    ({**OPEN, "side": "long"}, "bad_field", "side"),
    ({**OPEN, "order_id": 42}, "bad_field", "order_id"),
    ({**OPEN, "order_id": "x" * 500}, "bad_field", "order_id"),
    ({**OPEN, "time": "yesterday"}, "bad_field", "RFC 3339"),
    ({k: v for k, v in OPEN.items() if k != "remaining_size"}, "missing_field", "remaining_size"),
    ({k: v for k, v in DONE.items() if k != "reason"}, "missing_field", "reason"),
    ({**MATCH, "trade_id": "10"}, "bad_field", "trade_id"),
    ({**MATCH, "maker_order_id": None}, "bad_field", "maker_order_id"),
    ({**MATCH, "side": 1}, "bad_field", "side"),
    ({k: v for k, v in CHANGE_STP.items() if k != "new_size"}, "missing_field", "new_size"),
    ({**RECEIVED, "size": {"$": 1}}, "bad_field", "size"),
    ({**ACTIVATE, "sequence": 1.5}, "bad_field", "sequence"),
    ({**OPEN, "product_id": 7}, "bad_field", "symbol must be a string"),
]


@pytest.mark.parametrize("msg, reason, named", BAD, ids=[f"{m['type']}-{n}-{i}" for i, (m, _, n) in enumerate(BAD)])
def test_a_mistyped_field_is_one_rejection_naming_it(msg, reason, named):
    (ev,) = decode(msg)
    assert isinstance(ev, Rejected) and ev.reason == reason
    assert named in ev.detail and msg["type"] in ev.detail


def test_hostile_full_messages_through_the_pipeline_are_counted_and_the_book_goes_on():
    codec = CoinbaseFullCodec(SymbolMap())
    now = 1_500_000_000_000_000_000  # 2017: after the examples' times
    pipeline = Pipeline(ManualClock(now))
    sync = Level3BookSync("COINBASE_L3", "BTC-USD", "BTC/USD")
    pipeline.book_listeners.append(lambda ev: sync.on_update(ev) if isinstance(ev, Level3Update)
                                   else sync.on_level3(ev) if isinstance(ev, Level3Snapshot) else 0)
    pipeline.attach("COINBASE_L3#1", "COINBASE_L3", codec, ["BTC-USD"])
    book = orjson.dumps({"sequence": 9, "bids": [["100.0", "1.5", "a"]], "asks": [["101.0", "2", "b"]]})
    pipeline.apply_all([codec.parse_level3_book(book, "BTC-USD", now)], "COINBASE_L3#1")
    hostile = [msg for msg, _, _ in BAD if msg.get("product_id") == "BTC-USD"] + [
        b"{not json", b"[1,2]", b'"open"', b'{"type":"open"}',
        orjson.dumps({**OPEN, "product_id": "ETH-USD"}),  # nobody subscribed to it
        orjson.dumps({**OPEN, "price": "nan"}), orjson.dumps({**OPEN, "remaining_size": "-1"}),
        orjson.dumps({**OPEN, "time": "2099-01-01T00:00:00Z"}),
    ]
    for raw in hostile:
        pipeline.feed("COINBASE_L3#1", raw if isinstance(raw, bytes) else orjson.dumps(raw), now)
    rejected = pipeline.rejected
    assert sum(rejected.values()) == len(hostile)
    assert rejected["bad_field"] >= 10 and rejected["missing_field"] >= 3 and rejected["malformed_json"] == 1
    assert rejected["bad_level"] == 2 and rejected["future_time"] == 1
    assert sync.state == "synced" and sync.book.best_bid() == (100.0, 1.5) and sync.book_id == 9
    good = {**OPEN, "sequence": 10, "order_id": "c", "price": "100.5", "side": "buy", "time": T}
    pipeline.feed("COINBASE_L3#1", orjson.dumps(good), now)
    assert sync.book.best_bid() == (100.5, 1.0) and sync.book_id == 10


def test_a_mistyped_rest_book_is_a_rejection():
    codec = CoinbaseFullCodec(SymbolMap())
    for body, reason in ((b"<html>", "malformed_json"), (b'{"bids":[],"asks":[]}', "missing_field"),
                         (b'{"sequence":1,"bids":[["1","2"]],"asks":[]}', "bad_field"),
                         (b'{"sequence":1,"bids":[["1","2",3]],"asks":[]}', "bad_field"),
                         (b'{"sequence":"1","bids":[],"asks":[]}', "bad_field")):
        ev = codec.parse_level3_book(body, "BTC-USD", 1)
        assert isinstance(ev, Rejected) and ev.reason == reason, body


def update(action: str, seq: int, oid: str, side: str = "buy", price: float = 100.0, size: float = 1.0
           ) -> Level3Update:
    return Level3Update("COINBASE_L3", "BTC-USD", "BTC/USD", 0, 0, seq, action, oid, side, price, size)


def test_the_book_follows_coinbases_rules():
    book = Level3Book()
    book.load(Level3Snapshot("COINBASE_L3", "BTC-USD", "BTC/USD", 0, 0, 1,
                             ((100.0, 1.0, "a"), (100.0, 2.0, "b"), (99.0, 3.0, "c")), ((101.0, 1.0, "d"),)))
    assert book.levels.top(5) == ([(100.0, 3.0), (99.0, 3.0)], [(101.0, 1.0)]) and book.orders_at(True, 100.0) == 2
    assert not book.apply(update("received", 2, "t", "sell", 100.0, 5.0))  # received: not on the book
    assert book.apply(update("match", 3, "a", size=0.4))  # the maker is filled in part
    assert book.levels.best_bid() == (100.0, 2.6)
    assert book.apply(update("match", 4, "a", size=0.6))  # ...then in full: it leaves the book
    assert "a" not in book and not book.apply(update("done", 5, "a", size=0.0))  # its done changes nothing
    assert not book.apply(update("done", 6, "t", "sell"))  # the taker never rested
    assert book.apply(update("change", 7, "b", price=0.0, size=0.5))  # STP: smaller, same price
    assert book.levels.best_bid() == (100.0, 0.5)
    assert book.apply(update("change", 8, "c", price=98.0, size=3.0))  # modify_order: a new price
    assert book.levels.top(5)[0] == [(100.0, 0.5), (98.0, 3.0)]
    assert book.apply(update("done", 9, "b"))  # canceled: the level goes
    assert book.levels.top(5)[0] == [(98.0, 3.0)] and len(book) == 2
    assert not book.apply(update("change", 10, "zz", size=9.0))  # an order that never rested


def test_the_sync_drops_old_messages_and_resyncs_on_a_gap():
    sync = Level3BookSync("COINBASE_L3", "BTC-USD", "BTC/USD")
    for seq in (5, 6, 7):  # queued before the snapshot; 5 and 6 are in it already
        sync.on_update(update("open", seq, f"o{seq}", price=90.0 + seq))
    assert sync.needs_snapshot and sync.state == "waiting_snapshot"
    snap = Level3Snapshot("COINBASE_L3", "BTC-USD", "BTC/USD", 0, 0, 6, ((95.0, 1.0, "o5"), (96.0, 1.0, "o6")),
                          ((110.0, 1.0, "x"),))
    assert sync.on_level3(snap) == 2 and sync.book_id == 7 and len(sync.orders) == 4
    assert sync.on_update(update("open", 7, "dup", price=50.0)) == 0 and sync.skipped_stale == 1
    assert sync.on_update(update("open", 9, "o9", price=99.0)) == 0  # 8 never came
    assert sync.state == "resyncing" and sync.gaps == 1 and sync.needs_snapshot
    assert sync.book.best_bid() == (97.0, 1.0)  # the last good book stays readable
    old = Level3Snapshot("COINBASE_L3", "BTC-USD", "BTC/USD", 0, 0, 7, (), ())
    assert sync.on_level3(old) == 0 and sync.stale_snapshots == 1  # older than the queue: asked again
    new = Level3Snapshot("COINBASE_L3", "BTC-USD", "BTC/USD", 0, 0, 9, ((99.0, 1.0, "o9"),), ((110.0, 1.0, "x"),))
    assert sync.on_level3(new) == 1 and sync.state == "synced" and sync.book.best_bid() == (99.0, 1.0)


def test_a_lasting_difference_between_the_level2_and_level3_books_resyncs_the_level2_one():
    from feeds.api import Feed
    from feeds.drivers.recording import Record
    from feeds.drivers.replay_source import ReplayDriver

    t0 = 1_767_268_800_000_000_000
    clock = ManualClock(t0)
    feed = Feed(["COINBASE", "COINBASE_L3"], ["BTC-USD"], interval="1s", clock=clock, backfill=False)
    driver = ReplayDriver(feed, clock)
    l2_snapshot = {"type": "snapshot", "product_id": "BTC-USD", "bids": [["100", "1.5"], ["99", "2"]],
                   "asks": [["101", "1"]]}
    l3_book = {"sequence": 5, "bids": [["100", "1", "a"], ["100", "0.5", "b"], ["99", "2", "c"]],
               "asks": [["101", "1", "d"]]}
    driver.apply(Record(t0, "COINBASE#1", "recv", orjson.dumps(l2_snapshot).decode()))
    driver.apply(Record(t0 + 1, "COINBASE_L3#1", "rest", orjson.dumps(
        {"url": "/products/BTC-USD/book?level=3", "status": 200, "body": orjson.dumps(l3_book).decode(),
         "what": "depth", "symbol": "BTC-USD"}).decode()))
    l2, l3 = feed.books.syncs[("COINBASE", "BTC-USD")], feed.books.syncs[("COINBASE_L3", "BTC-USD")]
    assert l2.state == l3.state == "synced" and l2.book.top(5) == l3.book.top(5)
    feed.tick(t0 + 100_000_000)
    lie = {"type": "l2update", "product_id": "BTC-USD", "changes": [["buy", "99.5", "3"]],
           "time": "2026-01-01T12:00:00.200000Z"}  # a level the exchange's book does not have
    driver.apply(Record(t0 + 200_000_000, "COINBASE#1", "recv", orjson.dumps(lie).decode()))
    for s in (1, 3, 4):  # differing, but not for five seconds yet
        feed.tick(t0 + s * 1_000_000_000)
    assert feed.happenings.counts.get("book_mismatch", 0) == 0 and l2.state == "synced"
    feed.tick(t0 + 6_000_000_000)
    (h,) = feed.happenings.of("book_mismatch")
    assert (h.venue, h.symbol) == ("COINBASE", "BTC-USD") and "bid level 2" in h.detail and "99.5" in h.detail
    assert l2.state == "resyncing" and l2.resyncs == 1 and l3.state == "synced"
    feed.tick(t0 + 7_000_000_000)
    assert feed.happenings.counts["book_mismatch"] == 1  # one report per episode
    driver.apply(Record(t0 + 7_500_000_000, "COINBASE#1", "recv", orjson.dumps(l2_snapshot).decode()))
    feed.tick(t0 + 8_000_000_000)
    assert l2.state == "synced" and l2.book.top(5) == l3.book.top(5) and feed.core.book_check.mismatches == 1
