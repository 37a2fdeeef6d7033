"""Venue declarations: networks of one venue, symbol naming, REST answers routed by what was asked, and the
core asking the declaration (book kind, fee, short tag) rather than a venue's name."""
from __future__ import annotations

from dataclasses import replace

import orjson

from feeds.api import Feed
from feeds.core.arbitrage import ArbitrageDetector
from feeds.core.book_sync import BinanceBookSync, CoinbaseBookSync, OrderBooks
from feeds.events import BookSnapshot, Candle
from feeds.symbols import SymbolMap
from feeds.venues import BOOK_FROM_REST_SNAPSHOT, VENUES, RestRequest
from feeds.venues.binance import BINANCE
from feeds.venues.coinbase import COINBASE
from feeds.venues.coinbase_advanced import COINBASE_ADVANCED
from tui.widgets.formatting import short_venue

DEPTH = orjson.dumps({"lastUpdateId": 42, "bids": [["100.0", "1.5"]], "asks": [["101.0", "2.0"]]})
KLINES = orjson.dumps([[60_000, "1.0", "2.0", "0.5", "1.5", "10", 119_999, "15", 7, "5", "7", "0"]])


def test_binance_us_and_tr_are_networks_of_the_one_binance_declaration():
    assert BINANCE.rest_base_for("wss://stream.binance.us:9443") == "https://api.binance.us"
    assert BINANCE.rest_base_for("wss://stream-cloud.trbinance.com") == "https://api.binance.me"
    assert BINANCE.rest_base_for("wss://stream.testnet.binance.vision/ws") == "https://testnet.binance.vision"
    assert Feed(["BINANCE"], ["BTCUSDT"], network="tr").endpoints_for("BINANCE") == ["wss://stream-cloud.trbinance.com"]
    assert Feed(["BINANCE"], ["BTCUSDT"], network="us").rest_base("BINANCE") == "https://api.binance.us"
    # any other host: the same host over http(s), keeping a venue's path (the simulator serves several)
    assert COINBASE.rest_base_for("ws://127.0.0.1:8765/coinbase") == "http://127.0.0.1:8765/coinbase"


def test_each_declaration_names_symbols_its_own_way():
    symbols = SymbolMap()
    assert BINANCE.venue_symbol(symbols, "btcusdt") == "BTCUSDT"
    assert BINANCE.venue_symbol(symbols, "BTC/USD") == "BTCUSDT"  # USDT listed where USD is asked
    assert COINBASE.venue_symbol(symbols, "BTCUSDT") == "BTC-USD"
    assert COINBASE_ADVANCED.venue_symbol(symbols, "eth/usd") == "ETH-USD"


def test_rest_answers_are_parsed_by_what_was_asked_not_by_the_url():
    codec = BINANCE.make_codec(SymbolMap())
    # no URL at all: the request alone says what the body is
    [snapshot] = BINANCE.rest_events(codec, RestRequest("depth", "", "BTCUSDT"), DEPTH, 5)
    assert type(snapshot) is BookSnapshot and snapshot.symbol == "BTCUSDT" and snapshot.update_id == 42
    [candle] = BINANCE.rest_events(codec, RestRequest("klines", "", "ETHUSDT", "1m"), KLINES, 10**15)
    assert type(candle) is Candle and (candle.symbol, candle.interval, candle.source) == ("ETHUSDT", "1m", "backfill")
    assert BINANCE.rest_events(codec, RestRequest("listing", "", "BTCUSDT"), DEPTH, 5) == []
    request = BINANCE.klines_request("btcusdt", "1m", 1, 2, 3)
    assert (request.what, request.symbol, request.interval) == ("klines", "BTCUSDT", "1m")
    # recordings made before requests were recorded: the venue tells what the URL asked
    old = BINANCE.request_for_url("http://127.0.0.1:1/api/v3/depth?symbol=btcusdt&limit=1000")
    assert (old.what, old.symbol) == ("depth", "BTCUSDT")
    assert COINBASE.request_for_url("http://127.0.0.1:1/products/BTC-USD") is None


def test_the_core_asks_the_declaration(monkeypatch):
    books = OrderBooks()
    assert type(books.get("BINANCE", "BTCUSDT")) is BinanceBookSync
    assert type(books.get("COINBASE_ADVANCED", "BTC-USD")) is CoinbaseBookSync
    # a new venue declaring a REST-anchored book gets that sync rule, whatever its name
    monkeypatch.setitem(VENUES, "NEWVENUE", replace(COINBASE, name="NEWVENUE", short="NEW",
                                                    book_kind=BOOK_FROM_REST_SNAPSHOT, taker_fee_bps=3.0))
    assert type(OrderBooks().get("NEWVENUE", "BTC-USD")) is BinanceBookSync
    assert short_venue("NEWVENUE") == "NEW" and short_venue("COINBASE_ADVANCED") == "CBA"
    assert ArbitrageDetector()._fee("BINANCE") == BINANCE.taker_fee_bps * 1e-4
