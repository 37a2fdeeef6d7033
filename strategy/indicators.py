"""Incremental indicators (EMA, RSI, ATR): O(1) work and O(1) memory per update.

Each class takes one bar at a time through ``update(...)``, which returns the new value, or None
until enough bars have been seen ("warm-up"); ``.value`` holds the last value (None while warming up).

Seeding conventions, so results match the usual references:
- EMA(n): the first value is the simple average of the first n inputs; then
  ``ema += alpha * (x - ema)`` with ``alpha = 2 / (n + 1)``.
- RSI(n) (Wilder): the first n price changes are averaged simply into average gain and loss
  (so the first value comes with the (n+1)-th price); then ``avg = (avg * (n - 1) + x) / n``.
  RSI = 100 * avg_gain / (avg_gain + avg_loss); a flat series (no gains, no losses) gives 50.
- ATR(n) (Wilder): true range = max(high - low, |high - prev close|, |low - prev close|), and the
  first bar's true range is high - low; the first n true ranges are averaged simply, then Wilder
  smoothing as for RSI. The first value comes with the n-th bar.
"""
from __future__ import annotations


def _check_period(period: int) -> int:
    if isinstance(period, bool) or not isinstance(period, int) or period < 1:
        raise ValueError(f"period must be an integer >= 1, got {period!r}")
    return period


class EMA:
    """Exponential moving average seeded with the simple average of the first ``period`` inputs."""

    __slots__ = ("period", "alpha", "value", "_count", "_sum")

    def __init__(self, period: int) -> None:
        self.period = _check_period(period)
        self.alpha = 2.0 / (period + 1)
        self.value: float | None = None
        self._count = 0
        self._sum = 0.0

    def update(self, x: float) -> float | None:
        value = self.value
        if value is not None:
            value += self.alpha * (x - value)
            self.value = value
            return value
        self._count += 1
        self._sum += x
        if self._count == self.period:
            self.value = self._sum / self.period
        return self.value


class RSI:
    """Wilder's relative strength index over closing prices."""

    __slots__ = ("period", "value", "_prev", "_count", "_gain", "_loss")

    def __init__(self, period: int = 14) -> None:
        self.period = _check_period(period)
        self.value: float | None = None
        self._prev: float | None = None
        self._count = 0  # price changes seen, counted only during warm-up
        self._gain = 0.0  # a sum during warm-up, then the smoothed average
        self._loss = 0.0

    def update(self, close: float) -> float | None:
        prev = self._prev
        self._prev = close
        if prev is None:
            return None
        change = close - prev
        gain = change if change > 0.0 else 0.0
        loss = -change if change < 0.0 else 0.0
        n = self.period
        if self.value is None:
            self._gain += gain
            self._loss += loss
            self._count += 1
            if self._count < n:
                return None
            self._gain /= n
            self._loss /= n
        else:
            self._gain = (self._gain * (n - 1) + gain) / n
            self._loss = (self._loss * (n - 1) + loss) / n
        total = self._gain + self._loss
        self.value = 100.0 * self._gain / total if total > 0.0 else 50.0
        return self.value


class ATR:
    """Wilder's average true range over (high, low, close) bars."""

    __slots__ = ("period", "value", "_prev_close", "_count", "_sum")

    def __init__(self, period: int = 14) -> None:
        self.period = _check_period(period)
        self.value: float | None = None
        self._prev_close: float | None = None
        self._count = 0
        self._sum = 0.0

    def update(self, high: float, low: float, close: float) -> float | None:
        prev = self._prev_close
        self._prev_close = close
        tr = high - low
        if prev is not None:
            up = high - prev if high > prev else prev - high
            down = low - prev if low > prev else prev - low
            if up > tr:
                tr = up
            if down > tr:
                tr = down
        n = self.period
        value = self.value
        if value is not None:
            value = (value * (n - 1) + tr) / n
            self.value = value
            return value
        self._count += 1
        self._sum += tr
        if self._count == n:
            self.value = self._sum / n
        return self.value
