"""Coinbase Exchange market-data protocol (``ws-feed`` and public REST) on top of SimMarket
(protocols.md section 2).

WebSocket ``/coinbase``: ``subscribe`` / ``unsubscribe`` with ``product_ids`` at the root and/or per
channel object (root ids apply to every listed channel), a ``subscriptions`` reply listing all of the
connection's subscriptions after each, and the connection closed (1008) when no subscription exists
``subscribe_timeout_s`` (5 s) after connecting. Errors are ``{"type":"error","message":"Failed to
subscribe","reason":...}``: one per unknown product (the valid rest is still applied, then the
``subscriptions`` reply), ``No channels provided``, and the auth reason for ``level2``/``level3``
without ``signature``/``key``/``passphrase``/``timestamp``. Other reason texts are simulator choices.
Channels: ``heartbeat`` (per product on every second of the sim clock), ``ticker`` (per trade, one for
the last trade of trades in the same ms ("cascades are batched"); a first ticker of the last trade on
subscribe, as the real feed does), ``ticker_batch`` (every 5 s when
something traded), ``matches`` (``last_match`` first; ``side`` is the maker's side), ``level2_batch``
(``snapshot`` then ``l2update`` with absolute sizes every 50 ms of sim time), ``level2`` (with auth
fields, which are not checked: an ``l2update`` per simulator step), ``full`` (every order message of the
book, from feeds/sim/coinbase_l3.py; served without the auth fields the real feed wants, a simulator choice:
clearterm keeps no credentials, and sent frames are recorded) and ``status`` (on subscribe and
every 5 s). Aliases ``level2_50`` and ``ticker_1000`` are accepted. ``level3``/``user`` are not simulated.

Products are the simulator's Binance symbols with USDT/USDC read as USD (``BTCUSDT`` -> ``BTC-USD``).
Each product's price follows the Binance market of the same symbol: before every trade arrival the
Coinbase mid is set to the Binance mid times (1 + basis), where the basis is a seeded mean-reverting
walk of about 1.5 bps (clamped at 5 bps), so the venues stay a few bps apart but never equal. The
Binance venue's market is used when it is at the same time (live, and in the warm-up, where the server
builds Binance's history first and this venue's after it, reading Binance's mids as they were at each second);
otherwise (no Binance venue) a private twin SimMarket with Binance's seed and
settings.

``sequence`` numbers each product's ``full`` messages one by one (the order messages that explain its book
changes and trades), so ticker and match subscribers see jumps, as on the real feed, and a ticker carries the
sequence of its trade's last ``match``. Trade ids are contiguous per product.
Times are RFC 3339 with microseconds and ``Z``, from the simulator's clock.

REST under ``/coinbase``: ``/products``, ``/products/{id}``, ``/products/{id}/candles`` (rows
``[time, low, high, open, close, volume]`` newest first, buckets without trades omitted, at most 300;
granularity 60/300/900/3600/21600/86400 and, as a simulator extension, 1), ``/products/{id}/book``
(level 1 or 2, ``[price, size, num_orders]`` plus ``sequence``; level 3, ``[price, size, order_id]`` rows of
every resting order plus the ``sequence`` they are at), ``/products/{id}/trades``,
``/products/{id}/ticker``, ``/products/{id}/stats``, ``/time``. Candles are read from the same
SimMarket klines the trades built, so they equal candles built from the ``matches`` stream.

Faults: stall (no trades, tickers or heartbeats; book changes are held back and delivered when the
stall ends, because level2_batch has no way to signal a loss), skipped trade ids, skip_depth_ids (the
next l2update batch and the next ``full`` message are dropped: a silent error on level2_batch, a sequence
gap on ``full``; ``full`` messages during a stall are lost too), and the connection-level faults of SimConn.
"""
from __future__ import annotations

import asyncio
import math
import random
import time
from collections import deque
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import orjson
from websockets.asyncio.server import ServerConnection

from .coinbase_l3 import Message, SimOrders
from .faults import Stalls
from .market import SimMarket, SimSymbol, SimTrade, SpotMarket, SpotSymbol, split_symbol
from .server import SimConn, Venue

if TYPE_CHECKING:
    from .server import Simulator

dumps = orjson.dumps

QUOTE_ALIASES = {"USDT": "USD", "USDC": "USD"}
CHANNELS = ("heartbeat", "status", "ticker", "ticker_batch", "matches", "level2", "level2_batch", "full")
ALIASES = {"level2_50": "level2_batch", "ticker_1000": "ticker_batch"}
AUTH_CHANNELS = ("level2", "level3")  # and full on the real feed: served here without (clearterm holds no keys)
AUTH_FIELDS = ("signature", "key", "passphrase", "timestamp")
NOT_SIMULATED = ("level3", "user", "balance", "rfq_matches", "auctionfeed")
AUTH_REASON = "level2, level3, and full channels now require authentication."
GRANULARITIES = {1: "1s", 60: "1m", 300: "5m", 900: "15m", 3600: "1h", 21600: "6h", 86400: "1d"}
MAX_CANDLES = 300
BATCH_MS = 50  # level2_batch cadence
SLOW_MS = 5000  # ticker_batch and status cadence
BASIS_TAU_S = 10.0  # mean-reversion time of the Coinbase-Binance basis
BASIS_VOL = 1.5e-4 * math.sqrt(2.0 / BASIS_TAU_S)  # stationary std of the basis: 1.5 bps
MAX_BASIS = 5e-4
OWN_WALK = 0.25  # Coinbase's own random walk between arrivals, relative to the market default


def product_id(symbol: str) -> str | None:
    """``BTCUSDT`` -> ``BTC-USD``; a symbol without a known quote -> None."""
    base, quote = split_symbol(symbol)
    return f"{base}-{QUOTE_ALIASES.get(quote, quote)}" if quote else None


_iso_heads: dict[int, str] = {}


def iso(ms: int) -> str:
    """Epoch ms -> ``2024-01-02T03:04:05.678000Z``."""
    s, r = divmod(ms, 1000)
    head = _iso_heads.get(s)
    if head is None:
        if len(_iso_heads) > 4096:
            _iso_heads.clear()
        head = _iso_heads[s] = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(s))
    return f"{head}.{r:03d}000Z"


def _error(reason: str | None, message: str = "Failed to subscribe") -> bytes:
    body = {"type": "error", "message": message}
    if reason is not None:
        body["reason"] = reason
    return dumps(body)


class Product:
    """One Coinbase product: its market symbol, sequence, last trade, subscribers and pending book changes."""

    __slots__ = ("id", "ref", "sym", "index", "rng", "seq", "basis", "basis_ms", "last", "recent",
                 "orders", "total_lots", "stats", "subs", "batch", "live", "l2_ms", "drop_batch",
                 "traded", "pfmt", "l3", "drop_full")

    def __init__(self, pid: str, ref: str, sym: SimSymbol, index: int, seed: int) -> None:
        self.id = pid
        self.ref = ref  # the Binance symbol it follows
        self.sym = sym
        self.index = index
        self.rng = random.Random(f"{seed}:{pid}:basis")
        self.seq = self.rng.randrange(100_000_000, 900_000_000)
        self.basis = 0.0
        self.basis_ms: int | None = None
        self.last: tuple[SimTrade, int, int] | None = None  # (trade, sequence, order counter)
        self.recent: deque[tuple[SimTrade, int, int]] = deque(maxlen=1000)  # REST /trades
        self.orders = self.rng.randrange(1 << 40)
        self.total_lots = 0
        self.stats: list[int] | None = None  # [second, open, high, low, volume lots] of the 24 h window
        self.subs: dict[str, list[CoinbaseConn]] = {}
        self.batch: dict[tuple[bool, int], int] = {}  # level2_batch changes waiting: (is_bid, tick) -> lots
        self.live: dict[tuple[bool, int], int] = {}  # level2 changes waiting for the end of the step
        self.l2_ms = 0  # time of the newest pending change
        self.drop_batch = False
        self.traded = False  # since the last ticker_batch
        self.pfmt = f"%.{sym.price_decimals}f"
        # the book order by order; its order numbers sit above the matches channel's (self.orders)
        self.l3 = SimOrders(pid, sym, (1 << 52) + self.rng.randrange(1 << 40), sym.next_trade_id, self.order_id,
                            self.px, self.sz)
        self.drop_full = 0  # fault: full messages to drop (a sequence gap)

    @property
    def latest(self) -> tuple[SimTrade, int, int]:
        """The newest trade (the market has traded from its first step on)."""
        assert self.last is not None, "no trade yet"
        return self.last

    def px(self, ticks: int) -> str:
        return self.pfmt % (ticks * self.sym.tick)

    def sz(self, lots: int) -> str:
        return "%.8f" % (lots * self.sym.step)

    def order_id(self, n: int) -> str:
        return (f"{self.index:08x}-{(n >> 40) & 0xFFFF:04x}-4{(n >> 28) & 0xFFF:03x}"
                f"-8{(n >> 16) & 0xFFF:03x}-{n & 0xFFFFFFFFFFFF:012x}")


class CoinbaseConn(SimConn):
    def __init__(self, ws: ServerConnection | None) -> None:
        super().__init__(ws)
        self.channels: dict[str, list[str]] = {}  # channel -> product ids, in subscription order


class CoinbaseVenue(Venue):
    name = "COINBASE"
    ws_path = "/coinbase"
    rest_path = "/coinbase"

    def __init__(self, symbols: tuple[str, ...], seed: int, *, trades_per_second: float = 20.0,
                 book_levels: int = 200, clock: Callable[[], int] | None = None,
                 reference: Callable[[], SpotMarket | None] | None = None,
                 subscribe_timeout_s: float = 5.0) -> None:
        """``reference()`` returns the Binance market to follow (live, or as it was at the step being built while the
        history is built), or None (then a twin is used)."""
        super().__init__()
        self.clock = clock
        self.reference = reference
        self.subscribe_timeout_s = subscribe_timeout_s
        self.book_levels = book_levels
        pairs: dict[str, str] = {}  # product -> the Binance symbol it follows (first one wins)
        for s in symbols:
            pid = product_id(s)
            if pid is not None and pid not in pairs:
                pairs[pid] = s
        self.twin = SimMarket(list(pairs.values()), seed, trades_per_second=trades_per_second, intervals=(),
                              book_levels=book_levels)
        starts = {pid: self.twin.symbols[ref].mid * self.twin.symbols[ref].tick for pid, ref in pairs.items()}
        self.market = SimMarket(list(pairs), seed, starts, trades_per_second=trades_per_second,
                                intervals=("1s", "1m"), book_levels=book_levels)
        self.products = {pid: Product(pid, ref, self.market.symbols[pid], i, seed)
                         for i, (pid, ref) in enumerate(pairs.items())}
        for p in self.products.values():
            p.sym.sigma *= OWN_WALK
        self.aliases = {**{ref: pid for pid, ref in pairs.items()}, **{pid: pid for pid in pairs}}
        self.status_conns: list[CoinbaseConn] = []
        self.per_connection: dict[str, list[CoinbaseConn]] = {"status": self.status_conns}  # channels not per product
        self.stalls = Stalls()
        self.conns: set[CoinbaseConn] = set()  # type: ignore[assignment]
        self.last_ms: int | None = None
        self._stalled: frozenset[str] | None = None  # None: nothing stalled; all products when all are
        self._tasks: set[asyncio.Task[Any]] = set()

    def now_ms(self) -> int:
        if self.clock is not None:
            return self.clock()
        return self.market.now_ms or int(time.time() * 1000)

    # the market -------------------------------------------------------------------------------------
    def _reference_symbols(self, now_ms: int) -> Mapping[str, SpotSymbol]:
        live = self.reference() if self.reference is not None else None
        if live is not None and live.now_ms is not None and abs(live.now_ms - now_ms) <= 2000:
            return live.symbols
        self.twin.step(now_ms)  # no Binance venue at this time
        return self.twin.symbols

    def _couple(self, ref: Mapping[str, SpotSymbol], t: int) -> None:
        """Set every product's mid to its Binance mid times (1 + basis), the basis walking on."""
        for p in self.products.values():
            rs = ref.get(p.ref)
            if rs is None:
                continue
            if p.basis_ms is not None and t > p.basis_ms:
                dt = (t - p.basis_ms) / 1000.0
                b = p.basis * (1.0 - min(1.0, dt / BASIS_TAU_S)) + BASIS_VOL * math.sqrt(dt) * p.rng.gauss(0.0, 1.0)
                p.basis = MAX_BASIS if b > MAX_BASIS else -MAX_BASIS if b < -MAX_BASIS else b
            p.basis_ms = t
            p.sym.mid = rs.mid * rs.tick * (1.0 + p.basis) / p.sym.tick

    def step(self, now_ms: int) -> None:
        m = self.market
        ref = self._reference_symbols(now_ms)
        if m.now_ms is None:
            self._couple(ref, now_ms)
            m.step(now_ms)
            self._seed_last_trades(now_ms)
            self.last_ms = now_ms
            return
        if now_ms < m.now_ms:
            now_ms = m.now_ms
        all_stalled, stalled = self.stalls.current()
        self._stalled = frozenset(self.products) if all_stalled else stalled if stalled else None
        symbols = m.symbols.values()
        while True:  # one arrival at a time, so each ticker shows the book right after its trade
            if not symbols:
                break
            t = math.ceil(min(s.next_arrival for s in symbols))
            if t > now_ms:
                break
            self._couple(ref, t)
            self._absorb(m.step(t), t)
        if now_ms > m.now_ms:
            m.step(now_ms)  # roll the klines; no arrival is due
        last = self.last_ms if self.last_ms is not None else now_ms
        self.last_ms = now_ms
        self._cadence(now_ms, last)

    def _seed_last_trades(self, now_ms: int) -> None:
        """A last trade before the start, so that ``last_match`` and the first ticker exist at once."""
        for p in self.products.values():
            sym = p.sym
            trade = SimTrade(p.id, sym.next_agg_id, sym.next_trade_id, sym.last_price, sym.trade_lots,
                             now_ms - 1000, p.rng.random() < 0.5)
            p.orders += 2
            p.last = (trade, p.seq, p.orders)
            p.recent.append(p.last)

    def _absorb(self, trades: list[SimTrade], t: int) -> None:
        """Book changes and trades of one arrival: full messages and sequence numbers, pending l2, match and
        ticker frames."""
        stalled = self._stalled
        own: dict[str, list[SimTrade]] = {}
        for tr in trades:
            own.setdefault(tr.symbol, []).append(tr)
        trade_seqs: dict[str, deque[int]] = {}
        for p in self.products.values():
            changes = p.sym.changes
            if not changes:
                continue
            trade_seqs[p.id] = self._order_messages(p, changes, own.get(p.id, []), t,
                                                    stalled is not None and p.id in stalled)
            self._book_changes(p, changes)
            p.l2_ms = t
        products = self.products
        # arrivals in the same ms are one cascade: one ticker, for its last trade (the book is the one after it)
        last_of = {tr.symbol: i for i, tr in enumerate(trades)} if len(trades) > 1 else None
        for i, tr in enumerate(trades):
            p = products[tr.symbol]
            p.orders += 2
            p.last = last = (tr, trade_seqs[p.id].popleft(), p.orders)
            p.recent.append(last)
            p.total_lots += tr.qty
            p.traded = True
            st = p.stats
            if st is not None and st[0] == tr.time // 1000:
                if tr.price > st[2]:
                    st[2] = tr.price
                if tr.price < st[3]:
                    st[3] = tr.price
                st[4] += tr.qty
            if stalled is not None and p.id in stalled:
                continue
            self._publish_trade(p, last, last_of is None or last_of[tr.symbol] == i)

    def _order_messages(self, p: Product, changes: list[tuple[int, bool, int, int]], trades: list[SimTrade],
                        t: int, stalled: bool) -> deque[int]:
        """The full messages of one arrival's level changes, numbered and sent (built only for subscribers);
        the sequence of each trade's last match, in trade order."""
        conns = p.subs.get("full")
        out: list[Message] | None = [] if conns and not stalled else None
        trade_seqs: deque[int] = deque()
        uids = p.sym.trade_uids
        when = iso(t) if out is not None else ""
        orders = p.l3
        orders.emitted = 0
        # Between two trades the market's changes are applied as one: each level's last size, shrinking levels
        # first, so the book never crosses on the way (the market re-centres its levels in any order).
        pending: dict[tuple[bool, int], int] = {}

        def settle() -> None:
            totals = orders.totals
            for key, lots in pending.items():  # shrinking levels first...
                if lots < totals.get(key, 0):
                    orders.level(key[0], key[1], lots, when, out)
            for key, lots in pending.items():  # ...then growing ones (the shrunk ones are equal by now)
                if lots > totals.get(key, 0):
                    orders.level(key[0], key[1], lots, when, out)
            pending.clear()

        k = 0
        for uid, is_bid, tick, lots in changes:
            if k < len(trades) and k < len(uids) and uid == uids[k]:
                tr = trades[k]
                k += 1
                settle()
                orders.trade(tr.buyer_maker, tick, tr.qty, lots, when, out)
                trade_seqs.append(p.seq + orders.last_match)
            else:
                pending[(is_bid, tick)] = lots
        settle()
        if out is not None and conns:
            for i, m in enumerate(out):
                if p.drop_full:
                    p.drop_full -= 1
                    continue
                m["sequence"] = p.seq + i + 1
                frame = dumps(m)
                for c in conns:
                    c.push(frame)
        p.seq += orders.emitted
        return trade_seqs

    # what a subclass (the Advanced Trade venue) sends differently ------------------------------------
    def _book_changes(self, p: Product, changes: list[tuple[int, bool, int, int]]) -> None:
        """Collect one arrival's book changes for the channels that send them later."""
        subs = p.subs
        for acc, channel in ((p.batch, "level2_batch"), (p.live, "level2")):
            if channel in subs:
                for _, is_bid, tick, lots in changes:
                    acc[(is_bid, tick)] = lots

    def _publish_trade(self, p: Product, last: tuple[SimTrade, int, int], last_of_cascade: bool) -> None:
        """Frames for one trade; ``last_of_cascade``: no later trade of the product in the same ms."""
        conns = p.subs.get("matches")
        if conns:
            frame = dumps(self.match_body(p, last, "match"))
            for c in conns:
                c.push(frame)
        conns = p.subs.get("ticker")
        if conns and last_of_cascade:
            frame = dumps(self.ticker_body(p, last, last[0].time))
            for c in conns:
                c.push(frame)

    def _cadence(self, now_ms: int, last: int) -> None:
        stalled = self._stalled
        batch_due = now_ms // BATCH_MS != last // BATCH_MS
        second = now_ms // 1000 != last // 1000
        slow = now_ms // SLOW_MS != last // SLOW_MS
        for p in self.products.values():
            if stalled is not None and p.id in stalled:
                continue  # book changes wait; trades, tickers and heartbeats are lost
            subs = p.subs
            if p.live:
                self._push_l2(p, p.live, subs.get("level2"))
                p.live = {}
            if batch_due and p.batch:
                if p.drop_batch:
                    p.drop_batch = False
                else:
                    self._push_l2(p, p.batch, subs.get("level2_batch"))
                p.batch = {}
            if second and "heartbeat" in subs:
                # one beat per second of the sim clock, however late this step came (at speed 10 a step
                # 0.5 s late passes 5 s: a cap on the seconds made up for left a hole in the beats)
                for sec in range(last // 1000 + 1, now_ms // 1000 + 1):
                    frame = dumps({"type": "heartbeat", "last_trade_id": p.latest[0].trade_id, "product_id": p.id,
                                   "sequence": p.seq, "time": iso(sec * 1000)})
                    for c in subs["heartbeat"]:
                        c.push(frame)
            if slow and p.traded:
                p.traded = False
                conns = subs.get("ticker_batch")
                if conns:
                    frame = dumps(self.ticker_body(p, p.latest, now_ms))
                    for c in conns:
                        c.push(frame)
        if slow and self.status_conns and stalled is None:
            frame = dumps(self.status_body())
            for c in self.status_conns:
                c.push(frame)

    def _push_l2(self, p: Product, changes: dict[tuple[bool, int], int], conns: list[CoinbaseConn] | None) -> None:
        if not conns:
            return
        px, sz = p.px, p.sz
        frame = dumps({"type": "l2update", "product_id": p.id,
                       "changes": [["buy" if is_bid else "sell", px(tick), sz(lots)]
                                   for (is_bid, tick), lots in changes.items()],
                       "time": iso(p.l2_ms)})
        for c in conns:
            c.push(frame)

    # payloads -----------------------------------------------------------------------------------------
    @staticmethod
    def match_body(p: Product, last: tuple[SimTrade, int, int], kind: str) -> dict[str, Any]:
        tr, seq, orders = last  # the trade's two orders are numbered orders - 1 (maker) and orders (taker)
        return {"type": kind, "trade_id": tr.trade_id, "maker_order_id": p.order_id(orders - 1),
                "taker_order_id": p.order_id(orders), "side": "buy" if tr.buyer_maker else "sell",
                "size": p.sz(tr.qty), "price": p.px(tr.price), "product_id": p.id, "sequence": seq,
                "time": iso(tr.time)}

    def _stats(self, p: Product, now_ms: int) -> list[Any]:
        st = p.stats
        if st is None or st[0] != now_ms // 1000:
            t = self.market.ticker(p.id, now_ms)
            st = p.stats = [now_ms // 1000, t["open"], t["high"], t["low"], t["volume"]]
        return st

    def ticker_body(self, p: Product, last: tuple[SimTrade, int, int], now_ms: int) -> dict[str, Any]:
        tr, seq, _ = last
        _, open_, high, low, volume = self._stats(p, now_ms)
        b, bq, a, aq = p.sym.best()
        return {"type": "ticker", "sequence": seq, "product_id": p.id, "price": p.px(tr.price),
                "open_24h": p.px(open_), "volume_24h": p.sz(volume), "low_24h": p.px(low),
                "high_24h": p.px(high), "volume_30d": p.sz(p.total_lots), "best_bid": p.px(b),
                "best_bid_size": p.sz(bq), "best_ask": p.px(a), "best_ask_size": p.sz(aq),
                "side": "sell" if tr.buyer_maker else "buy", "time": iso(tr.time), "trade_id": tr.trade_id,
                "last_size": p.sz(tr.qty)}

    def snapshot_body(self, p: Product) -> dict[str, Any]:
        _, bids, asks = self.market.depth(p.id, self.book_levels)
        assert self.market.now_ms is not None  # a venue steps before it serves
        px, sz = p.px, p.sz
        return {"type": "snapshot", "product_id": p.id, "asks": [[px(t), sz(q)] for t, q in asks],
                "bids": [[px(t), sz(q)] for t, q in bids], "time": iso(self.market.now_ms)}  # the book's time

    def product_body(self, p: Product) -> dict[str, Any]:
        sym = p.sym
        base, quote = p.id.split("-")
        return {"id": p.id, "base_currency": base, "quote_currency": quote,
                "quote_increment": p.pfmt % sym.tick, "base_increment": f"{sym.step:.8f}",
                "display_name": f"{base}-{quote}", "min_market_funds": "1", "margin_enabled": False,
                "post_only": False, "limit_only": False, "cancel_only": False, "status": "online",
                "status_message": "", "trading_disabled": False, "fx_stablecoin": False,
                "max_slippage_percentage": "0.02000000", "auction_mode": False,
                "high_bid_limit_percentage": ""}

    def status_body(self) -> dict[str, Any]:
        products = [self.product_body(p) for p in self.products.values()]
        currencies = dict.fromkeys(c for p in products for c in (p["base_currency"], p["quote_currency"]))
        return {"type": "status", "products": products,
                "currencies": [{"id": c, "name": c, "min_size": "0.00000001", "status": "online",
                                "max_precision": "0.01" if c == "USD" else "0.00000001", "convertible_to": [],
                                "details": {}, "default_network": "", "supported_networks": []}
                               for c in currencies]}

    # WebSocket ----------------------------------------------------------------------------------------
    def owns(self, path: str) -> bool:
        return path == "/coinbase" or path.startswith("/coinbase/")

    def check_ws(self, path: str, query: dict[str, str]) -> tuple[int, Any] | None:
        return None if path in ("/coinbase", "/coinbase/") else (404, {"message": "NotFound"})

    async def serve(self, ws: ServerConnection, path: str, query: dict[str, str]) -> None:
        conn = CoinbaseConn(ws)
        timer = asyncio.get_running_loop().call_later(self.subscribe_timeout_s, self._no_subscribe, conn)

        async def handle(message: str | bytes) -> bool:
            for frame in self.control(conn, message):
                conn.push(frame)
            if conn.channels:
                timer.cancel()  # subscribed in time
            return True

        await self.run_connection(conn, handle, timer)

    def release(self, conn: SimConn) -> None:
        assert isinstance(conn, CoinbaseConn)
        for channel in list(conn.channels):
            self._remove(conn, channel, None)

    def _no_subscribe(self, conn: CoinbaseConn) -> None:
        task = asyncio.ensure_future(conn.socket.close(1008, "no subscribe message in time"))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def control(self, conn: CoinbaseConn, message: str | bytes) -> list[bytes]:
        """One client message -> the frames to send: errors, the subscriptions reply, first data frames."""
        try:
            req = orjson.loads(message)
        except orjson.JSONDecodeError:
            return [_error(None, "Malformed JSON")]
        if not isinstance(req, dict):
            return [_error(None, "Malformed JSON")]
        kind = req.get("type")
        if kind not in ("subscribe", "unsubscribe"):
            return [_error("Type has to be either subscribe or unsubscribe")]
        failed = "Failed to subscribe" if kind == "subscribe" else "Failed to unsubscribe"
        root = req.get("product_ids") or []
        if not _strings(root):
            return [_error("product_ids must be a list of strings", failed)]
        items = req.get("channels")
        if not items:
            return [_error("No channels provided", failed)]
        if not isinstance(items, list):
            return [_error("channels must be a list", failed)]
        authed = all(isinstance(req.get(k), str) and req.get(k) for k in AUTH_FIELDS)
        errors: list[str] = []
        wanted: list[tuple[str, list[str]]] = []
        extra: list[str]
        for item in items:
            if isinstance(item, str):
                name, extra = item, []
            elif isinstance(item, dict) and isinstance(item.get("name"), str):
                name, extra = item["name"], item.get("product_ids") or []
                if not _strings(extra):
                    errors.append("product_ids must be a list of strings")
                    continue
            else:
                errors.append("Invalid channel")
                continue
            name = ALIASES.get(name, name)
            if name in AUTH_CHANNELS and not authed:
                errors.append(AUTH_REASON)
            elif name in NOT_SIMULATED:
                errors.append(f"{name} is not supported by the simulator")
            elif name not in CHANNELS:
                errors.append(f"{name} is not a valid channel")
            else:
                wanted.append((name, list(dict.fromkeys(root + extra))))
        first: list[bytes] = []
        if kind == "subscribe":
            for name, ids in wanted:
                for pid in ids:
                    if pid not in self.products:
                        errors.append(f"{pid} is not a valid product")
                valid = [pid for pid in ids if pid in self.products]
                if name == "status":
                    first.extend(self._add(conn, name, []))
                elif valid:
                    first.extend(self._add(conn, name, valid))
                elif not ids:
                    errors.append(f"No product ids provided for the {name} channel")
        else:
            for name, ids in wanted:
                self._remove(conn, name, ids or None)
        out = [_error(reason, failed) for reason in dict.fromkeys(errors)]
        out.append(dumps({"type": "subscriptions",
                          "channels": [{"name": n, "product_ids": list(ids)} for n, ids in conn.channels.items()]}))
        out.extend(first)
        return out

    def _add(self, conn: CoinbaseConn, channel: str, ids: list[str]) -> list[bytes]:
        """Subscribe; the first frames of the new (channel, product) pairs."""
        first: list[bytes] = []
        if channel == "status":
            if "status" not in conn.channels:
                conn.channels["status"] = []
                self.status_conns.append(conn)
                first.append(dumps(self.status_body()))
            return first
        have = conn.channels.setdefault(channel, [])
        for pid in ids:
            if pid in have:
                continue
            have.append(pid)
            p = self.products[pid]
            p.subs.setdefault(channel, []).append(conn)
            if channel == "matches":
                first.append(dumps(self.match_body(p, p.latest, "last_match")))
            elif channel == "ticker":
                first.append(dumps(self.ticker_body(p, p.latest, self.now_ms())))
            elif channel in ("level2", "level2_batch"):
                first.append(dumps(self.snapshot_body(p)))
        return first

    def _remove(self, conn: CoinbaseConn, channel: str, ids: list[str] | None) -> None:
        """Unsubscribe ``ids`` (every product when None) from ``channel``."""
        have = conn.channels.get(channel)
        if have is None:
            return
        everyone = self.per_connection.get(channel)
        if everyone is not None:  # a channel of the connection, not of products
            if ids is None:
                del conn.channels[channel]
                everyone.remove(conn)
            return
        for pid in list(have) if ids is None else ids:
            if pid not in have:
                continue
            have.remove(pid)
            p = self.products[pid]
            conns = p.subs[channel]
            conns.remove(conn)
            if not conns:
                del p.subs[channel]
                self._unwatched(p, channel)
        if not have:
            del conn.channels[channel]

    def _unwatched(self, p: Product, channel: str) -> None:
        """Nobody receives ``channel`` of ``p`` any more: forget what was kept for its subscribers."""
        if channel == "level2_batch":
            p.batch = {}
        elif channel == "level2":
            p.live = {}

    # faults -----------------------------------------------------------------------------------------
    def _products_for(self, symbol: str | None) -> list[Product]:
        if symbol is None:
            return list(self.products.values())
        pid = self.aliases.get(symbol)
        return [] if pid is None else [self.products[pid]]

    def stall(self, symbol: str | None, seconds: float) -> None:
        if symbol is None:
            self.stalls.add(None, seconds)
            return
        for p in self._products_for(symbol):
            self.stalls.add(p.id, seconds)

    def skip_trade_ids(self, n: int, symbol: str | None) -> None:
        for p in self._products_for(symbol):
            self.market.skip_trade_ids(n, p.id)

    def skip_depth_ids(self, symbol: str | None) -> None:
        for p in self._products_for(symbol):
            p.drop_batch = True
            p.drop_full = 1

    # REST -------------------------------------------------------------------------------------------
    def rest(self, path: str, query: dict[str, str]) -> tuple[int, Any]:
        if self.clock is not None:
            self.step(self.clock())  # answer from the market as of now, not as of the last tick
        parts = [s for s in path[len("/coinbase"):].split("/") if s]
        try:
            if parts == ["time"]:
                now = self.now_ms()
                return 200, {"iso": iso(now), "epoch": now / 1000.0}
            if parts == ["products"]:
                return 200, [self.product_body(p) for p in self.products.values()]
            if len(parts) in (2, 3) and parts[0] == "products":
                p = self.products.get(parts[1])
                if p is None:
                    return 404, {"message": "NotFound"}
                if len(parts) == 2:
                    return 200, self.product_body(p)
                handler = _PRODUCT_REST.get(parts[2])
                if handler is not None:
                    return handler(self, p, query)
        except _BadRequest as exc:
            return 400, {"message": exc.args[0]}
        return 404, {"message": "NotFound"}

    def rest_candles(self, p: Product, query: dict[str, str]) -> tuple[int, Any]:
        raw = query.get("granularity") or "60"
        if not raw.isdigit() or int(raw) not in GRANULARITIES:
            raise _BadRequest("Unsupported granularity")
        g = int(raw)
        start, end = _when(query, "start"), _when(query, "end")
        if start is not None and end is None:
            end = start + MAX_CANDLES * g
        if end is not None and start is None:
            start = end - (MAX_CANDLES - 1) * g
        if start is not None and end is not None and (end - start) // g + 1 > MAX_CANDLES:
            raise _BadRequest("granularity too small for the requested time range. "
                              "Count of aggregations requested exceeds 300")
        rows = self.candles(p, g, start, end)
        return 200, rows[-MAX_CANDLES:][::-1]

    def candles(self, p: Product, granularity: int, start: int | None, end: int | None) -> list[list[float]]:
        """Rows ``[time, low, high, open, close, volume]`` oldest first, time in [start, end] (seconds)."""
        interval = GRANULARITIES[granularity]
        source = interval if interval in ("1s", "1m") else "1m"
        g_ms = granularity * 1000
        lo = None if start is None else (start - start % granularity) * 1000
        hi = None if end is None else end * 1000
        bars = self.market.klines(p.id, source, lo, hi, 1 << 30)
        buckets: dict[int, list[int]] = {}  # bucket ms -> [low, high, open, close, lots]
        for k in bars:
            if not k.trades:
                continue
            key = k.open_time - k.open_time % g_ms
            b = buckets.get(key)
            if b is None:
                buckets[key] = [k.low, k.high, k.open, k.close, k.volume]
            else:
                b[0] = min(b[0], k.low)
                b[1] = max(b[1], k.high)
                b[3] = k.close
                b[4] += k.volume
        sym = p.sym
        return [[key // 1000, sym.price(b[0]), sym.price(b[1]), sym.price(b[2]), sym.price(b[3]), sym.qty(b[4])]
                for key, b in buckets.items() if start is None or key // 1000 >= start]

    def rest_book(self, p: Product, query: dict[str, str]) -> tuple[int, Any]:
        level = query.get("level") or "1"
        if level not in ("1", "2", "3"):
            raise _BadRequest("Invalid level")
        if level == "3":
            return 200, {"bids": p.l3.snapshot_rows(True), "asks": p.l3.snapshot_rows(False), "sequence": p.seq,
                         "auction_mode": False, "auction": None, "time": iso(self.now_ms())}
        _, bids, asks = self.market.depth(p.id, 1 if level == "1" else self.book_levels)
        px, sz = p.px, p.sz
        return 200, {"bids": [[px(t), sz(q), _num_orders(q)] for t, q in bids],
                     "asks": [[px(t), sz(q), _num_orders(q)] for t, q in asks],
                     "sequence": p.seq, "auction_mode": False, "auction": None, "time": iso(self.now_ms())}

    def rest_trades(self, p: Product, query: dict[str, str]) -> tuple[int, Any]:
        limit = _int(query, "limit") or 100
        after = _int(query, "after")  # older than this trade id
        rows = []
        for tr, _, _ in reversed(p.recent):
            if after is not None and tr.trade_id >= after:
                continue
            rows.append({"time": iso(tr.time), "trade_id": tr.trade_id, "price": p.px(tr.price),
                         "size": p.sz(tr.qty), "side": "buy" if tr.buyer_maker else "sell"})
            if len(rows) >= min(limit, 1000):
                break
        return 200, rows

    def rest_ticker(self, p: Product, query: dict[str, str]) -> tuple[int, Any]:
        tr = p.latest[0]
        b, _, a, _ = p.sym.best()
        volume = self._stats(p, self.now_ms())[4]
        return 200, {"ask": p.px(a), "bid": p.px(b), "volume": p.sz(volume), "trade_id": tr.trade_id,
                     "price": p.px(tr.price), "size": p.sz(tr.qty), "time": iso(tr.time)}

    def rest_stats(self, p: Product, query: dict[str, str]) -> tuple[int, Any]:
        _, open_, high, low, volume = self._stats(p, self.now_ms())
        return 200, {"open": p.px(open_), "high": p.px(high), "low": p.px(low), "last": p.px(p.latest[0].price),
                     "volume": p.sz(volume), "volume_30day": p.sz(p.total_lots)}


class _BadRequest(Exception):
    pass


def _strings(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def _num_orders(lots: int) -> int:
    return 1 + lots % 7  # a stable, made-up order count per level


def _int(query: dict[str, str], key: str) -> int | None:
    raw = query.get(key)
    if not raw:
        return None
    if not raw.isdigit():
        raise _BadRequest(f"Invalid {key}")
    return int(raw)


def _when(query: dict[str, str], key: str) -> int | None:
    """``start``/``end``: epoch seconds or an ISO 8601 time -> epoch seconds."""
    raw = query.get(key)
    if not raw:
        return None
    try:
        if raw.replace(".", "", 1).isdigit():
            return int(float(raw))
        dt = datetime.fromisoformat(raw.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise _BadRequest(f"Invalid {key}") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp())


_PRODUCT_REST: dict[str, Callable[[CoinbaseVenue, Product, dict[str, str]], tuple[int, Any]]] = {
    "candles": CoinbaseVenue.rest_candles,
    "book": CoinbaseVenue.rest_book,
    "trades": CoinbaseVenue.rest_trades,
    "ticker": CoinbaseVenue.rest_ticker,
    "stats": CoinbaseVenue.rest_stats,
}


def make_venue(sim: Simulator, cls: type[CoinbaseVenue] = CoinbaseVenue) -> CoinbaseVenue:
    """Registry hook used by feeds.sim.server.Simulator: follows the Binance venue's market when present."""

    return cls(sim.symbols, sim.seed, trades_per_second=sim.trades_per_second,
               book_levels=sim.book_levels, clock=sim.now_ms, reference=sim.spot_market)
