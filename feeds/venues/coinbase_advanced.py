"""Coinbase Advanced Trade market data, pure: endpoint, subscribe messages, frames -> events.

Nothing here does I/O. Every data frame is an envelope ``{"channel", "client_id", "timestamp",
"sequence_num", "events": [...]}``; ``CoinbaseAdvancedCodec.decode`` turns one into a list of events
from ``feeds.events``, and a frame it cannot accept into a ``Rejected``, never an exception.
Payload shapes and sequence rules: protocols.md section 3.

Choices, where the protocol leaves room:
- ``sequence_num`` is counted per connection over every channel (protocols.md 3.6;
  ``sequence_scope="channel"`` counts per channel instead). A jump gives ``Control(what="gap",
  data=(expected, got))`` and the frame is still decoded; a number not above the last one means a
  stale frame, which is dropped as ``Rejected`` ``duplicate`` (equal) or ``out_of_order`` (lower), so
  it cannot rewind a quote or a book. Call ``reset()`` on each new connection: numbering restarts at 0.
- A skipped ``heartbeat_counter`` also gives a gap Control; heartbeats become
  ``Control(what="heartbeat", data=(counter, None))``.
- Exchange times: the envelope ``timestamp`` for everything but trades, which carry their own ``time``.
- Candles are 5 minutes, with no closed flag: a bar is closed once a newer ``start`` shows up, so the
  codec keeps each product's forming bar and emits it again with ``closed=True`` at that moment.
- ``market_trades`` ``side`` is the maker's: the aggressor is the opposite; ``UNKNOWN_ORDER_SIDE``
  gives ``"unknown"``. A non-numeric ``trade_id`` becomes 0 (no id, so no duplicate check downstream).
- Ticker ``open`` is derived from ``price`` and ``price_percent_chg_24_h`` (AT sends no open price).
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from operator import attrgetter
from typing import Any

import msgspec
import orjson
from msgspec.structs import replace

from feeds.events import (
    BookDelta,
    BookSnapshot,
    Candle,
    Control,
    Event,
    Quote,
    Rejected,
    Ticker,
    Trade,
    VenueStatus,
    reject,
)
from feeds.symbols import SymbolMap, UnifiedNames
from feeds.venues.base import BOOK_STREAMED, Network, Venue
from feeds.venues.coinbase import parse_time_ns
from feeds.venues.fields import number, text, whole

VENUE = "COINBASE"

WS_URL = "wss://advanced-trade-ws.coinbase.com"
WS_USER_URL = "wss://advanced-trade-ws-user.coinbase.com"
REST_URL = "https://api.coinbase.com"
CANDLE_INTERVAL = "5m"

DEFAULT_CHANNELS = ("heartbeats", "ticker", "market_trades", "level2")
# Subscribe names whose messages arrive under another channel name.
MESSAGE_CHANNEL = {"level2": "l2_data"}


def subscribe_messages(product_ids: Iterable[str], channels: Iterable[str] = DEFAULT_CHANNELS) -> list[str]:
    """One subscribe request (JSON text) per channel, as Advanced Trade requires."""
    return [_request("subscribe", product_ids, channel) for channel in channels]


def unsubscribe_messages(product_ids: Iterable[str] = (), channels: Iterable[str] = DEFAULT_CHANNELS) -> list[str]:
    """One unsubscribe request per channel; with no product ids the whole channel is dropped."""
    return [_request("unsubscribe", product_ids, channel) for channel in channels]


def _request(kind: str, product_ids: Iterable[str], channel: str) -> str:
    msg: dict[str, Any] = {"type": kind}
    if product_ids and channel != "heartbeats":  # heartbeats are per connection, not per product
        msg["product_ids"] = list(product_ids)
    msg["channel"] = channel
    return orjson.dumps(msg).decode()


_loads = msgspec.json.decode  # frames are parsed by msgspec everywhere (the Binance codecs' typed decoders)
_JSONDecodeError = (msgspec.DecodeError, TypeError)  # not JSON, or not text at all
_time = parse_time_ns
_AGGRESSOR = {"BUY": "sell", "SELL": "buy", "UNKNOWN_ORDER_SIDE": "unknown"}  # side is the maker's
_NS_PER_S = 1_000_000_000
_by_product_and_start = attrgetter("symbol", "open_ns")


_Reader = Callable[[list[Any], int, int, str, list[Event]], None]


def _trade_id(value: object) -> int:
    if value.__class__ is int:
        return value
    if value.__class__ is str and value.isascii() and value.isdigit():
        return int(value)
    return 0


def _float_or_zero(value: object) -> float:
    return 0.0 if value is None or value == "" else number(value, "quantity")


class CoinbaseAdvancedCodec:
    """Decodes Coinbase Advanced Trade market-data frames into events (see the module docstring)."""

    def __init__(self, symbol_map: SymbolMap, venue: str = VENUE, sequence_scope: str = "connection") -> None:
        if sequence_scope not in ("connection", "channel"):
            raise ValueError(f"sequence_scope must be 'connection' or 'channel', not {sequence_scope!r}")
        self.symbol_map = symbol_map
        self.venue = venue
        self.per_channel = sequence_scope == "channel"
        self._unified = UnifiedNames(symbol_map, venue)
        self._last_seq: dict[str, int] = {}  # "" (whole connection) or channel -> last sequence_num
        self._heartbeat_counter: int | None = None
        self._forming: dict[str, Candle] = {}  # product -> its newest (still open) 5 m candle
        self._by_channel: dict[object, _Reader] = {
            "l2_data": self._l2_data,
            "market_trades": self._market_trades,
            "ticker": self._ticker,
            "ticker_batch": self._ticker,
            "candles": self._candles,
            "heartbeats": self._heartbeats,
            "status": self._status,
            "subscriptions": self._subscriptions,
        }

    def reset(self) -> None:
        """A new connection: forget sequence numbers and the heartbeat counter (candles are kept)."""
        self._last_seq.clear()
        self._heartbeat_counter = None

    def decode(self, raw: str | bytes, recv_ns: int) -> list[Event]:
        try:
            msg = _loads(raw)
        except _JSONDecodeError as exc:
            return [reject(self.venue, "malformed_json", f"frame is not valid JSON: {exc}", raw, recv_ns)]
        out: list[Event] = []
        kept = 0  # events to keep if decoding fails part way: the sequence gap, if any
        try:
            channel = msg.get("channel")
            if channel is None:
                if msg.get("type") == "error":
                    return [Control(self.venue, "", "", 0, recv_ns, "error", str(msg.get("message", "")),
                                    (None, None))]
                return [reject(self.venue, "unknown_event", "frame has no channel", raw, recv_ns)]
            seq = msg.get("sequence_num")
            if seq is not None:
                if seq.__class__ is not int:
                    raise ValueError(f"sequence_num must be an integer, not {seq!r}")
                key = channel if self.per_channel else ""
                last = self._last_seq.get(key)
                if last is not None:
                    if seq <= last:
                        reason = "duplicate" if seq == last else "out_of_order"
                        return [reject(self.venue, reason, f"sequence_num {seq} after {last}", raw, recv_ns)]
                    if seq != last + 1:
                        out.append(Control(self.venue, "", "", 0, recv_ns, "gap",
                                           f"sequence_num jumped from {last} to {seq}", (last + 1, seq)))
                self._last_seq[key] = seq
                kept = len(out)
            handler = self._by_channel.get(channel)
            if handler is None:
                out.append(reject(self.venue, "unknown_event", f"unknown channel {channel!r}", raw, recv_ns))
                return out
            handler(msg["events"], _time(msg["timestamp"]), recv_ns, channel, out)
            return out
        except Exception as exc:  # noqa: BLE001 - bad input never raises
            del out[kept:]
            out.append(self._failed(exc, msg, raw, recv_ns))
            return out

    # Each handler appends its events to ``out``; ``ts`` is the envelope time in ns.

    def _l2_data(self, events: list[Any], ts: int, recv_ns: int, channel: str, out: list[Event]) -> None:
        venue = self.venue
        for ev in events:
            s = ev["product_id"]
            u = self._unified[s]
            bids: list[tuple[float, float]] = []
            asks: list[tuple[float, float]] = []
            for row in ev["updates"]:
                side = row["side"]
                level = (number(row["price_level"], "price_level"), number(row["new_quantity"], "new_quantity"))
                if side == "bid":
                    bids.append(level)
                elif side == "offer" or side == "ask":
                    asks.append(level)
                else:
                    raise ValueError(f"level side must be 'bid' or 'offer', not {side!r}")
            kind = ev["type"]
            if kind == "update":
                out.append(BookDelta(venue, s, u, ts, recv_ns, tuple(bids), tuple(asks), 0, 0, -1))
            elif kind == "snapshot":
                bids.sort(reverse=True)
                asks.sort()
                out.append(BookSnapshot(venue, s, u, ts, recv_ns, tuple(bids), tuple(asks)))
            else:
                raise ValueError(f"l2_data event type must be 'snapshot' or 'update', not {kind!r}")

    def _market_trades(self, events: list[Any], ts: int, recv_ns: int, channel: str, out: list[Event]) -> None:
        venue = self.venue
        for ev in events:
            batch: list[Trade] = []
            for tr in ev["trades"]:
                s = tr["product_id"]
                u = self._unified[s]
                maker = tr["side"]
                side = _AGGRESSOR.get(maker)
                if side is None:
                    raise ValueError(f"trade side must be BUY, SELL or UNKNOWN_ORDER_SIDE, not {maker!r}")
                batch.append(Trade(venue, s, u, _time(tr["time"]), recv_ns, number(tr["price"], "price"),
                                          number(tr["size"], "size"), side, _trade_id(tr["trade_id"])))
            if len(batch) > 1 and batch[0].exch_ns > batch[-1].exch_ns:
                batch.reverse()  # batches may list the newest trade first; emit oldest first
            out.extend(batch)

    def _ticker(self, events: list[Any], ts: int, recv_ns: int, channel: str, out: list[Event]) -> None:
        venue = self.venue
        with_quote = channel == "ticker"  # ticker_batch has no best bid/ask
        for ev in events:
            for t in ev["tickers"]:
                s = t["product_id"]
                u = self._unified[s]
                price = number(t["price"], "price")
                if with_quote and "best_bid" in t:
                    out.append(Quote(venue, s, u, ts, recv_ns, number(t["best_bid"], "best_bid"),
                                            _float_or_zero(t.get("best_bid_quantity")), number(t["best_ask"], "best_ask"),
                                            _float_or_zero(t.get("best_ask_quantity")), 0))
                change = t.get("price_percent_chg_24_h")
                growth = 1.0 + number(change, "price_percent_chg_24_h") / 100.0 if change not in (None, "") else 0.0
                out.append(Ticker(venue, s, u, ts, recv_ns, price, price / growth if growth > 0.0 else 0.0,
                                         number(t["high_24_h"], "high_24_h"), number(t["low_24_h"], "low_24_h"),
                                         number(t["volume_24_h"], "volume_24_h"), 0.0))

    def _candles(self, events: list[Any], ts: int, recv_ns: int, channel: str, out: list[Event]) -> None:
        venue = self.venue
        forming = self._forming
        for ev in events:
            candles: list[Candle] = []
            for c in ev["candles"]:
                s = c["product_id"]
                u = self._unified[s]
                candles.append(Candle(venue, s, u, ts, recv_ns, CANDLE_INTERVAL,
                                             whole(c["start"], "start") * _NS_PER_S, number(c["open"], "open"), number(c["high"], "high"),
                                             number(c["low"], "low"), number(c["close"], "close"), number(c["volume"], "volume"), 0,
                                             False, "live"))
            candles.sort(key=_by_product_and_start)  # a snapshot may list the newest first
            last = len(candles) - 1
            for i, candle in enumerate(candles):
                s = candle.symbol
                current = forming.get(s)
                if current is not None:
                    if candle.open_ns < current.open_ns:
                        continue  # older than the forming bar: already closed, nothing new
                    if candle.open_ns > current.open_ns:
                        out.append(replace(current, exch_ns=ts, recv_ns=recv_ns, closed=True))
                        del forming[s]
                if i == last or candles[i + 1].symbol != s:
                    forming[s] = candle  # the newest bar of this product: still forming
                    out.append(candle)
                else:
                    forming.pop(s, None)
                    out.append(replace(candle, closed=True))  # history: a newer bar follows

    def _heartbeats(self, events: list[Any], ts: int, recv_ns: int, channel: str, out: list[Event]) -> None:
        for ev in events:
            counter = ev["heartbeat_counter"]  # a number on the wire, a string in the docs
            if counter.__class__ is not int:
                if not (counter.__class__ is str and counter.isascii() and counter.isdigit()):
                    raise ValueError(f"heartbeat_counter must be an integer, not {counter!r}")
                counter = int(counter)
            last = self._heartbeat_counter
            if last is not None and counter > last + 1:
                out.append(Control(self.venue, "", "", ts, recv_ns, "gap",
                                   f"heartbeat_counter jumped from {last} to {counter}", (last + 1, counter)))
            self._heartbeat_counter = counter
            out.append(Control(self.venue, "", "", ts, recv_ns, "heartbeat", "", (counter, None)))

    def _status(self, events: list[Any], ts: int, recv_ns: int, channel: str, out: list[Event]) -> None:
        venue = self.venue
        for ev in events:
            for p in ev["products"]:
                s = p["id"]
                out.append(VenueStatus(venue, s, self._unified[s], ts, recv_ns, text(p["status"], "status"),
                                       text(p.get("status_message") or "", "status_message")))

    def _subscriptions(self, events: list[Any], ts: int, recv_ns: int, channel: str, out: list[Event]) -> None:
        subscriptions: dict[str, Any] = {}
        for ev in events:
            subscriptions.update(ev["subscriptions"])
        out.append(Control(self.venue, "", "", ts, recv_ns, "response", "", (None, subscriptions)))

    def _failed(self, exc: Exception, msg: object, raw: str | bytes, recv_ns: int) -> Rejected:
        if msg.__class__ is not dict:
            return reject(self.venue, "unknown_event", "frame is not a JSON object", raw, recv_ns)
        channel = msg.get("channel")
        what = f"{channel} frame" if channel.__class__ is str else "frame"
        if exc.__class__ is KeyError:
            return reject(self.venue, "missing_field", f"{what} lacks field {exc.args[0]!r}", raw, recv_ns)
        return reject(self.venue, "bad_field", f"{what} has a bad field: {exc.__class__.__name__}: {exc}",
                      raw, recv_ns)


# --- the declaration ---------------------------------------------------------------------------

@dataclass(frozen=True)
class AdvancedTradeVenue(Venue):
    """Coinbase Advanced Trade: one subscribe frame per channel; a streamed book; 5 m candles that check
    the bars built from trades. Its own venue name, so it can run beside Coinbase Exchange."""

    def make_codec(self, symbols: SymbolMap) -> CoinbaseAdvancedCodec:
        return CoinbaseAdvancedCodec(symbols, venue=self.name)

    def subscribe_frames(self, symbols: list[str], interval: str) -> list[str]:
        return subscribe_messages(symbols, self.channels)

    def subscribe_live(self, symbols: list[str], interval: str, req_id: int) -> list[str]:
        return subscribe_messages(symbols, self.channels)

    def unsubscribe_live(self, symbols: list[str], interval: str, req_id: int) -> list[str]:
        return unsubscribe_messages(symbols, self.channels)

    def resubscribe_book(self, symbol: str) -> list[str]:
        return [*unsubscribe_messages([symbol], ("level2",)), *subscribe_messages([symbol], ("level2",))]


COINBASE_ADVANCED = AdvancedTradeVenue(
    name="COINBASE_ADVANCED", short="CBA", networks={"production": Network((WS_URL,), REST_URL)},
    channels=(*DEFAULT_CHANNELS, "candles"), taker_fee_bps=60.0, maker_fee_bps=40.0, book_kind=BOOK_STREAMED, symbol_separator="-",
    candles_from_trades=True, candle_check=CANDLE_INTERVAL)
