"""Coinbase Exchange level 3: the ``full`` channel and the REST level-3 book, pure (no I/O).

Facts, from Coinbase's own pages (docs.cdp.coinbase.com/exchange/websocket-feed/channels, "Full Channel";
.../exchange-api/rest-api/products/get-product-book); [O] marks what only client libraries show:

- ``full`` needs authentication on the real feed (``signature``, ``key``, ``passphrase``, ``timestamp`` in the
  subscribe message; protocols.md 2.2). It is subscribed like any channel on ``ws-feed``.
- Keeping a level-3 book, as the page lists it: subscribe to ``full``; queue the messages; GET the book
  snapshot over REST; play the queue back, discarding messages whose ``sequence`` is at or below the
  snapshot's ``sequence``; then apply messages as they come. ``sequence`` counts a product's messages, so
  after the snapshot each message has the previous one's plus 1; a jump means messages were lost (protocols.md
  2.5) and the book is rebuilt from a new snapshot.
- ``open`` and ``match`` messages always change the book. ``done`` and ``change`` messages are also sent for
  orders that were received but never rested: those are not on the book and must not alter it.
- ``received``: the matching engine accepted an order (``order_id``, ``side``, ``order_type`` ``limit`` with
  ``size``/``price`` or ``market`` with ``size`` and/or ``funds``). It does not put anything on the book.
- ``open``: the order now rests on the book with ``remaining_size`` at ``price`` on ``side``.
- ``done``: the order left the book (``reason`` ``filled`` or ``canceled``); ``remaining_size`` is what went
  unfilled (``0`` when filled). Market orders have no ``price`` or ``remaining_size``. No message follows a
  ``done`` for that ``order_id``.
- ``match``: a trade between a resting ``maker_order_id`` and an incoming ``taker_order_id`` of ``size`` at
  ``price``, with ``trade_id``. ``side`` is the maker's side: ``sell`` is an up-tick (the taker bought).
- ``change``: an order's size (Self-trade Prevention, ``reason`` ``STP``: ``old_size``/``new_size`` at
  ``price``) or size and price (``reason`` ``modify_order``: ``new_price``/``old_price`` as well). STP changes of
  market orders carry ``new_funds`` and a null ``price``. Changes of orders not on the book are ignored.
- ``activate``: a stop order was placed. The page's example has no ``sequence`` and a ``timestamp`` (epoch
  seconds as text) instead of ``time``; it never touches the book until the order is ``received``.
- REST ``GET /products/<id>/book?level=3``: the whole book, not aggregated, with the ``sequence`` it is at.
  Each row is ``[price, size, order_id]`` [O: coinbase-api ``FullBook``; the docs name the level only].
  Coinbase asks clients not to poll level 3: it is fetched once per (re)sync only.

The codec turns each ``full`` message into one ``Level3Update`` (a ``match`` also into a ``Trade``; an
``activate`` without a sequence into nothing); other ``ws-feed`` messages (ticker, heartbeat, ...) go to the
ordinary ``CoinbaseCodec``. A missing or mistyped field is one counted ``Rejected`` (``missing_field`` or
``bad_field``, with the field's name), never an exception. The sync rule lives in feeds/core/book_sync.py
(``Level3BookSync``), the order book in feeds/core/book_l3.py; when the COINBASE venue (level2_batch) runs too,
its book of the same product is checked against this one (feeds/core/book_check.py). The client sends no
auth fields (clearterm keeps no credentials, and sent frames are recorded), so the real feed refuses ``full``
with its auth error; the simulator serves it.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from feeds.events import Event, Level3Snapshot, Level3Update, Rejected, Trade, reject
from feeds.symbols import SymbolMap, UnifiedNames
from feeds.venues.base import BOOK_LEVEL3, RestRequest
from feeds.venues.coinbase import NETWORKS, CoinbaseCodec, CoinbaseVenue, parse_time_ns
from feeds.venues.fields import integer, number, text

VENUE = "COINBASE_L3"
CHANNELS = ("full", "ticker", "heartbeat")  # full carries the trades (its matches): no matches channel
MAX_ORDER_ID = 64  # Coinbase order ids are 36-character UUIDs; anything much longer is not one
_AGGRESSOR = {"sell": "buy", "buy": "sell"}  # match.side is the maker's side

_Handler = Callable[["CoinbaseFullCodec", dict[str, Any], int], list[Event]]


# --- field checks (each raises ValueError naming the field) -------------------------------------------------

def sequence_of(m: dict[str, Any]) -> int:
    seq = integer(m["sequence"], "sequence")
    if seq < 0:
        raise ValueError(f"'sequence' must not be negative, not {seq}")
    return seq


def side_of(value: object, name: str = "side") -> str:
    if value != "buy" and value != "sell":
        raise ValueError(f"{name!r} must be 'buy' or 'sell', not {str(value)[:20]!r}")
    return str(value)


def order_id_of(value: object, name: str = "order_id") -> str:
    oid = text(value, name)
    if not oid or len(oid) > MAX_ORDER_ID:
        raise ValueError(f"{name!r} must be an order id of 1 to {MAX_ORDER_ID} characters")
    return oid


def optional_number(m: dict[str, Any], name: str) -> float:
    """A price or size that market orders leave out (or send as null): 0.0 then."""
    value = m.get(name)
    return 0.0 if value is None else number(value, name)


# --- the codec -----------------------------------------------------------------------------------------------

def _received(codec: CoinbaseFullCodec, m: dict[str, Any], recv_ns: int) -> list[Event]:
    s = m["product_id"]
    return [Level3Update(codec.venue, s, codec.unified[s], parse_time_ns(m["time"]), recv_ns, sequence_of(m),
                         "received", order_id_of(m["order_id"]), side_of(m["side"]), optional_number(m, "price"),
                         optional_number(m, "size"))]


def _open(codec: CoinbaseFullCodec, m: dict[str, Any], recv_ns: int) -> list[Event]:
    s = m["product_id"]
    return [Level3Update(codec.venue, s, codec.unified[s], parse_time_ns(m["time"]), recv_ns, sequence_of(m),
                         "open", order_id_of(m["order_id"]), side_of(m["side"]), number(m["price"], "price"),
                         number(m["remaining_size"], "remaining_size"))]


def _done(codec: CoinbaseFullCodec, m: dict[str, Any], recv_ns: int) -> list[Event]:
    s = m["product_id"]
    text(m["reason"], "reason")
    return [Level3Update(codec.venue, s, codec.unified[s], parse_time_ns(m["time"]), recv_ns, sequence_of(m),
                         "done", order_id_of(m["order_id"]), side_of(m["side"]), optional_number(m, "price"),
                         optional_number(m, "remaining_size"))]


def _match(codec: CoinbaseFullCodec, m: dict[str, Any], recv_ns: int) -> list[Event]:
    s = m["product_id"]
    u = codec.unified[s]
    t = parse_time_ns(m["time"])
    maker_side = side_of(m["side"])
    price, size = number(m["price"], "price"), number(m["size"], "size")
    order_id_of(m["taker_order_id"], "taker_order_id")
    return [Level3Update(codec.venue, s, u, t, recv_ns, sequence_of(m), "match",
                         order_id_of(m["maker_order_id"], "maker_order_id"), maker_side, price, size),
            Trade(codec.venue, s, u, t, recv_ns, price, size, _AGGRESSOR[maker_side], integer(m["trade_id"], "trade_id"))]


def _change(codec: CoinbaseFullCodec, m: dict[str, Any], recv_ns: int) -> list[Event]:
    s = m["product_id"]
    price = optional_number(m, "new_price") if m.get("new_price") is not None else optional_number(m, "price")
    if "new_size" not in m and "new_funds" not in m:
        raise KeyError("new_size")
    if m.get("new_funds") is not None:
        number(m["new_funds"], "new_funds")
    return [Level3Update(codec.venue, s, codec.unified[s], parse_time_ns(m["time"]), recv_ns, sequence_of(m),
                         "change", order_id_of(m["order_id"]), side_of(m["side"]), price,
                         optional_number(m, "new_size"))]


def _activate(codec: CoinbaseFullCodec, m: dict[str, Any], recv_ns: int) -> list[Event]:
    s = m["product_id"]
    u = codec.unified[s]
    oid, side = order_id_of(m["order_id"]), side_of(m["side"])
    if m.get("sequence") is None:
        return []  # as in the docs' example: nothing sequenced, nothing for the book
    time = m.get("time")
    return [Level3Update(codec.venue, s, u, parse_time_ns(time) if time is not None else 0, recv_ns,
                         sequence_of(m), "activate", oid, side, optional_number(m, "stop_price"),
                         optional_number(m, "size"))]


FULL_MESSAGES: dict[object, _Handler] = {"received": _received, "open": _open, "done": _done, "match": _match,
                                         "change": _change, "activate": _activate}


class CoinbaseFullCodec:
    """Decodes a ``ws-feed`` connection subscribed to ``full``: its messages here, the others by ``CoinbaseCodec``."""

    def __init__(self, symbol_map: SymbolMap, venue: str = VENUE) -> None:
        self.venue = venue
        self.unified = UnifiedNames(symbol_map, venue)
        self.other = CoinbaseCodec(symbol_map, venue=venue, check_trade_ids=False)  # the guard counts trade-id gaps

    def decode(self, raw: str | bytes, recv_ns: int) -> list[Event]:
        try:
            msg = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            return [reject(self.venue, "malformed_json", f"frame is not valid JSON: {exc}", raw, recv_ns)]
        handler = FULL_MESSAGES.get(msg.get("type")) if msg.__class__ is dict else None
        if handler is None:
            return self.other.decode(raw, recv_ns)
        try:
            return handler(self, msg, recv_ns)
        except Exception as exc:  # noqa: BLE001 - bad input never raises
            return [self._failed(exc, msg, raw, recv_ns)]

    def _failed(self, exc: Exception, msg: dict[str, Any], raw: str | bytes, recv_ns: int) -> Rejected:
        what = f"{msg['type']} message"
        s = msg.get("product_id")
        symbol, unified = (s, self.unified.get(s, "")) if s.__class__ is str else ("", "")
        if exc.__class__ is KeyError:
            return reject(self.venue, "missing_field", f"{what} lacks field {exc.args[0]!r}", raw, recv_ns,
                          symbol, unified)
        return reject(self.venue, "bad_field", f"{what} has a bad field: {exc}", raw, recv_ns, symbol, unified)

    def parse_level3_book(self, body: str | bytes, symbol: str, recv_ns: int) -> Level3Snapshot | Rejected:
        """The REST level-3 book ``{"sequence": n, "bids": [[price, size, order_id], ...], "asks": [...]}``."""
        try:
            m = orjson.loads(body)
            if m.__class__ is not dict:
                raise ValueError("the body is not a JSON object")
            seq = sequence_of(m)
            sides = []
            for name in ("bids", "asks"):
                rows = m[name]
                if rows.__class__ is not list:
                    raise ValueError(f"{name!r} must be an array of [price, size, order_id] rows")
                sides.append(tuple([(number(p, name), number(q, name), order_id_of(o, name)) for p, q, o in rows]))
            time = m.get("time")
            return Level3Snapshot(self.venue, symbol, self.unified[symbol],
                                  parse_time_ns(time) if time is not None else 0, recv_ns, seq, sides[0], sides[1])
        except Exception as exc:  # noqa: BLE001 - bad input never raises
            reason = "missing_field" if exc.__class__ is KeyError else "malformed_json" \
                if exc.__class__ is orjson.JSONDecodeError else "bad_field"
            return reject(self.venue, reason, f"level-3 book of {symbol}: {exc.__class__.__name__}: {exc}", body,
                          recv_ns, symbol, self.unified.get(symbol, ""))


# --- the declaration -----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class CoinbaseFullVenue(CoinbaseVenue):
    """Coinbase Exchange read order by order: ``full`` (+ ticker, heartbeat), a level-3 book synced by sequence."""

    def make_codec(self, symbols: SymbolMap) -> CoinbaseFullCodec:  # type: ignore[override]
        return CoinbaseFullCodec(symbols, venue=self.name)

    def resubscribe_book(self, symbol: str) -> list[str]:
        return []  # a level-3 book resyncs from REST, not by subscribing again

    def snapshot_request(self, symbol: str) -> RestRequest:
        return RestRequest("depth", f"/products/{symbol}/book?level=3", symbol)

    def rest_events(self, codec: Any, request: RestRequest, body: str | bytes, recv_ns: int) -> list[Any]:
        if request.what == "depth" and isinstance(codec, CoinbaseFullCodec):
            return [codec.parse_level3_book(body, request.symbol, recv_ns)]
        return []


COINBASE_L3 = CoinbaseFullVenue(name=VENUE, short="CB3", networks=NETWORKS, channels=CHANNELS, taker_fee_bps=60.0,
                                maker_fee_bps=40.0, book_kind=BOOK_LEVEL3, symbol_separator="-",
                                candles_from_trades=True, simulated_by="COINBASE",
                                checked_against="COINBASE")
