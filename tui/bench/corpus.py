"""Deterministic Binance corpora for the benchmarks: combined-stream aggTrade / bookTicker / kline mixes.

``binance_corpus(n, ...)`` returns ``n`` frames exactly as a combined-stream connection delivers them
(``{"stream": "btcusdt@aggTrade", "data": {...}}`` as text), built with orjson from a seeded random
walk per symbol, plus the receive time of each frame. The same arguments always give the same frames.

Field values look like Binance's: 8-decimal price and size strings on each symbol's tick and lot grid,
strictly increasing aggregate and trade ids (no gaps), bid < ask, klines whose high/low/close follow
the trades and that close (one ``"x": true`` frame) when a bar's time is over. Every frame is accepted
by the codec and the guard, so the benchmarks time the normal path, not the rejection path.

Time: frame ``i`` is received at ``start + i / rate`` seconds; its exchange time ``E`` (milliseconds)
is ``EXCHANGE_DELAY_MS`` earlier. Busier symbols get more frames (weights fall as 1/rank^0.8).
"""
from __future__ import annotations

import math
import random
from typing import NamedTuple

import orjson

START_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z
EXCHANGE_DELAY_MS = 2  # receive time minus exchange time

# Base asset -> a plausible price in USDT, busiest first.
BASE_PRICES = {
    "BTC": 67_000.0, "ETH": 3_400.0, "SOL": 150.0, "BNB": 590.0, "XRP": 0.52, "DOGE": 0.15,
    "ADA": 0.45, "TRX": 0.12, "AVAX": 35.0, "SHIB": 0.000024, "DOT": 7.2, "LINK": 15.0, "BCH": 480.0,
    "NEAR": 6.5, "LTC": 82.0, "POL": 0.7, "UNI": 9.5, "ICP": 12.0, "APT": 8.9, "ETC": 27.0, "FIL": 5.8,
    "ATOM": 8.5, "XLM": 0.11, "HBAR": 0.09, "ARB": 1.1, "OP": 2.4, "INJ": 25.0, "SUI": 1.0, "SEI": 0.5,
    "TIA": 9.0, "RENDER": 8.5, "IMX": 2.1, "STX": 2.0, "VET": 0.03, "GRT": 0.28, "AAVE": 95.0,
    "MKR": 2_800.0, "ALGO": 0.18, "EGLD": 38.0, "QNT": 100.0, "SAND": 0.45, "MANA": 0.45, "AXS": 7.5,
    "THETA": 2.0, "FTM": 0.7, "FLOW": 0.9, "XTZ": 0.95, "CHZ": 0.12, "EOS": 0.8, "KAVA": 0.7, "NEO": 15.0,
    "IOTA": 0.22, "ZEC": 25.0, "DASH": 30.0, "COMP": 55.0, "SNX": 2.8, "CRV": 0.45, "LDO": 2.0,
    "RUNE": 5.5, "GALA": 0.035, "APE": 1.2, "CFX": 0.2, "ROSE": 0.1, "MINA": 0.7, "1INCH": 0.4,
    "ENJ": 0.3, "ZIL": 0.02, "BAT": 0.25, "KSM": 30.0, "WOO": 0.25, "ANKR": 0.04, "ONE": 0.02,
    "CELO": 0.75, "ICX": 0.2, "QTUM": 3.5, "RVN": 0.025, "ZRX": 0.5, "SUSHI": 1.0, "YFI": 7_000.0,
    "GMX": 30.0, "DYDX": 2.0, "BLUR": 0.35, "PEPE": 0.000012, "FLOKI": 0.0002, "BONK": 0.00003,
    "WIF": 2.5, "JUP": 1.0, "PYTH": 0.45, "ORDI": 40.0, "FET": 2.2, "WLD": 5.0, "ENA": 0.9,
    "ETHFI": 4.0, "JTO": 3.0, "STRK": 1.2, "PENDLE": 5.5, "AR": 30.0, "TON": 7.0, "JASMY": 0.03,
    "GLM": 0.4,
}


def bench_symbols(n: int = 30, quote: str = "USDT") -> list[str]:
    """The ``n`` busiest Binance symbols of ``BASE_PRICES`` (at most 100): ``["BTCUSDT", ...]``."""
    bases = list(BASE_PRICES)
    if not 0 < n <= len(bases):
        raise ValueError(f"n must be between 1 and {len(bases)}, got {n}")
    return [b + quote for b in bases[:n]]


class Corpus(NamedTuple):
    frames: list[str]  # combined-stream frames, as text (what websockets yields for a text frame)
    recv_ns: list[int]  # receive time of each frame
    symbols: list[str]
    rate: float  # frames per second of exchange time
    interval: str  # the kline interval
    counts: dict[str, int]  # frames per kind: aggTrade, bookTicker, kline, kline_closed


def _price_text(x: float) -> str:
    return f"{x:.8f}"


class _Sym:
    """The random walk of one symbol and its running ids and kline bar."""

    __slots__ = ("name", "stream", "tick", "lot", "mid", "sigma", "agg_id", "trade_id", "update_id",
                 "bar_open", "o", "h", "l", "c", "v", "qv", "n", "first", "last", "closed_bar", "kline_ms")

    def __init__(self, name: str, price: float, rng: random.Random) -> None:
        self.name = name
        self.stream = name.lower()
        self.tick = max(1e-8, 10.0 ** (math.floor(math.log10(price)) - 4))
        self.lot = max(1e-5, 10.0 ** (-math.floor(math.log10(price)) - 1))
        self.mid = price * (1.0 + rng.uniform(-0.01, 0.01))
        self.sigma = 2e-4  # relative move per trade of this symbol
        self.agg_id = rng.randrange(10**8, 3 * 10**9)
        self.trade_id = self.agg_id * 2
        self.update_id = rng.randrange(10**9, 6 * 10**10)
        self.bar_open = -1
        self.closed_bar: dict | None = None  # a bar that ended, sent with the next kline frame
        self.kline_ms = -1  # E of the last kline frame


def _kline_body(s: _Sym, interval: str, interval_ms: int, closed: bool) -> dict:
    grid = s.tick
    return {"t": s.bar_open, "T": s.bar_open + interval_ms - 1, "s": s.name, "i": interval,
            "f": s.first, "L": s.last, "o": _price_text(s.o * grid), "c": _price_text(s.c * grid),
            "h": _price_text(s.h * grid), "l": _price_text(s.l * grid), "v": _price_text(s.v),
            "n": s.n, "x": closed, "q": _price_text(s.qv), "V": _price_text(s.v * 0.5),
            "Q": _price_text(s.qv * 0.5), "B": "0"}


def binance_corpus(n: int, symbols: int | list[str] = 30, mix: tuple[float, float, float] = (0.6, 0.3, 0.1),
                   rate: float = 10_000.0, interval: str = "1s", seed: int = 1,
                   start_ms: int = START_MS) -> Corpus:
    """``n`` combined-stream frames: ``mix`` = shares of (aggTrade, bookTicker, kline) frames.

    ``symbols`` is a count (the busiest of ``bench_symbols``) or a list of Binance symbols whose base
    is in ``BASE_PRICES``. ``interval`` is the kline interval (``1s``: bars close often enough for the
    strategy to run on a short corpus).
    """
    from feeds.intervals import INTERVALS
    names = bench_symbols(symbols) if isinstance(symbols, int) else list(symbols)
    interval_ms = INTERVALS[interval]
    rng = random.Random(seed)
    syms = []
    for name in names:
        base = name[:-4] if name.endswith("USDT") else name
        syms.append(_Sym(name, BASE_PRICES[base], rng))
    weights = [1.0 / (rank + 1) ** 0.8 for rank in range(len(syms))]
    picks = rng.choices(range(len(syms)), weights, k=n)
    trade_share, quote_share = mix[0], mix[0] + mix[1]
    dumps = orjson.dumps
    frames: list[str] = []
    recv: list[int] = []
    counts = {"aggTrade": 0, "bookTicker": 0, "kline": 0, "kline_closed": 0}
    step_ns = 1e9 / rate
    start_ns = start_ms * 1_000_000
    for i, k in enumerate(picks):
        s = syms[k]
        recv_ns = start_ns + int(i * step_ns)
        e_ms = recv_ns // 1_000_000 - EXCHANGE_DELAY_MS
        u = rng.random()
        if u >= quote_share and s.kline_ms == e_ms:
            # Binance sends no two kline updates of a symbol in one ms: the next free symbol's instead
            for j in range(1, len(syms) + 1):
                s = syms[(k + j) % len(syms)]
                if s.kline_ms != e_ms:
                    break
            else:
                u = 0.0
        if u < trade_share:
            s.mid *= math.exp(s.sigma * rng.gauss(0.0, 1.0))
            ticks = max(1, round(s.mid / s.tick))
            lots = 1 + int(rng.expovariate(1.0) * 20)
            qty = lots * s.lot
            s.agg_id += 1
            first = s.trade_id + 1
            s.trade_id += 1 + int(rng.random() < 0.2)
            _bar_trade(s, e_ms, interval, interval_ms, ticks, qty, first)
            data = {"e": "aggTrade", "E": e_ms, "s": s.name, "a": s.agg_id, "p": _price_text(ticks * s.tick),
                    "q": _price_text(qty), "f": first, "l": s.trade_id, "T": e_ms,
                    "m": rng.random() < 0.5, "M": True}
            stream = "@aggTrade"
            counts["aggTrade"] += 1
        elif u < quote_share:
            bid = max(1, math.floor(s.mid / s.tick))
            ask = bid + 1 + int(rng.random() < 0.3)
            s.update_id += 1 + int(rng.expovariate(0.5))
            data = {"u": s.update_id, "s": s.name, "b": _price_text(bid * s.tick),
                    "B": _price_text((1 + int(rng.expovariate(0.1))) * s.lot),
                    "a": _price_text(ask * s.tick), "A": _price_text((1 + int(rng.expovariate(0.1))) * s.lot)}
            stream = "@bookTicker"
            counts["bookTicker"] += 1
        else:
            if s.bar_open < 0:  # no trade yet: the first bar opens at the mid
                ticks = max(1, round(s.mid / s.tick))
                _open_bar(s, e_ms - e_ms % interval_ms, ticks)
            elif e_ms >= s.bar_open + interval_ms and s.closed_bar is None:
                _roll_bar(s, e_ms, interval, interval_ms)
            if s.closed_bar is not None:
                body, s.closed_bar = s.closed_bar, None
                counts["kline_closed"] += 1
            else:
                body = _kline_body(s, interval, interval_ms, False)
            s.kline_ms = e_ms
            data = {"e": "kline", "E": e_ms, "s": s.name, "k": body}
            stream = f"@kline_{interval}"
            counts["kline"] += 1
        frames.append(dumps({"stream": s.stream + stream, "data": data}).decode())
        recv.append(recv_ns)
    return Corpus(frames, recv, names, rate, interval, counts)


def _open_bar(s: _Sym, open_ms: int, ticks: int) -> None:
    s.bar_open = open_ms
    s.o = s.h = s.l = s.c = ticks
    s.v = s.qv = 0.0
    s.n = s.first = s.last = 0


def _roll_bar(s: _Sym, e_ms: int, interval: str, interval_ms: int) -> None:
    """The current bar's time is over: keep its closed form to send, open the bar holding ``e_ms``."""
    s.closed_bar = _kline_body(s, interval, interval_ms, True)
    _open_bar(s, e_ms - e_ms % interval_ms, s.c)


def _bar_trade(s: _Sym, e_ms: int, interval: str, interval_ms: int, ticks: int, qty: float, first: int) -> None:
    if s.bar_open < 0:
        _open_bar(s, e_ms - e_ms % interval_ms, ticks)
    elif e_ms >= s.bar_open + interval_ms:
        if s.closed_bar is None:
            _roll_bar(s, e_ms, interval, interval_ms)
        else:  # two bars ended before any kline frame of this symbol: the older closed frame is dropped
            _open_bar(s, e_ms - e_ms % interval_ms, s.c)
        s.o = s.h = s.l = ticks
    if ticks > s.h:
        s.h = ticks
    elif ticks < s.l:
        s.l = ticks
    s.c = ticks
    s.v += qty
    s.qv += qty * ticks * s.tick
    if not s.n:
        s.first = first
    s.n += s.trade_id - first + 1
    s.last = s.trade_id
