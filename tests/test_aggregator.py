"""Cross-exchange aggregator: every price strategy, best bid/ask, spreads, staleness, stats form.

Fixtures are real MarketStates fed with real Quote and Trade events through the pipeline (or set
on a SymbolState directly); all expected figures are computed by hand in the comments.
"""
import json

import pytest

from feeds.clock import ManualClock
from feeds.core.aggregator import STRATEGIES, Aggregate, Aggregator
from feeds.core.pipeline import Pipeline
from feeds.core.state import MarketState
from feeds.events import Quote, Trade

S = 1_000_000_000
SYMBOL = {"BINANCE": "BTCUSDT", "COINBASE": "BTC-USD", "KRAKEN": "XBT/USD", "OKX": "BTC-USDT"}


def quote(venue, bid, bid_size, ask, ask_size, at_s, unified="BTC/USD"):
    ns = int(at_s * S)
    return Quote(venue, SYMBOL[venue], unified, ns, ns, bid, bid_size, ask, ask_size)


def trade(venue, price, size, at_s, trade_id, unified="BTC/USD"):
    ns = int(at_s * S)
    return Trade(venue, SYMBOL[venue], unified, ns, ns, price, size, "buy", trade_id)


def three_venue_state() -> MarketState:
    """BINANCE price 100 (trade), COINBASE 103 (trade), KRAKEN 99 (quote mid, no trade)."""
    p = Pipeline(ManualClock(100 * S))
    p.apply_all([
        quote("BINANCE", 100.0, 2.0, 101.0, 3.0, 98.0),
        trade("BINANCE", 100.0, 3.0, 97.0, 1),
        quote("COINBASE", 102.0, 1.0, 103.0, 1.5, 96.0),
        trade("COINBASE", 103.0, 1.0, 99.0, 1),
        quote("KRAKEN", 98.0, 5.0, 100.0, 4.0, 99.5),
    ])
    return p.state


def test_three_fresh_venues_every_figure_by_hand():
    agg = Aggregator().compute_one(three_venue_state(), "BTC/USD", 100 * S)
    assert [v.venue for v in agg.venues] == ["BINANCE", "COINBASE", "KRAKEN"]
    assert agg.stale_venues == []
    # Best bid: max(100, 102, 98) at COINBASE; best ask: min(101, 103, 100) at KRAKEN.
    assert (agg.best_bid, agg.best_bid_venue, agg.best_bid_size) == (102.0, "COINBASE", 1.0)
    assert (agg.best_ask, agg.best_ask_venue, agg.best_ask_size) == (100.0, "KRAKEN", 4.0)
    # Crossed across venues: (100 - 102) / 101 * 1e4.
    assert agg.spread_bps == pytest.approx(-2.0 / 101.0 * 1e4)
    assert agg.best_bid_ask == 101.0
    # Prices 100, 103, 99.
    assert agg.first == 100.0  # BINANCE leads the default priority
    assert agg.last == 99.0  # KRAKEN's quote at 99.5 s is the newest data
    assert agg.average == pytest.approx(302.0 / 3.0)
    assert agg.median == 100.0  # odd count: the middle of 99, 100, 103
    assert agg.vwap == pytest.approx((100.0 * 3.0 + 103.0 * 1.0 + 99.0 * 0.0) / 4.0)  # 100.75
    assert agg.dispersion_bps == pytest.approx((103.0 - 99.0) / 100.0 * 1e4)
    assert agg.volume == 4.0
    dev = {v.venue: v.deviation_bps for v in agg.venues}
    assert dev["BINANCE"] == 0.0
    assert dev["COINBASE"] == pytest.approx(300.0)
    assert dev["KRAKEN"] == pytest.approx(-100.0)
    b = agg.venues[0]
    assert (b.bid, b.bid_size, b.ask, b.ask_size, b.last, b.volume) == (100.0, 2.0, 101.0, 3.0, 100.0, 3.0)
    assert b.age_ns == 2 * S and b.stale is False  # data time = the quote at 98 s, newer than the trade
    assert agg.venues[2].last is None and agg.venues[2].price == 99.0
    for name in STRATEGIES:
        assert agg.price(name) == getattr(agg, name)
    with pytest.raises(ValueError):
        agg.price("mode")


def test_stale_venue_is_listed_and_excluded_from_every_figure():
    # At 103.5 s BINANCE's newest data (98 s) is 5.5 s old; COINBASE (99 s) and KRAKEN (99.5 s) are fresh.
    agg = Aggregator(stale_after_s=5.0).compute_one(three_venue_state(), "BTC/USD", int(103.5 * S))
    assert agg.stale_venues == ["BINANCE"]
    assert [(v.venue, v.stale) for v in agg.venues] == [("BINANCE", True), ("COINBASE", False), ("KRAKEN", False)]
    assert agg.venues[0].deviation_bps is None and agg.venues[0].age_ns == int(5.5 * S)
    # Prices left: 103 and 99.
    assert agg.first == 103.0  # BINANCE is first in priority but stale
    assert agg.last == 99.0
    assert agg.average == 101.0
    assert agg.median == 101.0  # even count: mean of the two middle prices
    assert agg.vwap == 103.0  # KRAKEN has no volume
    assert agg.volume == 1.0
    assert (agg.best_bid, agg.best_bid_venue) == (102.0, "COINBASE")
    assert (agg.best_ask, agg.best_ask_venue) == (100.0, "KRAKEN")
    assert agg.dispersion_bps == pytest.approx(4.0 / 101.0 * 1e4)
    # Later still everything is stale: no figures at all.
    late = Aggregator(stale_after_s=5.0).compute_one(three_venue_state(), "BTC/USD", 200 * S)
    assert late.stale_venues == ["BINANCE", "COINBASE", "KRAKEN"]
    assert late.best_bid is None and late.best_ask is None and late.spread_bps is None
    assert (late.first, late.last, late.average, late.median, late.vwap, late.best_bid_ask) == (None,) * 6
    assert late.volume == 0.0 and late.dispersion_bps is None


def test_staleness_boundary_and_configured_threshold():
    state = MarketState()
    state.get("BINANCE", "BTCUSDT", "BTC/USD").quote = quote("BINANCE", 10.0, 1.0, 11.0, 1.0, 50.0)
    assert Aggregator(stale_after_s=5.0).compute_one(state, "BTC/USD", 55 * S).stale_venues == []
    assert Aggregator(stale_after_s=5.0).compute_one(state, "BTC/USD", 55 * S + 1).stale_venues == ["BINANCE"]
    assert Aggregator(stale_after_s=60.0).compute_one(state, "BTC/USD", 100 * S).stale_venues == []


def test_even_median_of_four_differs_from_the_mean():
    state = MarketState()
    for venue, mid in (("BINANCE", 1.0), ("COINBASE", 2.0), ("KRAKEN", 3.0), ("OKX", 10.0)):
        state.get(venue, SYMBOL[venue], "BTC/USD").quote = quote(venue, mid - 0.5, 1.0, mid + 0.5, 1.0, 10.0)
    agg = Aggregator().compute_one(state, "BTC/USD", 11 * S)
    assert agg.median == 2.5
    assert agg.average == 4.0
    assert agg.vwap == 4.0  # no trades, no volume: falls back to the average
    assert agg.dispersion_bps == pytest.approx(9.0 / 2.5 * 1e4)


def test_venue_priority_decides_first():
    state = three_venue_state()
    assert Aggregator(venue_priority=("COINBASE", "BINANCE")).compute_one(state, "BTC/USD", 100 * S).first == 103.0
    # Venues outside the priority list come after it, alphabetically.
    assert Aggregator(venue_priority=("OKX",)).compute_one(state, "BTC/USD", 100 * S).first == 100.0


def test_last_follows_the_most_recent_data_time():
    state = three_venue_state()
    st = state.get("COINBASE", "BTC-USD", "BTC/USD")
    st.last_trade = trade("COINBASE", 104.0, 0.5, 99.9, 2)
    assert Aggregator().compute_one(state, "BTC/USD", 100 * S).last == 104.0


def test_an_old_trade_gives_way_to_a_fresh_quote_mid():
    state = MarketState()
    st = state.get("BINANCE", "BTCUSDT", "BTC/USD")
    st.last_trade = trade("BINANCE", 90.0, 1.0, 80.0, 1)
    st.quote = quote("BINANCE", 100.0, 1.0, 101.0, 1.0, 99.0)
    v = Aggregator().compute_one(state, "BTC/USD", 100 * S).venues[0]
    assert v.stale is False and v.last == 90.0 and v.price == 100.5


def test_a_venue_with_no_quote_and_no_trade_is_stale():
    state = three_venue_state()
    state.get("OKX", "BTC-USDT", "BTC/USD")  # e.g. only candles so far
    agg = Aggregator().compute_one(state, "BTC/USD", 100 * S)
    assert agg.stale_venues == ["OKX"]
    okx = agg.venues[-1]
    assert okx.age_ns is None and okx.bid is None and okx.price is None
    assert agg.median == 100.0  # unchanged by the empty venue


def test_compute_groups_by_unified_symbol_in_order():
    state = three_venue_state()
    state.get("BINANCE", "ETHUSDT", "ETH/USD").quote = Quote("BINANCE", "ETHUSDT", "ETH/USD", 99 * S, 99 * S,
                                                              3000.0, 1.0, 3001.0, 2.0)
    aggs = Aggregator().compute(state, 100 * S)
    assert list(aggs) == ["BTC/USD", "ETH/USD"]
    eth = aggs["ETH/USD"]
    assert isinstance(eth, Aggregate)
    assert eth.spread_bps == pytest.approx(1.0 / 3000.5 * 1e4)
    assert eth.dispersion_bps == 0.0
    assert Aggregator().compute_one(state, "SOL/USD", 100 * S) is None
    assert Aggregator().compute(MarketState(), 0) == {}


def test_to_stats_has_the_design_keys_and_is_json():
    stats = Aggregator().stats(three_venue_state(), int(103.5 * S))
    btc = stats["BTC/USD"]
    assert {"best_bid", "best_bid_venue", "best_ask", "best_ask_venue", "stale_venues"} <= set(btc)
    assert btc["best_bid"] == 102.0 and btc["best_bid_venue"] == "COINBASE"
    assert btc["best_ask"] == 100.0 and btc["best_ask_venue"] == "KRAKEN"
    assert btc["stale_venues"] == ["BINANCE"]
    assert btc["median"] == 101.0 and btc["vwap"] == 103.0
    assert set(btc["venues"]) == {"BINANCE", "COINBASE", "KRAKEN"}
    assert btc["venues"]["BINANCE"] == {"symbol": "BTCUSDT", "bid": 100.0, "ask": 101.0, "last": 100.0,
                                        "price": 100.0, "volume": 3.0, "age_ms": 5500.0,
                                        "deviation_bps": None, "stale": True}
    assert btc["venues"]["KRAKEN"]["last"] is None
    assert btc["venues"]["COINBASE"]["deviation_bps"] == pytest.approx(2.0 / 101.0 * 1e4)
    text = json.dumps(stats, allow_nan=False)
    assert '"best_bid_venue": "COINBASE"' in text and "null" in text
    empty = Aggregator().compute_one(three_venue_state(), "BTC/USD", 500 * S).to_stats()
    assert empty["best_bid"] is None and empty["best_bid_venue"] is None and empty["spread_bps"] is None
    json.dumps(empty, allow_nan=False)


def test_to_stats_keys_venues_by_symbol_when_a_venue_lists_two_of_the_pair():
    state = MarketState()
    state.get("BINANCE", "BTCUSDT", "BTC/USD").quote = quote("BINANCE", 100.0, 1.0, 101.0, 1.0, 9.0)
    state.get("BINANCE", "BTCUSDC", "BTC/USD").quote = Quote("BINANCE", "BTCUSDC", "BTC/USD", 9 * S, 9 * S,
                                                              100.5, 1.0, 100.8, 1.0)
    agg = Aggregator().compute_one(state, "BTC/USD", 10 * S)
    assert (agg.best_bid, agg.best_ask) == (100.5, 100.8)
    assert set(agg.to_stats()["venues"]) == {"BINANCE:BTCUSDC", "BINANCE:BTCUSDT"}
