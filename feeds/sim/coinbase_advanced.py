"""Coinbase Advanced Trade market-data WebSocket on top of the Exchange venue's price process
(protocols.md section 3).

WebSocket ``/coinbase-advanced``: ``{"type":"subscribe"|"unsubscribe","product_ids":[...],"channel":"..."}``,
one channel per message; unsubscribe without product ids drops the whole channel. Every reply is a
``subscriptions`` envelope listing all of the connection's subscriptions. ``user``, the other private
channels and unknown channel names get ``{"type":"error","message":"authentication failure"}`` (as the
real server does). The connection is closed (1008) when no subscription exists ``subscribe_timeout_s``
(5 s) after connecting.

Every data frame is the envelope ``{"channel","client_id":"","timestamp","sequence_num","events"}``;
``sequence_num`` counts per connection from 0 over every channel, the acks included; ``timestamp`` is
RFC 3339 with nanoseconds from the simulator's clock. Channels:
  - ``heartbeats``: per connection on every second of the sim clock; ``heartbeat_counter`` a number
    rising by 1;
  - ``ticker``: a snapshot on subscribe, then an update per trade (one for the last trade of the same
    ms, a cascade), with the book right after it; the envelope time is the trade's time;
  - ``market_trades``: trades batched per 250 ms of sim time, newest first, ``side`` the MAKER's side;
  - ``candles``: 5-minute candles from the market's 1-minute klines: a snapshot of up to 100 recent
    candles (newest first), then every second the newest candle that has trades (the forming one);
    market trades due are always sent before the candle update of the same step, so the candle equals
    the trades streamed so far;
  - ``level2`` (messages on ``l2_data``): a snapshot of the whole book, then per simulator step an
    update with the changed levels, absolute ``new_quantity`` (levels never empty here, as in the
    Exchange venue).

Products and prices are those of feeds/sim/coinbase.py (this venue subclasses it and replaces only
the frames): ``BTCUSDT`` -> ``BTC-USD``, following the Binance market with a small basis. With the same
seed and clock the trades equal those of the Exchange venue. REST is not simulated (404).
"""
from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, cast

import orjson
from websockets.asyncio.server import ServerConnection

from .coinbase import CoinbaseConn, CoinbaseVenue, Product, iso
from .coinbase import make_venue as make_coinbase_venue
from .market import SimTrade

if TYPE_CHECKING:
    from .server import Simulator

dumps = orjson.dumps

CHANNELS = ("heartbeats", "ticker", "market_trades", "candles", "level2")
AUTH_FAILURE = b'{"type":"error","message":"authentication failure"}'
TRADES_MS = 250  # market_trades batching
CANDLE_S = 300
CANDLE_MS = CANDLE_S * 1000
SNAPSHOT_CANDLES = 100
EPOCH = "1970-01-01T00:00:00Z"
_ENVELOPE = b'{"channel":"%s","client_id":"","timestamp":"%s","sequence_num":%d,"events":%s}'


def _advanced(conns: Sequence[CoinbaseConn]) -> Sequence[AdvancedConn]:
    """This venue subscribes only its own connections (``Product.subs`` is typed for the base venue)."""
    return cast("Sequence[AdvancedConn]", conns)


def iso_ns(ms: int) -> str:
    """Epoch ms -> ``2024-01-02T03:04:05.678000000Z`` (RFC 3339 with nanoseconds)."""
    return iso(ms)[:-1] + "000Z"


class AdvancedConn(CoinbaseConn):  # its channels: subscribed channel -> product ids
    def __init__(self, ws: ServerConnection | None) -> None:
        super().__init__(ws)
        self.seq = 0
        self.heartbeat = 0

    def envelope(self, channel: bytes, ts: str, events: bytes) -> None:
        """Push one envelope numbered with this connection's next ``sequence_num``."""
        n = self.seq
        self.seq = n + 1
        self.push(_ENVELOPE % (channel, ts.encode(), n, events))


class AdvancedVenue(CoinbaseVenue):
    name = "COINBASE_ADVANCED"
    ws_path = "/coinbase-advanced"
    rest_path = "/coinbase-advanced"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.conns: set[AdvancedConn] = set()  # type: ignore[assignment]
        self.heartbeat_conns: list[CoinbaseConn] = []  # AdvancedConns (the base venue's list type)
        self.per_connection = {"heartbeats": self.heartbeat_conns}
        self.pending: dict[str, list[SimTrade]] = {}  # product -> trades waiting for the next batch
        self._start_ms: int | None = None

    # the market (CoinbaseVenue's step calls these) --------------------------------------------------
    def _book_changes(self, p: Product, changes: list[tuple[int, bool, int, int]]) -> None:
        if "level2" in p.subs:
            live = p.live
            for _, is_bid, tick, lots in changes:
                live[(is_bid, tick)] = lots

    def _publish_trade(self, p: Product, last: tuple[SimTrade, int, int], last_of_cascade: bool) -> None:
        tr = last[0]
        if "market_trades" in p.subs:
            self.pending.setdefault(p.id, []).append(tr)
        conns = p.subs.get("ticker")
        if conns and last_of_cascade:
            events = dumps([{"type": "update", "tickers": [self.at_ticker(p, tr.price, tr.time)]}])
            ts = iso_ns(tr.time)
            for c in _advanced(conns):
                c.envelope(b"ticker", ts, events)

    def _cadence(self, now_ms: int, last: int) -> None:
        if self._start_ms is None:
            self._start_ms = now_ms
        stalled = self._stalled
        ts = iso_ns(now_ms)
        trades_due = now_ms // TRADES_MS != last // TRADES_MS
        second = now_ms // 1000 != last // 1000
        for p in self.products.values():
            if stalled is not None and p.id in stalled:
                continue  # book changes wait; trades, tickers and candles are lost
            subs = p.subs
            if p.live:
                if p.drop_batch:
                    p.drop_batch = False
                else:
                    self._push_l2(p, p.live, subs.get("level2"), ts)
                p.live = {}
            if trades_due:
                batch = self.pending.pop(p.id, None)
                conns = subs.get("market_trades")
                if batch and conns:
                    events = dumps([{"type": "update", "trades": [self.trade_body(p, tr) for tr in reversed(batch)]}])
                    for c in _advanced(conns):
                        c.envelope(b"market_trades", ts, events)
            if second and "candles" in subs:
                rows = self.candle_rows(p, now_ms - now_ms % CANDLE_MS - CANDLE_MS)
                if rows:
                    events = dumps([{"type": "update", "candles": [rows[-1]]}])
                    for c in _advanced(subs["candles"]):
                        c.envelope(b"candles", ts, events)
        if second and self.heartbeat_conns and not (stalled is not None and len(stalled) == len(self.products)):
            t = iso(now_ms)
            current = f"{t[:10]} {t[11:-1]}000 +0000 UTC m=+{(now_ms - self._start_ms) / 1000:.9f}"
            for c in _advanced(self.heartbeat_conns):
                c.heartbeat += 1
                c.envelope(b"heartbeats", ts, dumps([{"current_time": current, "heartbeat_counter": c.heartbeat}]))

    def _push_l2(self, p: Product, changes: dict[tuple[bool, int], int], conns: list[CoinbaseConn] | None,
                 ts: str = "") -> None:
        if not conns:
            return
        px, sz = p.px, p.sz
        t = iso_ns(p.l2_ms)
        events = dumps([{"type": "update", "product_id": p.id,
                         "updates": [{"side": "bid" if is_bid else "offer", "event_time": t,
                                      "price_level": px(tick), "new_quantity": sz(lots)}
                                     for (is_bid, tick), lots in changes.items()]}])
        ts = ts or iso_ns(self.now_ms())
        for c in _advanced(conns):
            c.envelope(b"l2_data", ts, events)

    # payloads -----------------------------------------------------------------------------------------
    def at_ticker(self, p: Product, price: int, now_ms: int) -> dict[str, Any]:
        _, open_, high, low, volume = self._stats(p, now_ms)
        b, bq, a, aq = p.sym.best()
        change = (price - open_) / open_ * 100.0 if open_ else 0.0
        return {"type": "ticker", "product_id": p.id, "price": p.px(price), "volume_24_h": p.sz(volume),
                "low_24_h": p.px(low), "high_24_h": p.px(high), "low_52_w": p.px(low), "high_52_w": p.px(high),
                "price_percent_chg_24_h": repr(change), "best_bid": p.px(b), "best_bid_quantity": p.sz(bq),
                "best_ask": p.px(a), "best_ask_quantity": p.sz(aq)}

    @staticmethod
    def trade_body(p: Product, tr: SimTrade) -> dict[str, Any]:
        # buyer_maker: the taker sold, so the maker's side is BUY
        return {"trade_id": str(tr.trade_id), "product_id": p.id, "price": p.px(tr.price), "size": p.sz(tr.qty),
                "side": "BUY" if tr.buyer_maker else "SELL", "time": iso_ns(tr.time)}

    def candle_rows(self, p: Product, from_ms: int) -> list[dict[str, Any]]:
        """5-minute candles with trades from the bucket holding ``from_ms`` on, oldest first."""
        start = from_ms - from_ms % CANDLE_MS
        buckets: dict[int, list[int]] = {}  # bucket ms -> [open, high, low, close, lots]
        for k in self.market.klines(p.id, "1m", start, None, 1 << 30):
            if not k.trades:
                continue
            key = k.open_time - k.open_time % CANDLE_MS
            b = buckets.get(key)
            if b is None:
                buckets[key] = [k.open, k.high, k.low, k.close, k.volume]
            else:
                if k.high > b[1]:
                    b[1] = k.high
                if k.low < b[2]:
                    b[2] = k.low
                b[3] = k.close
                b[4] += k.volume
        px, sz = p.px, p.sz
        return [{"start": str(key // 1000), "high": px(b[1]), "low": px(b[2]), "open": px(b[0]),
                 "close": px(b[3]), "volume": sz(b[4]), "product_id": p.id} for key, b in buckets.items()]

    def l2_snapshot(self, p: Product) -> bytes:
        _, bids, asks = self.market.depth(p.id, self.book_levels)
        px, sz = p.px, p.sz
        updates = [{"side": "bid", "event_time": EPOCH, "price_level": px(t), "new_quantity": sz(q)} for t, q in bids]
        updates += [{"side": "offer", "event_time": EPOCH, "price_level": px(t), "new_quantity": sz(q)}
                    for t, q in asks]
        return dumps([{"type": "snapshot", "product_id": p.id, "updates": updates}])

    # WebSocket ----------------------------------------------------------------------------------------
    def owns(self, path: str) -> bool:
        return path == "/coinbase-advanced" or path.startswith("/coinbase-advanced/")

    def check_ws(self, path: str, query: dict[str, str]) -> tuple[int, Any] | None:
        return None if path in ("/coinbase-advanced", "/coinbase-advanced/") else (404, {"message": "NotFound"})

    def rest(self, path: str, query: dict[str, str]) -> tuple[int, Any]:
        return 404, {"error": "NOT_FOUND", "message": "not simulated"}

    async def serve(self, ws: ServerConnection, path: str, query: dict[str, str]) -> None:
        conn = AdvancedConn(ws)
        timer = asyncio.get_running_loop().call_later(self.subscribe_timeout_s, self._no_subscribe, conn)

        async def handle(message: str | bytes) -> bool:
            self.advanced_control(conn, message)
            if conn.channels:
                timer.cancel()  # subscribed in time
            return True

        await self.run_connection(conn, handle, timer)

    def advanced_control(self, conn: AdvancedConn, message: str | bytes) -> None:
        """One client message: an error, or the change, its ``subscriptions`` ack and first data frames."""
        try:
            req = orjson.loads(message)
        except orjson.JSONDecodeError:
            req = None
        if not isinstance(req, dict) or req.get("type") not in ("subscribe", "unsubscribe"):
            conn.push(b'{"type":"error","message":"malformed request"}')
            return
        channel = req.get("channel")
        if channel not in CHANNELS:  # unknown and private channels alike
            conn.push(AUTH_FAILURE)
            return
        ids = req.get("product_ids") or []
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            conn.push(b'{"type":"error","message":"product_ids must be a list of strings"}')
            return
        bad = [i for i in ids if i not in self.products]
        if bad:
            conn.push(dumps({"type": "error", "message": f"invalid product ids: {', '.join(bad)}"}))
            ids = [i for i in ids if i in self.products]
        if req["type"] == "unsubscribe":
            self._remove(conn, channel, ids or None)
            self._ack(conn)
            return
        new = self._subscribe(conn, channel, ids)
        self._ack(conn)
        now = self.now_ms()
        ts = iso_ns(now)
        for p in new:
            if channel == "ticker":
                tr = p.latest[0]
                conn.envelope(b"ticker", ts, dumps([{"type": "snapshot",
                                                     "tickers": [self.at_ticker(p, tr.price, now)]}]))
            elif channel == "level2":
                conn.envelope(b"l2_data", ts, self.l2_snapshot(p))
            elif channel == "candles":
                rows = self.candle_rows(p, now - SNAPSHOT_CANDLES * CANDLE_MS)
                conn.envelope(b"candles", ts, dumps([{"type": "snapshot", "candles": rows[::-1]}]))
            elif channel == "market_trades":
                recent = [self.trade_body(p, r[0]) for r in list(p.recent)[-50:]][::-1]
                conn.envelope(b"market_trades", ts, dumps([{"type": "snapshot", "trades": recent}]))

    def _ack(self, conn: AdvancedConn) -> None:
        conn.envelope(b"subscriptions", iso_ns(self.now_ms()), dumps([{"subscriptions": conn.channels}]))

    def _subscribe(self, conn: AdvancedConn, channel: str, ids: list[str]) -> list[Product]:
        """Subscribe; the products new to this (connection, channel)."""
        if channel == "heartbeats":
            if channel not in conn.channels:
                conn.channels[channel] = []
                self.heartbeat_conns.append(conn)
            return []
        if not ids:
            return []
        have = conn.channels.setdefault(channel, [])
        new = []
        for pid in ids:
            if pid in have:
                continue
            have.append(pid)
            p = self.products[pid]
            p.subs.setdefault(channel, []).append(conn)
            new.append(p)
        return new

    def _unwatched(self, p: Product, channel: str) -> None:
        if channel == "level2":
            p.live = {}
        elif channel == "market_trades":
            self.pending.pop(p.id, None)


def make_venue(sim: Simulator) -> CoinbaseVenue:
    """Registry hook used by feeds.sim.server.Simulator: the Coinbase venue's, with this class."""
    return make_coinbase_venue(sim, AdvancedVenue)
