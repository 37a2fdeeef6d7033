"""Coinbase Exchange (``ws-feed``) market data, pure: endpoints, subscribe messages, frames -> events.

Nothing here does I/O. ``CoinbaseCodec.decode`` turns one WebSocket frame into a list of events from
``feeds.events``; a frame it cannot accept becomes a ``Rejected`` with a short reason key, never an
exception. ``parse_time_ns`` (RFC 3339 -> integer ns) is shared with the Advanced Trade codec.
Payload shapes and sequence rules: protocols.md section 2.

Sequence checks (protocols.md 2.5): ``sequence`` numbers a product's whole event stream, so a
``ticker`` or ``matches`` subscriber sees jumps as a matter of course and a jump is not a gap. The
codec only records the last sequence per channel and product and drops a message whose sequence is
not above it (Rejected ``duplicate`` when equal, ``out_of_order`` when lower), so a stale ticker
cannot overwrite a newer quote and a replayed match is not counted twice. Heartbeats repeat the
sequence while a product is idle, so only a lower one is flagged. Missed trades are found by a
heuristic: consecutive ``trade_id`` values of a product normally differ by 1, and a bigger jump on
the matches channel gives a ``Control(what="gap", data=(expected, got))`` before the trade.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import msgspec
import orjson

from feeds.events import BookDelta, BookSnapshot, Control, Event, Quote, Rejected, Ticker, Trade, VenueStatus, reject
from feeds.symbols import SymbolMap, UnifiedNames
from feeds.venues.base import BOOK_STREAMED, Network, RestRequest, Venue
from feeds.venues.fields import levels, number, text

VENUE = "COINBASE"

WS_URL = "wss://ws-feed.exchange.coinbase.com"
WS_SANDBOX_URL = "wss://ws-feed-public.sandbox.exchange.coinbase.com"
REST_URL = "https://api.exchange.coinbase.com"
REST_SANDBOX_URL = "https://api-public.sandbox.exchange.coinbase.com"
NETWORKS = {"production": Network((WS_URL,), REST_URL), "sandbox": Network((WS_SANDBOX_URL,), REST_SANDBOX_URL)}
ENDPOINTS = {"production": WS_URL, "sandbox": WS_SANDBOX_URL}

# level2 now needs authentication; level2_batch is the public book channel.
DEFAULT_CHANNELS = ("ticker", "matches", "heartbeat", "level2_batch")


def subscribe_message(product_ids: Iterable[str], channels: Iterable[str] = DEFAULT_CHANNELS) -> str:
    """``{"type":"subscribe","product_ids":[...],"channels":[...]}`` as JSON text."""
    return orjson.dumps({"type": "subscribe", "product_ids": list(product_ids),
                         "channels": list(channels)}).decode()


def unsubscribe_message(product_ids: Iterable[str] = (), channels: Iterable[str] = DEFAULT_CHANNELS) -> str:
    """The unsubscribe request; with no product ids the whole channels are dropped."""
    msg: dict[str, Any] = {"type": "unsubscribe"}
    if product_ids:
        msg["product_ids"] = list(product_ids)
    msg["channels"] = list(channels)
    return orjson.dumps(msg).decode()


# --- RFC 3339 times -------------------------------------------------------------------------

_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_NS_PER_S = 1_000_000_000
_NS_PER_DAY = 86_400 * _NS_PER_S
_FRACTION_SCALE: tuple[int, ...] = tuple(10 ** (9 - n) for n in range(10))  # digits -> ns per unit
_MAX_CACHED_SECONDS = 4096
_day_ns: dict[str, int] = {}  # "2014-11-07" -> epoch ns of that midnight
_second_ns: dict[str, int] = {}  # "2014-11-07T08:19:27" -> epoch ns of that second
_TIME_FORM = re.compile(  # RFC 3339, plus a space or lowercase separators and a zone-less form (UTC)
    r"(\d{4}-\d{2}-\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:([Zz])|([+-])(\d{2}):?(\d{2}))?",
    re.ASCII)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def parse_time_ns(text: str) -> int:
    """RFC 3339 time -> epoch ns, exact to the ns; raises ValueError (TypeError for a non-string).

    The fast path takes ``YYYY-MM-DDTHH:MM:SS[.f{1,9}]Z`` and finds the whole seconds in a small
    cache that the general parser fills (from a per-day cache of midnights).
    """
    base = _second_ns.get(text[:19])
    if base is not None and text[-1] == "Z":
        n = len(text)
        if n == 20:
            return base
        if text[19] == "." and 21 < n <= 30:
            fraction = text[20:-1]
            if fraction.isdecimal():
                return base + int(fraction) * _FRACTION_SCALE[n - 21]
    return _parse_time_slow(text)


def _parse_time_slow(text: str) -> int:
    if text.__class__ is not str:
        raise ValueError(f"time must be a string, not {type(text).__name__}")
    m = _TIME_FORM.fullmatch(text)
    if m is None:
        raise ValueError(f"not an RFC 3339 time: {text[:40]!r}")
    day, hh, mm, ss, fraction, zulu, sign, off_h, off_m = m.groups()
    midnight = _day_ns.get(day)
    if midnight is None:
        midnight = (date.fromisoformat(day).toordinal() - _EPOCH_ORDINAL) * _NS_PER_DAY  # ValueError: no such day
        if len(_day_ns) > 64:
            _day_ns.clear()
        _day_ns[day] = midnight
    h, mi, s = int(hh), int(mm), int(ss)
    if h > 23 or mi > 59 or s > 59:
        raise ValueError(f"time of day out of range: {text[:40]!r}")
    base = midnight + ((h * 60 + mi) * 60 + s) * _NS_PER_S
    if zulu is not None:
        if len(_second_ns) >= _MAX_CACHED_SECONDS:
            _second_ns.clear()
        _second_ns[f"{day}T{hh}:{mm}:{ss}"] = base
    ns = base + (int(fraction) * _FRACTION_SCALE[len(fraction)] if fraction else 0)
    if sign is not None:
        offset = (int(off_h) * 60 + int(off_m)) * 60 * _NS_PER_S
        ns = ns - offset if sign == "+" else ns + offset
    return ns


def datetime_to_ns(dt: datetime) -> int:
    """An aware datetime -> epoch ns (exact, microsecond resolution)."""
    return (dt - _EPOCH) // timedelta(microseconds=1) * 1000


# --- the codec ------------------------------------------------------------------------------

_loads = msgspec.json.decode  # frames are parsed by msgspec everywhere (the Binance codecs' typed decoders)
_JSONDecodeError = (msgspec.DecodeError, TypeError)  # not JSON, or not text at all
_time = parse_time_ns
_AGGRESSOR = {"sell": "buy", "buy": "sell"}  # match.side is the maker's side


_Levels = tuple[tuple[float, float], ...]
_Handler = Callable[[dict[str, Any], str | bytes, int], list[Event]]


def _levels(rows: object) -> _Levels:
    return levels(rows, "levels")


def _changes(changes: list[Any]) -> tuple[_Levels, _Levels]:
    """l2update ``[[side, price, size], ...]`` -> (bids, asks)."""
    bids: list[tuple[float, float]] = []
    asks: list[tuple[float, float]] = []
    for side, price, size in changes:
        if side == "buy":
            bids.append((number(price, "price"), number(size, "size")))
        elif side == "sell":
            asks.append((number(price, "price"), number(size, "size")))
        else:
            raise ValueError(f"change side must be 'buy' or 'sell', not {side!r}")
    return tuple(bids), tuple(asks)


class CoinbaseCodec:
    """Decodes Coinbase Exchange ``ws-feed`` frames into events.

    State: a symbol cache, and per product the last sequence of each sequenced channel and the last
    trade id (see the module docstring). ``check_trade_ids=False`` turns off the trade-id gap
    heuristic (e.g. when a downstream guard already counts trade-id gaps). Call ``reset()`` to forget
    the sequence state.
    """

    def __init__(self, symbol_map: SymbolMap, venue: str = VENUE, check_trade_ids: bool = True) -> None:
        self.symbol_map = symbol_map
        self.venue = venue
        self.check_trade_ids = check_trade_ids
        self._unified = UnifiedNames(symbol_map, venue)
        self._ticker_seq: dict[str, int] = {}
        self._match_seq: dict[str, int] = {}
        self._heartbeat_seq: dict[str, int] = {}
        self._last_trade_id: dict[str, int] = {}
        self._by_type: dict[object, _Handler] = {
            "ticker": self._ticker,
            "match": self._match,
            "last_match": self._match,
            "snapshot": self._snapshot,
            "heartbeat": self._heartbeat,
            "subscriptions": self._subscriptions,
            "error": self._error,
            "status": self._status,
        }

    def reset(self) -> None:
        """Forget the per-product sequence and trade-id state."""
        self._ticker_seq.clear()
        self._match_seq.clear()
        self._heartbeat_seq.clear()
        self._last_trade_id.clear()

    # The hot path: l2update is ~98% of a book subscriber's traffic, so it is decoded inline.
    def decode(self, raw: str | bytes, recv_ns: int) -> list[Event]:
        try:
            msg = _loads(raw)
        except _JSONDecodeError as exc:
            return [reject(self.venue, "malformed_json", f"frame is not valid JSON: {exc}", raw, recv_ns)]
        try:
            t = msg["type"]
            if t == "l2update":
                s = msg["product_id"]
                u = self._unified[s]
                changes = msg["changes"]
                bids: _Levels
                asks: _Levels
                if len(changes) == 1:  # the usual case: one level per frame, no lists to build
                    side, price, size = changes[0]
                    level = ((number(price, "price"), number(size, "size")),)
                    if side == "buy":
                        bids, asks = level, ()
                    elif side == "sell":
                        bids, asks = (), level
                    else:
                        raise ValueError(f"change side must be 'buy' or 'sell', not {side!r}")
                else:
                    bids, asks = _changes(changes)
                return [BookDelta(self.venue, s, u, _time(msg["time"]), recv_ns, bids, asks, 0, 0, -1)]
            handler = self._by_type.get(t)
            if handler is None:
                return [reject(self.venue, "unknown_event", f"unknown message type {t!r}", raw, recv_ns)]
            return handler(msg, raw, recv_ns)
        except Exception as exc:  # noqa: BLE001 - bad input never raises
            return [self._failed(exc, msg, raw, recv_ns)]

    def _stale(self, last_seq: dict[str, int], s: str, u: str, seq: object, channel: str, raw: str | bytes,
               recv_ns: int) -> Rejected | None:
        """A Rejected when ``seq`` is not above the last one seen for this product, else records it."""
        if seq.__class__ is not int:
            raise ValueError(f"sequence must be an integer, not {seq!r}")
        last = last_seq.get(s)
        if last is not None and seq <= last:
            reason = "duplicate" if seq == last else "out_of_order"
            return reject(self.venue, reason, f"{channel} sequence {seq} after {last} for {s}", raw,
                          recv_ns, s, u)
        last_seq[s] = seq
        return None

    def _ticker(self, m: dict[str, Any], raw: str | bytes, recv_ns: int) -> list[Event]:
        s = m["product_id"]
        u = self._unified[s]
        seq = m.get("sequence")
        if seq is not None:
            stale = self._stale(self._ticker_seq, s, u, seq, "ticker", raw, recv_ns)
            if stale is not None:
                return [stale]
        else:
            seq = 0
        time = m.get("time")  # the first ticker after subscribing may carry no time
        t = _time(time) if time is not None else 0
        bid_size = m.get("best_bid_size")  # absent in older feeds
        ask_size = m.get("best_ask_size")
        venue = self.venue
        return [
            Quote(venue, s, u, t, recv_ns, number(m["best_bid"], "best_bid"),
                         0.0 if bid_size is None else number(bid_size, "best_bid_size"), number(m["best_ask"], "best_ask"),
                         0.0 if ask_size is None else number(ask_size, "best_ask_size"), seq),
            Ticker(venue, s, u, t, recv_ns, number(m["price"], "price"), number(m["open_24h"], "open_24h"),
                          number(m["high_24h"], "high_24h"), number(m["low_24h"], "low_24h"), number(m["volume_24h"], "volume_24h"), 0.0),
        ]

    def _match(self, m: dict[str, Any], raw: str | bytes, recv_ns: int) -> list[Event]:
        s = m["product_id"]
        u = self._unified[s]
        seq = m.get("sequence")
        if seq is not None:
            stale = self._stale(self._match_seq, s, u, seq, "matches", raw, recv_ns)
            if stale is not None:
                return [stale]
        maker = m["side"]
        side = _AGGRESSOR.get(maker)
        if side is None:
            raise ValueError(f"match side must be 'buy' or 'sell', not {maker!r}")
        trade_id = m["trade_id"]
        if trade_id.__class__ is not int:
            if not (trade_id.__class__ is str and trade_id.isascii() and trade_id.isdigit()):
                raise ValueError(f"trade_id must be an integer, not {trade_id!r}")
            trade_id = int(trade_id)
        t = _time(m["time"])
        trade = Trade(self.venue, s, u, t, recv_ns, number(m["price"], "price"), number(m["size"], "size"), side,
                             trade_id)
        if self.check_trade_ids:
            last = self._last_trade_id.get(s)
            if last is None or trade_id > last:
                self._last_trade_id[s] = trade_id
                if last is not None and trade_id > last + 1:
                    return [Control(self.venue, s, u, t, recv_ns, "gap",
                                    f"trade_id jumped from {last} to {trade_id} on {s} (heuristic)",
                                    (last + 1, trade_id)), trade]
        return [trade]

    def _snapshot(self, m: dict[str, Any], raw: str | bytes, recv_ns: int) -> list[Event]:
        s = m["product_id"]
        u = self._unified[s]
        time = m.get("time")  # only some snapshots carry one
        bids = sorted(_levels(m["bids"]), reverse=True)
        asks = sorted(_levels(m["asks"]))
        return [BookSnapshot(self.venue, s, u, _time(time) if time is not None else 0, recv_ns,
                             tuple(bids), tuple(asks))]

    def _heartbeat(self, m: dict[str, Any], raw: str | bytes, recv_ns: int) -> list[Event]:
        s = m["product_id"]
        u = self._unified[s]
        seq = m["sequence"]
        if seq.__class__ is not int:
            raise ValueError(f"sequence must be an integer, not {seq!r}")
        last = self._heartbeat_seq.get(s)
        if last is not None and seq < last:  # equal is normal: an idle product keeps its sequence
            return [reject(self.venue, "out_of_order", f"heartbeat sequence {seq} after {last} for {s}",
                           raw, recv_ns, s, u)]
        self._heartbeat_seq[s] = seq
        time = m.get("time")
        return [Control(self.venue, s, u, _time(time) if time is not None else 0, recv_ns, "heartbeat",
                        "", (seq, m.get("last_trade_id")))]

    def _subscriptions(self, m: dict[str, Any], raw: str | bytes, recv_ns: int) -> list[Event]:
        return [Control(self.venue, "", "", 0, recv_ns, "response", "", (None, m["channels"]))]

    def _error(self, m: dict[str, Any], raw: str | bytes, recv_ns: int) -> list[Event]:
        message = str(m.get("message", ""))
        reason = m.get("reason")
        detail = f"{message}: {reason}" if reason else message
        return [Control(self.venue, "", "", 0, recv_ns, "error", detail, (None, None))]

    def _status(self, m: dict[str, Any], raw: str | bytes, recv_ns: int) -> list[Event]:
        venue = self.venue
        out: list[Event] = []
        for p in m["products"]:
            s = p["id"]
            out.append(VenueStatus(venue, s, self._unified[s], 0, recv_ns, text(p["status"], "status"),
                                   text(p.get("status_message") or "", "status_message")))
        return out

    def _failed(self, exc: Exception, msg: object, raw: str | bytes, recv_ns: int) -> Rejected:
        """The Rejected for an exception raised while reading a parsed frame."""
        if msg.__class__ is not dict:
            return reject(self.venue, "unknown_event", "frame is not a JSON object", raw, recv_ns)
        t = msg.get("type")
        what = f"{t} frame" if t.__class__ is str else "frame"
        s = msg.get("product_id")
        symbol, unified = (s, self._unified.get(s, "")) if s.__class__ is str else ("", "")
        if exc.__class__ is KeyError:
            return reject(self.venue, "missing_field", f"{what} lacks field {exc.args[0]!r}", raw,
                          recv_ns, symbol, unified)
        return reject(self.venue, "bad_field", f"{what} has a bad field: {exc.__class__.__name__}: {exc}",
                      raw, recv_ns, symbol, unified)


# --- the declaration ---------------------------------------------------------------------------

@dataclass(frozen=True)
class CoinbaseVenue(Venue):
    """Coinbase Exchange: one subscribe frame after opening; the book arrives as a streamed snapshot."""

    def make_codec(self, symbols: SymbolMap) -> CoinbaseCodec:
        return CoinbaseCodec(symbols, venue=self.name, check_trade_ids=False)  # the guard counts trade-id gaps

    def subscribe_frames(self, symbols: list[str], interval: str) -> list[str]:
        return [subscribe_message(symbols, self.channels)]

    def subscribe_live(self, symbols: list[str], interval: str, req_id: int) -> list[str]:
        return [subscribe_message(symbols, self.channels)]

    def unsubscribe_live(self, symbols: list[str], interval: str, req_id: int) -> list[str]:
        return [unsubscribe_message(symbols, self.channels)]

    def resubscribe_book(self, symbol: str) -> list[str]:
        return [unsubscribe_message([symbol], ("level2_batch",)), subscribe_message([symbol], ("level2_batch",))]

    def listing_request(self, symbol: str) -> RestRequest:
        return RestRequest("listing", f"/products/{symbol}", symbol)


COINBASE = CoinbaseVenue(name=VENUE, short="CB", networks=NETWORKS, channels=DEFAULT_CHANNELS, taker_fee_bps=60.0, maker_fee_bps=40.0,
                         book_kind=BOOK_STREAMED, symbol_separator="-", candles_from_trades=True)
