"""RiskEngine sizing, caps and limits, hand-computed; RiskConfig validation; the SignalLog counters."""
from __future__ import annotations

import math

import pytest

from strategy.risk import APPROVED, NS_PER_DAY, REJECTED, SUPPRESSED, Decision, RiskConfig, RiskEngine
from strategy.scalper import Signal
from strategy.signal_log import SignalLog

DAY0 = 20_000 * NS_PER_DAY  # midnight UTC of some day
NOON = DAY0 + NS_PER_DAY // 2


def signal(price=100.0, stop=2.5, side="long", unified="BTC/USD", venue="BINANCE", symbol="BTCUSDT",
           at=NOON) -> Signal:
    return Signal(venue, symbol, unified, side, price, stop, stop * 4 / 3, "test", at - 60_000_000_000,
                  at - 2_000_000, at - 1_000_000, at, "1m")


# --- sizing --------------------------------------------------------------------------------------

def test_sizing_math():
    engine = RiskEngine(RiskConfig())
    d = engine.evaluate(signal(price=100.0, stop=2.5), halted=False)
    # risk = 10000 * 0.005 = 50; size = 50 / 2.5 = 20; notional = 20 * 100 = 2000
    assert isinstance(d, Decision)
    assert (d.status, d.size, d.notional) == (APPROVED, 20.0, 2000.0)
    assert "capped" not in d.reason
    assert engine.exposure == {"BTC/USD": 2000.0}


def test_sizing_with_other_config():
    engine = RiskEngine(RiskConfig(equity=2_000.0, risk_per_trade=0.01, max_position_notional=1e9,
                                   max_symbol_exposure=1e9))
    d = engine.evaluate(signal(price=3_000.0, stop=40.0, side="short"), halted=False)
    # risk = 20; size = 20 / 40 = 0.5; notional = 1500; a short adds -1500
    assert (d.status, d.size, d.notional) == (APPROVED, 0.5, 1500.0)
    assert engine.exposure["BTC/USD"] == -1500.0


def test_position_notional_cap_scales_size_down():
    engine = RiskEngine()
    d = engine.evaluate(signal(price=100.0, stop=0.5), halted=False)
    # uncapped: size 100, notional 10000 > 5000 -> size 5000 / 100 = 50
    assert (d.status, d.size, d.notional) == (APPROVED, 50.0, 5000.0)
    assert "capped to max_position_notional 5000.00" in d.reason


def test_min_notional():
    engine = RiskEngine()
    # size = 50 / 6 = 8.333..., notional = 8.33 at price 1 -> below 10
    d = engine.evaluate(signal(price=1.0, stop=6.0), halted=False)
    assert d.status == REJECTED and "min_notional" in d.reason
    assert d.size == pytest.approx(50 / 6) and d.notional == pytest.approx(50 / 6)
    assert engine.exposure == {}
    assert engine.evaluate(signal(price=1.0, stop=5.0), halted=False).status == APPROVED  # exactly 10


@pytest.mark.parametrize("stop", [0.0, -1.0, math.nan, math.inf])
def test_bad_stop_distance_is_rejected(stop):
    d = RiskEngine().evaluate(signal(stop=stop), halted=False)
    assert (d.status, d.size, d.notional) == (REJECTED, 0.0, 0.0)
    assert "stop distance" in d.reason


@pytest.mark.parametrize("price", [0.0, -5.0, math.nan])
def test_bad_price_is_rejected(price):
    d = RiskEngine().evaluate(signal(price=price), halted=False)
    assert d.status == REJECTED and "price" in d.reason


# --- exposure ------------------------------------------------------------------------------------

def test_symbol_exposure_cap_nets_venues_and_a_signal_against_the_position_reverses_it():
    engine = RiskEngine()
    capped = dict(price=100.0, stop=0.5)  # each trade is 5000 notional
    assert engine.evaluate(signal(**capped), False).status == APPROVED
    assert engine.evaluate(signal(**capped), False).status == APPROVED  # 10000: at the cap, allowed
    third = engine.evaluate(signal(**capped), False)
    assert third.status == REJECTED and "BTC/USD exposure would be 15000.00" in third.reason
    assert engine.exposure["BTC/USD"] == 10000.0
    # A short against a long 10000 closes it and opens short 5000 (the paper executor reverses).
    assert engine.evaluate(signal(side="short", **capped), False).status == APPROVED
    assert engine.exposure["BTC/USD"] == -5000.0
    # Same asset on another venue shares the limit (it nets); another asset does not.
    for _ in range(2):
        assert engine.evaluate(signal(venue="COINBASE", symbol="BTC-USD", **capped), False).status == APPROVED
    assert engine.exposure["BTC/USD"] == 5000.0  # -5000 on BINANCE + 10000 on COINBASE
    d = engine.evaluate(signal(**capped), False)  # BINANCE reverses to +5000: 15000 in all
    assert d.status == REJECTED and "BTC/USD exposure would be 15000.00" in d.reason
    assert engine.evaluate(signal(unified="ETH/USD", symbol="ETHUSDT", **capped), False).status == APPROVED
    engine.flatten("BTC/USD")
    assert "BTC/USD" not in engine.exposure and engine.exposure["ETH/USD"] == 5000.0
    assert engine.evaluate(signal(**capped), False).status == APPROVED


def test_max_position_and_max_total_notional_reject_before_the_order():
    engine = RiskEngine(RiskConfig(max_position=7_000.0, max_total_notional=12_000.0))
    capped = dict(price=100.0, stop=0.5)  # 5000 each
    assert engine.evaluate(signal(**capped), False).status == APPROVED
    d = engine.evaluate(signal(**capped), False)
    assert d.status == REJECTED and d.reason == "BINANCE BTCUSDT position would be 10000.00, limit max_position 7000.00"
    assert engine.evaluate(signal(unified="ETH/USD", symbol="ETHUSDT", **capped), False).status == APPROVED
    d = engine.evaluate(signal(unified="SOL/USD", symbol="SOLUSDT", **capped), False)
    assert d.status == REJECTED and d.reason == "gross notional would be 15000.00, limit max_total_notional 12000.00"
    # The executor's fills replace the reservation: a stopped-out position frees the room.
    engine.set_position("BINANCE", "BTCUSDT", "BTC/USD", 0.0)
    assert engine.evaluate(signal(unified="SOL/USD", symbol="SOLUSDT", **capped), False).status == APPROVED


def test_short_side_exposure_cap():
    engine = RiskEngine()
    for _ in range(2):
        assert engine.evaluate(signal(price=100.0, stop=0.5, side="short"), False).status == APPROVED
    assert engine.evaluate(signal(price=100.0, stop=0.5, side="short"), False).status == REJECTED
    assert engine.exposure["BTC/USD"] == -10000.0


# --- daily loss ------------------------------------------------------------------------------------

def test_daily_loss_limit_and_utc_midnight_reset():
    engine = RiskEngine()
    engine.record_pnl(-200.0, DAY0 + 1)
    engine.record_pnl(-99.99, DAY0 + 2)
    assert engine.daily_pnl(NOON) == pytest.approx(-299.99)
    assert engine.evaluate(signal(), False).status == APPROVED
    engine.record_pnl(-0.01, NOON)
    d = engine.evaluate(signal(), False)
    assert d.status == REJECTED and d.reason.startswith("daily loss limit: lost 300.00 today")
    assert d.size == 20.0  # the computed size is still reported
    # One nanosecond before midnight: same day; at midnight: a fresh day.
    last_ns = DAY0 + NS_PER_DAY - 1
    assert engine.evaluate(signal(at=last_ns), False).status == REJECTED
    assert engine.daily_pnl(DAY0 + NS_PER_DAY) == 0.0
    assert engine.evaluate(signal(at=DAY0 + NS_PER_DAY), False).status == APPROVED


def test_gains_offset_losses_and_old_pnl_does_not_count_today():
    engine = RiskEngine()
    engine.record_pnl(-400.0, NOON)
    engine.record_pnl(+150.0, NOON)
    assert engine.evaluate(signal(), False).status == APPROVED  # net -250
    tomorrow = NOON + NS_PER_DAY
    engine.record_pnl(-10.0, tomorrow)
    engine.record_pnl(-1000.0, NOON)  # a late report stamped yesterday
    assert engine.daily_pnl(tomorrow) == -10.0
    assert engine.evaluate(signal(at=tomorrow), False).status == APPROVED


# --- halt ------------------------------------------------------------------------------------------

def test_halted_suppresses_with_size_and_leaves_exposure():
    engine = RiskEngine()
    d = engine.evaluate(signal(price=100.0, stop=2.5), halted=True)
    assert (d.status, d.size, d.notional) == (SUPPRESSED, 20.0, 2000.0)
    assert d.reason.startswith("trading halted")
    assert engine.exposure == {}
    capped = engine.evaluate(signal(price=100.0, stop=0.5), halted=True)
    assert (capped.status, capped.size) == (SUPPRESSED, 50.0) and "capped" in capped.reason


def test_halted_never_approves_but_rejections_keep_their_reason():
    engine = RiskEngine()
    for stop in (0.01, 0.5, 2.5, 10.0, 60.0):
        assert engine.evaluate(signal(stop=stop), halted=True).status == SUPPRESSED
    assert engine.evaluate(signal(price=1.0, stop=6.0), halted=True).status == REJECTED
    assert engine.evaluate(signal(stop=0.0), halted=True).status == REJECTED


# --- config ------------------------------------------------------------------------------------------

def test_config_defaults_and_from_dict():
    c = RiskConfig()
    assert (c.equity, c.risk_per_trade, c.max_position_notional, c.max_symbol_exposure,
            c.daily_loss_limit, c.min_notional) == (10000.0, 0.005, 5000.0, 10000.0, 300.0, 10.0)
    d = RiskConfig.from_dict({"equity": 50_000, "min_notional": 0})
    assert d.equity == 50_000.0 and isinstance(d.equity, float) and d.min_notional == 0.0


@pytest.mark.parametrize("d, key", [
    ({"equty": 1.0}, "equty"),
    ({"equity": 0}, "equity"),
    ({"equity": "10000"}, "equity"),
    ({"risk_per_trade": 1.5}, "risk_per_trade"),
    ({"risk_per_trade": -0.01}, "risk_per_trade"),
    ({"max_position_notional": math.inf}, "max_position_notional"),
    ({"max_symbol_exposure": math.nan}, "max_symbol_exposure"),
    ({"daily_loss_limit": False}, "daily_loss_limit"),
    ({"min_notional": -1}, "min_notional"),
])
def test_config_rejects_bad_input_naming_the_key(d, key):
    with pytest.raises(ValueError, match=f"^{key}: "):
        RiskConfig.from_dict(d)


# --- signal log --------------------------------------------------------------------------------------

def test_signal_log_counts_and_bound():
    engine, log = RiskEngine(), SignalLog(maxlen=3)
    assert log.counts == {"total": 0, "approved": 0, "suppressed": 0, "rejected": 0}
    decisions = [engine.evaluate(signal(at=NOON + i), halted=(i == 1)) for i in range(3)]
    decisions.append(engine.evaluate(signal(stop=0.0, at=NOON + 3), False))
    decisions.append(engine.evaluate(signal(stop=0.0, at=NOON + 4), True))
    for d in decisions:
        log.add(d)
    assert log.counts == {"total": 5, "approved": 2, "suppressed": 1, "rejected": 2}
    assert len(log) == 3 and list(log) == decisions[2:]
    assert [d.signal.decided_ns for d in log.recent(2)] == [NOON + 4, NOON + 3]
    assert len(log.recent(10)) == 3
    assert SignalLog().entries.maxlen == 500
