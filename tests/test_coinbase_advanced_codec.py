"""Coinbase Advanced Trade codec: hand-written envelopes of every channel, bad input, sequence numbers."""
from __future__ import annotations

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from feeds.events import BookDelta, BookSnapshot, Candle, Control, Quote, Rejected, Ticker, Trade, VenueStatus
from feeds.symbols import SymbolMap
from feeds.venues import coinbase_advanced as cba
from feeds.venues.coinbase import parse_time_ns
from feeds.venues.coinbase_advanced import CoinbaseAdvancedCodec, subscribe_messages, unsubscribe_messages

RECV = 1_700_000_000_000_000_000
TS = "2023-02-09T20:32:50.714964855Z"
TS_NS = parse_time_ns(TS)


def codec(**kw) -> CoinbaseAdvancedCodec:
    return CoinbaseAdvancedCodec(SymbolMap(), **kw)


def envelope(channel: str, events: list, seq: int = 0, ts: str = TS) -> bytes:
    return orjson.dumps({"channel": channel, "client_id": "", "timestamp": ts, "sequence_num": seq,
                         "events": events})


def dec(c, raw) -> list:
    return c.decode(raw, RECV)


def kinds(evs) -> list:
    return [type(e).__name__ for e in evs]


# --- requests -------------------------------------------------------------------------------

def test_endpoint_and_one_subscribe_per_channel():
    assert cba.WS_URL == "wss://advanced-trade-ws.coinbase.com"
    msgs = [orjson.loads(m) for m in subscribe_messages(["BTC-USD", "ETH-USD"])]
    assert msgs == [
        {"type": "subscribe", "channel": "heartbeats"},
        {"type": "subscribe", "product_ids": ["BTC-USD", "ETH-USD"], "channel": "ticker"},
        {"type": "subscribe", "product_ids": ["BTC-USD", "ETH-USD"], "channel": "market_trades"},
        {"type": "subscribe", "product_ids": ["BTC-USD", "ETH-USD"], "channel": "level2"},
    ]
    assert [orjson.loads(m) for m in unsubscribe_messages(["BTC-USD"], ["level2"])] == [
        {"type": "unsubscribe", "product_ids": ["BTC-USD"], "channel": "level2"}]
    assert orjson.loads(unsubscribe_messages(channels=["candles"])[0]) == {"type": "unsubscribe",
                                                                          "channel": "candles"}


# --- channels -------------------------------------------------------------------------------

@pytest.mark.parametrize("counter", [3049, "3049"])
def test_heartbeats_number_or_string(counter):
    raw = envelope("heartbeats", [{"current_time": "2023-06-23 20:31:56.121961769 +0000 UTC m=+91717.525857105",
                                   "heartbeat_counter": counter}])
    (h,) = dec(codec(), raw)
    assert h == Control("COINBASE", "", "", TS_NS, RECV, "heartbeat", "", (3049, None))


def test_heartbeat_counter_skip_is_a_gap():
    c = codec()
    for seq, counter in ((0, 10), (1, 11)):
        assert kinds(dec(c, envelope("heartbeats", [{"heartbeat_counter": counter}], seq))) == ["Control"]
    gap, beat = dec(c, envelope("heartbeats", [{"heartbeat_counter": 14}], 2))
    assert (gap.what, gap.data, beat.data) == ("gap", (12, 14), (14, None))
    assert "heartbeat_counter" in gap.detail


def test_ticker_quote_and_ticker():
    t = {"type": "ticker", "product_id": "BTC-USD", "price": "21932.98", "volume_24_h": "16038.28770938",
         "low_24_h": "21835.29", "high_24_h": "23011.18", "low_52_w": "15460", "high_52_w": "48240",
         "price_percent_chg_24_h": "-4.15775596190603", "best_bid": "21931.98", "best_bid_quantity": "8000.21",
         "best_ask": "21933.98", "best_ask_quantity": "8038.07770938"}
    q, k = dec(codec(), envelope("ticker", [{"type": "snapshot", "tickers": [t]}]))
    assert q == Quote("COINBASE", "BTC-USD", "BTC/USD", TS_NS, RECV, 21931.98, 8000.21, 21933.98, 8038.07770938, 0)
    assert isinstance(k, Ticker)
    assert (k.last, k.high, k.low, k.volume, k.quote_volume) == (21932.98, 23011.18, 21835.29, 16038.28770938, 0.0)
    assert k.open == pytest.approx(21932.98 / (1 - 0.0415775596190603))
    # ticker_batch has the same shape without bid/ask: a Ticker only.
    batch = {k2: v for k2, v in t.items() if not k2.startswith("best_")}
    (k,) = dec(codec(), envelope("ticker_batch", [{"type": "update", "tickers": [batch]}]))
    assert isinstance(k, Ticker) and k.last == 21932.98
    # Missing sizes default to 0; missing change gives open 0.
    t2 = {k2: v for k2, v in t.items() if k2 not in ("best_bid_quantity", "best_ask_quantity",
                                                        "price_percent_chg_24_h")}
    q, k = dec(codec(), envelope("ticker", [{"type": "update", "tickers": [t2]}]))
    assert (q.bid_size, q.ask_size, k.open) == (0.0, 0.0, 0.0)


def trade(trade_id="995098700", side="BUY", time="2026-04-07T14:30:02.789012Z", price="68900.50"):
    return {"trade_id": trade_id, "product_id": "BTC-USD", "price": price, "size": "0.0015", "side": side,
            "time": time}


@pytest.mark.parametrize("maker,aggressor", [("BUY", "sell"), ("SELL", "buy"), ("UNKNOWN_ORDER_SIDE", "unknown")])
def test_market_trades_side(maker, aggressor):
    (t,) = dec(codec(), envelope("market_trades", [{"type": "update", "trades": [trade(side=maker)]}]))
    assert t == Trade("COINBASE", "BTC-USD", "BTC/USD", parse_time_ns("2026-04-07T14:30:02.789012Z"), RECV,
                      68900.5, 0.0015, aggressor, 995098700)


def test_market_trades_ids_and_order():
    trades = [trade("12", time="2026-04-07T14:30:03Z"), trade("11", time="2026-04-07T14:30:02Z"),
              trade("abc-uuid", time="2026-04-07T14:30:01Z")]
    evs = dec(codec(), envelope("market_trades", [{"type": "snapshot", "trades": trades}]))
    assert [e.trade_id for e in evs] == [0, 11, 12]  # oldest first; non-numeric id -> 0
    assert [e.exch_ns for e in evs] == sorted(e.exch_ns for e in evs)
    (t,) = dec(codec(), envelope("market_trades", [{"type": "update", "trades": [trade(trade_id=77)]}]))
    assert t.trade_id == 77


def candle(start: int, close: str = "1866.81", product="ETH-USD"):
    return {"start": str(start), "high": "1867.72", "low": "1865.63", "open": "1867.38", "close": close,
            "volume": "0.20269406", "product_id": product}


def test_candles_close_when_a_newer_start_appears():
    c = codec()
    t0 = 1688998200
    (k,) = dec(c, envelope("candles", [{"type": "snapshot", "candles": [candle(t0)]}], 0))
    assert k == Candle("COINBASE", "ETH-USD", "ETH/USD", TS_NS, RECV, "5m", t0 * 10**9, 1867.38, 1867.72,
                       1865.63, 1866.81, 0.20269406, 0, False, "live")
    (k,) = dec(c, envelope("candles", [{"type": "update", "candles": [candle(t0, close="1867.0")]}], 1))
    assert (k.closed, k.close) == (False, 1867.0)
    closed, forming = dec(c, envelope("candles", [{"type": "update", "candles": [candle(t0 + 300, "1870")]}], 2))
    assert (closed.closed, closed.open_ns, closed.close) == (True, t0 * 10**9, 1867.0)
    assert (forming.closed, forming.open_ns, forming.close) == (False, (t0 + 300) * 10**9, 1870.0)
    # An update for an already closed bar is ignored.
    assert dec(c, envelope("candles", [{"type": "update", "candles": [candle(t0, "1")]}], 3)) == []


def test_candle_snapshot_newest_first_history_is_closed():
    t0 = 1688998200
    snap = [candle(t0 + 600), candle(t0 + 300), candle(t0), candle(t0 + 300, product="BTC-USD")]
    evs = dec(codec(), envelope("candles", [{"type": "snapshot", "candles": snap}]))
    got = [(e.symbol, e.open_ns // 10**9 - t0, e.closed) for e in evs]
    assert got == [("BTC-USD", 300, False), ("ETH-USD", 0, True), ("ETH-USD", 300, True), ("ETH-USD", 600, False)]


def test_l2_data_snapshot_and_update():
    snap = [{"side": "bid", "event_time": "1970-01-01T00:00:00Z", "price_level": "21921.73",
             "new_quantity": "0.06317902"},
            {"side": "bid", "event_time": "1970-01-01T00:00:00Z", "price_level": "21921.80", "new_quantity": "1"},
            {"side": "offer", "event_time": "1970-01-01T00:00:00Z", "price_level": "21922.10", "new_quantity": "0.02"}]
    (s,) = dec(codec(), envelope("l2_data", [{"type": "snapshot", "product_id": "BTC-USD", "updates": snap}]))
    assert s == BookSnapshot("COINBASE", "BTC-USD", "BTC/USD", TS_NS, RECV,
                             ((21921.8, 1.0), (21921.73, 0.06317902)), ((21922.1, 0.02),))
    upd = [{"side": "offer", "event_time": "2023-02-09T20:32:50.714964855Z", "price_level": "21922.10",
            "new_quantity": "0"}]
    (d,) = dec(codec(), envelope("l2_data", [{"type": "update", "product_id": "BTC-USD", "updates": upd}]))
    assert d == BookDelta("COINBASE", "BTC-USD", "BTC/USD", TS_NS, RECV, (), ((21922.1, 0.0),))


def test_status_subscriptions_error():
    status = [{"type": "snapshot", "products": [
        {"product_type": "SPOT", "id": "BTC-USD", "base_currency": "BTC", "quote_currency": "USD",
         "status": "online", "status_message": ""}]}]
    assert dec(codec(), envelope("status", status)) == [
        VenueStatus("COINBASE", "BTC-USD", "BTC/USD", TS_NS, RECV, "online", "")]
    subs = {"level2": ["BTC-USD"], "market_trades": ["BTC-USD", "ETH-USD"]}
    (r,) = dec(codec(), envelope("subscriptions", [{"subscriptions": subs}]))
    assert (r.what, r.data) == ("response", (None, subs))
    (e,) = dec(codec(), b'{"type":"error","message":"authentication failure"}')
    assert (e.what, e.detail) == ("error", "authentication failure")


# --- sequence numbers -----------------------------------------------------------------------

def hb(seq: int, counter: int) -> bytes:
    return envelope("heartbeats", [{"heartbeat_counter": counter}], seq)


def test_sequence_per_connection_across_channels():
    c = codec()
    assert kinds(dec(c, envelope("subscriptions", [{"subscriptions": {}}], 0))) == ["Control"]
    assert kinds(dec(c, hb(1, 1))) == ["Control"]
    assert kinds(dec(c, envelope("market_trades", [{"type": "update", "trades": [trade()]}], 2))) == ["Trade"]
    gap, t = dec(c, envelope("market_trades", [{"type": "update", "trades": [trade()]}], 5))
    assert (gap.what, gap.data, type(t)) == ("gap", (3, 5), Trade)
    (r,) = dec(c, hb(5, 2))
    assert r.reason == "duplicate"
    (r,) = dec(c, hb(4, 2))
    assert r.reason == "out_of_order"
    assert kinds(dec(c, hb(6, 2))) == ["Control"]
    c.reset()  # a new connection numbers from 0 again
    assert kinds(dec(c, hb(0, 1))) == ["Control"]


def test_sequence_per_channel_option():
    c = codec(sequence_scope="channel")
    dec(c, hb(0, 1))
    assert kinds(dec(c, envelope("market_trades", [{"type": "update", "trades": [trade()]}], 0))) == ["Trade"]
    assert kinds(dec(c, hb(1, 2))) == ["Control"]
    with pytest.raises(ValueError):
        codec(sequence_scope="product")


def test_gap_is_kept_when_the_rest_of_the_frame_is_bad():
    c = codec()
    dec(c, hb(0, 1))
    gap, r = dec(c, envelope("l2_data", [{"type": "update", "product_id": "BTC-USD", "updates": [{"side": "x"}]}], 9))
    assert (gap.what, gap.data) == ("gap", (1, 9))
    assert isinstance(r, Rejected) and r.reason == "missing_field"


# --- bad input ------------------------------------------------------------------------------

@pytest.mark.parametrize("raw,reason", [
    (b"", "malformed_json"),
    (b'{"channel":"ticker"', "malformed_json"),
    (b"[]", "unknown_event"),
    (b"7", "unknown_event"),
    (b'{"client_id":""}', "unknown_event"),
    (b'{"type":"subscriptions"}', "unknown_event"),
    (envelope("user", [{}]), "unknown_event"),
    (envelope("futures_balance_summary", []), "unknown_event"),
    (b'{"channel":"ticker","timestamp":"' + TS.encode() + b'","sequence_num":0}', "missing_field"),
    (b'{"channel":"ticker","events":[],"sequence_num":0}', "missing_field"),
    (b'{"channel":"ticker","timestamp":"nope","sequence_num":0,"events":[]}', "bad_field"),
    (b'{"channel":"ticker","timestamp":"' + TS.encode() + b'","sequence_num":"0","events":[]}', "bad_field"),
    (envelope("ticker", [{"type": "update"}]), "missing_field"),
    (envelope("ticker", [{"tickers": [{"product_id": "BTC-USD", "price": "x"}]}]), "bad_field"),
    (envelope("market_trades", [{"trades": [trade(side="buy")]}]), "bad_field"),
    (envelope("market_trades", [{"trades": [trade(time="later")]}]), "bad_field"),
    (envelope("market_trades", [{"trades": [{"product_id": "BTC-USD"}]}]), "missing_field"),
    (envelope("candles", [{"candles": [dict(candle(1688998200), start="soon")]}]), "bad_field"),
    (envelope("l2_data", [{"type": "update", "product_id": "BTC-USD", "updates": [
        {"side": "middle", "price_level": "1", "new_quantity": "1"}]}]), "bad_field"),
    (envelope("l2_data", [{"type": "delta", "product_id": "BTC-USD", "updates": []}]), "bad_field"),
    (envelope("heartbeats", [{"heartbeat_counter": "many"}]), "bad_field"),
    (envelope("heartbeats", [{}]), "missing_field"),
    (envelope("subscriptions", [{"subscriptions": [1, 2]}]), "bad_field"),
    (envelope("status", [{"products": [{"status": "online"}]}]), "missing_field"),
    (envelope("l2_data", 5), "bad_field"),
])
def test_malformed_frames_are_rejected(raw, reason):
    evs = dec(codec(), raw)
    assert len(evs) == 1 and isinstance(evs[0], Rejected)
    assert evs[0].reason == reason, evs[0].detail
    assert evs[0].detail and evs[0].recv_ns == RECV


_JUNK = st.none() | st.booleans() | st.integers(-2**63, 2**63 - 1) | st.text(max_size=12) | st.floats()
_KEYS = st.sampled_from(["product_id", "type", "trades", "tickers", "candles", "updates", "side", "price",
                         "size", "time", "trade_id", "start", "open", "high", "low", "close", "volume",
                         "heartbeat_counter", "subscriptions", "products", "price_level", "new_quantity",
                         "best_bid", "best_ask", "high_24_h", "low_24_h", "volume_24_h"])


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(["l2_data", "market_trades", "ticker", "ticker_batch", "candles", "heartbeats",
                        "status", "subscriptions", "other"]),
       st.recursive(_JUNK, lambda kids: st.lists(kids, max_size=3) | st.dictionaries(_KEYS, kids, max_size=6),
                    max_leaves=25),
       st.one_of(st.none(), st.integers(-5, 5), st.text(max_size=3)))
def test_arbitrary_envelopes_never_raise(channel, events, seq):
    c = codec()
    raw = orjson.dumps({"channel": channel, "timestamp": TS, "sequence_num": seq, "events": events})
    for _ in range(2):
        evs = dec(c, raw)
        assert isinstance(evs, list) and evs is not None


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=100))
def test_arbitrary_bytes_never_raise(raw):
    assert isinstance(dec(codec(), raw), list)
