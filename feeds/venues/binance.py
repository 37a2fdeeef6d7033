"""Binance spot market data, pure: endpoints, stream names, URLs, requests, and frames -> events.

Nothing here does I/O. ``BinanceCodec.decode`` turns one WebSocket frame (raw or combined-stream
form) into a list of events from ``feeds.events``; any frame it cannot accept becomes a ``Rejected``
with a short reason key, never an exception. The REST helpers parse kline and depth bodies the same way.
Payload shapes: protocols.md section 1.
"""
from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import msgspec
import orjson
from msgspec import Raw, Struct

from feeds.events import BookDelta, BookSnapshot, Candle, Control, Event, Quote, Rejected, Ticker, Trade, reject
from feeds.intervals import INTERVALS
from feeds.symbols import MAX_CACHED_NAMES, SymbolMap, UnifiedNames
from feeds.venues.base import BOOK_FROM_REST_SNAPSHOT, Codec, Network, RestRequest, Venue
from feeds.venues.fields import flag, integer, levels, number, text

VENUE = "BINANCE"

NETWORKS = {
    # Production market data defaults to the market-data-only host (first entry).
    "production": Network(("wss://data-stream.binance.vision", "wss://stream.binance.com:9443",
                           "wss://stream.binance.com:443"), "https://data-api.binance.vision"),
    "testnet": Network(("wss://stream.testnet.binance.vision",), "https://testnet.binance.vision"),
    "us": Network(("wss://stream.binance.us:9443",), "https://api.binance.us"),  # binance.us
    "tr": Network(("wss://stream-cloud.trbinance.com",), "https://api.binance.me"),  # Binance TR
}
ENDPOINTS = {net: list(n.ws) for net, n in NETWORKS.items()}
REST_BASES = {net: n.rest for net, n in NETWORKS.items()}

DEFAULT_CHANNELS = ("aggTrade", "kline", "bookTicker", "ticker")
_CHANNEL_SUFFIX = {
    "aggTrade": "@aggTrade", "trade": "@trade", "bookTicker": "@bookTicker", "ticker": "@ticker",
    "miniTicker": "@miniTicker", "depth": "@depth@100ms", "depth5": "@depth5@100ms",
    "depth10": "@depth10@100ms", "depth20": "@depth20@100ms",
}


# --- stream names, URLs, requests -----------------------------------------------------------

def streams_for(symbols: Iterable[str], interval: str = "1m", channels: Iterable[str] = DEFAULT_CHANNELS, *,
                suffixes: Mapping[str, str] = _CHANNEL_SUFFIX, intervals: Collection[str] = INTERVALS,
                market: str = "Binance") -> list[str]:
    """Stream names for every symbol and channel: ``["btcusdt@aggTrade", "btcusdt@kline_1m", ...]``.

    Channels: aggTrade, trade, kline, bookTicker, ticker, miniTicker, depth (diff, 100 ms),
    depth5/depth10/depth20 (partial, 100 ms). Raises ValueError on an unknown channel or interval.
    (``suffixes``, ``intervals`` and ``market``: another Binance market's, e.g. USD-M futures.)
    """
    if "kline" in channels and interval not in intervals:
        raise ValueError(f"unknown {market} interval {interval!r}")
    out = []
    for channel in channels:
        if channel == "kline":
            out.append(f"@kline_{interval}")
        elif channel in suffixes:
            out.append(suffixes[channel])
        else:
            raise ValueError(f"unknown {market} channel {channel!r}")
    return [symbol.lower() + suffix for symbol in symbols for suffix in out]


def _time_unit_query(time_unit: str) -> str:
    return "timeUnit=MICROSECOND" if time_unit == "us" else ""


def raw_url(base: str, stream: str, time_unit: str = "ms") -> str:
    """``wss://host/ws/<stream>``: frames arrive as bare payloads."""
    url = f"{base.rstrip('/')}/ws/{stream}"
    query = _time_unit_query(time_unit)
    return f"{url}?{query}" if query else url


def combined_url(base: str, streams: Iterable[str], time_unit: str = "ms") -> str:
    """``wss://host/stream?streams=a/b/c``: frames arrive wrapped as ``{"stream":..,"data":..}``."""
    url = f"{base.rstrip('/')}/stream?streams={'/'.join(streams)}"
    query = _time_unit_query(time_unit)
    return f"{url}&{query}" if query else url


def rest_base_for(ws_base: str) -> str:
    """The REST base for a WebSocket base (see ``BinanceVenue.rest_base_for``)."""
    return BINANCE.rest_base_for(ws_base)


def _request(method: str, req_id: int, params: Iterable[str] | None = None) -> str:
    msg: dict[str, Any] = {"method": method, "params": list(params), "id": req_id} if params is not None \
        else {"method": method, "id": req_id}
    return orjson.dumps(msg).decode()


def subscribe_message(streams: Iterable[str], req_id: int) -> str:
    return _request("SUBSCRIBE", req_id, streams)


def unsubscribe_message(streams: Iterable[str], req_id: int) -> str:
    return _request("UNSUBSCRIBE", req_id, streams)


def list_subscriptions_message(req_id: int) -> str:
    return _request("LIST_SUBSCRIPTIONS", req_id)


def klines_path(symbol: str, interval: str, start_ms: int | None = None, end_ms: int | None = None,
                limit: int = 1000, *, api: str = "/api/v3", intervals: Collection[str] = INTERVALS,
                market: str = "Binance") -> str:
    """``/api/v3/klines?symbol=BTCUSDT&interval=1m[&startTime=..][&endTime=..]&limit=1000``."""
    if interval not in intervals:
        raise ValueError(f"unknown {market} interval {interval!r}")
    path = f"{api}/klines?symbol={quote(symbol.upper(), safe='')}&interval={interval}"
    if start_ms is not None:
        path += f"&startTime={int(start_ms)}"
    if end_ms is not None:
        path += f"&endTime={int(end_ms)}"
    return f"{path}&limit={int(limit)}"


def depth_path(symbol: str, limit: int = 1000) -> str:
    """``/api/v3/depth?symbol=BTCUSDT&limit=1000``."""
    return f"/api/v3/depth?symbol={quote(symbol.upper(), safe='')}&limit={int(limit)}"


# --- frame decoding --------------------------------------------------------------------------

_loads = msgspec.json.decode  # untyped: the general path (replies, arrays, raw streams, bad frames)
# Not JSON, or not text at all (msgspec raises TypeError for None or an int where orjson raised its own).
_JSONDecodeError = (msgspec.DecodeError, TypeError)
_TIME_MULT = {"ms": 1_000_000, "us": 1_000}
_Handler = Callable[[dict[str, Any], int], list[Event]]


# --- typed payloads: what the decoder guarantees, the handlers no longer check -------------------
# Prices and sizes are decimal text; a JSON number is taken too, a bool never (fields.number's rule).
# Integers are strict: a time or id sent as text is a bad field, as before.
# Every payload is decoded lax (``strict=False``) so that msgspec turns decimal text into a float
# itself: float() on text costs more than the whole parse. Lax decoding would also read "5" or 5.0 as the
# integer 5 and 1 as true, so ids, times and flags are declared as unions that keep such a value as it
# came; the handler takes the frame only when they are exactly int / bool, and any other goes to the
# general path, which names the bad field as before.
Price = float  # decimal text or a JSON number, parsed by msgspec (lax); a bool or other text fails the decode
Int = int | float | str  # an int, or a value the handler refuses
Flag = bool | int | str  # a bool, or a value the handler refuses


class _Combined(Struct):
    """The combined-stream wrapper; the payload stays undecoded until its stream says what it is."""

    stream: str = ""
    data: Raw = Raw(b"")


class _AggTrade(Struct, gc=False):
    e: str
    E: Int
    s: str
    a: Int
    p: Price
    q: Price
    T: Int
    m: Flag


class _RawTrade(Struct, rename={"a": "t"}, gc=False):
    """A raw trade: an aggregate trade's fields, its id sent as ``t`` and read as ``a`` (one reader serves both)."""
    e: str
    E: Int
    s: str
    a: Int
    p: Price
    q: Price
    T: Int
    m: Flag


class _Bar(Struct, gc=False):
    t: Int
    i: str
    o: Price
    h: Price
    l: Price  # noqa: E741 - Binance's name for the low
    c: Price
    v: Price
    n: Int
    x: Flag


class _Kline(Struct, gc=False):
    e: str
    E: Int
    s: str
    k: _Bar


class _BookTicker(Struct, gc=False):
    u: Int
    s: str
    b: Price
    B: Price
    a: Price
    A: Price
    e: str = ""  # spot's bookTicker has none; one that has it is not this shape


# Decoded lax too: msgspec builds the levels' float pairs itself (float() per text was most of a depth frame).
Levels = tuple[tuple[Price, Price], ...]


class _DepthUpdate(Struct, gc=False):
    e: str
    E: Int
    s: str
    U: Int
    u: Int
    b: Levels
    a: Levels


# One stream's reader: its payload -> its event, or None when the payload is not that shape or names
# another symbol than the stream's (the general path takes it then, and says what is wrong).
StreamReader = Callable[[Raw, int], Event | None]
ReaderFactory = Callable[[str, str], StreamReader]  # (venue symbol, unified name) -> that stream's reader
StreamRoute = tuple[type, str, str, str, StreamReader]  # event type, venue, venue symbol, unified name, reader
_TYPED_STREAMS_MAX = MAX_CACHED_NAMES
_combined = msgspec.json.Decoder(_Combined).decode


def _stream_kind(stream: str) -> str:
    """``btcusdt@kline_1m`` -> ``kline``; ``btcusdt@depth@100ms`` -> ``depth``; ``btcusdt@aggTrade`` -> ``aggTrade``."""
    kind = stream.partition("@")[2].partition("@")[0]
    return "kline" if kind.startswith("kline_") else kind


def typed_decode_only() -> Callable[[str | bytes], object]:
    """Decode a combined-stream frame into its typed payload and build nothing else (the bench's floor)."""
    decoders: dict[str, Callable[[Raw], object]] = {
        kind: msgspec.json.Decoder(struct, strict=False).decode
        for kind, struct in (("aggTrade", _AggTrade), ("trade", _RawTrade), ("kline", _Kline),
                             ("bookTicker", _BookTicker), ("depth", _DepthUpdate))}
    by_stream: dict[str, Callable[[Raw], object]] = {}

    def decode(raw: str | bytes) -> object:
        env = _combined(raw)
        dec = by_stream.get(env.stream)
        if dec is None:
            dec = by_stream[env.stream] = decoders[_stream_kind(env.stream)]
        return dec(env.data)

    return decode


class BinanceCodec:
    """Decodes Binance spot WebSocket frames into events; keeps only a symbol cache as state.

    ``time_unit="us"`` when the URL asked for ``timeUnit=MICROSECOND``. ``default_symbol`` names the
    symbol of partial-depth frames on a raw (non-combined) connection, whose payload has none.
    """

    def __init__(self, symbol_map: SymbolMap, venue: str = VENUE, default_symbol: str = "",
                 time_unit: str = "ms") -> None:
        if time_unit not in _TIME_MULT:
            raise ValueError(f"time_unit must be 'ms' or 'us', not {time_unit!r}")
        self.symbol_map = symbol_map
        self.venue = venue
        self.default_symbol = default_symbol.upper()
        self._mult = _TIME_MULT[time_unit]
        self._unified = UnifiedNames(symbol_map, venue)
        self._stream_symbol: dict[object, str] = {}  # keyed by the frame's "stream" value, checked on a miss
        self._by_event: dict[object, _Handler] = {
            "aggTrade": self._trade_reader("a"),
            "trade": self._trade_reader("t"),
            "kline": self._kline,
            "24hrTicker": self._ticker,
            "24hrMiniTicker": self._ticker,
            "depthUpdate": self._depth_update,
            "serverShutdown": self._server_shutdown,
        }
        self._readers = self._typed_readers()
        self._typed: dict[str, StreamReader | None] = {}  # stream name -> its typed reader (None: none)

    envelope = staticmethod(_combined)  # a combined-stream frame -> its stream name and its undecoded payload

    def _typed_readers(self) -> dict[str, tuple[type, ReaderFactory]]:
        """Stream kind -> (event type, factory of one stream's reader: a typed decoder straight into the event)."""
        venue, mult = self.venue, self._mult
        trade_dec = msgspec.json.Decoder(_AggTrade, strict=False).decode
        raw_trade_dec = msgspec.json.Decoder(_RawTrade, strict=False).decode
        kline_dec = msgspec.json.Decoder(_Kline, strict=False).decode
        quote_dec = msgspec.json.Decoder(_BookTicker, strict=False).decode
        depth_dec = msgspec.json.Decoder(_DepthUpdate, strict=False).decode

        def trade_reader(decode: Callable[[Raw], _AggTrade | _RawTrade], kind: str) -> Callable[[str, str], StreamReader]:
            def bind(symbol: str, unified: str) -> StreamReader:
                def read(data: Raw, recv_ns: int) -> Event | None:
                    m = decode(data)
                    e_time, trade_id, maker = m.E, m.a, m.m
                    if m.s != symbol or m.e != kind or e_time.__class__ is not int \
                            or trade_id.__class__ is not int or m.T.__class__ is not int or maker.__class__ is not bool:
                        return None
                    return Trade(venue, symbol, unified, e_time * mult, recv_ns, m.p, m.q,
                                 "sell" if maker else "buy", trade_id)  # m: the buyer was the maker: the aggressor sold
                return read
            return bind

        agg_trade, raw_trade = trade_reader(trade_dec, "aggTrade"), trade_reader(raw_trade_dec, "trade")

        def kline(symbol: str, unified: str) -> StreamReader:
            def read(data: Raw, recv_ns: int) -> Event | None:
                m = kline_dec(data)
                k = m.k
                e_time, open_ms, closed = m.E, k.t, k.x
                if m.s != symbol or m.e != "kline" or e_time.__class__ is not int or open_ms.__class__ is not int \
                        or k.n.__class__ is not int or closed.__class__ is not bool:
                    return None
                return Candle(venue, symbol, unified, e_time * mult, recv_ns, k.i, open_ms * mult, k.o,
                                     k.h, k.l, k.c, k.v, k.n, closed, "live")
            return read

        def book_ticker(symbol: str, unified: str) -> StreamReader:
            def read(data: Raw, recv_ns: int) -> Event | None:
                m = quote_dec(data)
                update_id = m.u
                if m.s != symbol or m.e or update_id.__class__ is not int:
                    return None
                return Quote(venue, symbol, unified, 0, recv_ns, m.b, m.B, m.a, m.A, update_id)
            return read

        def depth(symbol: str, unified: str) -> StreamReader:
            def read(data: Raw, recv_ns: int) -> Event | None:
                m = depth_dec(data)
                e_time, first, last = m.E, m.U, m.u
                if m.s != symbol or m.e != "depthUpdate" or e_time.__class__ is not int \
                        or first.__class__ is not int or last.__class__ is not int:
                    return None
                return BookDelta(venue, symbol, unified, e_time * mult, recv_ns, m.b, m.a, first, last, -1)
            return read

        return {"aggTrade": (Trade, agg_trade), "trade": (Trade, raw_trade), "kline": (Candle, kline),
                "bookTicker": (Quote, book_ticker), "depth": (BookDelta, depth)}

    def stream_reader(self, stream: str) -> StreamRoute | None:
        """The typed reader of one combined stream (``btcusdt@aggTrade``), bound to the symbol its name gives;
        None for a kind without one. Built once per stream by whoever caches it (this codec, the pipeline)."""
        entry = self._readers.get(_stream_kind(stream))
        if entry is None:
            return None
        event_type, factory = entry
        symbol = stream.partition("@")[0].upper()
        unified = self._unified[symbol]
        return event_type, self.venue, symbol, unified, factory(symbol, unified)

    def _typed_for(self, stream: str) -> StreamReader | None:
        """The typed reader for a stream name, cached per name (bounded: names come from the network)."""
        if len(self._typed) >= _TYPED_STREAMS_MAX:
            self._typed.clear()
        route = self.stream_reader(stream)
        reader = self._typed[stream] = None if route is None else route[4]
        return reader

    # The hot path: the wrapper decoded with the payload left raw, one dict lookup on the stream name,
    # the payload decoded by its kind's typed decoder straight into the event.
    def decode(self, raw: str | bytes, recv_ns: int) -> list[Event]:
        try:
            env = _combined(raw)
            stream = env.stream
            if stream:
                handler = self._typed.get(stream)
                if handler is None and stream not in self._typed:
                    handler = self._typed_for(stream)
                if handler is not None:
                    ev = handler(env.data, recv_ns)
                    if ev is not None:
                        return [ev]
        except Exception:  # noqa: BLE001, S110 - not a well-formed frame of its stream's kind (bad JSON, a
            pass  # wrong type, text that is no number): the general path parses it again and says what is wrong
        return self._decode_general(raw, recv_ns)

    def _decode_general(self, raw: str | bytes, recv_ns: int) -> list[Event]:
        """Any frame, parsed untyped: replies, errors, arrays, raw-stream payloads, and every bad frame,
        whose rejection names its reason and field."""
        try:
            msg = _loads(raw)
        except _JSONDecodeError as exc:
            if not isinstance(raw, (str, bytes, bytearray, memoryview)):
                raw = repr(raw)
            return [reject(self.venue, "malformed_json", f"frame is not valid JSON: {exc}", raw, recv_ns)]
        outer = msg
        try:
            if msg.__class__ is dict:
                data = msg.get("data")
                if data is not None:  # combined stream: {"stream": name, "data": payload}
                    msg = data
                if msg.__class__ is dict:
                    handler = self._by_event.get(msg.get("e"))
                    if handler is not None:
                        return handler(msg, recv_ns)
                    return self._without_known_event(msg, raw, recv_ns, outer)
            if msg.__class__ is list:
                return self._array(msg, raw, recv_ns)
            return [reject(self.venue, "unknown_event", "frame is not a JSON object or array", raw, recv_ns)]
        except Exception as exc:  # noqa: BLE001 - bad input never raises
            return [self._failed(exc, msg, raw, recv_ns)]

    def _trade_reader(self, id_key: str) -> _Handler:
        """The handler for ``trade`` (id in ``t``) or ``aggTrade`` (id in ``a``): one call per frame."""
        venue, mult, names = self.venue, self._mult, self._unified

        def read_trade(m: dict[str, Any], recv_ns: int) -> list[Event]:
            s = m["s"]
            u = names[s]
            e_time = m["E"]
            trade_id = m[id_key]
            maker = m["m"]
            # Class checks instead of int(): cheaper, and a string time must never reach the multiply.
            trade_ms = m["T"]
            if e_time.__class__ is not int or trade_id.__class__ is not int or trade_ms.__class__ is not int:
                integer(e_time, "E"), integer(trade_id, id_key), integer(trade_ms, "T")  # raises, naming the field
            if maker is True:  # the buyer was the maker, so the aggressor sold
                side = "sell"
            elif maker is False:
                side = "buy"
            else:
                raise ValueError(f"'m' must be a boolean, not {type(maker).__name__}")
            return [Trade(venue, s, u, e_time * mult, recv_ns, number(m["p"], "p"), number(m["q"], "q"),
                                 side, trade_id)]

        return read_trade

    def _kline(self, m: dict[str, Any], recv_ns: int) -> list[Event]:
        s = m["s"]
        u = self._unified[s]
        k = m["k"]
        mult = self._mult
        return [Candle(self.venue, s, u, integer(m["E"], "E") * mult, recv_ns, text(k["i"], "k.i"),
                              integer(k["t"], "k.t") * mult, number(k["o"], "k.o"), number(k["h"], "k.h"),
                              number(k["l"], "k.l"), number(k["c"], "k.c"), number(k["v"], "k.v"),
                              integer(k["n"], "k.n"), flag(k["x"], "k.x"), "live")]

    def _ticker(self, m: dict[str, Any], recv_ns: int) -> list[Event]:
        s = m["s"]
        u = self._unified[s]
        return [Ticker(self.venue, s, u, integer(m["E"], "E") * self._mult, recv_ns, number(m["c"], "c"),
                              number(m["o"], "o"), number(m["h"], "h"), number(m["l"], "l"),
                              number(m["v"], "v"), number(m["q"], "q"))]

    def _depth_update(self, m: dict[str, Any], recv_ns: int) -> list[Event]:
        s = m["s"]
        u = self._unified[s]
        return [BookDelta(self.venue, s, u, integer(m["E"], "E") * self._mult, recv_ns,
                                 levels(m["b"], "b"), levels(m["a"], "a"), integer(m["U"], "U"),
                                 integer(m["u"], "u"), -1)]

    def _server_shutdown(self, m: dict[str, Any], recv_ns: int) -> list[Event]:
        return [Control(self.venue, "", "", integer(m["E"], "E") * self._mult, recv_ns, "shutdown",
                        "server announced a shutdown")]

    def _book_ticker(self, m: dict[str, Any], recv_ns: int) -> list[Event]:
        s = m["s"]
        u = self._unified[s]
        return [Quote(self.venue, s, u, 0, recv_ns, number(m["b"], "b"), number(m["B"], "B"),
                             number(m["a"], "a"), number(m["A"], "A"), integer(m["u"], "u"))]

    def _partial_depth(self, m: dict[str, Any], raw: str | bytes, recv_ns: int, stream: object) -> list[Event]:
        if stream is not None:
            s = self._stream_symbol.get(stream)
            if s is None:
                if len(self._stream_symbol) >= MAX_CACHED_NAMES:
                    self._stream_symbol.clear()  # made-up stream names must not grow memory
                s = self._stream_symbol[stream] = text(stream, "stream").partition("@")[0].upper()
        else:
            s = self.default_symbol
        if not s:
            return [reject(self.venue, "missing_field",
                           "partial depth frame names no symbol (raw stream and no default_symbol)",
                           raw, recv_ns)]
        u = self._unified[s]
        return [BookSnapshot(self.venue, s, u, 0, recv_ns, levels(m["bids"], "bids"), levels(m["asks"], "asks"),
                             integer(m["lastUpdateId"], "lastUpdateId"))]

    def _without_known_event(self, m: dict[str, Any], raw: str | bytes, recv_ns: int,
                             outer: dict[str, Any]) -> list[Event]:
        """Payloads with no ``e`` (bookTicker, partial depth, replies, errors) or an unknown one."""
        if "u" in m and "s" in m and "e" not in m:  # bookTicker, the busiest of these
            return self._book_ticker(m, recv_ns)
        e = m.get("e")
        if e is not None:
            return [reject(self.venue, "unknown_event", f"unknown event type {e!r}", raw, recv_ns)]
        if "stream" in m:  # a combined-stream wrapper whose "data" is missing or null
            return [reject(self.venue, "missing_field", "combined frame lacks field 'data'", raw, recv_ns)]
        if "lastUpdateId" in m:
            return self._partial_depth(m, raw, recv_ns, outer.get("stream") if outer is not m else None)
        venue = self.venue
        if "result" in m:
            return [Control(venue, "", "", 0, recv_ns, "response", "", (m.get("id"), m["result"]))]
        if "error" in m:
            err = m["error"]
            return [Control(venue, "", "", 0, recv_ns, "error", str(err.get("msg", "")),
                            (m.get("id"), err["code"]))]
        if "code" in m:
            return [Control(venue, "", "", 0, recv_ns, "error", str(m.get("msg", "")),
                            (m.get("id"), m["code"]))]
        return [reject(venue, "unknown_event", "object with no event type and no known shape", raw, recv_ns)]

    def _array(self, items: list[Any], raw: str | bytes, recv_ns: int) -> list[Event]:
        """An array of payloads (``!miniTicker@arr``): each element decoded on its own."""
        out: list[Event] = []
        for item in items:
            try:
                if item.__class__ is not dict:
                    raise ValueError("array element is not an object")
                handler = self._by_event.get(item.get("e"))
                if handler is None:
                    out.append(reject(self.venue, "unknown_event",
                                      f"unknown event type {item.get('e')!r} in array", raw, recv_ns))
                else:
                    out.extend(handler(item, recv_ns))
            except Exception as exc:  # noqa: BLE001
                out.append(self._failed(exc, item, raw, recv_ns))
        return out

    def _failed(self, exc: Exception, msg: object, raw: str | bytes, recv_ns: int) -> Rejected:
        """The Rejected for an exception raised while reading a parsed frame."""
        what = "frame"
        symbol = unified = ""
        if msg.__class__ is dict:
            e = msg.get("e")
            if e.__class__ is str:
                what = f"{e} frame"
            s = msg.get("s")
            if s.__class__ is str:
                symbol, unified = s, self._unified.get(s, "")
        if exc.__class__ is KeyError:
            return reject(self.venue, "missing_field", f"{what} lacks field {exc.args[0]!r}", raw,
                          recv_ns, symbol, unified)
        return reject(self.venue, "bad_field", f"{what} has a bad field: {exc.__class__.__name__}: {exc}",
                      raw, recv_ns, symbol, unified)

    # --- REST bodies, with this codec's venue and symbol cache ---

    def parse_klines(self, body: bytes | str, symbol: str, interval: str, recv_ns: int,
                     server_now_ms: int) -> tuple[list[Candle], list[Rejected]]:
        return parse_klines(body, symbol, interval, recv_ns, server_now_ms, venue=self.venue,
                            unified=self._unified[symbol])

    def parse_depth_snapshot(self, body: bytes | str, symbol: str, recv_ns: int) -> BookSnapshot | Rejected:
        return parse_depth_snapshot(body, symbol, recv_ns, venue=self.venue, unified=self._unified[symbol])


# --- REST bodies -----------------------------------------------------------------------------

_DEFAULT_SYMBOLS = SymbolMap()


def _rest_error(m: object, venue: str, body: bytes | str, recv_ns: int, symbol: str,
                unified: str) -> Rejected | None:
    """A Binance REST error body ``{"code":-1121,"msg":"Invalid symbol."}`` as a Rejected."""
    if m.__class__ is dict and "code" in m and "msg" in m:
        return reject(venue, "venue_error", f"venue error {m['code']}: {m['msg']}", body, recv_ns,
                      symbol, unified)
    return None


def parse_klines(body: bytes | str, symbol: str, interval: str, recv_ns: int, server_now_ms: int,
                 venue: str = VENUE, unified: str = "") -> tuple[list[Candle], list[Rejected]]:
    """A ``/api/v3/klines`` body -> (candles oldest first, rejected rows); never raises.

    Rows are ``[open_ms, o, h, l, c, volume, close_ms, quote_vol, trades, ...]``. A row is closed
    only when its close time is before the server's now; ``exch_ns`` is the bar's close time.
    """
    unified = unified or _DEFAULT_SYMBOLS.unified(venue, symbol)
    try:
        rows = _loads(body)
    except _JSONDecodeError as exc:
        return [], [reject(venue, "malformed_json", f"klines body is not valid JSON: {exc}", body,
                           recv_ns, symbol, unified)]
    if rows.__class__ is not list:
        err = _rest_error(rows, venue, body, recv_ns, symbol, unified)
        return [], [err or reject(venue, "bad_field", "klines body is not a JSON array", body, recv_ns,
                                  symbol, unified)]
    candles: list[Candle] = []
    rejected: list[Rejected] = []
    for row in rows:
        try:
            if row.__class__ is not list or len(row) < 9:
                raise ValueError("kline row is not an array of at least 9 elements")
            close_ms = integer(row[6], "close time")
            candles.append(Candle(venue, symbol, unified, close_ms * 1_000_000, recv_ns, interval,
                                  integer(row[0], "open time") * 1_000_000, number(row[1], "open"),
                                  number(row[2], "high"), number(row[3], "low"), number(row[4], "close"),
                                  number(row[5], "volume"), integer(row[8], "trades"),
                                  close_ms < server_now_ms, "backfill"))
        except Exception as exc:  # noqa: BLE001
            rejected.append(reject(venue, "bad_field", f"bad kline row: {exc}", orjson.dumps(row),
                                   recv_ns, symbol, unified))
    return candles, rejected


def parse_depth_snapshot(body: bytes | str, symbol: str, recv_ns: int, venue: str = VENUE,
                         unified: str = "") -> BookSnapshot | Rejected:
    """A ``/api/v3/depth`` body -> BookSnapshot (update_id = lastUpdateId, exch_ns 0), or a Rejected."""
    unified = unified or _DEFAULT_SYMBOLS.unified(venue, symbol)
    try:
        m = _loads(body)
    except _JSONDecodeError as exc:
        return reject(venue, "malformed_json", f"depth body is not valid JSON: {exc}", body, recv_ns,
                      symbol, unified)
    err = _rest_error(m, venue, body, recv_ns, symbol, unified)
    if err is not None:
        return err
    try:
        if m.__class__ is not dict:
            raise ValueError("depth body is not a JSON object")
        return BookSnapshot(venue, symbol, unified, 0, recv_ns, levels(m["bids"], "bids"),
                            levels(m["asks"], "asks"), integer(m["lastUpdateId"], "lastUpdateId"))
    except KeyError as exc:
        return reject(venue, "missing_field", f"depth body lacks field {exc.args[0]!r}", body, recv_ns,
                      symbol, unified)
    except Exception as exc:  # noqa: BLE001
        return reject(venue, "bad_field", f"depth body has a bad field: {exc}", body, recv_ns,
                      symbol, unified)


# --- the declaration ---------------------------------------------------------------------------

CHANNELS = ("aggTrade", "kline", "bookTicker", "ticker", "depth")  # what a connection subscribes to
_STREAM_PATHS = ("/stream", "/ws")


@dataclass(frozen=True)
class BinanceVenue(Venue):
    """Binance spot: streams named in the URL, a REST depth snapshot anchoring the diff-depth stream."""

    def make_codec(self, symbols: SymbolMap) -> BinanceCodec:
        return BinanceCodec(symbols, venue=self.name)

    def connect_url(self, base: str, symbols: list[str], interval: str) -> str:
        return combined_url(base, streams_for(symbols, interval, self.channels))

    def subscribe_live(self, symbols: list[str], interval: str, req_id: int) -> list[str]:
        return [subscribe_message(streams_for(symbols, interval, self.channels), req_id)]

    def unsubscribe_live(self, symbols: list[str], interval: str, req_id: int) -> list[str]:
        return [unsubscribe_message(streams_for(symbols, interval, self.channels), req_id)]

    def rest_base_for(self, ws_base: str) -> str:
        base = ws_base.rstrip("/")
        for path in _STREAM_PATHS:  # a base given with its stream path: the REST API is not below it
            if base.endswith(path):
                base = base[: -len(path)]
        return super().rest_base_for(base)

    def snapshot_request(self, symbol: str) -> RestRequest:
        return RestRequest("depth", depth_path(symbol, 1000), symbol.upper())

    def klines_request(self, symbol: str, interval: str, start_ms: int | None, end_ms: int | None,
                       limit: int) -> RestRequest:
        return RestRequest("klines", klines_path(symbol, interval, start_ms, end_ms, limit), symbol.upper(), interval)

    def listing_request(self, symbol: str) -> RestRequest:
        return RestRequest("listing", f"/api/v3/exchangeInfo?symbol={quote(symbol.upper(), safe='')}", symbol.upper())

    def request_for_url(self, url: str) -> RestRequest | None:
        parts = urlsplit(url)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        symbol = query.get("symbol", "").upper()
        what = parts.path.rpartition("/")[2]
        if symbol and what in ("depth", "klines"):
            return RestRequest(what, "", symbol, query.get("interval", ""))
        return None

    def rest_events(self, codec: Codec, request: RestRequest, body: str | bytes, recv_ns: int) -> list[Event]:
        if not isinstance(codec, BinanceCodec):
            return []
        if request.what == "depth":
            return [codec.parse_depth_snapshot(body, request.symbol, recv_ns)]
        if request.what == "klines":
            candles, rejected = codec.parse_klines(body, request.symbol, request.interval, recv_ns,
                                                   recv_ns // 1_000_000)
            return [*candles, *rejected]
        return []


BINANCE = BinanceVenue(name=VENUE, short="BIN", networks=NETWORKS, channels=CHANNELS, taker_fee_bps=10.0,
                       book_kind=BOOK_FROM_REST_SNAPSHOT, intervals=tuple(INTERVALS), subscribed_on_open=True)
