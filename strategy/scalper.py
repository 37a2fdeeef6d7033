"""The scalping signal generator: EMA crossover filtered by RSI, sized later by the risk engine.

It runs once per CLOSED bar per (venue, symbol, interval). Forming bars are ignored, and a closed bar
whose open time is not newer than the last one processed for its key (a duplicate, a replayed or a
late bar) never starts a second cycle. Backfilled bars warm the indicators but never signal: they are
history, not a chance to trade. A backfilled bar older than the newest processed (the REST answer came
after the first live bars closed) marks its series ``behind``; the caller then hands ``warm`` the
series' closed bars, which rebuilds its indicators in bar order, again without signals.

Rule: long when the fast EMA crosses above the slow EMA and RSI < rsi_long_max; short when it crosses
below and RSI > rsi_short_min. A cross is a change of the sign of (fast - slow) against the last
non-zero sign, so touching and leaving the slow line on the same side is not a cross. Stop and take
distances are ATR multiples. It never places orders.
"""
from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, fields
from typing import Any, NamedTuple

from feeds.events import Candle
from strategy.indicators import ATR, EMA, RSI


@dataclass(frozen=True)
class ScalperParams:
    fast_ema: int = 9
    slow_ema: int = 21
    rsi_period: int = 14
    rsi_long_max: float = 70.0
    rsi_short_min: float = 30.0
    atr_period: int = 14
    stop_atr: float = 1.5
    take_atr: float = 2.0

    def __post_init__(self) -> None:
        for name in ("fast_ema", "slow_ema", "rsi_period", "atr_period"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name}: expected an integer >= 1, got {value!r}")
        if self.fast_ema >= self.slow_ema:
            raise ValueError(f"fast_ema: must be smaller than slow_ema ({self.slow_ema}), got {self.fast_ema}")
        for name, low, high in (("rsi_long_max", 0.0, 100.0), ("rsi_short_min", 0.0, 100.0),
                                ("stop_atr", 0.0, math.inf), ("take_atr", 0.0, math.inf)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ValueError(f"{name}: expected a finite number, got {value!r}")
            if not low <= value <= high or (high == math.inf and value <= 0.0):
                bound = "> 0" if high == math.inf else f"between {low:g} and {high:g}"
                raise ValueError(f"{name}: must be {bound}, got {value!r}")
            object.__setattr__(self, name, float(value))

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ScalperParams:
        """Build from a config section; unknown keys and bad values raise ValueError naming the key."""
        known = {f.name for f in fields(cls)}
        for key in d:
            if key not in known:
                raise ValueError(f"{key}: unknown strategy parameter (known: {', '.join(sorted(known))})")
        return cls(**d)


class Signal(NamedTuple):
    venue: str
    symbol: str
    unified: str
    side: str  # "long" or "short"
    price: float  # the bar's close
    stop_distance: float  # ATR * stop_atr
    take_distance: float  # ATR * take_atr
    reason: str
    bar_open_ns: int
    exch_ns: int  # the candle's exchange time (0 when the venue gave none)
    recv_ns: int  # the candle's receive time
    decided_ns: int  # when the strategy decided
    interval: str = ""

    @property
    def exch_to_recv_ms(self) -> float | None:
        """Exchange -> local receive, in ms; None when the venue gave no exchange time."""
        return (self.recv_ns - self.exch_ns) / 1e6 if self.exch_ns else None

    @property
    def recv_to_decision_ms(self) -> float:
        return (self.decided_ns - self.recv_ns) / 1e6


def latency(signal: Signal) -> tuple[float | None, float]:
    """(exchange -> receive, receive -> decision) in milliseconds."""
    return signal.exch_to_recv_ms, signal.recv_to_decision_ms


class _SeriesState:
    """Indicators and progress for one (venue, symbol, interval)."""

    __slots__ = ("last_open_ns", "fast", "slow", "rsi", "atr", "trend")

    def __init__(self, p: ScalperParams) -> None:
        self.last_open_ns = -1 << 62
        self.fast = EMA(p.fast_ema)
        self.slow = EMA(p.slow_ema)
        self.rsi = RSI(p.rsi_period)
        self.atr = ATR(p.atr_period)
        self.trend = 0  # sign of the last non-zero (fast - slow)


def _step(st: _SeriesState, candle: Candle) -> bool:
    """One closed bar into a series' indicators; True when both EMAs are warm and apart (st.trend is set)."""
    st.last_open_ns = candle.open_ns
    close, high, low = candle.close, candle.high, candle.low
    if not (math.isfinite(close) and math.isfinite(high) and math.isfinite(low)):
        return False  # the guard should have dropped it; never let a NaN poison the indicators
    fast = st.fast.update(close)
    slow = st.slow.update(close)
    st.rsi.update(close)
    st.atr.update(high, low, close)
    if fast is None or slow is None or fast == slow:
        return False
    st.trend = 1 if fast > slow else -1
    return True


class ScalpStrategy:
    def __init__(self, params: ScalperParams | None = None) -> None:
        self.params = params or ScalperParams()
        self._series: dict[tuple[str, str, str], _SeriesState] = {}
        self.cycles = 0  # closed bars processed
        self.stale_bars = 0  # closed bars ignored as duplicate or late
        self.behind: set[tuple[str, str, str]] = set()  # series that got older history: warm() them
        self.rebuilds = 0  # series rebuilt by warm()

    def on_candle(self, candle: Candle, now_ns: int) -> Signal | None:
        if not candle.closed:
            return None
        key = (candle.venue, candle.symbol, candle.interval)
        st = self._series.get(key)
        if st is None:
            st = self._series[key] = _SeriesState(self.params)
        if candle.open_ns <= st.last_open_ns:
            if candle.source == "backfill":
                self.behind.add(key)
            else:
                self.stale_bars += 1
            return None
        self.cycles += 1
        previous = st.trend
        if not _step(st, candle) or previous == 0 or previous == st.trend or candle.source == "backfill":
            return None
        rsi, atr = st.rsi.value, st.atr.value
        if rsi is None or atr is None:
            return None
        p = self.params
        if st.trend > 0:
            if not rsi < p.rsi_long_max:
                return None
            side, word = "long", "above"
        else:
            if not rsi > p.rsi_short_min:
                return None
            side, word = "short", "below"
        reason = f"EMA{p.fast_ema} crossed {word} EMA{p.slow_ema}, RSI {rsi:.1f}"
        return Signal(candle.venue, candle.symbol, candle.unified, side, candle.close, atr * p.stop_atr,
                      atr * p.take_atr, reason, candle.open_ns, candle.exch_ns, candle.recv_ns, now_ns,
                      candle.interval)

    def warm(self, key: tuple[str, str, str], bars: Iterable[Candle]) -> None:
        """Rebuild one series' indicators from its closed bars, oldest first: history, so no signal."""
        old = self._series.get(key)
        st = self._series[key] = _SeriesState(self.params)
        for candle in bars:
            if candle.closed and candle.open_ns > st.last_open_ns:
                _step(st, candle)
        if old is not None and old.last_open_ns > st.last_open_ns:
            st.last_open_ns = old.last_open_ns  # never process a bar again that was already processed
        self.behind.discard(key)
        self.rebuilds += 1

    def values(self, venue: str, symbol: str, interval: str) -> dict[str, Any] | None:
        """Current indicator values for one series (for display), or None if it has no closed bar yet."""
        st = self._series.get((venue, symbol, interval))
        if st is None:
            return None
        return {"fast_ema": st.fast.value, "slow_ema": st.slow.value, "rsi": st.rsi.value,
                "atr": st.atr.value, "last_open_ns": st.last_open_ns}
