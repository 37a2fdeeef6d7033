"""The aggregator computes a unified symbol's figures again only when its venues' inputs moved or the time
crossed a staleness edge; everything it returns equals a full computation by the definitions."""
import random

from feeds.clock import ManualClock
from feeds.core.aggregator import Aggregator
from feeds.core.pipeline import Pipeline
from feeds.events import Quote, Trade

S = 1_000_000_000
SYMBOLS = {("BINANCE", "BTC/USD"): "BTCUSDT", ("COINBASE", "BTC/USD"): "BTC-USD", ("KRAKEN", "BTC/USD"): "XBT/USD",
           ("BINANCE", "ETH/USD"): "ETHUSDT", ("COINBASE", "SOL/USD"): "SOL-USD", ("BINANCE", "SOL/USD"): "SOLUSDT"}


def quote(venue, unified, bid, ask, at_ns, uid=0, size=1.0):
    return Quote(venue, SYMBOLS[venue, unified], unified, at_ns, at_ns, bid, size, ask, size * 2, uid)


def trade(venue, unified, price, size, at_ns, trade_id):
    return Trade(venue, SYMBOLS[venue, unified], unified, at_ns, at_ns, price, size, "buy", trade_id)


def reference(agg: Aggregator, pipeline: Pipeline, now_ns: int) -> dict:
    """Every figure by the general definitions, from nothing kept."""
    fresh = Aggregator(agg.stale_after_s, agg.venue_priority)
    units = sorted({st.unified for st in pipeline.state.symbols.values()})
    return {u: fresh._aggregate_many(u, pipeline.state.by_unified(u), now_ns) for u in units}


def test_an_unmoved_symbol_is_not_computed_again_and_a_moved_one_shows_its_new_quote_at_the_next_tick():
    clock = ManualClock(10 * S)
    p = Pipeline(clock)
    p.apply_all([quote("BINANCE", "BTC/USD", 100.0, 101.0, 10 * S, 1), quote("COINBASE", "BTC/USD", 102.0, 103.0, 10 * S),
                 trade("BINANCE", "BTC/USD", 100.5, 2.0, 10 * S, 1), quote("BINANCE", "ETH/USD", 20.0, 21.0, 10 * S, 1)])
    agg = Aggregator()
    first = agg.compute(p.state, 10 * S)
    assert agg.recomputed == ["BTC/USD", "ETH/USD"]

    p.apply_all([quote("BINANCE", "ETH/USD", 20.5, 21.5, 10 * S + 50_000_000, 2)])
    second = agg.compute(p.state, 10 * S + 100_000_000)
    assert agg.recomputed == ["ETH/USD"]  # BTC's venues did not move
    assert (second["ETH/USD"].best_bid, second["ETH/USD"].best_ask) == (20.5, 21.5)  # the new quote, at once
    assert second["ETH/USD"].venues[0].age_ns == 50_000_000
    btc0, btc1 = first["BTC/USD"], second["BTC/USD"]
    assert btc1[2:] == btc0[2:]  # the same figures...
    assert [v.age_ns for v in btc1.venues] == [100_000_000, 100_000_000]  # ...with the ages of now
    assert second == reference(agg, p, 10 * S + 100_000_000)

    p.apply_all([trade("COINBASE", "BTC/USD", 102.5, 1.0, 10 * S + 150_000_000, 7)])  # a trade moves BTC
    third = agg.compute(p.state, 10 * S + 200_000_000)
    assert agg.recomputed == ["BTC/USD"]
    assert third["BTC/USD"].last == 102.5
    assert third == reference(agg, p, 10 * S + 200_000_000)


def test_a_venue_that_stops_moving_turns_stale_exactly_at_its_edge():
    p = Pipeline(ManualClock(10 * S))
    p.apply_all([quote("BINANCE", "BTC/USD", 100.0, 101.0, 10 * S, 1), quote("COINBASE", "BTC/USD", 102.0, 103.0, 12 * S)])
    agg = Aggregator(stale_after_s=5.0)
    agg.compute(p.state, 11 * S)
    held = agg.compute(p.state, 15 * S)  # BINANCE's data is exactly 5 s old: still fresh
    assert agg.recomputed == [] and held["BTC/USD"].stale_venues == []
    late = agg.compute(p.state, 15 * S + 1)
    assert agg.recomputed == ["BTC/USD"]
    assert late["BTC/USD"].stale_venues == ["BINANCE"] and late["BTC/USD"].best_bid == 102.0


def test_a_quote_set_on_the_state_directly_is_seen():
    p = Pipeline(ManualClock(10 * S))
    p.apply_all([quote("BINANCE", "ETH/USD", 20.0, 21.0, 10 * S, 1)])
    agg = Aggregator()
    agg.compute(p.state, 10 * S)
    p.state.symbols["BINANCE", "ETHUSDT"].quote = quote("BINANCE", "ETH/USD", 30.0, 31.0, 10 * S, 2)  # no version bump
    assert agg.compute(p.state, 10 * S + 1)["ETH/USD"].best_bid == 30.0


def test_incremental_figures_equal_a_full_computation_over_a_random_session():
    rng = random.Random(13)
    clock = ManualClock(100 * S)
    p = Pipeline(clock)
    agg = Aggregator(stale_after_s=2.0)
    keys = list(SYMBOLS)
    now = 100 * S
    uids = dict.fromkeys(keys, 0)
    tid = 0
    for _ in range(400):
        now += rng.choice((1, 50_000_000, 100_000_000, 900_000_000, 2 * S, 2 * S + 1, 3 * S))
        clock.set(now)
        for venue, unified in rng.sample(keys, rng.randint(0, 3)):
            mid = 100.0 + rng.uniform(-2.0, 2.0)
            at = now - rng.randint(0, 3 * S)  # some arrive with an old receive time: already stale, or soon
            if rng.random() < 0.5:
                uids[venue, unified] += 1
                p.apply_all([quote(venue, unified, mid - 0.1, mid + 0.1, at, uids[venue, unified],
                                   rng.choice((0.5, 1.0)))], now_ns=now)
            else:
                tid += 1
                p.apply_all([trade(venue, unified, mid, rng.choice((0.0, 0.3, 1.0)), at, tid)], now_ns=now)
        assert agg.compute(p.state, now) == reference(agg, p, now)


def test_a_quote_received_between_two_slices_of_a_tick_is_fresh_not_from_the_future():
    from feeds.core.state import MarketState
    from tui.widgets.aggregate_view import age_text

    state, agg = MarketState(), Aggregator(stale_after_s=2.0)
    names = [f"S{i:02d}USDT" for i in range(25)]  # more than one slice
    start = 1_700_000_000 * S
    for n in names:
        state.get("BINANCE", n, n).quote = Quote("BINANCE", n, n, start - S, start - S, 1.0, 1.0, 1.1, 1.0, 1)
    agg.compute(state, start)
    tick = start + S // 10
    for n in names:  # every symbol moved: all computed again, in slices
        state.get("BINANCE", n, n).quote = Quote("BINANCE", n, n, tick - 1000, tick - 1000, 1.0, 1.0, 1.2, 1.0, 2)
    work = agg.compute_slices(state, tick)
    next(work)  # the first slice; the live loop reads a frame here, 3 ms after the tick read its time
    late = names[20]
    state.get("BINANCE", late, late).quote = Quote("BINANCE", late, late, tick + 3_000_000, tick + 3_000_000,
                                                   1.0, 1.0, 1.3, 1.0, 3)
    try:
        while True:
            next(work)
    except StopIteration as done:
        out = done.value
    view = out[late].venues[0]
    assert view.ask == 1.3 and view.age_ns == 0 and not view.stale
    assert not age_text(view).startswith("-") and out[late].to_stats()["venues"]["BINANCE"]["age_ms"] >= 0
    later = agg.compute(state, tick + S // 10)[late].venues[0]  # the next tick: aged from its data time
    assert later.age_ns == S // 10 - 3_000_000
