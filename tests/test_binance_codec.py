"""BinanceCodec and the Binance REST/URL helpers: hand-written frames (protocols.md 1.5) and real captures."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from msgspec.structs import astuple

from feeds.events import BookDelta, BookSnapshot, Candle, Control, Quote, Rejected, Ticker, Trade
from feeds.symbols import SymbolMap
from feeds.venues.binance import (
    ENDPOINTS,
    INTERVALS,
    REST_BASES,
    BinanceCodec,
    combined_url,
    depth_path,
    klines_path,
    list_subscriptions_message,
    parse_depth_snapshot,
    parse_klines,
    raw_url,
    rest_base_for,
    streams_for,
    subscribe_message,
    unsubscribe_message,
)

from capture_files import capture_dir

RECV = 1_700_000_000_123_456_789
E_MS = 1672515782136
E_NS = E_MS * 1_000_000

# Payload shapes exactly as in protocols.md section 1.5.
TRADE = '{"e":"trade","E":1672515782136,"s":"BNBBTC","t":12345,"p":"0.001","q":"100","T":1672515782136,"m":true,"M":true}'
AGG_TRADE = '{"e":"aggTrade","E":1672515782136,"s":"BNBBTC","a":12345,"p":"0.001","q":"100","f":100,"l":105,"T":1672515782136,"m":true,"M":true}'
KLINE = ('{"e":"kline","E":1672515782136,"s":"BNBBTC",'
         '"k":{"t":1672515780000,"T":1672515839999,"s":"BNBBTC","i":"1m","f":100,"L":200,'
         '"o":"0.0010","c":"0.0020","h":"0.0025","l":"0.0015","v":"1000","n":100,"x":false,'
         '"q":"1.0000","V":"500","Q":"0.500","B":"123456"}}')
MINI_TICKER = '{"e":"24hrMiniTicker","E":1672515782136,"s":"BNBBTC","c":"0.0025","o":"0.0010","h":"0.0025","l":"0.0010","v":"10000","q":"18"}'
TICKER = ('{"e":"24hrTicker","E":1672515782136,"s":"BNBBTC","p":"0.0015","P":"250.00","w":"0.0018","x":"0.0009",'
          '"c":"0.0025","Q":"10","b":"0.0024","B":"10","a":"0.0026","A":"100","o":"0.0010","h":"0.0025","l":"0.0010",'
          '"v":"10000","q":"18","O":0,"C":86400000,"F":0,"L":18150,"n":18151}')
BOOK_TICKER = '{"u":400900217,"s":"BNBUSDT","b":"25.35190000","B":"31.21000000","a":"25.36520000","A":"40.66000000"}'
PARTIAL_DEPTH = '{"lastUpdateId":160,"bids":[["0.0024","10"]],"asks":[["0.0026","100"]]}'
DIFF_DEPTH = '{"e":"depthUpdate","E":1672515782136,"s":"BNBBTC","U":157,"u":160,"b":[["0.0024","10"]],"a":[["0.0026","100"]]}'
SHUTDOWN = '{"e":"serverShutdown","E":1770123456789}'

SYMBOLS = SymbolMap()


def codec(**kw) -> BinanceCodec:
    return BinanceCodec(SymbolMap(), **kw)


def combined(stream: str, payload: str) -> str:
    return f'{{"stream":"{stream}","data":{payload}}}'


def only(events: list):
    assert len(events) == 1, events
    return events[0]


# Each payload with the stream it arrives on and the one event it must give.
EXPECTED = [
    ("bnbbtc@trade", TRADE,
     Trade("BINANCE", "BNBBTC", "BNB/BTC", E_NS, RECV, 0.001, 100.0, "sell", 12345)),
    ("bnbbtc@aggTrade", AGG_TRADE,
     Trade("BINANCE", "BNBBTC", "BNB/BTC", E_NS, RECV, 0.001, 100.0, "sell", 12345)),
    ("bnbbtc@kline_1m", KLINE,
     Candle("BINANCE", "BNBBTC", "BNB/BTC", E_NS, RECV, "1m", 1672515780000 * 1_000_000,
            0.0010, 0.0025, 0.0015, 0.0020, 1000.0, 100, False, "live")),
    ("bnbbtc@miniTicker", MINI_TICKER,
     Ticker("BINANCE", "BNBBTC", "BNB/BTC", E_NS, RECV, 0.0025, 0.0010, 0.0025, 0.0010, 10000.0, 18.0)),
    ("bnbbtc@ticker", TICKER,
     Ticker("BINANCE", "BNBBTC", "BNB/BTC", E_NS, RECV, 0.0025, 0.0010, 0.0025, 0.0010, 10000.0, 18.0)),
    ("bnbusdt@bookTicker", BOOK_TICKER,
     Quote("BINANCE", "BNBUSDT", "BNB/USD", 0, RECV, 25.3519, 31.21, 25.3652, 40.66, 400900217)),
    ("bnbbtc@depth@100ms", DIFF_DEPTH,
     BookDelta("BINANCE", "BNBBTC", "BNB/BTC", E_NS, RECV, ((0.0024, 10.0),), ((0.0026, 100.0),), 157, 160)),
    ("!serverShutdown", SHUTDOWN,
     Control("BINANCE", "", "", 1770123456789 * 1_000_000, RECV, "shutdown", "server announced a shutdown")),
]


@pytest.mark.parametrize("stream,payload,expected", EXPECTED, ids=[e[0] for e in EXPECTED])
def test_every_kind_raw_and_combined_as_str_and_bytes(stream, payload, expected):
    c = codec()
    for frame in (payload, combined(stream, payload)):
        for raw in (frame, frame.encode()):
            event = only(c.decode(raw, RECV))
            assert event == expected
            assert type(event) is type(expected)


def test_aggressor_side_follows_the_maker_flag():
    c = codec()
    buy = only(c.decode(AGG_TRADE.replace('"m":true', '"m":false'), RECV))
    sell = only(c.decode(AGG_TRADE, RECV))
    assert (buy.side, sell.side) == ("buy", "sell")


def test_trade_id_is_a_for_agg_trade_and_t_for_trade():
    c = codec()
    agg = only(c.decode(AGG_TRADE.replace('"a":12345', '"a":777'), RECV))
    trade = only(c.decode(TRADE.replace('"t":12345', '"t":888'), RECV))
    assert (agg.trade_id, trade.trade_id) == (777, 888)


def test_closed_kline_and_microsecond_time_unit():
    closed = only(codec().decode(KLINE.replace('"x":false', '"x":true'), RECV))
    assert closed.closed is True
    micro = KLINE.replace("1672515782136", "1672515782136001").replace("1672515780000", "1672515780000000")
    bar = only(codec(time_unit="us").decode(micro, RECV))
    assert bar.exch_ns == 1672515782136001 * 1000
    assert bar.open_ns == 1672515780000 * 1_000_000
    with pytest.raises(ValueError):
        codec(time_unit="s")


def test_partial_depth_takes_its_symbol_from_the_stream_or_the_default():
    from_stream = only(codec().decode(combined("bnbbtc@depth5@100ms", PARTIAL_DEPTH), RECV))
    expected = BookSnapshot("BINANCE", "BNBBTC", "BNB/BTC", 0, RECV, ((0.0024, 10.0),), ((0.0026, 100.0),), 160)
    assert from_stream == expected
    assert only(codec(default_symbol="bnbbtc").decode(PARTIAL_DEPTH, RECV)) == expected
    nameless = only(codec().decode(PARTIAL_DEPTH, RECV))
    assert isinstance(nameless, Rejected) and nameless.reason == "missing_field"


def test_mini_ticker_array_raw_and_combined():
    other = MINI_TICKER.replace("BNBBTC", "ETHUSDT")
    arr = f"[{MINI_TICKER},{other}]"
    for frame in (arr, combined("!miniTicker@arr", arr)):
        events = codec().decode(frame, RECV)
        assert [type(e) for e in events] == [Ticker, Ticker]
        assert [(e.symbol, e.unified) for e in events] == [("BNBBTC", "BNB/BTC"), ("ETHUSDT", "ETH/USD")]


def test_array_with_one_bad_element_keeps_the_good_ones():
    bad = MINI_TICKER.replace('"c":"0.0025"', '"c":"x"')
    events = codec().decode(f'[{MINI_TICKER},{bad},7,{{"e":"nope"}}]', RECV)
    assert [type(e) for e in events] == [Ticker, Rejected, Rejected, Rejected]
    assert [e.reason for e in events[1:]] == ["bad_field", "bad_field", "unknown_event"]
    assert events[1].symbol == "BNBBTC"


def test_request_responses():
    c = codec()
    assert only(c.decode('{"result":null,"id":1}', RECV)) == Control(
        "BINANCE", "", "", 0, RECV, "response", "", (1, None))
    listed = only(c.decode('{"result":["btcusdt@aggTrade"],"id":3}', RECV))
    assert (listed.what, listed.data) == ("response", (3, ["btcusdt@aggTrade"]))
    assert only(c.decode(b'{"result":true,"id":2}', RECV)).data == (2, True)


@pytest.mark.parametrize("frame,req_id,code,msg", [
    ('{"code":2,"msg":"Invalid request: too many parameters"}', None, 2, "Invalid request: too many parameters"),
    ('{"code":3,"msg":"Invalid JSON: expected value at line 1 column 1"}', None, 3,
     "Invalid JSON: expected value at line 1 column 1"),
    ('{"error":{"code":2,"msg":"Invalid request: invalid stream"},"id":2}', 2, 2, "Invalid request: invalid stream"),
    ('{"error":{"code":4,"msg":"Too many subscriptions"},"id":1}', 1, 4, "Too many subscriptions"),
    ('{"error":{"code":2,"msg":"Invalid request"},"id":null}', None, 2, "Invalid request"),
])
def test_bare_and_wrapped_errors(frame, req_id, code, msg):
    event = only(codec().decode(frame, RECV))
    assert event == Control("BINANCE", "", "", 0, RECV, "error", msg, (req_id, code))


@pytest.mark.parametrize("frame,reason", [
    ("{not json", "malformed_json"),
    (AGG_TRADE[:-20], "malformed_json"),  # truncated
    (combined("bnbbtc@aggTrade", AGG_TRADE)[:-1], "malformed_json"),
    ("", "malformed_json"),
    (b"\xff\xfe{}", "malformed_json"),  # not UTF-8
    ('{"e":"avgPrice","E":1693907033000,"s":"BTCUSDT","i":"5m","w":"25776.86000000","T":1693907032213}',
     "unknown_event"),
    ('{"hello":"world"}', "unknown_event"),
    ("42", "unknown_event"),
    ("null", "unknown_event"),
    (AGG_TRADE.replace('"p":"0.001",', ""), "missing_field"),
    (AGG_TRADE.replace('"E":1672515782136,', ""), "missing_field"),
    (KLINE.replace('"x":false,', ""), "missing_field"),
    (BOOK_TICKER.replace('"A":"40.66000000"', '"Z":"1"'), "missing_field"),
    ('{"stream":"bnbbtc@aggTrade"}', "missing_field"),
    ('{"stream":"bnbbtc@aggTrade","data":null}', "missing_field"),
    ('{"error":{"msg":"no code"},"id":1}', "missing_field"),
    (AGG_TRADE.replace('"p":"0.001"', '"p":"abc"'), "bad_field"),
    (AGG_TRADE.replace('"p":"0.001"', '"p":null'), "bad_field"),
    (AGG_TRADE.replace('"p":"0.001"', '"p":[1]'), "bad_field"),
    (AGG_TRADE.replace('"E":1672515782136', '"E":"soon"'), "bad_field"),
    (AGG_TRADE.replace('"m":true', '"m":"true"'), "bad_field"),
    (AGG_TRADE.replace('"s":"BNBBTC"', '"s":42'), "bad_field"),
    (AGG_TRADE.replace('"s":"BNBBTC"', '"s":["BNBBTC"]'), "bad_field"),
    (AGG_TRADE.replace('"e":"aggTrade"', '"e":["aggTrade"]'), "bad_field"),
    (KLINE.replace('"k":{', '"k":[{').replace('}}', '}]}'), "bad_field"),
    (KLINE.replace('"x":false', '"x":0'), "bad_field"),
    (KLINE.replace('"i":"1m"', '"i":1'), "bad_field"),
    (DIFF_DEPTH.replace('[["0.0024","10"]]', '[["0.0024","10","7"]]'), "bad_field"),
    (DIFF_DEPTH.replace('[["0.0024","10"]]', '"levels"'), "bad_field"),
    (combined("bnbbtc@depth5", '{"lastUpdateId":"x","bids":[],"asks":[]}'), "bad_field"),
    ('{"stream":5,"data":{"lastUpdateId":1,"bids":[],"asks":[]}}', "bad_field"),
    ('{"error":"boom","id":1}', "bad_field"),
])
def test_bad_frames_give_one_rejected_with_the_reason(frame, reason):
    c = codec()
    for raw in (frame, frame.encode() if isinstance(frame, str) else frame):
        event = only(c.decode(raw, RECV))
        assert isinstance(event, Rejected), event
        assert event.reason == reason, event.detail
        assert event.venue == "BINANCE" and event.recv_ns == RECV and event.detail
        assert event.raw or not frame  # the frame is kept for the dead-letter log


def test_non_text_input_is_rejected_not_raised():
    for raw in (None, 5, ["a"]):
        assert only(codec().decode(raw, RECV)).reason == "malformed_json"
    assert only(codec().decode(bytearray(b'{"result":null,"id":9}'), RECV)).data == (9, None)


def test_rejected_keeps_the_symbol_when_it_is_known():
    bad = only(codec().decode(AGG_TRADE.replace('"q":"100"', '"q":"lots"'), RECV))
    assert (bad.reason, bad.symbol) == ("bad_field", "BNBBTC")
    assert "aggTrade" in bad.detail


def test_rejected_raw_is_bounded():
    huge = '{"e":"aggTrade","pad":"' + "x" * 100_000 + '"}'
    bad = only(codec().decode(huge, RECV))
    assert bad.reason == "missing_field" and len(bad.raw) <= 2048


def test_nan_prices_pass_through_for_the_guard():
    event = only(codec().decode(AGG_TRADE.replace('"p":"0.001"', '"p":"NaN"'), RECV))
    assert isinstance(event, Trade) and event.price != event.price


def test_non_ascii_symbols():
    symbol = "币安人生USDT"
    frame = AGG_TRADE.replace("BNBBTC", symbol)
    for raw in (frame, frame.encode(), combined(f"{symbol.lower()}@aggTrade", frame).encode()):
        event = only(codec().decode(raw, RECV))
        assert (event.symbol, event.unified) == (symbol, "币安人生/USD")
    depth = only(codec().decode(combined("币安人生usdt@depth10@100ms", PARTIAL_DEPTH), RECV))
    assert (depth.symbol, depth.unified) == (symbol, "币安人生/USD")


def test_venue_and_symbol_map_are_the_callers():
    c = BinanceCodec(SymbolMap(quote_aliases={}), venue="BINANCE_US")
    event = only(c.decode(BOOK_TICKER, RECV))
    assert (event.venue, event.unified) == ("BINANCE_US", "BNB/USDT")


# --- names, URLs, requests --------------------------------------------------------------------

def test_endpoints_and_intervals():
    assert ENDPOINTS["production"][0] == "wss://data-stream.binance.vision"
    assert REST_BASES["production"] == "https://data-api.binance.vision"
    assert list(INTERVALS) == ["1s", "1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h",
                               "1d", "3d", "1w", "1M"]
    assert INTERVALS["1s"] == 1000 and INTERVALS["1m"] == 60_000 and INTERVALS["1w"] == 604_800_000
    assert INTERVALS["1M"] == 30 * 86_400_000


def test_stream_names():
    assert streams_for(["BTCUSDT"], "1m") == [
        "btcusdt@aggTrade", "btcusdt@kline_1m", "btcusdt@bookTicker", "btcusdt@ticker"]
    assert streams_for(["ETHUSDT", "solusdt"], "5m", ("trade", "miniTicker", "depth", "depth5", "depth20")) == [
        "ethusdt@trade", "ethusdt@miniTicker", "ethusdt@depth@100ms", "ethusdt@depth5@100ms",
        "ethusdt@depth20@100ms", "solusdt@trade", "solusdt@miniTicker", "solusdt@depth@100ms",
        "solusdt@depth5@100ms", "solusdt@depth20@100ms"]
    with pytest.raises(ValueError):
        streams_for(["BTCUSDT"], "7m")
    with pytest.raises(ValueError):
        streams_for(["BTCUSDT"], "1m", ("orders",))


def test_urls():
    assert raw_url("wss://stream.binance.com:9443", "btcusdt@trade") == "wss://stream.binance.com:9443/ws/btcusdt@trade"
    assert combined_url("ws://127.0.0.1:8765/", ["a@trade", "b@trade"]) == "ws://127.0.0.1:8765/stream?streams=a@trade/b@trade"
    assert combined_url("wss://x", ["a@trade"], time_unit="us") == "wss://x/stream?streams=a@trade&timeUnit=MICROSECOND"
    assert raw_url("wss://x", "a@trade", time_unit="us") == "wss://x/ws/a@trade?timeUnit=MICROSECOND"
    assert rest_base_for("ws://127.0.0.1:8765") == "http://127.0.0.1:8765"
    assert rest_base_for("wss://localhost:9443/stream") == "https://localhost:9443"
    assert rest_base_for("wss://data-stream.binance.vision") == "https://data-api.binance.vision"
    assert rest_base_for("wss://stream.binance.com:9443") == "https://data-api.binance.vision"
    assert rest_base_for("wss://stream.testnet.binance.vision/ws") == "https://testnet.binance.vision"
    assert rest_base_for("wss://stream.binance.us:9443") == "https://api.binance.us"


def test_request_messages():
    assert json.loads(subscribe_message(["btcusdt@aggTrade", "btcusdt@depth"], 1)) == {
        "method": "SUBSCRIBE", "params": ["btcusdt@aggTrade", "btcusdt@depth"], "id": 1}
    assert subscribe_message(("a@trade",), 7) == '{"method":"SUBSCRIBE","params":["a@trade"],"id":7}'
    assert json.loads(unsubscribe_message(["btcusdt@depth"], 312)) == {
        "method": "UNSUBSCRIBE", "params": ["btcusdt@depth"], "id": 312}
    assert json.loads(list_subscriptions_message(3)) == {"method": "LIST_SUBSCRIPTIONS", "id": 3}


def test_rest_paths():
    assert klines_path("btcusdt", "1m") == "/api/v3/klines?symbol=BTCUSDT&interval=1m&limit=1000"
    assert klines_path("BTCUSDT", "1h", 1000, 2000, limit=5) == (
        "/api/v3/klines?symbol=BTCUSDT&interval=1h&startTime=1000&endTime=2000&limit=5")
    assert depth_path("ethusdt") == "/api/v3/depth?symbol=ETHUSDT&limit=1000"
    assert depth_path("BTCUSDT", 5000) == "/api/v3/depth?symbol=BTCUSDT&limit=5000"
    with pytest.raises(ValueError):
        klines_path("BTCUSDT", "2m")


# --- REST bodies ------------------------------------------------------------------------------

KLINE_ROWS = ('[[1499040000000,"0.01634790","0.80000000","0.01575800","0.01577100","148976.11427815",'
              '1499040059999,"2434.19055334",308,"1756.87402397","28.46694368","0"],'
              '[1499040060000,"0.01577100","0.01600000","0.01500000","0.01590000","10.5",'
              '1499040119999,"0.16",3,"1","0.01","0"]]')


def test_parse_klines():
    candles, rejected = parse_klines(KLINE_ROWS.encode(), "BNBBTC", "1m", RECV, server_now_ms=1499040100000)
    assert rejected == []
    assert candles[0] == Candle("BINANCE", "BNBBTC", "BNB/BTC", 1499040059999 * 1_000_000, RECV, "1m",
                                1499040000000 * 1_000_000, 0.0163479, 0.8, 0.015758, 0.015771,
                                148976.11427815, 308, True, "backfill")
    assert candles[1].closed is False  # its close time is after the server's now
    via_codec, _ = codec().parse_klines(KLINE_ROWS, "BNBBTC", "1m", RECV, 1499040100000)
    assert via_codec == candles


def test_parse_klines_never_raises_on_junk():
    assert parse_klines("[]", "BTCUSDT", "1m", RECV, 0) == ([], [])
    for body, reason in [("[[1,2", "malformed_json"), ('{"a":1}', "bad_field"),
                         ('{"code":-1121,"msg":"Invalid symbol."}', "venue_error")]:
        candles, rejected = parse_klines(body, "BTCUSDT", "1m", RECV, 0)
        assert candles == [] and [r.reason for r in rejected] == [reason]
    good = KLINE_ROWS[1:-1].split("],[")[0] + "]"
    candles, rejected = parse_klines(f'[{good},[1,2,3],"row",[1,"x","1","1","1","1",2,"1",1]]',
                                     "BTCUSDT", "1m", RECV, 0)
    assert len(candles) == 1 and [r.reason for r in rejected] == ["bad_field"] * 3
    assert candles[0].unified == "BTC/USD"


def test_parse_depth_snapshot():
    body = '{"lastUpdateId":1027024,"bids":[["4.00000000","431.00000000"]],"asks":[["4.00000200","12.00000000"]]}'
    snap = parse_depth_snapshot(body.encode(), "BNBBTC", RECV)
    assert snap == BookSnapshot("BINANCE", "BNBBTC", "BNB/BTC", 0, RECV, ((4.0, 431.0),), ((4.000002, 12.0),), 1027024)
    assert codec().parse_depth_snapshot(body, "BNBBTC", RECV) == snap
    for junk, reason in [("{", "malformed_json"), ("[1]", "bad_field"), ('{"bids":[],"asks":[]}', "missing_field"),
                         ('{"lastUpdateId":1,"bids":[["1"]],"asks":[]}', "bad_field"),
                         ('{"code":-1121,"msg":"Invalid symbol."}', "venue_error")]:
        bad = parse_depth_snapshot(junk, "BNBBTC", RECV)
        assert isinstance(bad, Rejected) and bad.reason == reason


# --- real captures ----------------------------------------------------------------------------

def _capture(name: str) -> Path:
    return capture_dir() / name


def _received_frames(path: Path):
    """(recv_ns, payload) for every `<ts>: <payload>` line; connection-open lines and blanks are skipped."""
    opens = 0
    frames = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        head, sep, payload = line.partition(": ")
        try:
            ts = float(head)
        except ValueError:
            assert " <-> " in line  # a connection open
            opens += 1
            continue
        assert sep
        frames.append((int(ts * 1e9), payload))
    return frames, opens


def test_real_binance_capture_decodes_cleanly():
    frames, opens = _received_frames(_capture("BINANCE.ws.1.0"))
    assert opens >= 1
    c = BinanceCodec(SymbolMap())
    counts: dict[type, int] = {}
    candles = []
    for recv_ns, payload in frames:
        for event in c.decode(payload.encode(), recv_ns):
            counts[type(event)] = counts.get(type(event), 0) + 1
            assert event.recv_ns == recv_ns
            if isinstance(event, Candle):
                candles.append(event)
            if isinstance(event, Quote):
                assert 0 < event.bid < event.ask
    assert counts == {Quote: 84, Trade: 2, Candle: 2, BookDelta: 177}
    assert not any(c.closed for c in candles)
    assert {c.unified for c in candles} <= {"NKN/USD", "BLZ/ETH", "LRC/BTC", "RUNE/EUR"}


def test_real_binance_depth_snapshots():
    path = _capture("BINANCE.http.0.0")
    snaps = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        url, _, rest = line.partition(" -> ")
        ts, _, body = rest.partition(": ")
        symbol = url.split("symbol=")[1].split("&")[0]
        snap = parse_depth_snapshot(body.encode(), symbol, int(float(ts) * 1e9))
        assert isinstance(snap, BookSnapshot), snap
        snaps.append(snap)
    assert len(snaps) == 4
    assert {s.symbol for s in snaps} == {"NKNUSDT", "BLZETH", "LRCBTC", "RUNEEUR"}
    for snap in snaps:
        assert snap.update_id > 0
        assert snap.bids and snap.asks
        assert snap.bids[0][0] < snap.asks[0][0]


# --- never raises -----------------------------------------------------------------------------

_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
        st.sampled_from(["e", "E", "s", "p", "q", "a", "t", "m", "k", "b", "a", "u", "U", "B", "A",
                         "lastUpdateId", "bids", "asks", "result", "id", "error", "code", "msg",
                         "stream", "data", "i", "x", "n", "o", "h", "l", "c", "v"]) | st.text(max_size=3),
        inner, max_size=8),
    max_leaves=20)
_event_kinds = st.sampled_from(["aggTrade", "trade", "kline", "24hrTicker", "24hrMiniTicker",
                                "depthUpdate", "serverShutdown", "other"])


@settings(max_examples=300, deadline=None)
@given(payload=_json_values, kind=_event_kinds, wrap=st.booleans())
def test_arbitrary_json_never_raises(payload, kind, wrap):
    if isinstance(payload, dict):
        payload["e"] = kind
    frame = json.dumps({"stream": "btcusdt@depth5", "data": payload} if wrap else payload)
    events = codec().decode(frame, RECV)
    assert isinstance(events, list)
    assert all(e.recv_ns == RECV for e in events)


def test_every_truncation_of_real_frames_is_rejected_cleanly():
    c = codec()
    for frame in (combined("bnbbtc@aggTrade", AGG_TRADE), KLINE, DIFF_DEPTH, BOOK_TICKER):
        for cut in range(len(frame)):
            event = only(c.decode(frame[:cut].encode(), RECV))
            assert isinstance(event, Rejected) and event.reason == "malformed_json"


# --- the typed decoders on real frames ------------------------------------------------------------

def _first_real(kind: str) -> dict:
    frames, _ = _received_frames(_capture("BINANCE.ws.1.0"))
    return next(json.loads(p) for _, p in frames if json.loads(p)["stream"].split("@", 1)[1].startswith(kind))


def test_typed_and_general_paths_agree_on_every_real_frame():
    """The typed decoders (the hot path) give exactly the events the general untyped path gives."""
    frames, _ = _received_frames(_capture("BINANCE.ws.1.0"))
    typed, general = BinanceCodec(SymbolMap()), BinanceCodec(SymbolMap())
    for recv_ns, payload in frames:
        assert typed.decode(payload, recv_ns) == general._decode_general(payload, recv_ns)
    assert set(typed._typed.values()) - {None}  # the real streams went through typed handlers


# (kind of real frame, field path inside "data", a wrong value, the reason, the field the detail names)
MISTYPED_REAL = [
    ("aggTrade", ("E",), "1633998523963", "bad_field", "'E'"),
    ("aggTrade", ("a",), 1.5, "bad_field", "'a'"),
    ("aggTrade", ("p",), True, "bad_field", "'p'"),
    ("aggTrade", ("q",), "abc", "bad_field", "'q'"),
    ("aggTrade", ("m",), 0, "bad_field", "'m'"),
    ("aggTrade", ("s",), ["NKNUSDT"], "bad_field", ""),
    ("aggTrade", ("T",), None, "missing_field", "'T'"),  # None: the field removed
    ("bookTicker", ("u",), "7", "bad_field", "'u'"),
    ("bookTicker", ("b",), None, "missing_field", "'b'"),
    ("bookTicker", ("A",), {"x": 1}, "bad_field", "'A'"),
    ("kline", ("k", "x"), "false", "bad_field", "'k.x'"),
    ("kline", ("k", "n"), 5.5, "bad_field", "'k.n'"),
    ("kline", ("k", "o"), [], "bad_field", "'k.o'"),
    ("kline", ("k", "t"), None, "missing_field", "'t'"),
    # the typed decoders read decimal text lax (strict=False), which alone would also take these as ints / bools
    ("aggTrade", ("a",), 26129.0, "bad_field", "'a'"),
    ("aggTrade", ("T",), "1633998523963", "bad_field", "'T'"),
    ("aggTrade", ("m",), 1, "bad_field", "'m'"),
    ("bookTicker", ("u",), 7.0, "bad_field", "'u'"),
    ("kline", ("k", "t"), "1633998480000", "bad_field", "'k.t'"),
    ("kline", ("k", "n"), "5", "bad_field", "'k.n'"),
    ("kline", ("k", "x"), 1, "bad_field", "'k.x'"),
    ("depth", ("U",), "499869750", "bad_field", "'U'"),
    ("depth", ("b",), [["0.35", "1", "2"]], "bad_field", "'b'"),
]


@pytest.mark.parametrize("kind,path,value,reason,named", MISTYPED_REAL)
def test_a_mistyped_field_in_a_real_frame_is_one_rejection_naming_it(kind, path, value, reason, named):
    msg = _first_real(kind)
    good = BinanceCodec(SymbolMap()).decode(json.dumps(msg), RECV)
    assert len(good) == 1 and not isinstance(good[0], Rejected)
    target = msg["data"]
    for key in path[:-1]:
        target = target[key]
    if value is None:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    [event] = BinanceCodec(SymbolMap()).decode(json.dumps(msg), RECV)
    assert isinstance(event, Rejected) and event.reason == reason, event
    assert named in event.detail and event.recv_ns == RECV


@pytest.mark.parametrize("kind,field,value", [("aggTrade", "p", 0.35), ("aggTrade", "q", "1e-5"),
                                               ("bookTicker", "b", 12), ("bookTicker", "a", "0.3500000000000000001")])
def test_prices_as_json_numbers_or_exponents_decode_as_the_general_path_reads_them(kind, field, value):
    """msgspec parses the decimal text on the typed path; the value is the one float() gives on the general path."""
    msg = _first_real(kind)
    msg["data"][field] = value
    frame = json.dumps(msg)
    [typed] = BinanceCodec(SymbolMap()).decode(frame, RECV)
    assert not isinstance(typed, Rejected)
    assert typed == BinanceCodec(SymbolMap())._decode_general(frame, RECV)[0]
    assert float(value) in astuple(typed)

