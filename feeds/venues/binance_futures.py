"""Binance USD-M futures (perpetuals) market data, pure: endpoints, stream names, requests, frames -> events.

The frame and REST formats that are the same as spot (combined-stream wrapper, ``aggTrade``, ``kline``,
REST kline rows and depth bodies, replies and errors) are read by the spot codec this one extends; only
what futures adds or changes is here. Nothing does I/O; a bad frame becomes a counted ``Rejected``.

Facts, with their status: [V] checked against Binance's own USD-M futures documentation
(developers.binance.com/docs/derivatives/usds-margined-futures/...); [O] seen only in third-party clients
or Binance's COIN-M pages (same shapes), not yet in the USD-M pages themselves; [C] our choice.

- Streams: ``wss://fstream.binance.com``, combined form ``/stream?streams=a/b`` as on spot [V: the order
  book page opens ``wss://fstream.binance.com/stream?streams=btcusdt@depth``]. Testnet:
  ``wss://fstream.binancefuture.com``, REST ``https://testnet.binancefuture.com`` [O].
- REST base ``https://fapi.binance.com``; depth snapshot ``/fapi/v1/depth?symbol=BTCUSDT&limit=1000`` [V].
  Klines ``/fapi/v1/klines`` with spot's row layout [O]. Open interest ``/fapi/v1/openInterest?symbol=``
  answers ``{"openInterest":"10659.509","symbol":"BTCUSDT","time":1589437530011}`` [O], weight 1 [O]:
  polled every ``OPEN_INTEREST_PERIOD_S`` per symbol, far below the 2400-a-minute IP limit [O][C].
- ``<symbol>@aggTrade``: ``e,E,a,s,p,q,f,l,T,m`` as on spot [V on COIN-M's page; USD-M O].
- ``<symbol>@kline_<interval>``: spot's layout [O]; intervals are spot's less ``1s`` [O].
- ``<symbol>@bookTicker``: unlike spot it has ``"e":"bookTicker"``, event time ``E`` and transaction
  time ``T``, plus ``u,s,b,B,a,A`` [O]; ``exch_ns`` is ``T`` (the matching engine's time) [C].
- ``<symbol>@depth@100ms`` (also 250 ms default, 500 ms): ``e:"depthUpdate",E,T,s,U,u,pu,b,a``, ``pu`` is
  the previous frame's ``u`` [V]. Sync [V]: buffer; fetch the snapshot; drop diffs with ``u < lastUpdateId``;
  the first applied has ``U <= lastUpdateId <= u``; each next one's ``pu`` equals the previous ``u``,
  otherwise start again from the snapshot (``feeds.core.book_sync.ChainedBookSync``). Quantities are
  absolute; 0 removes the level; removing an unknown level is normal [V].
- ``<symbol>@markPrice@1s`` (or 3 s without ``@1s``): ``e:"markPriceUpdate",E,s,p`` (mark), ``i`` (index),
  ``P`` (estimated settle price, meaningful in the last hour before settlement), ``r`` (funding rate),
  ``T`` (next funding time) [V]. COIN-M delivery contracts send ``r:""`` and ``T:0`` [V]; read as 0 [C].
- Fees: base-tier taker 0.05 %, maker 0.02 % [O, not checked: used only for fee-adjusted figures].
- ``<symbol>@forceOrder``: ``{"e":"forceOrder","E":..,"o":{"s","S","o","f","q","p","ap","X","l","z","T"}}``;
  at most the latest liquidation per symbol per 1000 ms is pushed [V].
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import msgspec
import orjson
from msgspec import Raw, Struct

from feeds.events import BookDelta, Liquidation, MarkPrice, OpenInterest, Quote, Rejected, reject
from feeds.intervals import INTERVALS
from feeds.symbols import SymbolMap, UnifiedNames
from feeds.venues import binance
from feeds.venues.base import BOOK_FROM_REST_SNAPSHOT, CHAIN_PREV_ID, Codec, Network, RestRequest
from feeds.venues.binance import (
    BinanceCodec,
    BinanceVenue,
    Int,
    Levels,
    Price,
    ReaderFactory,
    StreamReader,
    combined_url,
    subscribe_message,
    unsubscribe_message,
)
from feeds.venues.fields import integer, levels, number, text

VENUE = "BINANCE_FUTURES"
MARKET = "Binance futures"  # in messages
PERP_SUFFIX = ":PERP"  # unified names of perpetuals: "BTC/USD:PERP", never merged with spot "BTC/USD"
OPEN_INTEREST_PERIOD_S = 10.0

NETWORKS = {
    "production": Network(("wss://fstream.binance.com",), "https://fapi.binance.com"),
    "testnet": Network(("wss://fstream.binancefuture.com",), "https://testnet.binancefuture.com"),
}
FUTURES_INTERVALS = tuple(i for i in INTERVALS if i != "1s")
CHANNELS = ("aggTrade", "kline", "bookTicker", "depth", "markPrice", "forceOrder")
_CHANNEL_SUFFIX = {
    "aggTrade": "@aggTrade", "bookTicker": "@bookTicker", "depth": "@depth@100ms",
    "markPrice": "@markPrice@1s", "forceOrder": "@forceOrder",
}


def streams_for(symbols: list[str], interval: str = "1m", channels: tuple[str, ...] = CHANNELS) -> list[str]:
    """Stream names for every symbol and channel; ValueError on an unknown channel or interval."""
    return binance.streams_for(symbols, interval, channels, suffixes=_CHANNEL_SUFFIX, intervals=FUTURES_INTERVALS,
                               market=MARKET)


def _symbol_query(symbol: str) -> str:
    return f"symbol={quote(symbol.upper(), safe='')}"


def depth_path(symbol: str, limit: int = 1000) -> str:
    return f"/fapi/v1/depth?{_symbol_query(symbol)}&limit={int(limit)}"


def klines_path(symbol: str, interval: str, start_ms: int | None = None, end_ms: int | None = None,
                limit: int = 1000) -> str:
    return binance.klines_path(symbol, interval, start_ms, end_ms, limit, api="/fapi/v1", intervals=FUTURES_INTERVALS,
                               market=MARKET)


def open_interest_path(symbol: str) -> str:
    return f"/fapi/v1/openInterest?{_symbol_query(symbol)}"


class PerpNames(UnifiedNames):
    """Venue symbol -> unified name with the perpetual's suffix: ``BTCUSDT`` -> ``BTC/USD:PERP``."""

    def __missing__(self, symbol: Any) -> str:
        unified: str = super().__missing__(symbol) + PERP_SUFFIX
        self[symbol] = unified
        return unified


_SIDES = {"BUY": "buy", "SELL": "sell"}


class _TimedBookTicker(Struct, gc=False):  # decoded lax, as spot's busiest payloads (binance.py says why)
    e: str
    T: Int
    u: Int
    s: str
    b: Price
    B: Price
    a: Price
    A: Price


class _ChainedDepth(Struct, gc=False):  # decoded lax, as spot's depth: msgspec builds the float level pairs
    e: str
    E: Int
    s: str
    U: Int
    u: Int
    pu: Int
    b: Levels
    a: Levels


class BinanceFuturesCodec(BinanceCodec):
    """Spot's codec plus what USD-M futures sends: ``pu``-chained depth, bookTicker with times, mark price
    and funding, liquidations, and open-interest REST answers."""

    def __init__(self, symbol_map: SymbolMap, venue: str = VENUE, default_symbol: str = "") -> None:
        super().__init__(symbol_map, venue=venue, default_symbol=default_symbol)
        self._unified = PerpNames(symbol_map, venue)
        # the spot handlers captured the spot name cache: build them again over this one
        self._by_event["aggTrade"] = self._trade_reader("a")
        self._by_event["trade"] = self._trade_reader("t")
        self._by_event["depthUpdate"] = self._chained_depth
        self._by_event["bookTicker"] = self._timed_book_ticker
        self._by_event["markPriceUpdate"] = self._mark_price
        self._by_event["forceOrder"] = self._force_order
        self._readers = self._typed_readers()  # over this name cache too

    def _typed_readers(self) -> dict[str, tuple[type, ReaderFactory]]:
        """Spot's typed readers for trades and klines; futures' own for bookTicker and depth (mark price and
        liquidations, a few a second, take the general path)."""
        readers = super()._typed_readers()
        venue = self.venue
        quote_dec = msgspec.json.Decoder(_TimedBookTicker, strict=False).decode
        depth_dec = msgspec.json.Decoder(_ChainedDepth, strict=False).decode

        def book_ticker(symbol: str, unified: str) -> StreamReader:
            def read(data: Raw, recv_ns: int) -> Any:
                m = quote_dec(data)
                t_ms, update_id = m.T, m.u
                if m.s != symbol or m.e != "bookTicker" or t_ms.__class__ is not int \
                        or update_id.__class__ is not int:
                    return None
                return Quote(venue, symbol, unified, t_ms * 1_000_000, recv_ns, m.b, m.B, m.a, m.A, update_id)
            return read

        def depth(symbol: str, unified: str) -> StreamReader:
            def read(data: Raw, recv_ns: int) -> Any:
                m = depth_dec(data)
                e_time, first, last, prev = m.E, m.U, m.u, m.pu
                if m.s != symbol or m.e != "depthUpdate" or e_time.__class__ is not int or first.__class__ is not int \
                        or last.__class__ is not int or prev.__class__ is not int:
                    return None
                return BookDelta(venue, symbol, unified, e_time * 1_000_000, recv_ns, m.b, m.a, first, last, prev)
            return read

        readers.update(bookTicker=(Quote, book_ticker), depth=(BookDelta, depth))
        return readers

    def _chained_depth(self, m: dict[str, Any], recv_ns: int) -> list[Any]:
        s = m["s"]
        return [BookDelta(self.venue, s, self._unified[s], integer(m["E"], "E") * 1_000_000, recv_ns,
                          levels(m["b"], "b"), levels(m["a"], "a"), integer(m["U"], "U"), integer(m["u"], "u"),
                          integer(m["pu"], "pu"))]

    def _timed_book_ticker(self, m: dict[str, Any], recv_ns: int) -> list[Any]:
        s = m["s"]
        return [Quote(self.venue, s, self._unified[s], integer(m["T"], "T") * 1_000_000, recv_ns,
                      number(m["b"], "b"), number(m["B"], "B"), number(m["a"], "a"), number(m["A"], "A"),
                      integer(m["u"], "u"))]

    def _mark_price(self, m: dict[str, Any], recv_ns: int) -> list[Any]:
        s = m["s"]
        rate = m["r"]
        return [MarkPrice(self.venue, s, self._unified[s], integer(m["E"], "E") * 1_000_000, recv_ns,
                          number(m["p"], "p"), number(m["i"], "i"), number(m["P"], "P"),
                          0.0 if rate == "" else number(rate, "r"), integer(m["T"], "T") * 1_000_000)]

    def _force_order(self, m: dict[str, Any], recv_ns: int) -> list[Any]:
        o = m["o"]
        if o.__class__ is not dict:
            raise ValueError("'o' must be an object")
        s = text(o["s"], "o.s")
        side = _SIDES.get(text(o["S"], "o.S"))
        if side is None:
            raise ValueError(f"'o.S' must be BUY or SELL, not {o['S']!r}")
        return [Liquidation(self.venue, s, self._unified[s], integer(o["T"], "o.T") * 1_000_000, recv_ns, side,
                            number(o["p"], "o.p"), number(o["q"], "o.q"), number(o["ap"], "o.ap"),
                            number(o["z"], "o.z"), text(o["X"], "o.X"))]

    def parse_open_interest(self, body: str | bytes, symbol: str, recv_ns: int) -> OpenInterest | Rejected:
        """A ``/fapi/v1/openInterest`` body -> OpenInterest, or a Rejected; never raises."""
        unified = self._unified[symbol]
        try:
            m = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            return reject(self.venue, "malformed_json", f"openInterest body is not valid JSON: {exc}", body,
                          recv_ns, symbol, unified)
        try:
            if m.__class__ is not dict:
                raise ValueError("openInterest body is not a JSON object")
            if "code" in m and "msg" in m:
                return reject(self.venue, "venue_error", f"venue error {m['code']}: {m['msg']}", body, recv_ns,
                              symbol, unified)
            if m["symbol"] != symbol:
                raise ValueError(f"answer is for {m['symbol']!r}, not {symbol!r}")
            return OpenInterest(self.venue, symbol, unified, integer(m["time"], "time") * 1_000_000, recv_ns,
                                number(m["openInterest"], "openInterest"))
        except KeyError as exc:
            return reject(self.venue, "missing_field", f"openInterest body lacks field {exc.args[0]!r}", body,
                          recv_ns, symbol, unified)
        except Exception as exc:  # noqa: BLE001 - bad input never raises
            return reject(self.venue, "bad_field", f"openInterest body has a bad field: {exc}", body, recv_ns,
                          symbol, unified)


@dataclass(frozen=True)
class BinanceFuturesVenue(BinanceVenue):
    """USD-M futures: spot's connection model, futures paths, a ``pu``-chained book, polled open interest."""

    def make_codec(self, symbols: SymbolMap) -> BinanceFuturesCodec:
        return BinanceFuturesCodec(symbols, venue=self.name)

    def venue_symbol(self, symbols: SymbolMap, text: str) -> str:
        """As spot, less a perpetual's suffix: ``BTC-USDT-PERP`` (cryptofeed), ``BTC/USD:PERP`` -> ``BTCUSDT``."""
        upper = text.upper()
        for suffix in ("-PERP", ":PERP", "/PERP"):
            if upper.endswith(suffix):
                text = text[: -len(suffix)]
                break
        return super().venue_symbol(symbols, text)

    def builds_candles(self, interval: str) -> bool:
        return interval not in self.intervals  # 1s: no such klines on futures, so bars come from trades

    def _streams(self, symbols: list[str], interval: str) -> list[str]:
        channels = self.channels if interval in self.intervals else tuple(c for c in self.channels if c != "kline")
        return streams_for(symbols, interval, channels)

    def connect_url(self, base: str, symbols: list[str], interval: str) -> str:
        return combined_url(base, self._streams(symbols, interval))

    def subscribe_live(self, symbols: list[str], interval: str, req_id: int) -> list[str]:
        return [subscribe_message(self._streams(symbols, interval), req_id)]

    def unsubscribe_live(self, symbols: list[str], interval: str, req_id: int) -> list[str]:
        return [unsubscribe_message(self._streams(symbols, interval), req_id)]

    def snapshot_request(self, symbol: str) -> RestRequest:
        return RestRequest("depth", depth_path(symbol, 1000), symbol.upper())

    def klines_request(self, symbol: str, interval: str, start_ms: int | None, end_ms: int | None,
                       limit: int) -> RestRequest:
        return RestRequest("klines", klines_path(symbol, interval, start_ms, end_ms, limit), symbol.upper(),
                           interval)

    def listing_request(self, symbol: str) -> RestRequest:
        # futures exchangeInfo takes no symbol; the open-interest call answers 400 for an unknown one [O]
        return RestRequest("listing", open_interest_path(symbol), symbol.upper())

    def poll_requests(self, symbol: str) -> list[RestRequest]:
        return [RestRequest("open_interest", open_interest_path(symbol), symbol.upper())]

    def request_for_url(self, url: str) -> RestRequest | None:
        request = super().request_for_url(url)
        if request is None and "/openInterest" in url and "symbol=" in url:
            symbol = url.partition("symbol=")[2].partition("&")[0].upper()
            return RestRequest("open_interest", "", symbol)
        return request

    def rest_events(self, codec: Codec, request: RestRequest, body: str | bytes, recv_ns: int) -> list[Any]:
        if request.what == "open_interest" and isinstance(codec, BinanceFuturesCodec):
            return [codec.parse_open_interest(body, request.symbol, recv_ns)]
        return super().rest_events(codec, request, body, recv_ns)


BINANCE_FUTURES = BinanceFuturesVenue(
    name=VENUE, short="BFU", networks=NETWORKS, channels=CHANNELS, taker_fee_bps=5.0, maker_fee_bps=2.0,
    book_kind=BOOK_FROM_REST_SNAPSHOT, book_chain=CHAIN_PREV_ID, poll_period_s=OPEN_INTEREST_PERIOD_S,
    intervals=FUTURES_INTERVALS, subscribed_on_open=True, perpetual=True)
