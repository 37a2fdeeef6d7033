"""Binance USD-M futures market data on top of SimMarket, below the path ``/futures`` of the same server.

The spot simulator's machinery with what futures changes (feeds/venues/binance_futures.py has the facts):
streams ``aggTrade``, ``trade``, ``kline_<i>`` (no ``1s``), ``bookTicker`` (with ``e``, ``E`` and ``T``),
diff depth ``depth[@100ms|@500ms]`` whose every event carries ``pu``, the ``u`` of the event before it
on that stream (sent or not: a dropped event breaks the chain, as a lost frame would), ``markPrice[@1s]``
every second (or 3 s) with a funding clock (funding every 8 hours of simulated time) and ``forceOrder``
(an occasional liquidation, at most one per symbol per second). REST below ``/futures``:
``/fapi/v1/depth`` (with ``E`` and ``T``), ``/fapi/v1/klines``, ``/fapi/v1/exchangeInfo``,
``/fapi/v1/openInterest``, ``/fapi/v1/time``, ``/fapi/v1/ping``.

The market is its own SimMarket (another seed, spot's start prices), tied to spot: before every step each
symbol's mid is set to the spot mid times (1 + basis), where the basis is a seeded mean-reverting walk around
a premium of 1.5 bps (stationary spread about 1 bp, clamped within 3 bps of the premium), and the perp's own walk
between steps is a quarter of spot's. The spot market is the Binance venue's when it is at the same time (live,
and its mids as they were at each second while this venue's history is built after Binance's), otherwise (no
Binance venue) a private twin with spot's seed and settings, which follows the same path. The index in ``markPrice`` is the spot mid, so funding follows the premium.
"""
from __future__ import annotations

import math
import random
import re
import zlib
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from websockets.asyncio.server import ServerConnection

from .binance import (
    BinanceConn,
    BinanceStreams,
    BinanceVenue,
    DiffAcc,
    StreamSpec,
    _BadRequest,
    _levels,
    px,
    qty,
    rest_routes,
)
from .market import INTERVAL_MS, SimMarket, SimSymbol, SpotSymbol

if TYPE_CHECKING:
    from .server import Simulator

PREFIX = "/futures"
FUNDING_PERIOD_MS = 8 * 3600 * 1000
LIQUIDATION_CHANCE = 0.08  # per symbol and second
BASIS_MEAN = 1.5e-4  # perpetuals usually trade a little above spot
BASIS_TAU_S = 30.0  # mean-reversion time of the basis
BASIS_VOL = 1.0e-4 * math.sqrt(2.0 / BASIS_TAU_S)  # stationary std of the basis: 1 bp
MAX_BASIS_DEV = 3e-4  # the basis stays within 3 bps of its mean
OWN_WALK = 0.25  # the perp's own random walk between steps, relative to the market default
LIQUIDATION_MEDIAN = 8_000.0  # quote notional of the median liquidation; log-normal, so a few pass 50,000
LIQUIDATION_SPREAD = 1.2  # the log-normal's sigma
OPEN_INTEREST_NOTIONAL = 1.2e9  # quote value of every symbol's open interest (BTCUSDT's is about that)
_STREAM_RE = re.compile(r"([a-z0-9]+)@(trade|aggTrade|bookTicker|forceOrder|markPrice(@1s)?|"
                        r"kline_([0-9]+[mhdwM])|depth(@100ms|@500ms)?)\Z")


def parse_stream(name: Any) -> StreamSpec | None:
    """A futures stream name -> its spec; anything else -> None."""
    if not isinstance(name, str):
        return None
    m = _STREAM_RE.match(name)
    if m is None:
        return None
    symbol, kind, interval = m.group(1).upper(), m.group(2), m.group(4)
    if interval is not None:
        return StreamSpec(name, symbol, "kline", interval) if interval in INTERVAL_MS else None
    if kind.startswith("depth"):
        return StreamSpec(name, symbol, "depth", "", 0, m.group(5) == "@100ms")
    if kind.startswith("markPrice"):
        return StreamSpec(name, symbol, "markPrice", "", 0, m.group(3) is not None)
    return StreamSpec(name, symbol, kind)


class ChainedDiffAcc(DiffAcc):
    """A diff-depth stream whose events name the previous event's ``u`` as ``pu``."""

    __slots__ = ("prev",)

    def __init__(self) -> None:
        super().__init__()
        self.prev = 0  # u of the last event made, whether it was sent or dropped

    def take(self, sym: SimSymbol, now_ms: int) -> dict[str, Any]:
        pu = self.prev
        body = super().take(sym, now_ms)  # resets, which moves prev on
        body["T"] = now_ms
        body["pu"] = pu
        return body

    def reset(self) -> None:
        if self.last:
            self.prev = self.last
        super().reset()


def funding_rate(mark: float, index: float) -> float:
    """The simulated funding rate: the premium damped, plus Binance's usual 0.01 % interest component."""
    premium = (mark - index) / index
    return max(-0.0075, min(0.0075, 0.0001 + premium / 3.0))


class FuturesStreams(BinanceStreams):
    diff_acc = ChainedDiffAcc

    def __init__(self, market: SimMarket) -> None:
        super().__init__(market)
        self.rng = random.Random(market.seed * 7919)
        self.spot: Callable[[int], Mapping[str, SpotSymbol]] | None = None  # spot's symbols as of a time; None: untied
        self.basis: dict[str, float] = {}  # symbol -> perp/spot - 1
        self._basis_rng = random.Random(market.seed * 7919 + 1)
        self._basis_ms: int | None = None

    def couple(self, now_ms: int) -> None:
        """Set every symbol's mid to the spot mid times (1 + basis), the basis walking on."""
        if self.spot is None:
            return
        ref = self.spot(now_ms)
        dt = 0.0 if self._basis_ms is None else max(0.0, (now_ms - self._basis_ms) / 1000.0)
        self._basis_ms = now_ms
        rng = self._basis_rng
        for name, sym in self.market.symbols.items():
            rs = ref.get(name)
            if rs is None:
                continue
            b = self.basis.get(name, BASIS_MEAN)
            b += (BASIS_MEAN - b) * min(1.0, dt / BASIS_TAU_S) + BASIS_VOL * math.sqrt(dt) * rng.gauss(0.0, 1.0)
            self.basis[name] = b = min(BASIS_MEAN + MAX_BASIS_DEV, max(BASIS_MEAN - MAX_BASIS_DEV, b))
            sym.mid = rs.mid * rs.tick * (1.0 + b) / sym.tick

    def index_price(self, sym: SimSymbol) -> float | None:
        """The spot mid the perp's index follows; None when untied."""
        if self.spot is None:
            return None
        rs = self.spot(self.market.now_ms or 0).get(sym.name)
        return None if rs is None else rs.mid * rs.tick

    def emit(self, name: str, conns: list[BinanceConn], payload: dict[str, Any]) -> None:
        if "e" not in payload and "u" in payload:  # bookTicker: futures adds the event type and times
            now = self.market.now_ms or 0
            payload = {"e": "bookTicker", "u": payload["u"], "E": now, "T": now, **payload}
        super().emit(name, conns, payload)

    def step(self, now_ms: int) -> None:
        last = self.last_ms
        self.couple(now_ms)
        super().step(now_ms)
        now = self.last_ms
        if last is None or now is None or now // 1000 == last // 1000:
            return
        all_stalled, stalled = self.stalls.current()
        if all_stalled:
            return
        for name, conns in list(self.subs.items()):
            spec = conns[0].streams.get(name) if conns else None
            if spec is None or spec.symbol in stalled:
                continue
            sym = self.market.symbols.get(spec.symbol)
            if sym is None:
                continue
            if spec.kind == "markPrice" and (spec.fast or now // 3000 != last // 3000):
                self.emit(name, conns, mark_payload(sym, now, self.index_price(sym)))
            elif spec.kind == "forceOrder" and self.rng.random() < LIQUIDATION_CHANCE:
                self.emit(name, conns, self._liquidation(sym, now))

    def _liquidation(self, sym: SimSymbol, now: int) -> dict[str, Any]:
        b, _, a, _ = sym.best()
        sell = self.rng.random() < 0.5  # a long closed by a sell below the bid, or a short by a buy above the ask
        ticks = b - max(1, b // 500) if sell else a + max(1, a // 500)
        notional = math.exp(self.rng.gauss(math.log(LIQUIDATION_MEDIAN), LIQUIDATION_SPREAD))
        lots = max(1, round(notional / (ticks * sym.tick * sym.step)))
        return {"e": "forceOrder", "E": now, "o": {
            "s": sym.name, "S": "SELL" if sell else "BUY", "o": "LIMIT", "f": "IOC", "q": qty(sym, lots),
            "p": px(sym, ticks), "ap": px(sym, ticks), "X": "FILLED", "l": qty(sym, lots), "z": qty(sym, lots),
            "T": now}}


def mark_payload(sym: SimSymbol, now: int, index: float | None = None) -> dict[str, Any]:
    """A ``markPriceUpdate``; ``index`` is the spot price (None: one drifting a few bps around the mark)."""
    b, _, a, _ = sym.best()
    mark = (b + a) * 0.5 * sym.tick
    if index is None:
        index = mark * (1.0 - 0.0004 * math.sin(now / 600_000.0))
    return {"e": "markPriceUpdate", "E": now, "s": sym.name, "p": f"{mark:.8f}", "i": f"{index:.8f}",
            "P": f"{index:.8f}", "r": f"{funding_rate(mark, index):.8f}",
            "T": (now // FUNDING_PERIOD_MS + 1) * FUNDING_PERIOD_MS}


class BinanceFuturesSimVenue(BinanceVenue):
    name = "BINANCE_FUTURES"
    ws_path = PREFIX
    rest_path = PREFIX
    parse = staticmethod(parse_stream)
    streams_class = FuturesStreams

    def owns(self, path: str) -> bool:
        return path == PREFIX or path.startswith(PREFIX + "/")

    def check_ws(self, path: str, query: dict[str, str]) -> tuple[int, Any] | None:
        return super().check_ws(path[len(PREFIX):], query)

    async def serve(self, ws: ServerConnection, path: str, query: dict[str, str]) -> None:
        await super().serve(ws, path[len(PREFIX):], query)

    def rest_depth(self, query: dict[str, str]) -> tuple[int, Any]:
        sym = self._symbol(query)
        limit = min(1000, self._int_or(query, "limit", 500))
        uid, bids, asks = self.market.depth(sym.name, limit)
        now = self.now_ms()
        return 200, {"lastUpdateId": uid, "E": now, "T": now, "bids": _levels(sym, bids), "asks": _levels(sym, asks)}

    def rest_klines(self, query: dict[str, str]) -> tuple[int, Any]:
        if query.get("interval") == "1s":
            raise _BadRequest(-1120, "Invalid interval.")
        return super().rest_klines(query)

    def rest_open_interest(self, query: dict[str, str]) -> tuple[int, Any]:
        sym = self._symbol(query)
        now = self.now_ms()
        traded = sum(s.current.volume for s in sym.series.values()) if sym.series else 0
        phase = zlib.crc32(sym.name.encode()) % 628 / 100.0  # each symbol's own cycle
        oi = OPEN_INTEREST_NOTIONAL / (sym.anchor * sym.tick) * (1.0 + 0.02 * math.sin(now / 300_000.0 + phase)) \
            + traded * sym.step
        return 200, {"openInterest": f"{oi:.3f}", "symbol": sym.name, "time": now}

    @staticmethod
    def _int_or(query: dict[str, str], key: str, default: int) -> int:
        raw = query.get(key, "")
        if raw and not raw.isdigit():
            raise _BadRequest(-1100, f"Illegal characters found in parameter '{key}'.")
        return int(raw) if raw else default


BinanceFuturesSimVenue.routes = rest_routes("/fapi/v1", {
    "depth": BinanceFuturesSimVenue.rest_depth, "klines": BinanceFuturesSimVenue.rest_klines,
    "exchangeInfo": BinanceFuturesSimVenue.rest_exchange_info,
    "openInterest": BinanceFuturesSimVenue.rest_open_interest})


def make_venue(sim: Simulator) -> BinanceFuturesSimVenue:
    """Registry hook used by feeds.sim.server.Simulator."""
    intervals = [i for i in sim.intervals if i != "1s"] or ["1m"]
    # spot's start prices (SimSymbol draws them from the seed and the name): both revert to the same anchor
    spot = {s: SimSymbol(s, sim.seed, None, 1) for s in sim.symbols}
    start = {s: sym.anchor * sym.tick for s, sym in spot.items()}
    market = SimMarket(sim.symbols, sim.seed + 101, start_prices=start, trades_per_second=sim.trades_per_second,
                       intervals=intervals, book_levels=sim.book_levels)
    for sym in market.symbols.values():
        sym.sigma *= OWN_WALK
    venue = BinanceFuturesSimVenue(market, clock=sim.now_ms, max_incoming_per_s=sim.max_incoming_per_s,
                                   max_streams=sim.max_streams, lifetime_s=sim.connection_lifetime_s)
    twin = SimMarket(sim.symbols, sim.seed, trades_per_second=sim.trades_per_second, intervals=(),
                     book_levels=sim.book_levels)

    def spot_symbols(now_ms: int) -> Mapping[str, SpotSymbol]:
        live = sim.spot_market()  # live, or as it was at the step being built while the history is built
        if live is not None and live.now_ms is not None and abs(live.now_ms - now_ms) <= 2000:
            return live.symbols
        if twin.now_ms is None or now_ms >= twin.now_ms:
            twin.step(now_ms)  # warm-up history, or no Binance venue
        return twin.symbols

    assert isinstance(venue.streams, FuturesStreams)
    venue.streams.spot = spot_symbols
    return venue
