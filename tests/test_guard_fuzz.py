"""Fuzzing the codecs and the guard through ``Pipeline.feed``: arbitrary bytes, arbitrary JSON, and
near-valid frames (a field removed, retyped, made non-finite, negative or far in the future, or the
text cut short). No exception may escape, and every event a frame decodes to is accounted for:
accepted, or rejected with a reason (counted by reason), or counted as a duplicate or a late update."""
import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from feeds.api import Feed
from feeds.clock import ManualClock
from feeds.events import EVENT_TYPES, Candle, Rejected, VenueStatus
from feeds.symbols import SymbolMap
from feeds.venues.binance import BinanceCodec
from feeds.venues.coinbase import CoinbaseCodec

NOW_MS = 1_700_000_000_000
NOW_NS = NOW_MS * 1_000_000
FUZZ = settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def binance_frames() -> list[dict]:
    k = {"t": NOW_MS - 1000, "T": NOW_MS - 1, "s": "BTCUSDT", "i": "1s", "f": 1, "L": 2, "o": "100", "c": "100.5",
         "h": "101", "l": "99", "v": "2", "n": 2, "x": True, "q": "200", "V": "1", "Q": "100", "B": "0"}
    raw = [
        {"e": "aggTrade", "E": NOW_MS, "s": "BTCUSDT", "a": 7, "p": "100.5", "q": "0.1", "f": 7, "l": 7, "T": NOW_MS,
         "m": True, "M": True},
        {"e": "trade", "E": NOW_MS, "s": "ETHUSDT", "t": 9, "p": "2000", "q": "1", "T": NOW_MS, "m": False, "M": True},
        {"e": "kline", "E": NOW_MS, "s": "BTCUSDT", "k": k},
        {"u": 400, "s": "BTCUSDT", "b": "100", "B": "1", "a": "101", "A": "2"},
        {"e": "24hrTicker", "E": NOW_MS, "s": "BTCUSDT", "c": "100", "o": "99", "h": "101", "l": "98", "v": "5",
         "q": "500"},
        {"e": "depthUpdate", "E": NOW_MS, "s": "BTCUSDT", "U": 10, "u": 12, "b": [["100", "1"]], "a": [["101", "0"]]},
        {"e": "serverShutdown", "E": NOW_MS},
        {"result": None, "id": 1},
        {"error": {"code": 2, "msg": "Invalid request"}, "id": 3},
    ]
    partial_depth = {"stream": "btcusdt@depth5", "data": {"lastUpdateId": 5, "bids": [["100", "1"]],
                                                          "asks": [["101", "1"]]}}
    return raw + [{"stream": "btcusdt@x", "data": m} for m in raw] + [partial_depth]


def coinbase_frames() -> list[dict]:
    t = "2023-11-14T22:13:20.000001Z"
    return [
        {"type": "match", "trade_id": 10, "sequence": 50, "maker_order_id": "a", "taker_order_id": "b", "time": t,
         "product_id": "BTC-USD", "size": "0.5", "price": "400.23", "side": "sell"},
        {"type": "ticker", "sequence": 51, "product_id": "ETH-USD", "price": "1285.22", "open_24h": "1310",
         "volume_24h": "245532", "low_24h": "1280", "high_24h": "1313", "volume_30d": "9788783",
         "best_bid": "1285.04", "best_bid_size": "0.4", "best_ask": "1285.27", "best_ask_size": "1.5",
         "side": "buy", "time": t, "trade_id": 11, "last_size": "11"},
        {"type": "snapshot", "product_id": "BTC-USD", "bids": [["100.1", "0.45"]], "asks": [["100.3", "2"]]},
        {"type": "l2update", "product_id": "BTC-USD", "changes": [["buy", "100.2", "1"], ["sell", "100.4", "0"]],
         "time": t},
        {"type": "heartbeat", "sequence": 90, "last_trade_id": 20, "product_id": "BTC-USD", "time": t},
        {"type": "subscriptions", "channels": [{"name": "ticker", "product_ids": ["BTC-USD"]}]},
        {"type": "error", "message": "Failed to subscribe", "reason": "bad product"},
        {"type": "status", "products": [{"id": "BTC-USD", "status": "online"}]},
    ]


def pipeline_for(venue: str):
    feed = Feed([venue], ["BTCUSDT"], interval="1s", clock=ManualClock(NOW_NS))  # far-future checks use this now
    feed.prepare_venue(venue)
    codec = BinanceCodec(SymbolMap()) if venue == "BINANCE" else CoinbaseCodec(SymbolMap(), check_trade_ids=False)
    twin = BinanceCodec(SymbolMap()) if venue == "BINANCE" else CoinbaseCodec(SymbolMap(), check_trade_ids=False)
    p = feed.pipeline
    p.attach(f"{venue}#1", venue, codec)
    seen = {"accepted": 0, "controls": 0}

    def accepted(ev) -> None:
        # candles built here from Coinbase trades are derived events, not the frame's own: not counted
        if not (type(ev) is Candle and ev.venue in p.trade_candles):
            seen["accepted"] += 1

    p.event_listeners.append(accepted)
    p.control_listeners.append(lambda conn, ev: seen.__setitem__("controls", seen["controls"] + 1))
    return p, twin, seen


def feed_and_check(venue: str, frames: list) -> None:
    p, twin, seen = pipeline_for(venue)
    conn = f"{venue}#1"
    for raw in frames:
        expected = twin.decode(raw, NOW_NS)  # the same codec state, so the same events as the pipeline's
        assert isinstance(expected, list) and all(type(ev) in EVENT_TYPES for ev in expected)
        before = (seen["accepted"], seen["controls"], sum(p.rejected.values()), p.duplicates, p.stale_updates,
                  len(p.recent_rejections))
        p.feed(conn, raw, NOW_NS)  # must not raise
        after = (seen["accepted"], seen["controls"], sum(p.rejected.values()), p.duplicates, p.stale_updates,
                 len(p.recent_rejections))
        handled = sum(a - b for a, b in zip(after[:5], before[:5]))
        statuses = sum(type(ev) is VenueStatus for ev in expected)
        assert handled + statuses == len(expected), (raw, expected, before, after)
        kept = list(p.recent_rejections)
        for _, ev in kept[len(kept) - (after[5] - before[5]):]:
            assert isinstance(ev, Rejected) and ev.reason and ev.detail
    assert all(reason and count > 0 for reason, count in p.rejected.items())


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**63, 2**63 - 1) | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12)
nasty_numbers = st.sampled_from(["NaN", "nan", "inf", "-inf", "-1", "0", "1e308", "-0", "", "1e-320", "abc"])
future_ms = st.integers(NOW_MS + 11_000, NOW_MS + 10**9)


@st.composite
def near_valid(draw, frames: list[dict]) -> bytes:
    """A valid frame with one or two defects."""
    msg = orjson.loads(orjson.dumps(draw(st.sampled_from(frames))))
    for _ in range(draw(st.integers(1, 2))):
        target = msg["data"] if "data" in msg and isinstance(msg["data"], dict) else msg
        if isinstance(target.get("k"), dict) and draw(st.booleans()):
            target = target["k"]
        keys = sorted(target)
        if not keys:
            break
        key = draw(st.sampled_from(keys))
        action = draw(st.sampled_from(["drop", "retype", "number", "future", "negate"]))
        if action == "drop":
            del target[key]
        elif action == "retype":
            target[key] = draw(json_values)
        elif action == "number":
            target[key] = draw(nasty_numbers)
        elif action == "future":
            target[key] = draw(future_ms)
        elif isinstance(target[key], str) and target[key][:1].isdigit():
            target[key] = "-" + target[key]
    text = orjson.dumps(msg)
    if draw(st.integers(0, 4)) == 0:  # sometimes cut short, as a truncated frame would be
        text = text[: draw(st.integers(0, len(text)))]
    return text


@FUZZ
@given(st.lists(st.binary(max_size=200) | st.text(max_size=200), min_size=1, max_size=5))
def test_arbitrary_bytes_never_escape_the_binance_pipeline(frames):
    feed_and_check("BINANCE", frames)


@FUZZ
@given(st.lists(st.binary(max_size=200) | st.text(max_size=200), min_size=1, max_size=5))
def test_arbitrary_bytes_never_escape_the_coinbase_pipeline(frames):
    feed_and_check("COINBASE", frames)


@FUZZ
@given(st.lists(json_values.map(orjson.dumps), min_size=1, max_size=5))
def test_arbitrary_json_is_accepted_or_rejected_with_a_reason(frames):
    feed_and_check("BINANCE", frames)
    feed_and_check("COINBASE", frames)


@FUZZ
@given(st.lists(near_valid(binance_frames()), min_size=1, max_size=8))
def test_near_valid_binance_frames_are_accepted_or_rejected_with_a_reason(frames):
    feed_and_check("BINANCE", frames)


@FUZZ
@given(st.lists(near_valid(coinbase_frames()), min_size=1, max_size=8))
def test_near_valid_coinbase_frames_are_accepted_or_rejected_with_a_reason(frames):
    feed_and_check("COINBASE", frames)


def test_the_valid_frames_themselves_are_accepted():
    for venue, frames in (("BINANCE", binance_frames()), ("COINBASE", coinbase_frames())):
        p, _, seen = pipeline_for(venue)
        for m in frames:
            p.feed(f"{venue}#1", orjson.dumps(m), NOW_NS)
        assert not p.rejected, (venue, p.rejected)
        assert seen["accepted"] >= 5


def test_each_kind_of_defect_is_rejected_with_its_own_reason():
    p, _, _ = pipeline_for("BINANCE")
    trade = binance_frames()[0]
    cases = {"malformed_json": b'{"e":"aggTrade"',
             "bad_price": {**trade, "a": 21, "p": "NaN"}, "bad_size": {**trade, "a": 22, "q": "-1"},
             "future_time": {**trade, "a": 23, "E": NOW_MS + 60_000}, "unknown_event": {"e": "mystery", "E": 1},
             "bad_field": {**trade, "a": 24, "E": "soon"}}
    cases["missing_field"] = {k: v for k, v in trade.items() if k != "p"}
    cases["price_outlier"] = {**trade, "a": 25, "p": "100000"}  # 1000x the trade before it
    p.feed("BINANCE#1", orjson.dumps({**trade, "a": 10}), NOW_NS)
    for reason, frame in cases.items():
        p.feed("BINANCE#1", frame if isinstance(frame, bytes) else orjson.dumps(frame), NOW_NS)
        assert p.rejected.get(reason) == 1, (reason, p.rejected)
