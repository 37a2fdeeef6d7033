"""Binance USD-M futures market data on top of SimMarket, below the path ``/futures`` of the same server.

The spot simulator's machinery with what futures changes (feeds/venues/binance_futures.py has the facts):
streams ``aggTrade``, ``trade``, ``kline_<i>`` (no ``1s``), ``bookTicker`` (with ``e``, ``E`` and ``T``),
diff depth ``depth[@100ms|@500ms]`` whose every event carries ``pu``, the ``u`` of the event before it
on that stream (sent or not: a dropped event breaks the chain, as a lost frame would), ``markPrice[@1s]``
every second (or 3 s) with a funding clock (funding every 8 hours of simulated time) and ``forceOrder``
(an occasional liquidation, at most one per symbol per second). REST below ``/futures``:
``/fapi/v1/depth`` (with ``E`` and ``T``), ``/fapi/v1/klines``, ``/fapi/v1/exchangeInfo``,
``/fapi/v1/openInterest``, ``/fapi/v1/time``, ``/fapi/v1/ping``.

The market is its own SimMarket (another seed, spot's start prices; both revert to that anchor), so perp
and spot move apart a little: a small basis.
"""
from __future__ import annotations

import math
import random
import re
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
from .market import INTERVAL_MS, SimMarket, SimSymbol

if TYPE_CHECKING:
    from .server import Simulator

PREFIX = "/futures"
FUNDING_PERIOD_MS = 8 * 3600 * 1000
LIQUIDATION_CHANCE = 0.08  # per symbol and second
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

    def emit(self, name: str, conns: list[BinanceConn], payload: dict[str, Any]) -> None:
        if "e" not in payload and "u" in payload:  # bookTicker: futures adds the event type and times
            now = self.market.now_ms or 0
            payload = {"e": "bookTicker", "u": payload["u"], "E": now, "T": now, **payload}
        super().emit(name, conns, payload)

    def step(self, now_ms: int) -> None:
        last = self.last_ms
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
                self.emit(name, conns, mark_payload(sym, now))
            elif spec.kind == "forceOrder" and self.rng.random() < LIQUIDATION_CHANCE:
                self.emit(name, conns, self._liquidation(sym, now))

    def _liquidation(self, sym: SimSymbol, now: int) -> dict[str, Any]:
        b, _, a, _ = sym.best()
        sell = self.rng.random() < 0.5  # a long closed by a sell below the bid, or a short by a buy above the ask
        ticks = b - max(1, b // 500) if sell else a + max(1, a // 500)
        lots = max(1, int(self.rng.expovariate(1.0) * 50))
        return {"e": "forceOrder", "E": now, "o": {
            "s": sym.name, "S": "SELL" if sell else "BUY", "o": "LIMIT", "f": "IOC", "q": qty(sym, lots),
            "p": px(sym, ticks), "ap": px(sym, ticks), "X": "FILLED", "l": qty(sym, lots), "z": qty(sym, lots),
            "T": now}}


def mark_payload(sym: SimSymbol, now: int) -> dict[str, Any]:
    b, _, a, _ = sym.best()
    mark = (b + a) * 0.5 * sym.tick
    index = mark * (1.0 - 0.0004 * math.sin(now / 600_000.0))  # the index drifts a few bps around the mark
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
        oi = 20_000.0 * (1.0 + 0.02 * math.sin(now / 300_000.0)) + traded * sym.step
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
    return BinanceFuturesSimVenue(market, clock=sim.now_ms, max_incoming_per_s=sim.max_incoming_per_s,
                                  max_streams=sim.max_streams, lifetime_s=sim.connection_lifetime_s)
