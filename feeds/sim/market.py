"""A seeded, deterministic simulated market: trades, klines, best bid/ask, 24 h stats and an L2 book.

Pure Python, no asyncio: the caller drives it with ``step(now_ms)`` from whatever clock it owns.
Each symbol has its own ``random.Random`` seeded from ``(seed, symbol)`` and draws every random number
inside one trade arrival, so the trades for a symbol depend only on the seed and the arrival times,
not on how the caller slices time into steps.

Per arrival (Poisson arrivals at ``trades_per_second`` per symbol):
  1. the mid price takes a random-walk step (scaled by the square root of the elapsed time);
  2. the book is re-centred on the mid: levels crossing the new top are removed, new levels are
     added at random gaps, each side is kept at ``book_levels`` levels;
  3. one trade prints at the best ask (taker buy) or best bid (taker sell) and eats into that level;
  4. one random level gets a new size (book "noise");
  5. klines of every interval and the 24 h minute buckets absorb the trade.

Prices are integer ticks and sizes integer lots (``SimSymbol.tick`` / ``.step`` convert), so the book
is exact and every venue formats the same numbers. Every book level change takes the next update id
(one id space per symbol, like Binance's); ``SimSymbol.changes`` lists this step's changes and
``SimSymbol.tops`` this step's top-of-book changes. Closed klines are immutable ``Kline`` objects kept in
a bounded history: streams and REST both read those same objects.
"""
from __future__ import annotations

import calendar
import math
import random
import time
from bisect import bisect_left, bisect_right
from collections import deque
from collections.abc import Iterable, Mapping
from operator import attrgetter
from typing import Any, NamedTuple, Protocol

INTERVAL_MS = {
    "1s": 1_000, "1m": 60_000, "3m": 180_000, "5m": 300_000, "15m": 900_000, "30m": 1_800_000,
    "1h": 3_600_000, "2h": 7_200_000, "4h": 14_400_000, "6h": 21_600_000, "8h": 28_800_000,
    "12h": 43_200_000, "1d": 86_400_000, "3d": 259_200_000, "1w": 604_800_000,
    "1M": 2_592_000_000,  # nominal only: months follow the calendar (see bar_next)
}
DAY_MS = 86_400_000
_MONDAY_MS = 4 * DAY_MS  # 1970-01-05 was a Monday; weekly bars open on Mondays 00:00 UTC

BASE_PRICES = {"BTC": 60_000.0, "ETH": 3_000.0, "SOL": 150.0, "BNB": 600.0, "XRP": 0.6,
               "DOGE": 0.15, "ADA": 0.45, "LTC": 80.0, "AVAX": 30.0, "LINK": 15.0}
_QUOTES = ("FDUSD", "USDT", "USDC", "BUSD", "TUSD", "EUR", "USD", "BTC", "ETH", "BNB")


def bar_open(interval: str, t_ms: int) -> int:
    """Open time of the ``interval`` bar containing ``t_ms`` (UTC boundaries, like Binance)."""
    if interval == "1M":
        year, month = _year_month(t_ms)
        return calendar.timegm((year, month, 1, 0, 0, 0)) * 1000
    ms = INTERVAL_MS[interval]
    if interval == "1w":
        return (t_ms - _MONDAY_MS) // ms * ms + _MONDAY_MS
    return t_ms - t_ms % ms


def bar_next(interval: str, open_ms: int) -> int:
    """Open time of the bar after the one opening at ``open_ms``."""
    if interval == "1M":
        year, month = _year_month(open_ms)
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        return calendar.timegm((year, month, 1, 0, 0, 0)) * 1000
    return open_ms + INTERVAL_MS[interval]


def _year_month(t_ms: int) -> tuple[int, int]:
    tm = time.gmtime(t_ms // 1000)
    return tm.tm_year, tm.tm_mon


def split_symbol(symbol: str) -> tuple[str, str]:
    """``"BTCUSDT"`` or ``"BTC-USD"`` -> ``("BTC", "USDT"/"USD")``; unknown quote -> ``(symbol, "")``."""
    s = symbol.upper()
    for sep in "-/_":
        if sep in s:
            base, _, quote = s.partition(sep)
            return base, quote
    for quote in _QUOTES:
        if s.endswith(quote) and len(s) > len(quote):
            return s[: -len(quote)], quote
    return s, ""


def base_price(symbol: str) -> float:
    return BASE_PRICES.get(split_symbol(symbol)[0], 100.0)


def tick_size(price: float) -> float:
    return 0.01 if price >= 10 else 10.0 ** (math.floor(math.log10(price)) - 3)


def lot_size(price: float) -> float:
    return min(1.0, max(1e-8, 10.0 ** math.floor(math.log10(1.0 / price))))


class SimTrade(NamedTuple):
    symbol: str
    agg_id: int  # Binance aggregate trade id (one fill per aggregate here)
    trade_id: int
    price: int  # ticks
    qty: int  # lots
    time: int  # ms
    buyer_maker: bool  # True when the taker sold


class Kline:
    """One bar. Mutable while forming; once ``closed`` it is never touched again."""

    __slots__ = ("symbol", "interval", "open_time", "close_time", "open", "high", "low", "close",
                 "volume", "quote_volume", "trades", "first_id", "last_id", "taker_volume",
                 "taker_quote", "closed")

    def __init__(self, symbol: str, interval: str, open_time: int, price: int) -> None:
        self.symbol = symbol
        self.interval = interval
        self.open_time = open_time
        self.close_time = bar_next(interval, open_time) - 1
        self.open = self.high = self.low = self.close = price  # ticks; an empty bar repeats the last close
        self.volume = 0  # lots
        self.quote_volume = 0.0
        self.trades = 0
        self.first_id = -1
        self.last_id = -1
        self.taker_volume = 0  # lots bought by takers
        self.taker_quote = 0.0
        self.closed = False

    def __repr__(self) -> str:
        return (f"Kline({self.symbol} {self.interval} {self.open_time} o={self.open} h={self.high} "
                f"l={self.low} c={self.close} n={self.trades} x={self.closed})")


class KlineSeries:
    __slots__ = ("interval", "current", "history")

    def __init__(self, interval: str, current: Kline) -> None:
        self.interval = interval
        self.current = current
        self.history: list[Kline] = []


class SimSymbol:
    """All live state of one symbol. Read freely; only SimMarket mutates it."""

    def __init__(self, name: str, seed: int, price: float | None, levels: int) -> None:
        self.name = name
        self.rng = rng = random.Random(f"{seed}:{name}")
        px = price if price is not None else base_price(name) * (0.97 + 0.06 * rng.random())
        self.base_asset, self.quote_asset = split_symbol(name)
        self.tick = tick_size(px)
        self.step = lot_size(px)
        self.price_decimals = max(0, -math.floor(math.log10(self.tick) + 1e-9))
        self.qty_decimals = max(0, -math.floor(math.log10(self.step) + 1e-9))
        self.unit_quote = self.tick * self.step  # quote value of one tick times one lot
        self.anchor = px / self.tick  # mean-reversion anchor, ticks
        self.mid = self.anchor  # ticks, float
        self.sigma = 0.0003 * self.anchor  # random-walk scale, ticks per sqrt(second)
        self.levels = levels
        self.gap = max(1, round(0.005 * self.anchor / levels))  # mean spacing of deep levels
        self.level_lots = max(1, int(20_000.0 / (px * self.step)))  # mean level size, ~20k quote
        self.trade_lots = max(1, int(1_500.0 / (px * self.step)))  # mean trade size, ~1.5k quote
        self.bids: dict[int, int] = {}
        self.asks: dict[int, int] = {}
        self.bid_ticks: list[int] = []  # ascending, best last
        self.ask_ticks: list[int] = []  # ascending, best first
        self.update_id = rng.randrange(10_000_000, 90_000_000)
        self.changes: list[tuple[int, bool, int, int]] = []  # this step: (update_id, is_bid, tick, lots)
        self.trade_uids: list[int] = []  # this step: the update id of each trade's change of its level
        self.tops: list[tuple[int, int, int, int, int]] = []  # this step: (update_id, bid, bid_lots, ask, ask_lots)
        self.last_top = (0, 0, 0, 0)
        self.next_agg_id = rng.randrange(1_000_000, 9_000_000)
        self.next_trade_id = rng.randrange(10_000_000, 90_000_000)
        self.last_price = int(self.mid)
        self.last_qty = 0
        self.last_time = 0  # ms of the last arrival
        self.next_arrival = 0.0
        self.series: dict[str, KlineSeries] = {}
        self.buckets: deque[list[float]] = deque()  # 24 h of 1-minute stats (see _bucket)
        self.prev_close = self.last_price  # last price before the 24 h window
        self._build_book()

    # prices and sizes -------------------------------------------------------------------------
    def price(self, ticks: int) -> float:
        return round(ticks * self.tick, self.price_decimals)

    def qty(self, lots: int) -> float:
        return round(lots * self.step, self.qty_decimals)

    def best(self) -> tuple[int, int, int, int]:
        """(bid ticks, bid lots, ask ticks, ask lots)."""
        b, a = self.bid_ticks[-1], self.ask_ticks[0]
        return b, self.bids[b], a, self.asks[a]

    def _gap(self) -> int:
        g = self.gap
        return 1 if g == 1 else 1 + int(self.rng.random() * (2 * g - 1))

    def _lots(self) -> int:
        return 1 + int(-math.log(1.0 - self.rng.random()) * self.level_lots)

    def _build_book(self) -> None:
        top = math.floor(self.mid - 0.5)
        bt, at, bids, asks = self.bid_ticks, self.ask_ticks, self.bids, self.asks
        p = top
        while len(bt) < self.levels and p > 0:
            bt.append(p)
            bids[p] = self._lots()
            p -= self._gap()
        bt.reverse()
        p = top + 1
        while len(at) < self.levels:
            at.append(p)
            asks[p] = self._lots()
            p += self._gap()
        self.last_top = self.best()


class SpotSymbol(Protocol):
    """What a venue following another market reads of one of its symbols (a SimSymbol, or a MidPrice)."""

    @property
    def mid(self) -> float: ...  # ticks

    @property
    def tick(self) -> float: ...


class SpotMarket(Protocol):
    """What a venue following another market reads of it (a SimMarket, or a MarketMoment)."""

    @property
    def now_ms(self) -> int | None: ...

    @property
    def symbols(self) -> Mapping[str, SpotSymbol]: ...


class MidPrice(NamedTuple):
    mid: float  # ticks
    tick: float


class MarketMoment(NamedTuple):
    """A market's mid prices as they were after one step: what a follower built after it reads of that step."""

    now_ms: int | None
    symbols: dict[str, MidPrice]


def market_moment(market: SpotMarket) -> MarketMoment:
    return MarketMoment(market.now_ms, {name: MidPrice(s.mid, s.tick) for name, s in market.symbols.items()})


class SimMarket:
    """A deterministic market for several symbols, advanced by ``step(now_ms)``."""

    def __init__(self, symbols: Iterable[str], seed: int = 7, start_prices: dict[str, float] | None = None,
                 trades_per_second: float = 20.0, intervals: Iterable[str] = ("1s", "1m"),
                 book_levels: int = 200, history_limit: int = 10_000) -> None:
        start_prices = start_prices or {}
        self.seed = seed
        self.symbols: dict[str, SimSymbol] = {
            s: SimSymbol(s, seed, start_prices.get(s), book_levels) for s in symbols}
        self.trades_per_second = float(trades_per_second)
        self.intervals: list[str] = []
        self.history_limit = history_limit
        self.now_ms: int | None = None
        self.closed: list[Kline] = []  # klines closed during the last step, oldest first
        for iv in intervals:
            self.ensure_interval(iv)

    # configuration ----------------------------------------------------------------------------
    def ensure_interval(self, interval: str) -> None:
        """Start keeping klines of ``interval`` (bars start now; earlier history does not exist)."""
        if interval not in INTERVAL_MS:
            raise ValueError(f"unknown interval {interval!r}")
        if interval in self.intervals:
            return
        self.intervals.append(interval)
        if self.now_ms is not None:
            for sym in self.symbols.values():
                self._open_series(sym, interval, self.now_ms)

    def set_trades_per_second(self, rate: float) -> None:
        self.trades_per_second = float(rate)

    def _open_series(self, sym: SimSymbol, interval: str, t: int) -> None:
        sym.series[interval] = KlineSeries(interval, Kline(sym.name, interval, bar_open(interval, t), sym.last_price))

    def _start(self, now_ms: int) -> None:
        self.now_ms = now_ms
        for sym in self.symbols.values():
            sym.last_time = now_ms
            sym.next_arrival = now_ms + self._wait(sym)
            for iv in self.intervals:
                self._open_series(sym, iv, now_ms)

    def _wait(self, sym: SimSymbol) -> float:
        rate = self.trades_per_second
        return -math.log(1.0 - sym.rng.random()) * 1000.0 / rate if rate > 0 else math.inf

    # driving ----------------------------------------------------------------------------------
    def step(self, now_ms: int) -> list[SimTrade]:
        """Advance to ``now_ms``: generate the trades due, roll klines; return this step's trades."""
        self.closed.clear()
        if self.now_ms is None:
            self._start(now_ms)
        trades: list[SimTrade] = []
        assert self.now_ms is not None  # set by _start
        if now_ms < self.now_ms:
            now_ms = self.now_ms
        for sym in self.symbols.values():
            sym.changes.clear()
            sym.trade_uids.clear()
            sym.tops.clear()
            t = sym.next_arrival
            while t <= now_ms:
                trades.append(self._arrival(sym, int(t)))
                t += self._wait(sym)
            sym.next_arrival = t
            for ser in sym.series.values():
                if now_ms > ser.current.close_time:
                    self._roll(sym, ser, now_ms)
        self.now_ms = now_ms
        return trades

    def _arrival(self, sym: SimSymbol, t: int) -> SimTrade:
        rng = sym.rng
        dt = (t - sym.last_time) / 1000.0
        sym.last_time = t
        # random walk with a weak pull back to the anchor so long runs stay in range
        sym.mid += sym.sigma * math.sqrt(dt) * rng.gauss(0.0, 1.0) + (sym.anchor - sym.mid) * 1e-5 * dt
        if sym.mid < 10 * sym.gap:
            sym.mid = 10.0 * sym.gap
        self._recenter(sym)

        buy = rng.random() < 0.5
        lots = 1 + int(-math.log(1.0 - rng.random()) * sym.trade_lots)
        if buy:
            price = sym.ask_ticks[0]
            side, is_bid = sym.asks, False
        else:
            price = sym.bid_ticks[-1]
            side, is_bid = sym.bids, True
        left = side[price] - lots
        side[price] = left if left > 0 else sym._lots()  # an emptied top level is refilled at once
        sym.update_id += 1
        sym.changes.append((sym.update_id, is_bid, price, side[price]))
        sym.trade_uids.append(sym.update_id)

        # book noise: one level, biased towards the top, gets a new size
        ticks = sym.bid_ticks if rng.random() < 0.5 else sym.ask_ticks
        i = int(rng.random() ** 2 * len(ticks))
        p = ticks[-1 - i] if ticks is sym.bid_ticks else ticks[i]
        book = sym.bids if ticks is sym.bid_ticks else sym.asks
        book[p] = sym._lots()
        sym.update_id += 1
        sym.changes.append((sym.update_id, ticks is sym.bid_ticks, p, book[p]))

        top = sym.best()
        if top != sym.last_top:
            sym.last_top = top
            sym.tops.append((sym.update_id, *top))

        sym.next_agg_id += 1
        sym.next_trade_id += 1
        trade = SimTrade(sym.name, sym.next_agg_id, sym.next_trade_id, price, lots, t, not buy)
        sym.last_price = price
        sym.last_qty = lots
        quote = price * lots * sym.unit_quote
        for ser in sym.series.values():
            k = ser.current
            if t > k.close_time:
                self._roll(sym, ser, t)
                k = ser.current
            if k.trades == 0:
                k.open = k.high = k.low = price
                k.first_id = trade.trade_id
            elif price > k.high:
                k.high = price
            elif price < k.low:
                k.low = price
            k.close = price
            k.volume += lots
            k.quote_volume += quote
            k.trades += 1
            k.last_id = trade.trade_id
            if buy:
                k.taker_volume += lots
                k.taker_quote += quote
        self._bucket(sym, trade, quote)
        return trade

    def _recenter(self, sym: SimSymbol) -> None:
        """Move the top of book to the mid; keep ``levels`` levels per side; record every change."""
        spread = 1 if sym.rng.random() < 0.8 else 2
        tb = math.floor(sym.mid - spread / 2)
        ta = tb + spread
        n, gap, uid, changes = sym.levels, sym.gap, sym.update_id, sym.changes
        bids, bt, asks, at = sym.bids, sym.bid_ticks, sym.asks, sym.ask_ticks
        reach = n * gap

        while bt and bt[-1] > tb:  # bids now above the top
            p = bt.pop()
            del bids[p]
            uid += 1
            changes.append((uid, True, p, 0))
        top = bt[-1] if bt else tb - reach
        if top < tb:  # price rose: fill the gap up to the new best bid
            p = max(top, tb - reach) + sym._gap()
            while p < tb:
                bt.append(p)
                bids[p] = q = sym._lots()
                uid += 1
                changes.append((uid, True, p, q))
                p += sym._gap()
            bt.append(tb)
            bids[tb] = q = sym._lots()
            uid += 1
            changes.append((uid, True, tb, q))
        excess = len(bt) - n
        if excess > 0:  # drop the deepest bids
            for p in bt[:excess]:
                del bids[p]
                uid += 1
                changes.append((uid, True, p, 0))
            del bt[:excess]
        if len(bt) < n:  # extend the bid side downwards
            low = bt[0]
            new: list[int] = []
            while len(bt) + len(new) < n:
                low -= sym._gap()
                if low <= 0:
                    break
                new.append(low)
                bids[low] = q = sym._lots()
                uid += 1
                changes.append((uid, True, low, q))
            new.reverse()
            bt[0:0] = new

        k = 0
        while k < len(at) and at[k] < ta:  # asks now below the top
            p = at[k]
            del asks[p]
            uid += 1
            changes.append((uid, False, p, 0))
            k += 1
        if k:
            del at[:k]
        low = at[0] if at else ta + reach
        if low > ta:  # price fell: fill the gap down to the new best ask
            new = [ta]
            asks[ta] = q = sym._lots()
            uid += 1
            changes.append((uid, False, ta, q))
            p = ta + sym._gap()
            end = min(low, ta + reach)
            while p < end:
                new.append(p)
                asks[p] = q = sym._lots()
                uid += 1
                changes.append((uid, False, p, q))
                p += sym._gap()
            at[0:0] = new
        if len(at) > n:  # drop the deepest asks
            for p in at[n:]:
                del asks[p]
                uid += 1
                changes.append((uid, False, p, 0))
            del at[n:]
        while len(at) < n:  # extend the ask side upwards
            p = at[-1] + sym._gap()
            at.append(p)
            asks[p] = q = sym._lots()
            uid += 1
            changes.append((uid, False, p, q))
        sym.update_id = uid

    def _roll(self, sym: SimSymbol, ser: KlineSeries, t: int) -> None:
        """Close the forming bar (and any empty bars after it) up to the bar that contains ``t``."""
        k = ser.current
        iv, hist, closed = ser.interval, ser.history, self.closed
        while True:
            k.closed = True
            hist.append(k)
            closed.append(k)
            nxt = k.close_time + 1
            if t - nxt > 1000 * INTERVAL_MS[iv]:  # a very long pause: skip instead of filling
                nxt = bar_open(iv, t)
            k = Kline(sym.name, iv, nxt, k.close)
            if t <= k.close_time:
                break
        ser.current = k
        if len(hist) > self.history_limit + self.history_limit // 4:
            del hist[: len(hist) - self.history_limit]

    def _bucket(self, sym: SimSymbol, tr: SimTrade, quote: float) -> None:
        # bucket: [minute, open, high, low, close, volume lots, quote, count, first id, last id]
        minute = tr.time - tr.time % 60_000
        buckets = sym.buckets
        if buckets and buckets[-1][0] == minute:
            b = buckets[-1]
            if tr.price > b[2]:
                b[2] = tr.price
            if tr.price < b[3]:
                b[3] = tr.price
            b[4] = tr.price
            b[5] += tr.qty
            b[6] += quote
            b[7] += 1
            b[9] = tr.trade_id
        else:
            buckets.append([minute, tr.price, tr.price, tr.price, tr.price, tr.qty, quote, 1,
                            tr.trade_id, tr.trade_id])

    # queries ----------------------------------------------------------------------------------
    def ticker(self, symbol: str, now_ms: int) -> dict[str, Any]:
        """Rolling 24 h statistics (minute resolution), prices in ticks and volumes in lots."""
        sym = self.symbols[symbol]
        buckets = sym.buckets
        while buckets and buckets[0][0] <= now_ms - DAY_MS:
            sym.prev_close = int(buckets.popleft()[4])  # prices are whole ticks; only the quote column is float
        if not buckets:
            p = sym.last_price
            return {"open": p, "high": p, "low": p, "last": p, "last_qty": 0, "volume": 0,
                    "quote_volume": 0.0, "first_id": -1, "last_id": -1, "count": 0,
                    "prev_close": sym.prev_close, "open_time": now_ms - DAY_MS, "close_time": now_ms}
        return {
            "open": buckets[0][1], "high": max(b[2] for b in buckets), "low": min(b[3] for b in buckets),
            "last": sym.last_price, "last_qty": sym.last_qty, "volume": sum(b[5] for b in buckets),
            "quote_volume": sum(b[6] for b in buckets), "first_id": buckets[0][8],
            "last_id": buckets[-1][9], "count": sum(b[7] for b in buckets),
            "prev_close": sym.prev_close, "open_time": now_ms - DAY_MS, "close_time": now_ms,
        }

    def depth(self, symbol: str, limit: int) -> tuple[int, list[tuple[int, int]], list[tuple[int, int]]]:
        """(last update id, bids best first, asks best first) as (ticks, lots) pairs."""
        sym = self.symbols[symbol]
        bids, asks = sym.bids, sym.asks
        bt = sym.bid_ticks[: -limit - 1: -1] if limit < len(sym.bid_ticks) else sym.bid_ticks[::-1]
        return (sym.update_id, [(p, bids[p]) for p in bt], [(p, asks[p]) for p in sym.ask_ticks[:limit]])

    def klines(self, symbol: str, interval: str, start: int | None = None, end: int | None = None,
               limit: int = 500) -> list[Kline]:
        """Bars keyed by open time in [start, end], oldest first, the forming bar included (REST rules:
        with ``start`` the oldest ``limit`` bars from there, otherwise the newest ``limit``)."""
        self.ensure_interval(interval)
        sym = self.symbols[symbol]
        ser = sym.series.get(interval)
        if ser is None:
            return []
        bars = ser.history + [ser.current]
        key = attrgetter("open_time")
        lo = 0 if start is None else bisect_left(bars, start, key=key)
        hi = len(bars) if end is None else bisect_right(bars, end, key=key)
        if start is not None:
            return bars[lo: min(hi, lo + limit)]
        return bars[max(lo, hi - limit): hi]

    # forks and faults -------------------------------------------------------------------------
    def fork(self, seed: int, trades_per_second: float, symbols: Iterable[str] | None = None) -> SimMarket:
        """A copy of the live state (book, ids, prices, forming bars; no history) of ``symbols`` (all
        if None) with its own randomness, for pre-generating traffic that continues this market's ids."""
        clone = SimMarket([], seed, trades_per_second=trades_per_second, history_limit=self.history_limit)
        clone.intervals = list(self.intervals)
        clone.now_ms = self.now_ms
        wanted = self.symbols if symbols is None else [s for s in symbols if s in self.symbols]
        for name in wanted:
            sym = self.symbols[name]
            c = SimSymbol.__new__(SimSymbol)
            c.__dict__.update(sym.__dict__)
            c.rng = random.Random(f"{seed}:{name}:fork")
            c.bids, c.asks = dict(sym.bids), dict(sym.asks)
            c.bid_ticks, c.ask_ticks = list(sym.bid_ticks), list(sym.ask_ticks)
            c.changes, c.tops, c.trade_uids = [], [], []
            c.buckets = deque(list(b) for b in sym.buckets)
            c.series = {}
            for iv, ser in sym.series.items():
                k = Kline(name, iv, ser.current.open_time, 0)
                for slot in Kline.__slots__:
                    setattr(k, slot, getattr(ser.current, slot))
                c.series[iv] = KlineSeries(iv, k)
            clone.symbols[name] = c
        return clone

    def skip_trade_ids(self, n: int, symbol: str | None = None) -> None:
        """Fault: the next trade ids jump by ``n`` (a gap on the trade streams)."""
        for sym in self.symbols.values():
            if symbol is None or sym.name == symbol:
                sym.next_agg_id += n
                sym.next_trade_id += n
