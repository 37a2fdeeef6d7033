"""The funding-rate alert rule and the perpetual figures the app and metrics show."""
from feeds.core.perp import FUNDING_PERIODS_PER_YEAR, perp_figures
from feeds.core.state import MarketState
from feeds.events import MarkPrice, OpenInterest, Quote
from strategy.alerts import AlertEngine, MarketSample, Observation, parse_rule

S = 1_700_000_000_000_000_000


def observe(t: int, funding: float | None) -> Observation:
    samples = [MarketSample("BINANCE_FUTURES", "BTCUSDT", "BTC/USD:PERP", 100.0, 99.0, 101.0, False, funding),
               MarketSample("BINANCE", "BTCUSDT", "BTC/USD", 100.0, 99.0, 101.0, False)]
    return Observation(S + t, samples, {}, [], 0, {}, False)


def test_a_funding_rule_parses_with_or_without_the_percent_sign():
    rule = parse_rule("BINANCE_FUTURES:BTCUSDT funding > 0.05%", ("BINANCE", "BINANCE_FUTURES"))
    assert (rule.kind, rule.venue, rule.symbol, rule.op, rule.threshold) == ("funding", "BINANCE_FUTURES",
                                                                              "BTCUSDT", ">", 0.05)
    assert parse_rule("BTCUSDT funding < -0.01").threshold == -0.01


def test_funding_fires_once_above_the_level_rearms_below_and_ignores_spot():
    e = AlertEngine()
    e.add("BTCUSDT funding > 0.05%")
    assert e.evaluate(observe(1, 0.0001)) == []  # 0.01 % per period: below
    [alert] = e.evaluate(observe(2, 0.0008))  # 0.08 %
    assert alert.venue == "BINANCE_FUTURES" and round(alert.value, 6) == 0.08 and "funding" in alert.detail
    assert e.evaluate(observe(3, 0.0009)) == []  # still above: no second alert
    assert e.evaluate(observe(4, 0.0001)) == []  # back below: re-armed
    assert len(e.evaluate(observe(5, 0.0007))) == 1
    assert e.evaluate(observe(6, None)) == []  # no perpetual figure: nothing known, nothing fires


def test_perp_figures_basis_funding_countdown_and_open_interest_change():
    state = MarketState()
    spot = state.get("BINANCE", "BTCUSDT", "BTC/USD")
    spot.quote = Quote("BINANCE", "BTCUSDT", "BTC/USD", 0, 0, 99.9, 1.0, 100.1, 1.0)
    perp = state.get("BINANCE_FUTURES", "BTCUSDT", "BTC/USD:PERP")
    perp.quote = Quote("BINANCE_FUTURES", "BTCUSDT", "BTC/USD:PERP", 0, 0, 100.09, 1.0, 100.11, 1.0)
    perp.mark = MarkPrice("BINANCE_FUTURES", "BTCUSDT", "BTC/USD:PERP", S, S, 100.1, 100.0, 100.0, 0.0001,
                          S + 3_600_000_000_000)
    perp.open_interest_prev = OpenInterest("BINANCE_FUTURES", "BTCUSDT", "BTC/USD:PERP", S, S, 1000.0)
    perp.open_interest = OpenInterest("BINANCE_FUTURES", "BTCUSDT", "BTC/USD:PERP", S + 1, S, 1050.0)
    [row] = perp_figures(state, S + 600_000_000_000)
    assert abs(row.basis_bps - 10.0) < 1e-9 and row.spot_venue == "BINANCE"  # 100.10 vs 100.00
    assert row.funding_annual == 0.0001 * FUNDING_PERIODS_PER_YEAR
    assert row.seconds_to_funding == 3000.0
    assert abs(row.open_interest_change - 0.05) < 1e-12
    spot.quote = None
    [row] = perp_figures(state, S)
    assert row.basis_bps is None  # no spot price: no basis, never a made-up one
