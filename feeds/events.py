"""The normalized event model: small immutable records shared by every venue.

Every event starts with the same five fields: ``venue`` (``"BINANCE"``), ``symbol`` (the venue's own,
``"BTCUSDT"``), ``unified`` (``"BTC/USD"``), ``exch_ns`` (exchange event time) and ``recv_ns`` (local
receive time), both integer nanoseconds since the epoch (0 when the venue gives no time).
Prices and sizes are floats. Each class has a ``kind`` class attribute used for counting and dispatch.

Events are frozen msgspec Structs without garbage-collector tracking (they hold no cycles): as cheap to
build as a NamedTuple and a field read costs a third of a NamedTuple's (a slot, not a tuple getter), which
the pipeline does about fifteen times per message. ``kind`` is a ClassVar: a class-attribute hit.
Fields are compared, copied and listed with ``msgspec.structs`` (``replace``, ``astuple``).
"""
from __future__ import annotations

from typing import Any, ClassVar

from msgspec import Struct


class Trade(Struct, frozen=True, gc=False):
    kind: ClassVar[str] = "trade"
    venue: str
    symbol: str
    unified: str
    exch_ns: int
    recv_ns: int
    price: float
    size: float
    side: str  # the aggressor (taker) side: "buy" or "sell"
    trade_id: int


class Candle(Struct, frozen=True, gc=False):
    kind: ClassVar[str] = "candle"
    venue: str
    symbol: str
    unified: str
    exch_ns: int
    recv_ns: int
    interval: str  # Binance interval text: "1s", "1m", "1h", ...
    open_ns: int  # bar open time
    open: float
    high: float
    low: float
    close: float
    volume: float  # base asset volume
    trades: int
    closed: bool
    source: str = "live"  # "live" or "backfill"


class Quote(Struct, frozen=True, gc=False):
    """Best bid and ask (Binance bookTicker, Coinbase ticker)."""

    kind: ClassVar[str] = "quote"
    venue: str
    symbol: str
    unified: str
    exch_ns: int
    recv_ns: int
    bid: float
    bid_size: float
    ask: float
    ask_size: float
    update_id: int = 0


class Ticker(Struct, frozen=True, gc=False):
    """Rolling 24 h statistics."""

    kind: ClassVar[str] = "ticker"
    venue: str
    symbol: str
    unified: str
    exch_ns: int
    recv_ns: int
    last: float
    open: float
    high: float
    low: float
    volume: float
    quote_volume: float


class BookSnapshot(Struct, frozen=True, gc=False):
    kind: ClassVar[str] = "book_snapshot"
    venue: str
    symbol: str
    unified: str
    exch_ns: int
    recv_ns: int
    bids: tuple[tuple[float, float], ...]  # ((price, size), ...) best first
    asks: tuple[tuple[float, float], ...]
    update_id: int = 0  # Binance lastUpdateId; 0 where the venue gives none


class BookDelta(Struct, frozen=True, gc=False):
    """Absolute level sizes; size 0 removes the level."""

    kind: ClassVar[str] = "book_delta"
    venue: str
    symbol: str
    unified: str
    exch_ns: int
    recv_ns: int
    bids: tuple[tuple[float, float], ...]  # ((price, size), ...)
    asks: tuple[tuple[float, float], ...]
    first_id: int = 0  # Binance U
    last_id: int = 0  # Binance u
    prev_id: int = -1  # Binance futures pu (the previous frame's u); -1 where the venue sends none


class VenueStatus(Struct, frozen=True, gc=False):
    kind: ClassVar[str] = "status"
    venue: str
    symbol: str
    unified: str
    exch_ns: int
    recv_ns: int
    status: str
    message: str = ""


class Control(Struct, frozen=True, gc=False):
    """Protocol and session events that are not market data.

    ``what`` is one of: "response" (a reply to a request: ``data`` = (id, result)), "error"
    (venue error: ``data`` = (id, code)), "shutdown" (the venue will close), "heartbeat",
    "connected", "disconnected", "gap", "stale", "halted", "resumed".
    """

    kind: ClassVar[str] = "control"
    venue: str
    symbol: str
    unified: str
    exch_ns: int
    recv_ns: int
    what: str
    detail: str = ""
    data: Any = None


class Rejected(Struct, frozen=True, gc=False):
    """A frame (or part of one) that could not be accepted, kept with its reason and raw text."""

    kind: ClassVar[str] = "rejected"
    venue: str
    symbol: str
    unified: str
    exch_ns: int
    recv_ns: int
    reason: str  # short machine key: "malformed_json", "missing_field", "bad_price", ...
    detail: str  # one human sentence
    raw: str  # the frame (or the offending part), truncated to a bounded length


class MarkPrice(Struct, frozen=True, gc=False):
    """A perpetual's mark price and funding (Binance futures ``markPriceUpdate``)."""

    kind: ClassVar[str] = "mark_price"
    venue: str
    symbol: str
    unified: str
    exch_ns: int
    recv_ns: int
    mark: float
    index: float
    settle: float  # estimated settle price
    funding_rate: float  # per funding period (8 h on Binance), as a fraction: 0.0001 = 0.01 %
    next_funding_ns: int  # 0 where the contract has none (delivery futures)


class Liquidation(Struct, frozen=True, gc=False):
    """A forced (liquidation) order; ``side`` is the order's: "sell" closes a long."""

    kind: ClassVar[str] = "liquidation"
    venue: str
    symbol: str
    unified: str
    exch_ns: int
    recv_ns: int
    side: str  # "buy" or "sell"
    price: float
    size: float  # original quantity
    avg_price: float
    filled: float  # accumulated filled quantity
    status: str  # "FILLED", "PARTIALLY_FILLED", ...


class OpenInterest(Struct, frozen=True, gc=False):
    """Open interest of a contract, in base units (polled over REST)."""

    kind: ClassVar[str] = "open_interest"
    venue: str
    symbol: str
    unified: str
    exch_ns: int
    recv_ns: int
    open_interest: float


class Level3Update(Struct, frozen=True, gc=False):
    """One sequenced message of a level-3 (order by order) stream (Coinbase Exchange ``full``)."""

    kind: ClassVar[str] = "level3_update"
    venue: str
    symbol: str
    unified: str
    exch_ns: int
    recv_ns: int
    sequence: int  # the product's sequence number: consecutive on the venue's level-3 stream
    action: str  # "received" | "open" | "done" | "match" | "change" | "activate"
    order_id: str  # match: the maker's order (the one resting on the book)
    side: str  # the order's side, "buy" (a bid) or "sell" (an ask); match: the maker's side
    price: float  # 0.0 where the message has none (market orders)
    size: float  # open/done: remaining size; match: size filled; change: new size; received: order size


class Level3Snapshot(Struct, frozen=True, gc=False):
    """Every resting order of a book (Coinbase REST ``/products/<id>/book?level=3``)."""

    kind: ClassVar[str] = "level3_snapshot"
    venue: str
    symbol: str
    unified: str
    exch_ns: int
    recv_ns: int
    sequence: int  # the stream sequence the snapshot is at
    bids: tuple[tuple[float, float, str], ...]  # ((price, size, order_id), ...) best first
    asks: tuple[tuple[float, float, str], ...]


MAX_RAW_KEPT = 2048


def reject(venue: str, reason: str, detail: str, raw: str | bytes, recv_ns: int,
           symbol: str = "", unified: str = "") -> Rejected:
    """Build a Rejected event; ``raw`` is decoded leniently and truncated so memory stays bounded."""
    if isinstance(raw, (bytes, bytearray, memoryview)):
        raw = bytes(raw[:MAX_RAW_KEPT]).decode("utf-8", "replace")
    return Rejected(venue, symbol, unified, 0, recv_ns, reason, detail, raw[:MAX_RAW_KEPT])


EVENT_TYPES = (Trade, Candle, Quote, Ticker, BookSnapshot, BookDelta, VenueStatus, Control, Rejected, MarkPrice,
               Liquidation, OpenInterest, Level3Update, Level3Snapshot)

Event = (Trade | Candle | Quote | Ticker | BookSnapshot | BookDelta | VenueStatus | Control | Rejected | MarkPrice
         | Liquidation | OpenInterest | Level3Update | Level3Snapshot)
"""Any one event (for annotations; ``EVENT_TYPES`` is the runtime tuple)."""
