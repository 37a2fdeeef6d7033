"""Alert rules, pure: parsing (and the one-line reasons for bad rules), firing once per crossing, re-arming."""
import pytest

from strategy.alerts import AlertEngine, AlertRuleError, MarketSample, Observation, parse_rule

S = 1_000_000_000
VENUES = ("BINANCE", "COINBASE")


def sample(price=None, venue="BINANCE", symbol="BTCUSDT", bid=None, ask=None, stale=False):
    return MarketSample(venue, symbol, "BTC/USD", price, bid, ask, stale)


def obs(t, *samples, arb=None, stale=(), gaps=0, skew=None, halted=False):
    return Observation(t * S, list(samples), arb or {}, list(stale), gaps, skew or {}, halted, "x" if halted else "")


def engine(*rules):
    e = AlertEngine(unify=lambda s: "BTC/USD" if s.startswith("BTC") else s, known_venues=VENUES)
    for r in rules:
        e.add(r)
    return e


def test_the_documented_rules_parse():
    assert parse_rule("BTCUSDT price > 1")[:6] == ("BTCUSDT price > 1", "price", "", "BTCUSDT", ">", 1.0)
    assert parse_rule("binance:btcusdt PRICE<=60000.5")[1:6] == ("price", "BINANCE", "BTCUSDT", "<=", 60000.5)
    move = parse_rule("ETHUSDT move > 2% in 5m")
    assert (move.kind, move.threshold, move.window_ns) == ("move", 2.0, 300 * S)
    assert parse_rule("BTCUSDT spread > 10bps").threshold == 10.0
    assert parse_rule("BTCUSDT arb > 5 bps").threshold == 5.0
    assert parse_rule("COINBASE skew > 500ms")[1:6] == ("skew", "COINBASE", "", ">", 500.0)
    assert parse_rule("stale").kind == parse_rule("gap").kind.replace("gap", "stale")
    assert parse_rule("BINANCE:SOLUSDT stale")[2:4] == ("BINANCE", "SOLUSDT")
    assert parse_rule("halt").kind == "halt"


@pytest.mark.parametrize("text, says", [
    ("", "empty"),
    ("BTCUSDT price", "expected >, >=, < or <="),
    ("BTCUSDT price > abc", "must be a number"),
    ("BTCUSDT price > nan", "finite"),
    ("BTCUSDT cost > 1", "no condition"),
    ("KRAKEN:BTCUSDT price > 1", "unknown venue 'KRAKEN'"),
    ("price > 1", "needs a symbol"),
    ("BTCUSDT move > 2%", "needs a window"),
    ("BTCUSDT move > 2% in 5y", "window must be like"),
    ("BTCUSDT halt", "takes no symbol"),
    ("BINANCE:BTCUSDT arb > 1 bps", "across venues"),
    ("BTCUSDT funding", "expected >, >=, < or <="),
    ("funding > 0.01%", "needs a symbol"),
    ("BTCUSDT price < 0", "never below"),
])
def test_bad_rules_say_what_is_wrong_in_one_line(text, says):
    with pytest.raises(AlertRuleError) as info:
        parse_rule(text, VENUES)
    assert says in str(info.value) and "\n" not in str(info.value)


def test_price_fires_on_first_evaluation_once_and_rearms_only_past_the_hysteresis_band():
    e = engine("BTCUSDT price > 100")
    fired = e.evaluate(obs(1, sample(150.0)))
    assert [(a.venue, a.symbol, a.value, a.threshold, a.at_ns) for a in fired] == [("BINANCE", "BTCUSDT", 150.0, 100.0, S)]
    assert e.evaluate(obs(2, sample(160.0))) == []  # still true: no second alert
    assert e.evaluate(obs(3, sample(99.99))) == []  # just under the level: inside the band, not re-armed
    assert e.evaluate(obs(4, sample(100.5))) == []  # so crossing back does not fire
    assert e.evaluate(obs(5, sample(99.0))) == []  # now past the band: re-armed
    assert len(e.evaluate(obs(6, sample(101.0)))) == 1  # a second crossing, a second alert
    assert e.fired == 2 and e.by_rule == {"BTCUSDT price > 100": 2}


def test_a_rule_without_venue_is_one_condition_across_venues():
    e = engine("BTCUSDT price < 100")
    fired = e.evaluate(obs(1, sample(101.0), sample(95.0, "COINBASE", "BTC-USD")))
    assert [(a.venue, a.venue_symbol, a.value) for a in fired] == [("COINBASE", "BTC-USD", 95.0)]
    assert e.evaluate(obs(2, sample(94.0), sample(95.0, "COINBASE", "BTC-USD"))) == []
    narrowed = engine("BINANCE:BTCUSDT price < 100")
    assert narrowed.evaluate(obs(1, sample(101.0), sample(95.0, "COINBASE", "BTC-USD"))) == []


def test_no_data_and_stale_venues_neither_fire_nor_rearm():
    e = engine("BTCUSDT price > 100")
    assert e.evaluate(obs(1, sample(None), sample(150.0, stale=True))) == []
    assert len(e.evaluate(obs(2, sample(150.0)))) == 1
    assert e.evaluate(obs(3)) == []  # data gone: stays fired
    assert e.evaluate(obs(4, sample(150.0))) == []


def test_move_within_a_window():
    e = engine("BTCUSDT move > 2% in 10s")
    assert e.evaluate(obs(0, sample(100.0))) == []
    assert e.evaluate(obs(5, sample(101.5))) == []
    fired = e.evaluate(obs(8, sample(97.5)))  # 2.5% below the price 8 s ago
    assert len(fired) == 1 and fired[0].value == pytest.approx(2.5)
    # 20 s later the window holds only ~97.5 prices: false, re-armed; a drop from there fires again
    for t in range(9, 30):
        assert e.evaluate(obs(t, sample(97.5))) == []
    assert len(e.evaluate(obs(30, sample(95.0)))) == 1


def test_spread_arb_stale_gap_skew_and_halt():
    e = engine("BTCUSDT spread > 10 bps", "BTCUSDT arb > 5 bps", "stale", "gap", "skew > 500 ms", "halt")
    first = e.evaluate(obs(1, sample(100.0, bid=99.0, ask=101.0), arb={"BTC/USD": (7.0, "BINANCE>COINBASE")},
                           stale=[("COINBASE", "BTC-USD")], gaps=3, skew={"BINANCE": -800.0}, halted=True))
    assert {a.kind: a.value for a in first} == {"spread": pytest.approx(200.0), "arb": 7.0, "stale": 1.0,
                                                 "skew": 800.0, "halt": 1.0}  # gaps seen before the first look count as known
    assert e.evaluate(obs(2, gaps=3, halted=True, stale=[("COINBASE", "BTC-USD")])) == []
    assert [a.kind for a in e.evaluate(obs(3, gaps=4, halted=True))] == ["gap"]
    assert e.evaluate(obs(4, gaps=4, halted=False)) == []  # resumed, fresh, no new gap: all re-armed
    again = e.evaluate(obs(5, gaps=6, halted=True, stale=[("BINANCE", "BTCUSDT")]))
    assert sorted(a.kind for a in again) == ["gap", "halt", "stale"]


def test_rules_are_added_and_removed_by_text():
    e = engine("BTCUSDT price > 1")
    with pytest.raises(AlertRuleError, match="exists already"):
        e.add("btcusdt  PRICE >1")
    assert e.remove("BTCUSDT  price > 1") is not None and e.rules == []
    assert e.remove("BTCUSDT price > 1") is None
