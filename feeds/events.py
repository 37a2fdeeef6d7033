"""The normalized event model: small immutable records shared by every venue.

Every event starts with the same five fields: ``venue`` (``"BINANCE"``), ``symbol`` (the venue's own,
``"BTCUSDT"``), ``unified`` (``"BTC/USD"``), ``exch_ns`` (exchange event time) and ``recv_ns`` (local
receive time), both integer nanoseconds since the epoch (0 when the venue gives no time).
Prices and sizes are floats. Each class has a ``kind`` class attribute used for counting and dispatch.

NamedTuples are used because they are immutable, slotted and the cheapest records to build in CPython.
"""
from __future__ import annotations

from typing import Any, NamedTuple


class Trade(NamedTuple):
    venue: str
    symbol: str
    unified: str
    exch_ns: int
    recv_ns: int
    price: float
    size: float
    side: str  # the aggressor (taker) side: "buy" or "sell"
    trade_id: int
    kind = "trade"


class Candle(NamedTuple):
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
    kind = "candle"


class Quote(NamedTuple):
    """Best bid and ask (Binance bookTicker, Coinbase ticker)."""

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
    kind = "quote"


class Ticker(NamedTuple):
    """Rolling 24 h statistics."""

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
    kind = "ticker"


class BookSnapshot(NamedTuple):
    venue: str
    symbol: str
    unified: str
    exch_ns: int
    recv_ns: int
    bids: tuple  # ((price, size), ...) best first
    asks: tuple
    update_id: int = 0  # Binance lastUpdateId; 0 where the venue gives none
    kind = "book_snapshot"


class BookDelta(NamedTuple):
    """Absolute level sizes; size 0 removes the level."""

    venue: str
    symbol: str
    unified: str
    exch_ns: int
    recv_ns: int
    bids: tuple  # ((price, size), ...)
    asks: tuple
    first_id: int = 0  # Binance U
    last_id: int = 0  # Binance u
    prev_id: int = -1  # Binance futures pu (the previous frame's u); -1 where the venue sends none
    kind = "book_delta"


class VenueStatus(NamedTuple):
    venue: str
    symbol: str
    unified: str
    exch_ns: int
    recv_ns: int
    status: str
    message: str = ""
    kind = "status"


class Control(NamedTuple):
    """Protocol and session events that are not market data.

    ``what`` is one of: "response" (a reply to a request: ``data`` = (id, result)), "error"
    (venue error: ``data`` = (id, code)), "shutdown" (the venue will close), "heartbeat",
    "connected", "disconnected", "gap", "stale", "halted", "resumed".
    """

    venue: str
    symbol: str
    unified: str
    exch_ns: int
    recv_ns: int
    what: str
    detail: str = ""
    data: Any = None
    kind = "control"


class Rejected(NamedTuple):
    """A frame (or part of one) that could not be accepted, kept with its reason and raw text."""

    venue: str
    symbol: str
    unified: str
    exch_ns: int
    recv_ns: int
    reason: str  # short machine key: "malformed_json", "missing_field", "bad_price", ...
    detail: str  # one human sentence
    raw: str  # the frame (or the offending part), truncated to a bounded length
    kind = "rejected"


class MarkPrice(NamedTuple):
    """A perpetual's mark price and funding (Binance futures ``markPriceUpdate``)."""

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
    kind = "mark_price"


class Liquidation(NamedTuple):
    """A forced (liquidation) order; ``side`` is the order's: "sell" closes a long."""

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
    kind = "liquidation"


class OpenInterest(NamedTuple):
    """Open interest of a contract, in base units (polled over REST)."""

    venue: str
    symbol: str
    unified: str
    exch_ns: int
    recv_ns: int
    open_interest: float
    kind = "open_interest"


MAX_RAW_KEPT = 2048


def reject(venue: str, reason: str, detail: str, raw: str | bytes, recv_ns: int,
           symbol: str = "", unified: str = "") -> Rejected:
    """Build a Rejected event; ``raw`` is decoded leniently and truncated so memory stays bounded."""
    if isinstance(raw, (bytes, bytearray, memoryview)):
        raw = bytes(raw[:MAX_RAW_KEPT]).decode("utf-8", "replace")
    return Rejected(venue, symbol, unified, 0, recv_ns, reason, detail, raw[:MAX_RAW_KEPT])


EVENT_TYPES = (Trade, Candle, Quote, Ticker, BookSnapshot, BookDelta, VenueStatus, Control, Rejected, MarkPrice,
               Liquidation, OpenInterest)
