"""Coinbase Exchange codec: hand-written frames of every kind, bad input, times, sequences, a real capture."""
from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from feeds.events import BookDelta, BookSnapshot, Control, Quote, Rejected, Ticker, Trade, VenueStatus
from feeds.symbols import SymbolMap
from feeds.venues import coinbase
from feeds.venues.coinbase import CoinbaseCodec, datetime_to_ns, parse_time_ns, subscribe_message, unsubscribe_message

from capture_files import capture_dir

RECV = 1_700_000_000_000_000_000
UTC = UTC
INT64 = st.integers(-2**63, 2**63 - 1)  # orjson's range


def codec() -> CoinbaseCodec:
    return CoinbaseCodec(SymbolMap())


def dec(c: CoinbaseCodec, obj) -> list:
    return c.decode(orjson.dumps(obj) if not isinstance(obj, (str, bytes)) else obj, RECV)


def ns(text: str) -> int:
    return datetime_to_ns(datetime.fromisoformat(text.replace("Z", "+00:00")))


def ticker(seq=37475248783, **over):
    m = {"type": "ticker", "sequence": seq, "product_id": "ETH-USD", "price": "1285.22", "open_24h": "1310.79",
         "volume_24h": "245532.79269678", "low_24h": "1280.52", "high_24h": "1313.8",
         "volume_30d": "9788783.60117027", "best_bid": "1285.04", "best_bid_size": "0.46688654",
         "best_ask": "1285.27", "best_ask_size": "1.56637040", "side": "buy",
         "time": "2022-10-19T23:28:22.061769Z", "trade_id": 370843401, "last_size": "11.4396987"}
    m.update(over)
    return m


def match(trade_id=10, seq=50, side="sell", kind="match", product="BTC-USD"):
    return {"type": kind, "trade_id": trade_id, "sequence": seq,
            "maker_order_id": "ac928c66-ca53-498f-9c13-a110027a60e8",
            "taker_order_id": "132fb6ae-456b-4654-b4e0-d681ac05cea1", "time": "2014-11-07T08:19:27.028459Z",
            "product_id": product, "size": "5.23512", "price": "400.23", "side": side}


# --- requests and endpoints ---------------------------------------------------------------

def test_endpoints_and_requests():
    assert coinbase.WS_URL == "wss://ws-feed.exchange.coinbase.com"
    assert coinbase.REST_URL == "https://api.exchange.coinbase.com"
    assert coinbase.ENDPOINTS["sandbox"] == "wss://ws-feed-public.sandbox.exchange.coinbase.com"
    assert orjson.loads(subscribe_message(["BTC-USD", "ETH-USD"])) == {
        "type": "subscribe", "product_ids": ["BTC-USD", "ETH-USD"],
        "channels": ["ticker", "matches", "heartbeat", "level2_batch"]}
    assert orjson.loads(subscribe_message(("BTC-USD",), ("level2",)))["channels"] == ["level2"]
    assert orjson.loads(unsubscribe_message(["BTC-USD"], ["ticker"])) == {
        "type": "unsubscribe", "product_ids": ["BTC-USD"], "channels": ["ticker"]}
    assert orjson.loads(unsubscribe_message(channels=["heartbeat"])) == {
        "type": "unsubscribe", "channels": ["heartbeat"]}


# --- every message kind -------------------------------------------------------------------

def test_ticker_gives_one_quote_and_one_ticker():
    evs = dec(codec(), ticker())
    assert [type(e) for e in evs] == [Quote, Ticker]
    q, t = evs
    t_ns = ns("2022-10-19T23:28:22.061769Z")
    assert q == Quote("COINBASE", "ETH-USD", "ETH/USD", t_ns, RECV, 1285.04, 0.46688654, 1285.27, 1.5663704,
                      37475248783)
    assert t == Ticker("COINBASE", "ETH-USD", "ETH/USD", t_ns, RECV, 1285.22, 1310.79, 1313.8, 1280.52,
                       245532.79269678, 0.0)


def test_ticker_without_sizes_or_time():
    m = ticker()
    del m["best_bid_size"], m["best_ask_size"], m["time"]
    q, t = dec(codec(), m)
    assert (q.bid, q.bid_size, q.ask, q.ask_size, q.exch_ns) == (1285.04, 0.0, 1285.27, 0.0, 0)


@pytest.mark.parametrize("maker,aggressor", [("sell", "buy"), ("buy", "sell")])
@pytest.mark.parametrize("kind", ["match", "last_match"])
def test_match_side_is_the_opposite_of_the_maker(kind, maker, aggressor):
    (t,) = dec(codec(), match(side=maker, kind=kind))
    assert t == Trade("COINBASE", "BTC-USD", "BTC/USD", ns("2014-11-07T08:19:27.028459Z"), RECV, 400.23,
                      5.23512, aggressor, 10)


def test_snapshot_levels_best_first():
    m = {"type": "snapshot", "product_id": "BTC-USD", "bids": [["10101.10", "0.45054140"], ["10101.50", "1"]],
         "asks": [["10103.00", "2"], ["10102.55", "0.57753524"]]}
    (s,) = dec(codec(), m)
    assert isinstance(s, BookSnapshot)
    assert s.bids == ((10101.5, 1.0), (10101.1, 0.4505414))
    assert s.asks == ((10102.55, 0.57753524), (10103.0, 2.0))
    assert s.exch_ns == 0
    (s,) = dec(codec(), dict(m, time="2022-08-04T15:25:05.010758Z"))
    assert s.exch_ns == ns("2022-08-04T15:25:05.010758Z")


def test_l2update_sides():
    m = {"type": "l2update", "product_id": "BTC-USD",
         "changes": [["buy", "22356.270000", "0.00000000"], ["buy", "22356.300000", "1.00000000"],
                     ["sell", "22357.1", "3"]], "time": "2022-08-04T15:25:05.010758Z"}
    (d,) = dec(codec(), m)
    assert d == BookDelta("COINBASE", "BTC-USD", "BTC/USD", ns("2022-08-04T15:25:05.010758Z"), RECV,
                          ((22356.27, 0.0), (22356.3, 1.0)), ((22357.1, 3.0),))
    (d,) = dec(codec(), dict(m, changes=[["sell", "1.5", "2"]]))
    assert (d.bids, d.asks) == ((), ((1.5, 2.0),))
    (d,) = dec(codec(), dict(m, changes=[["buy", "1.5", "2"]]))
    assert (d.bids, d.asks) == (((1.5, 2.0),), ())
    (d,) = dec(codec(), dict(m, changes=[]))
    assert (d.bids, d.asks) == ((), ())


def test_heartbeat():
    m = {"type": "heartbeat", "sequence": 90, "last_trade_id": 20, "product_id": "BTC-USD",
         "time": "2014-11-07T08:19:28.464459Z"}
    c = codec()
    (h,) = dec(c, m)
    assert h == Control("COINBASE", "BTC-USD", "BTC/USD", ns("2014-11-07T08:19:28.464459Z"), RECV, "heartbeat",
                        "", (90, 20))
    assert dec(c, m)[0].what == "heartbeat"  # an idle product repeats its sequence: normal
    (r,) = dec(c, dict(m, sequence=89))
    assert isinstance(r, Rejected) and r.reason == "out_of_order"


def test_subscriptions_error_status():
    channels = [{"name": "level2", "product_ids": ["ETH-USD", "ETH-EUR"]},
                {"name": "ticker", "product_ids": ["ETH-USD", "ETH-EUR", "ETH-BTC"]}]
    (r,) = dec(codec(), {"type": "subscriptions", "channels": channels})
    assert r == Control("COINBASE", "", "", 0, RECV, "response", "", (None, channels))
    (e,) = dec(codec(), {"type": "error", "message": "Failed to subscribe", "reason": "ETH-USX is not a valid product"})
    assert (e.what, e.detail) == ("error", "Failed to subscribe: ETH-USX is not a valid product")
    (e,) = dec(codec(), {"type": "error", "message": "boom"})
    assert e.detail == "boom"
    status = {"type": "status", "products": [
        {"id": "BTC-USD", "base_currency": "BTC", "quote_currency": "USD", "status": "online", "status_message": None},
        {"id": "ETH-EUR", "status": "delisted", "status_message": "gone"}],
        "currencies": [{"id": "USD", "name": "United States Dollar"}]}
    assert dec(codec(), status) == [VenueStatus("COINBASE", "BTC-USD", "BTC/USD", 0, RECV, "online", ""),
                                    VenueStatus("COINBASE", "ETH-EUR", "ETH/EUR", 0, RECV, "delisted", "gone")]


# --- bad input ----------------------------------------------------------------------------

@pytest.mark.parametrize("raw,reason", [
    (b"", "malformed_json"),
    (b"{not json", "malformed_json"),
    ('{"type":"l2update","product_id":"BTC-USD","changes":[["buy","1","2"]]', "malformed_json"),
    (b"[1,2,3]", "unknown_event"),
    (b"42", "unknown_event"),
    (b'"ticker"', "unknown_event"),
    (b"null", "unknown_event"),
    (b'{"product_id":"BTC-USD"}', "missing_field"),
    (b'{"type":"open","product_id":"BTC-USD","sequence":10}', "unknown_event"),
    (b'{"type":"brand_new_thing"}', "unknown_event"),
    (b'{"type":["l2update"]}', "bad_field"),
    (b'{"type":"l2update","product_id":"BTC-USD","changes":[["buy","1","2"]]}', "missing_field"),
    (b'{"type":"l2update","product_id":"BTC-USD","changes":[["up","1","2"]],"time":"2022-08-04T15:25:05Z"}',
     "bad_field"),
    (b'{"type":"l2update","product_id":"BTC-USD","changes":[["buy","x","2"]],"time":"2022-08-04T15:25:05Z"}',
     "bad_field"),
    (b'{"type":"l2update","product_id":"BTC-USD","changes":[["buy","1"]],"time":"2022-08-04T15:25:05Z"}',
     "bad_field"),
    (b'{"type":"l2update","product_id":"BTC-USD","changes":[["buy","1","2"],["sell","1"]],'
     b'"time":"2022-08-04T15:25:05Z"}', "bad_field"),
    (b'{"type":"l2update","product_id":"BTC-USD","changes":5,"time":"2022-08-04T15:25:05Z"}', "bad_field"),
    (b'{"type":"l2update","product_id":7,"changes":[],"time":"2022-08-04T15:25:05Z"}', "bad_field"),
    (b'{"type":"l2update","product_id":"BTC-USD","changes":[],"time":"yesterday"}', "bad_field"),
    (b'{"type":"l2update","product_id":"BTC-USD","changes":[],"time":null}', "bad_field"),
    (b'{"type":"snapshot","product_id":"BTC-USD","bids":[["1"]],"asks":[]}', "bad_field"),
    (b'{"type":"snapshot","product_id":"BTC-USD","bids":[]}', "missing_field"),
    (b'{"type":"heartbeat","product_id":"BTC-USD","sequence":"9"}', "bad_field"),
    (b'{"type":"subscriptions"}', "missing_field"),
    (b'{"type":"status","products":[{"status":"online"}]}', "missing_field"),
])
def test_malformed_frames_are_rejected(raw, reason):
    evs = codec().decode(raw, RECV)
    assert len(evs) == 1 and isinstance(evs[0], Rejected)
    assert evs[0].reason == reason, evs[0].detail
    assert evs[0].venue == "COINBASE" and evs[0].recv_ns == RECV and evs[0].detail


@pytest.mark.parametrize("change", [
    {"price": None}, {"best_bid": "abc"}, {"open_24h": None}, {"sequence": "12"}, {"time": "2022-13-01T00:00:00Z"},
])
def test_bad_ticker_fields_are_rejected(change):
    (r,) = dec(codec(), ticker(**change))
    assert isinstance(r, Rejected) and r.reason == "bad_field" and r.symbol == "ETH-USD"


@pytest.mark.parametrize("change", [{"side": "up"}, {"trade_id": "ten"}, {"trade_id": 1.5}, {"price": "NaNx"}])
def test_bad_match_fields_are_rejected(change):
    (r,) = dec(codec(), dict(match(), **change))
    assert isinstance(r, Rejected) and r.reason == "bad_field"


def test_missing_match_field_names_it():
    m = match()
    del m["price"]
    (r,) = dec(codec(), m)
    assert r.reason == "missing_field" and "'price'" in r.detail and r.symbol == "BTC-USD"


def test_rejected_raw_is_bounded():
    (r,) = codec().decode(b"{" + b"x" * 100_000, RECV)
    assert r.reason == "malformed_json" and len(r.raw) <= 2048


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.binary(max_size=200), st.text(max_size=200),
                 st.recursive(st.none() | st.booleans() | INT64 | st.text(max_size=8) | st.floats(),
                              lambda kids: st.lists(kids, max_size=4) | st.dictionaries(
                                  st.sampled_from(["type", "product_id", "changes", "time", "sequence", "bids",
                                                   "asks", "price", "side", "trade_id", "size", "channels"]),
                                  kids, max_size=8), max_leaves=20).map(orjson.dumps)))
def test_arbitrary_input_never_raises(raw):
    evs = codec().decode(raw, RECV)
    assert isinstance(evs, list) and evs


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(["l2update", "ticker", "match", "last_match", "snapshot", "heartbeat", "status",
                        "subscriptions", "error"]),
       st.dictionaries(st.sampled_from(["product_id", "changes", "time", "sequence", "bids", "asks", "price",
                                        "side", "trade_id", "size", "channels", "products", "best_bid",
                                        "best_ask", "open_24h", "high_24h", "low_24h", "volume_24h"]),
                       st.none() | INT64 | st.text(max_size=30) | st.lists(st.text(max_size=5), max_size=3),
                       max_size=12))
def test_known_types_with_junk_fields_never_raise(kind, fields):
    evs = dec(codec(), dict(fields, type=kind))
    assert isinstance(evs, list) and (evs or kind == "status")  # a status may list no products


# --- times ----------------------------------------------------------------------------------

def test_time_examples():
    assert parse_time_ns("2014-11-07T08:19:27.028459Z") == 1415348367028459000
    assert parse_time_ns("1970-01-01T00:00:00Z") == 0
    assert parse_time_ns("1970-01-01T00:00:00.000000001Z") == 1
    assert parse_time_ns("2023-02-09T20:32:50.714964855Z") == 1675974770714964855
    assert parse_time_ns("2023-02-09T20:32:50.7Z") == 1675974770700000000
    assert parse_time_ns("2024-02-29T23:59:59.999999999Z") == ns("2024-03-01T00:00:00Z") - 1
    # Odd forms go to the general parser.
    assert parse_time_ns("2014-11-07T09:19:27.028459+01:00") == 1415348367028459000
    assert parse_time_ns("2014-11-07T03:19:27.028459-0500") == 1415348367028459000
    assert parse_time_ns("2014-11-07 08:19:27.028459z") == 1415348367028459000
    assert parse_time_ns("2014-11-07t08:19:27Z") == 1415348367000000000


@pytest.mark.parametrize("bad", ["", "2014-11-07", "2014-11-07T08:19Z", "2014-13-07T08:19:27Z",
                                 "2014-02-30T08:19:27Z", "2014-11-07T24:00:00Z", "2014-11-07T08:60:00Z",
                                 "2014-11-07T08:19:60Z", "2014-11-07T08:19:27.Z", "2014-11-07T08:19:27.1234567890Z",
                                 "2014-11-07T08:19:27.12a4Z", "2014-11-07T08:19:27.+1234Z", "2014-11-07T 8:19:27Z",
                                 "2014-11-07T+8:19:27Z", "20141107T081927Z", "2014-11-07T08:19:27.0284Zjunk",
                                 "２０１４-11-07T08:19:27Z"])
def test_bad_times_raise_value_error(bad):
    parse_time_ns("2014-11-07T08:19:27.5Z")  # warm the cache for the same second
    with pytest.raises(ValueError):
        parse_time_ns(bad)


@settings(max_examples=800, deadline=None)
@given(st.datetimes(min_value=datetime(1970, 1, 1), max_value=datetime(2200, 12, 31, 23, 59, 59)),
       st.integers(0, 9), st.integers(0, 999), st.booleans())
def test_time_matches_datetime(dt, digits, extra_ns, with_fraction):
    """Every fraction length from 0 to 9 digits, each parsed twice (cold and cached), vs datetime."""
    dt = dt.replace(tzinfo=UTC)
    exact = datetime_to_ns(dt) + (extra_ns if digits > 6 else 0)
    whole = dt.replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%S")
    frac_ns = exact % 1_000_000_000
    if with_fraction and digits:
        text = f"{whole}.{frac_ns:09d}"[: 20 + digits] + "Z"
        expected = exact - frac_ns % 10 ** (9 - digits)
    else:
        text = whole + "Z"
        expected = exact - frac_ns
    assert parse_time_ns(text) == expected
    assert parse_time_ns(text) == expected


def test_time_many_values_in_one_second_vs_datetime():
    rng = random.Random(7)
    start = datetime(2021, 4, 17, 16, 43, 37, tzinfo=UTC)
    for _ in range(5000):
        dt = start + timedelta(microseconds=rng.randrange(3_600_000_000))
        text = dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        assert parse_time_ns(text) == datetime_to_ns(dt) == datetime_to_ns(
            datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC))


# --- sequences and gaps -----------------------------------------------------------------------

def test_ticker_sequence_jumps_are_normal_but_stale_ones_are_dropped():
    c = codec()
    assert [type(e) for e in dec(c, ticker(seq=100))] == [Quote, Ticker]
    assert [type(e) for e in dec(c, ticker(seq=250))] == [Quote, Ticker]  # jumps: no gap
    (r,) = dec(c, ticker(seq=250))
    assert (r.reason, r.symbol) == ("duplicate", "ETH-USD")
    (r,) = dec(c, ticker(seq=120))
    assert r.reason == "out_of_order"
    assert [type(e) for e in dec(c, ticker(seq=100, product_id="BTC-USD"))] == [Quote, Ticker]  # per product
    c.reset()
    assert [type(e) for e in dec(c, ticker(seq=1))] == [Quote, Ticker]


def test_ticker_and_match_sequences_are_separate():
    """A ticker and its match carry the same product sequence: neither is a duplicate of the other."""
    c = codec()
    assert isinstance(dec(c, ticker(seq=50, product_id="BTC-USD"))[0], Quote)
    assert isinstance(dec(c, match(seq=50))[0], Trade)


def test_match_trade_id_gap_heuristic():
    c = codec()
    assert [type(e) for e in dec(c, match(trade_id=10, seq=50, kind="last_match"))] == [Trade]
    assert [type(e) for e in dec(c, match(trade_id=11, seq=73))] == [Trade]  # sequence jumps are normal
    gap, trade = dec(c, match(trade_id=15, seq=80))
    assert (gap.what, gap.data, gap.symbol, trade.trade_id) == ("gap", (12, 15), "BTC-USD", 15)
    assert "trade_id" in gap.detail and gap.exch_ns == trade.exch_ns
    (r,) = dec(c, match(trade_id=15, seq=80))
    assert r.reason == "duplicate"  # a replayed match is dropped, not counted twice
    (r,) = dec(c, match(trade_id=14, seq=79))
    assert r.reason == "out_of_order"
    assert [type(e) for e in dec(c, match(trade_id=3, seq=5, product="ETH-USD"))] == [Trade]
    quiet = CoinbaseCodec(SymbolMap(), check_trade_ids=False)
    dec(quiet, match(trade_id=1, seq=1))
    assert [type(e) for e in dec(quiet, match(trade_id=9, seq=2))] == [Trade]


def test_reconnect_last_match_is_a_duplicate():
    c = codec()
    dec(c, match(trade_id=10, seq=50, kind="last_match"))
    dec(c, match(trade_id=11, seq=51))
    (r,) = dec(c, match(trade_id=11, seq=51, kind="last_match"))  # re-sent after a resubscribe
    assert r.reason == "duplicate"


# --- the real capture -----------------------------------------------------------------------

def read_capture(path: Path):
    """(recv_ns, payload) for every received frame of a cryptofeed raw capture."""
    frames = []
    with path.open(encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if not line.strip() or " <- " in line or " <-> " in line:
                continue
            ts, _, payload = line.partition(": ")
            frames.append((int(float(ts) * 1e9), payload))
    return frames


@pytest.fixture(scope="module")
def capture():
    return read_capture(capture_dir() / "COINBASE.ws.28.0")


def test_capture_decodes_as_expected(capture):
    assert len(capture) == 9946
    c = codec()
    counts = Counter()
    trades = []
    for recv_ns, payload in capture:
        for ev in c.decode(payload, recv_ns):
            counts[type(ev).__name__] += 1
            if isinstance(ev, Control):
                counts["control:" + ev.what] += 1
            elif isinstance(ev, Trade):
                trades.append((ev, orjson.loads(payload)))
            elif isinstance(ev, (BookDelta, BookSnapshot)):
                assert ev.unified.count("/") == 1 and ev.symbol.replace("-", "/") == ev.unified
    assert counts["Rejected"] == 0
    assert counts["Quote"] == counts["Ticker"] == 107
    assert counts["Trade"] == 107
    assert counts["BookSnapshot"] == 10
    assert counts["BookDelta"] == 9719
    assert counts["control:response"] == 3
    assert counts["control:gap"] == 0  # the capture's trade ids are contiguous per product
    assert sum(1 for _, m in trades if m["type"] == "last_match") == 10
    for trade, m in trades:
        assert trade.side == {"buy": "sell", "sell": "buy"}[m["side"]]
        assert trade.trade_id == m["trade_id"] and trade.price == float(m["price"])
        assert trade.exch_ns == ns(m["time"])
        if m["type"] == "match":  # (a last_match may be minutes old)
            assert abs(trade.recv_ns - trade.exch_ns) < 5_000_000_000  # clocks differ by ms


def test_capture_books_stay_uncrossed(capture):
    """Applying the capture's snapshots and updates gives books whose best bid is below the best ask."""
    c = codec()
    books: dict[str, tuple[dict, dict]] = {}
    for recv_ns, payload in capture:
        for ev in c.decode(payload, recv_ns):
            if isinstance(ev, BookSnapshot):
                books[ev.symbol] = (dict(ev.bids), dict(ev.asks))
            elif isinstance(ev, BookDelta):
                bids, asks = books[ev.symbol]
                for side, levels in ((bids, ev.bids), (asks, ev.asks)):
                    for price, size in levels:
                        if size == 0.0:
                            side.pop(price, None)
                        else:
                            side[price] = size
    assert len(books) == 10
    for bids, asks in books.values():
        assert max(bids) < min(asks)
