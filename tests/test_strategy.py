"""ScalpStrategy: one cycle per closed bar, the crossover rule, and ScalperParams validation."""
from __future__ import annotations

import math

import pytest
from msgspec.structs import replace

from feeds.events import Candle
from strategy.scalper import ScalperParams, ScalpStrategy, Signal, latency

MIN_NS = 60_000_000_000
T0 = 1_790_000_000 * 1_000_000_000  # an arbitrary minute-aligned epoch time


def bar(i: int, close: float, *, closed: bool = True, venue: str = "BINANCE", symbol: str = "BTCUSDT",
        source: str = "live", spread: float = 0.5) -> Candle:
    open_ns = T0 + i * MIN_NS
    exch = open_ns + MIN_NS  # the close event arrives at the end of the bar
    return Candle(venue, symbol, "BTC/USD", exch, exch + 3_000_000, "1m", open_ns, close, close + spread,
                  close - spread, close, 1.0, 10, closed, source)


def v_closes(down: int = 30, up: int = 40) -> list[float]:
    """Falls 1.0 a bar, then rises 0.5 a bar: one upward EMA cross, no RSI veto (RSI ~30s there)."""
    closes = [200.0 - i for i in range(down)]
    closes += [closes[-1] + 0.5 * (k + 1) for k in range(up)]
    return closes


# --- independent references -----------------------------------------------------------------------

def ema_series(xs, n):
    a = 2.0 / (n + 1)
    out = [None] * (n - 1) + [sum(xs[:n]) / n]
    for x in xs[n:]:
        out.append(a * x + (1 - a) * out[-1])
    return out


def atr_series(bars, n):
    trs = [bars[0].high - bars[0].low]
    for prev, b in zip(bars, bars[1:]):
        trs.append(max(b.high - b.low, abs(b.high - prev.close), abs(b.low - prev.close)))
    out = [None] * (n - 1) + [sum(trs[:n]) / n]
    for tr in trs[n:]:
        out.append((out[-1] * (n - 1) + tr) / n)
    return out


def first_cross(closes, fast=9, slow=21):
    f, s = ema_series(closes, fast), ema_series(closes, slow)
    sign = 0
    for i, (a, b) in enumerate(zip(f, s)):
        if a is None or b is None or a == b:
            continue
        new = 1 if a > b else -1
        if sign and new != sign:
            return i, new
        sign = new
    return None


def run(strategy, candles, now_offset_ns=5_000_000):
    out = []
    for c in candles:
        sig = strategy.on_candle(c, c.recv_ns + now_offset_ns)
        if sig is not None:
            out.append(sig)
    return out


# --- the rule ------------------------------------------------------------------------------------

def test_known_crossover_gives_exactly_one_long_at_the_right_bar():
    closes = v_closes()
    candles = [bar(i, c) for i, c in enumerate(closes)]
    cross_at, direction = first_cross(closes)
    assert direction == 1 and cross_at > 30  # the series really crosses upward in the rising leg

    signals = run(ScalpStrategy(ScalperParams()), candles)

    assert len(signals) == 1
    sig = signals[0]
    assert isinstance(sig, Signal)
    atr = atr_series(candles, 14)[cross_at]
    assert sig.side == "long"
    assert sig.bar_open_ns == candles[cross_at].open_ns
    assert sig.price == closes[cross_at]
    assert sig.stop_distance == pytest.approx(1.5 * atr, abs=1e-12)
    assert sig.take_distance == pytest.approx(2.0 * atr, abs=1e-12)
    assert (sig.venue, sig.symbol, sig.unified, sig.interval) == ("BINANCE", "BTCUSDT", "BTC/USD", "1m")
    assert sig.reason.startswith("EMA9 crossed above EMA21, RSI ")
    rsi = float(sig.reason.rsplit(" ", 1)[1])
    assert 0.0 < rsi < 70.0


def test_mirror_series_gives_exactly_one_short():
    closes = [400.0 - c for c in v_closes()]  # rises then falls
    candles = [bar(i, c) for i, c in enumerate(closes)]
    cross_at, direction = first_cross(closes)
    signals = run(ScalpStrategy(), candles)
    assert direction == -1
    assert [(s.side, s.bar_open_ns) for s in signals] == [("short", candles[cross_at].open_ns)]
    assert signals[0].reason.startswith("EMA9 crossed below EMA21, RSI ")


def test_rsi_filter_vetoes_the_cross():
    candles = [bar(i, c) for i, c in enumerate(v_closes())]
    assert run(ScalpStrategy(ScalperParams(rsi_long_max=10.0)), candles) == []


def test_signal_times_and_latency():
    candles = [bar(i, c) for i, c in enumerate(v_closes())]
    strategy = ScalpStrategy()
    signals = run(strategy, candles, now_offset_ns=2_500_000)
    sig = signals[0]
    c = next(c for c in candles if c.open_ns == sig.bar_open_ns)
    assert (sig.exch_ns, sig.recv_ns, sig.decided_ns) == (c.exch_ns, c.recv_ns, c.recv_ns + 2_500_000)
    assert sig.exch_to_recv_ms == pytest.approx(3.0)
    assert sig.recv_to_decision_ms == pytest.approx(2.5)
    assert latency(sig) == (pytest.approx(3.0), pytest.approx(2.5))
    assert sig._replace(exch_ns=0).exch_to_recv_ms is None


# --- once per closed bar -------------------------------------------------------------------------

def test_same_closed_bar_twice_runs_one_cycle():
    candles = [bar(i, c) for i, c in enumerate(v_closes())]
    cross_at, _ = first_cross(v_closes())
    strategy = ScalpStrategy()
    signals = []
    for c in candles:
        for _ in range(2):  # every closed bar delivered twice (e.g. live and a reconnect replay)
            sig = strategy.on_candle(c, c.recv_ns)
            if sig:
                signals.append(sig)
    assert len(signals) == 1 and signals[0].bar_open_ns == candles[cross_at].open_ns
    assert strategy.cycles == len(candles)
    assert strategy.stale_bars == len(candles)

    once = ScalpStrategy()
    run(once, candles)
    assert strategy.values("BINANCE", "BTCUSDT", "1m") == once.values("BINANCE", "BTCUSDT", "1m")


def test_late_older_bar_is_ignored():
    closes = v_closes()
    candles = [bar(i, c) for i, c in enumerate(closes)]
    cross_at, _ = first_cross(closes)
    strategy = ScalpStrategy()
    run(strategy, candles[:cross_at])
    before = strategy.values("BINANCE", "BTCUSDT", "1m")
    late = bar(cross_at - 5, 10_000.0)  # an old bar with a wild close arriving late
    assert strategy.on_candle(late, late.recv_ns) is None
    assert strategy.values("BINANCE", "BTCUSDT", "1m") == before
    # The crossing bar still signals normally afterwards, exactly once.
    assert strategy.on_candle(candles[cross_at], 0).side == "long"
    assert strategy.on_candle(candles[cross_at], 0) is None
    assert strategy.cycles == cross_at + 1 and strategy.stale_bars == 2


def test_forming_bars_never_signal_nor_move_indicators():
    closes = v_closes()
    strategy = ScalpStrategy()
    assert run(strategy, [bar(i, c, closed=False) for i, c in enumerate(closes)]) == []
    assert strategy.cycles == 0 and strategy.values("BINANCE", "BTCUSDT", "1m") is None

    # Forming updates with wild prices interleaved with the closed bars change nothing.
    mixed, clean = ScalpStrategy(), ScalpStrategy()
    stream = []
    for i, c in enumerate(closes):
        stream += [bar(i, c * 3, closed=False), bar(i, c / 3, closed=False), bar(i, c)]
    assert [s.bar_open_ns for s in run(mixed, stream)] == \
           [s.bar_open_ns for s in run(clean, [bar(i, c) for i, c in enumerate(closes)])]
    assert mixed.values("BINANCE", "BTCUSDT", "1m") == clean.values("BINANCE", "BTCUSDT", "1m")


def test_series_are_independent_per_venue_symbol_interval():
    closes = v_closes()
    strategy = ScalpStrategy()
    stream = []
    for i, c in enumerate(closes):
        stream += [bar(i, c, venue="BINANCE"), bar(i, c, venue="COINBASE", symbol="BTC-USD"),
                   bar(i, 1000.0, venue="BINANCE", symbol="ETHUSDT")]  # flat: never crosses
    signals = run(strategy, stream)
    assert sorted((s.venue, s.symbol) for s in signals) == [("BINANCE", "BTCUSDT"), ("COINBASE", "BTC-USD")]
    assert strategy.cycles == 3 * len(closes) and strategy.stale_bars == 0


def test_backfilled_bars_warm_up_but_do_not_signal():
    closes = v_closes()
    cross_at, _ = first_cross(closes)
    strategy = ScalpStrategy()
    assert run(strategy, [bar(i, c, source="backfill") for i, c in enumerate(closes[: cross_at + 1])]) == []
    live = ScalpStrategy()
    run(live, [bar(i, c) for i, c in enumerate(closes[: cross_at + 1])])
    assert strategy.values("BINANCE", "BTCUSDT", "1m") == live.values("BINANCE", "BTCUSDT", "1m")
    # The rest of the rising leg, live: no new cross, so no signal.
    assert run(strategy, [bar(i, c) for i, c in enumerate(closes) if i > cross_at]) == []


def test_backfill_landing_behind_live_bars_is_warmed_in_order_and_never_signals():
    closes = v_closes()
    cross_at, _ = first_cross(closes)
    history = [bar(i, c, source="backfill") for i, c in enumerate(closes[: cross_at + 1])]
    live = [bar(i, c) for i, c in enumerate(closes) if i > cross_at]
    strategy = ScalpStrategy()
    assert run(strategy, live[:3]) == []  # the first live bars close before the REST answer
    assert run(strategy, history) == []  # older than those: they mark the series, they signal nothing
    key = ("BINANCE", "BTCUSDT", "1m")
    assert strategy.behind == {key} and strategy.stale_bars == 0
    strategy.warm(key, history + live[:3])  # what the session hands it: every closed bar held, in order
    in_order = ScalpStrategy()
    run(in_order, history + live[:3])
    assert strategy.behind == set() and strategy.values(*key) == in_order.values(*key)
    assert strategy.on_candle(live[2], 0) is None and strategy.stale_bars == 1  # processed once, not again
    assert run(strategy, live[3:]) == run(in_order, live[3:])


def test_non_finite_bar_is_skipped_without_poisoning():
    closes = v_closes()
    strategy = ScalpStrategy()
    candles = [bar(i, c) for i, c in enumerate(closes)]
    nan_bar = replace(bar(4, math.nan), open_ns=candles[4].open_ns + 1)  # between bars 4 and 5
    candles.insert(5, nan_bar)
    signals = run(strategy, candles)
    assert len(signals) == 1 and strategy.cycles == len(candles)
    assert all(math.isfinite(v) for k, v in strategy.values("BINANCE", "BTCUSDT", "1m").items())


# --- params ----------------------------------------------------------------------------------------

def test_params_defaults_and_from_dict():
    p = ScalperParams()
    assert (p.fast_ema, p.slow_ema, p.rsi_period, p.rsi_long_max, p.rsi_short_min, p.atr_period,
            p.stop_atr, p.take_atr) == (9, 21, 14, 70.0, 30.0, 14, 1.5, 2.0)
    q = ScalperParams.from_dict({"fast_ema": 5, "slow_ema": 13, "stop_atr": 1, "rsi_long_max": 65})
    assert (q.fast_ema, q.slow_ema, q.stop_atr, q.rsi_long_max, q.take_atr) == (5, 13, 1.0, 65.0, 2.0)
    assert isinstance(q.stop_atr, float)
    assert ScalperParams.from_dict({}) == p


@pytest.mark.parametrize("d, key", [
    ({"fast": 9}, "fast"),
    ({"fast_ema": 0}, "fast_ema"),
    ({"slow_ema": "21"}, "slow_ema"),
    ({"rsi_period": True}, "rsi_period"),
    ({"atr_period": 14.0}, "atr_period"),
    ({"fast_ema": 21}, "fast_ema"),  # not faster than the slow EMA
    ({"rsi_long_max": 150}, "rsi_long_max"),
    ({"rsi_short_min": -1.0}, "rsi_short_min"),
    ({"stop_atr": 0}, "stop_atr"),
    ({"take_atr": math.nan}, "take_atr"),
    ({"take_atr": math.inf}, "take_atr"),
])
def test_params_reject_bad_input_naming_the_key(d, key):
    with pytest.raises(ValueError, match=f"^{key}: "):
        ScalperParams.from_dict(d)
