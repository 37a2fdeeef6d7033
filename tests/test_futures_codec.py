"""Binance USD-M futures: the codec on Binance's documented payloads, bad frames, and the pipeline's new kinds."""
from __future__ import annotations

import orjson

from feeds.clock import ManualClock
from feeds.core.pipeline import Pipeline
from feeds.events import BookDelta, Liquidation, MarkPrice, OpenInterest, Quote, Rejected
from feeds.symbols import SymbolMap
from feeds.venues import VENUES
from feeds.venues.binance_futures import VENUE, streams_for

# The response examples of Binance's USD-M futures pages (Mark Price, Liquidation Order, Diff. Book Depth).
MARK = {"e": "markPriceUpdate", "E": 1562305380000, "s": "BTCUSDT", "p": "11794.15000000",
        "i": "11784.62659091", "P": "11784.25641265", "r": "0.00038167", "T": 1562306400000}
FORCE = {"e": "forceOrder", "E": 1568014460893, "o": {
    "s": "BTCUSDT", "S": "SELL", "o": "LIMIT", "f": "IOC", "q": "0.014", "p": "9910", "ap": "9910",
    "X": "FILLED", "l": "0.014", "z": "0.014", "T": 1568014460893}}
DEPTH = {"e": "depthUpdate", "E": 123456789, "T": 123456788, "s": "BTCUSDT", "U": 157, "u": 160, "pu": 149,
         "b": [["0.0024", "10"]], "a": [["0.0026", "100"]]}
BOOK_TICKER = {"e": "bookTicker", "u": 400900217, "E": 1568014460893, "T": 1568014460891, "s": "BTCUSDT",
               "b": "25.35190000", "B": "31.21000000", "a": "25.36520000", "A": "40.66000000"}
NOW_NS = 1_568_014_461_000_000_000


def _codec():
    return VENUES[VENUE].make_codec(SymbolMap())


def _frame(payload: dict, stream: str) -> bytes:
    return orjson.dumps({"stream": stream, "data": payload})


def test_documented_payloads_decode_to_their_events():
    codec = _codec()
    [mark] = codec.decode(_frame(MARK, "btcusdt@markPrice@1s"), 1)
    assert isinstance(mark, MarkPrice)
    assert (mark.mark, mark.index, mark.settle, mark.funding_rate) == (11794.15, 11784.62659091, 11784.25641265,
                                                                         0.00038167)
    assert mark.next_funding_ns == 1562306400000 * 1_000_000 and mark.unified == "BTC/USD:PERP"
    [liq] = codec.decode(_frame(FORCE, "btcusdt@forceOrder"), 1)
    assert isinstance(liq, Liquidation)
    assert (liq.side, liq.price, liq.size, liq.status) == ("sell", 9910.0, 0.014, "FILLED")
    [delta] = codec.decode(_frame(DEPTH, "btcusdt@depth@100ms"), 1)
    assert isinstance(delta, BookDelta) and (delta.first_id, delta.last_id, delta.prev_id) == (157, 160, 149)
    [quote] = codec.decode(_frame(BOOK_TICKER, "btcusdt@bookTicker"), 1)
    assert isinstance(quote, Quote) and quote.exch_ns == 1568014460891 * 1_000_000  # T, not E
    assert quote.update_id == 400900217


def test_bad_frames_are_rejections_naming_the_field():
    codec = _codec()
    cases = [({**MARK, "r": True}, "bad_field"), ({**MARK, "T": "soon"}, "bad_field"),
             ({k: v for k, v in MARK.items() if k != "i"}, "missing_field"),
             ({**FORCE, "o": {**FORCE["o"], "S": "SIDEWAYS"}}, "bad_field"), ({**FORCE, "o": []}, "bad_field"),
             ({k: v for k, v in DEPTH.items() if k != "pu"}, "missing_field"),
             ({k: v for k, v in BOOK_TICKER.items() if k != "T"}, "missing_field")]
    for payload, reason in cases:
        [ev] = codec.decode(orjson.dumps(payload), 1)
        assert isinstance(ev, Rejected) and ev.reason == reason, (payload, ev)


def test_every_kline_interval_has_a_stream_and_1s_is_refused():
    venue = VENUES[VENUE]
    for interval in venue.intervals:
        assert f"btcusdt@kline_{interval}" in streams_for(["BTCUSDT"], interval)
    assert "1s" not in venue.intervals


def test_open_interest_body_and_its_errors():
    venue = VENUES[VENUE]
    codec = _codec()
    [request] = venue.poll_requests("BTCUSDT")
    assert request.path == "/fapi/v1/openInterest?symbol=BTCUSDT"
    [oi] = venue.rest_events(codec, request, b'{"openInterest":"10659.509","symbol":"BTCUSDT","time":1589437530011}', 1)
    assert isinstance(oi, OpenInterest) and oi.open_interest == 10659.509
    for body, reason in [(b'{"code":-1121,"msg":"Invalid symbol."}', "venue_error"), (b"<html>", "malformed_json"),
                         (b'{"openInterest":"1","symbol":"ETHUSDT","time":1}', "bad_field"),
                         (b'{"symbol":"BTCUSDT","time":1}', "missing_field")]:
        [ev] = venue.rest_events(codec, request, body, 1)
        assert isinstance(ev, Rejected) and ev.reason == reason, body


def test_pipeline_keeps_mark_open_interest_and_a_liquidation_log_and_guards_them():
    clock = ManualClock(NOW_NS)
    p = Pipeline(clock)
    codec = _codec()
    p.attach("BINANCE_FUTURES#1", VENUE, codec, ["BTCUSDT"])
    p.feed("BINANCE_FUTURES#1", _frame(MARK, "btcusdt@markPrice@1s"), NOW_NS)
    p.feed("BINANCE_FUTURES#1", _frame(MARK, "btcusdt@markPrice@1s"), NOW_NS)  # the same frame again
    p.feed("BINANCE_FUTURES#1", _frame(FORCE, "btcusdt@forceOrder"), NOW_NS)
    venue = VENUES[VENUE]
    [req] = venue.poll_requests("BTCUSDT")
    for t, oi in ((1, "100"), (2, "104")):
        venue_events = venue.rest_events(codec, req, orjson.dumps({"openInterest": oi, "symbol": "BTCUSDT",
                                                                   "time": 1568014460000 + t}), NOW_NS)
        p.apply_all(venue_events, "BINANCE_FUTURES#1", NOW_NS)
    st = p.state.get(VENUE, "BTCUSDT")
    assert st.mark is not None and st.mark.funding_rate == 0.00038167
    assert st.open_interest.open_interest == 104.0 and st.open_interest_prev.open_interest == 100.0
    assert [liq.price for liq in p.state.liquidations] == [9910.0]
    assert (p.events["mark_price"], p.events["liquidation"], p.events["open_interest"]) == (1, 1, 2)
    assert p.duplicates == 1 and p.rejected == {}
    # guard: an absurd funding rate, a zero-size liquidation, a negative open interest are refused
    p.feed("BINANCE_FUTURES#1", _frame({**MARK, "E": MARK["E"] + 1000, "r": "0.9"}, "btcusdt@markPrice@1s"), NOW_NS)
    p.feed("BINANCE_FUTURES#1", _frame({**FORCE, "o": {**FORCE["o"], "q": "0"}}, "btcusdt@forceOrder"), NOW_NS)
    p.apply_all([OpenInterest(VENUE, "BTCUSDT", "BTC/USD:PERP", 0, NOW_NS, -1.0)], "BINANCE_FUTURES#1", NOW_NS)
    assert p.rejected == {"bad_funding_rate": 1, "bad_size": 2}
    # a symbol nobody subscribed to is a rejection, not state
    p.feed("BINANCE_FUTURES#1", _frame({**MARK, "s": "ETHUSDT"}, "ethusdt@markPrice@1s"), NOW_NS)
    assert p.rejected.get("unexpected_symbol") == 1 and (VENUE, "ETHUSDT") not in p.state.symbols


def test_book_ticker_on_the_typed_path_refuses_what_lax_decoding_alone_would_take():
    """The combined-stream bookTicker is decoded lax (decimal text -> float in msgspec); its time and update id
    must still be exact integers: text or an integral float is one bad_field naming it, as on the general path."""
    codec = _codec()
    [quote] = codec.decode(_frame({**BOOK_TICKER, "b": 25.3519}, "btcusdt@bookTicker"), 1)
    assert isinstance(quote, Quote) and (quote.bid, quote.bid_size, quote.ask) == (25.3519, 31.21, 25.3652)
    for field, value in (("T", "1568014460891"), ("T", 1568014460891.0), ("u", "400900217"), ("u", 400900217.0)):
        [ev] = codec.decode(_frame({**BOOK_TICKER, field: value}, "btcusdt@bookTicker"), 1)
        assert isinstance(ev, Rejected) and ev.reason == "bad_field" and repr(field) in ev.detail, (field, value, ev)
