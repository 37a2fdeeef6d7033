"""Incremental EMA, RSI and ATR against whole-series reference computations and hand-worked values."""
from __future__ import annotations

import random

import pytest

from strategy.indicators import ATR, EMA, RSI

N = 5000
TOL = 1e-9


def random_walk(seed: int, n: int = N) -> list[float]:
    rng = random.Random(seed)
    price, out = 100.0, []
    for _ in range(n):
        price = max(1.0, price + rng.gauss(0.0, 0.8))
        out.append(price)
    return out


def random_bars(seed: int, n: int = N) -> list[tuple[float, float, float]]:
    rng = random.Random(seed)
    closes = random_walk(seed, n)
    bars = []
    for c in closes:
        high = c + abs(rng.gauss(0.0, 0.5))
        low = c - abs(rng.gauss(0.0, 0.5))
        # Occasional gaps beyond the bar's own range exercise the |high/low - prev close| terms.
        if rng.random() < 0.1:
            high, low = high + 3.0, low + 3.0
            c += 3.0
        bars.append((high, low, c))
    return bars


# --- references: whole-series, written from the textbook definitions ---------------------------

def ema_reference(xs: list[float], n: int) -> list[float | None]:
    alpha = 2.0 / (n + 1)
    out: list[float | None] = [None] * (n - 1)
    value = sum(xs[:n]) / n
    out.append(value)
    for x in xs[n:]:
        value = alpha * x + (1.0 - alpha) * value
        out.append(value)
    return out


def ema_closed_form(xs: list[float], n: int, i: int) -> float:
    """EMA at index i as an explicit weighted sum of the inputs plus the decayed seed."""
    alpha = 2.0 / (n + 1)
    seed = sum(xs[:n]) / n
    steps = i - (n - 1)
    total = seed * (1.0 - alpha) ** steps
    for k in range(steps):
        total += alpha * (1.0 - alpha) ** k * xs[i - k]
    return total


def rsi_from_scratch(closes: list[float], n: int) -> float | None:
    """RSI of the last price of ``closes``, recomputed over the whole history."""
    if len(closes) < n + 1:
        return None
    changes = [b - a for a, b in zip(closes, closes[1:])]
    gains = [max(c, 0.0) for c in changes]
    losses = [max(-c, 0.0) for c in changes]
    avg_gain = sum(gains[:n]) / n
    avg_loss = sum(losses[:n]) / n
    for g, loss in zip(gains[n:], losses[n:]):
        avg_gain = (avg_gain * (n - 1) + g) / n
        avg_loss = (avg_loss * (n - 1) + loss) / n
    if avg_gain + avg_loss == 0.0:
        return 50.0
    if avg_loss == 0.0:
        return 100.0
    rs = avg_gain / avg_loss
    return 100.0 - 100.0 / (1.0 + rs)


def atr_from_scratch(bars: list[tuple[float, float, float]], n: int) -> float | None:
    if len(bars) < n:
        return None
    trs = [bars[0][0] - bars[0][1]]
    for (_, _, prev_close), (high, low, _) in zip(bars, bars[1:]):
        trs.append(max(high - low, abs(high - prev_close), abs(low - prev_close)))
    atr = sum(trs[:n]) / n
    for tr in trs[n:]:
        atr = (atr * (n - 1) + tr) / n
    return atr


SAMPLE_POINTS = [0, 1, 12, 13, 14, 15, 20, 21, 22, 100, 777, 2500, 4998, N - 1]


# --- EMA ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("period", [1, 9, 21, 200])
def test_ema_matches_reference_over_long_series(period):
    xs = random_walk(1 + period)
    ema = EMA(period)
    got = [ema.update(x) for x in xs]
    want = ema_reference(xs, period)
    for i, (g, w) in enumerate(zip(got, want)):
        if w is None:
            assert g is None, i
        else:
            assert g == pytest.approx(w, abs=TOL), i
    assert ema.value == got[-1]


def test_ema_matches_closed_form_weighted_sum():
    xs = random_walk(7)
    ema = EMA(9)
    got = [ema.update(x) for x in xs]
    for i in [8, 9, 50, 1234, N - 1]:
        assert got[i] == pytest.approx(ema_closed_form(xs, 9, i), abs=TOL)


def test_ema_hand_values():
    ema = EMA(3)  # alpha = 0.5
    assert [ema.update(x) for x in (1.0, 2.0, 3.0, 4.0, 0.0)] == [None, None, 2.0, 3.0, 1.5]


# --- RSI ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("period", [2, 14, 30])
def test_rsi_matches_from_scratch_recomputation(period):
    closes = random_walk(100 + period)
    rsi = RSI(period)
    got = [rsi.update(c) for c in closes]
    assert got[period - 1] is None and got[period] is not None
    for i in SAMPLE_POINTS:
        want = rsi_from_scratch(closes[: i + 1], period)
        if want is None:
            assert got[i] is None, i
        else:
            assert got[i] == pytest.approx(want, abs=TOL), i
    assert all(0.0 <= v <= 100.0 for v in got if v is not None)


def test_rsi_every_value_matches_reference_on_shorter_series():
    closes = random_walk(5, n=600)
    rsi = RSI(14)
    for i, c in enumerate(closes):
        got = rsi.update(c)
        want = rsi_from_scratch(closes[: i + 1], 14)
        assert (got is None) == (want is None), i
        if want is not None:
            assert got == pytest.approx(want, abs=TOL), i


def test_rsi_hand_values():
    rsi = RSI(2)
    # changes +1, +2 -> avg gain 1.5, avg loss 0 -> 100; then -1 -> gain 0.75, loss 0.5 -> 60
    assert [rsi.update(x) for x in (10.0, 11.0, 13.0, 12.0)] == [None, None, 100.0, pytest.approx(60.0)]


def test_rsi_flat_series_is_50_and_only_falls_is_0():
    flat = RSI(3)
    assert [flat.update(5.0) for _ in range(5)][-1] == 50.0
    falling = RSI(3)
    assert [falling.update(10.0 - i) for i in range(6)][-1] == 0.0


# --- ATR ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("period", [1, 14, 50])
def test_atr_matches_from_scratch_recomputation(period):
    bars = random_bars(200 + period)
    atr = ATR(period)
    got = [atr.update(hi, lo, c) for hi, lo, c in bars]
    for i in SAMPLE_POINTS:
        want = atr_from_scratch(bars[: i + 1], period)
        if want is None:
            assert got[i] is None, i
        else:
            assert got[i] == pytest.approx(want, abs=TOL), i
    assert atr.value == got[-1]


def test_atr_hand_values():
    atr = ATR(2)
    got = [atr.update(*bar) for bar in ((10, 8, 9), (12, 9, 11), (11, 10, 10.5), (15, 14, 14.5))]
    # TRs 2, 3 -> 2.5; TR 1 -> 1.75; gap bar TR max(1, 4.5, 3.5) = 4.5 -> 3.125
    assert got == [None, 2.5, 1.75, 3.125]


def test_indicators_keep_constant_state():
    # O(1) memory: slotted objects whose attributes stay scalars however long the series.
    for ind, feed in ((EMA(9), lambda i: (float(i),)), (RSI(14), lambda i: (float(i % 7),)),
                      (ATR(14), lambda i: (i + 1.0, float(i), i + 0.5))):
        assert not hasattr(ind, "__dict__")
        for i in range(1000):
            ind.update(*feed(i))
        assert all(not isinstance(getattr(ind, s), (list, dict, tuple)) for s in type(ind).__slots__)


@pytest.mark.parametrize("bad", [0, -3, 2.5, True, "14"])
def test_bad_period_is_rejected(bad):
    for cls in (EMA, RSI, ATR):
        with pytest.raises(ValueError):
            cls(bad)
