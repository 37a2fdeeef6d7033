"""Arbitrage windows (open/close, duration, fees) and the rolling z-score spike detector.

Aggregates come from a real MarketState through the real Aggregator; fee arithmetic is by hand.
"""
import math
import random
import statistics

import pytest

from feeds.core.aggregator import Aggregator
from feeds.core.arbitrage import ArbEvent, ArbitrageDetector, SpikeDetector, SpikeEvent
from feeds.core.state import MarketState
from feeds.events import Quote

S = 1_000_000_000
SYMBOL = {"BINANCE": "BTCUSDT", "COINBASE": "BTC-USD"}


class Market:
    """Two venues' quotes for BTC/USD; ``agg(t)`` aggregates them at t seconds."""

    def __init__(self) -> None:
        self.state = MarketState()
        self.aggregator = Aggregator(stale_after_s=5.0)

    def quote(self, venue, bid, bid_size, ask, ask_size, at_s):
        ns = int(at_s * S)
        self.state.get(venue, SYMBOL[venue], "BTC/USD").quote = Quote(
            venue, SYMBOL[venue], "BTC/USD", ns, ns, bid, bid_size, ask, ask_size)

    def agg(self, at_s):
        return self.aggregator.compute_one(self.state, "BTC/USD", int(at_s * S))


def test_window_opens_with_fee_adjusted_profit_and_closes_with_its_duration():
    m = Market()
    det = ArbitrageDetector(taker_fee_bps={"BINANCE": 10.0, "COINBASE": 60.0})
    m.quote("COINBASE", 99.0, 1.0, 100.0, 2.0, 10.0)
    m.quote("BINANCE", 101.0, 0.5, 101.5, 1.0, 10.0)
    [ev] = det.update(m.agg(10.0), 10 * S)
    # Buy COINBASE at 100 paying 60 bps: 100.6; sell BINANCE at 101 paying 10 bps: 100.899.
    assert isinstance(ev, ArbEvent)
    assert (ev.kind, ev.unified, ev.buy_venue, ev.sell_venue) == ("open", "BTC/USD", "COINBASE", "BINANCE")
    assert (ev.buy_price, ev.sell_price, ev.size) == (100.0, 101.0, 0.5)  # size: min(2.0 ask, 0.5 bid)
    assert ev.profit_bps == pytest.approx(0.299 / 100.0 * 1e4)  # 29.9 bps of the buy price
    assert ev.profit_quote == pytest.approx(0.299 * 0.5)
    assert ev.opened_ns == ev.at_ns == 10 * S and ev.duration_ns == 0
    assert ev.describe() == ("ARB open BTC/USD: buy COINBASE 100 sell BINANCE 101 size 0.5 "
                             "net 29.90 bps (0.15 USD)")
    # Still open and better: no new event, but the peak moves.
    m.quote("BINANCE", 101.2, 0.5, 101.5, 1.0, 11.0)
    assert det.update(m.agg(11.0), 11 * S) == []
    assert det.open_windows() == [("BTC/USD", "COINBASE", "BINANCE", 10 * S)]
    # The bid falls to 100.7: 100.7 * 0.999 = 100.5993 < 100.6, the window closes.
    m.quote("BINANCE", 100.7, 0.5, 101.5, 1.0, 12.5)
    [close] = det.update(m.agg(12.5), int(12.5 * S))
    assert (close.kind, close.buy_venue, close.sell_venue) == ("close", "COINBASE", "BINANCE")
    assert close.opened_ns == 10 * S and close.at_ns == int(12.5 * S)
    assert close.duration_ns == int(2.5 * S)
    # 101.2 * 0.999 - 100.6 = 0.4988 -> 49.88 bps at its best.
    assert close.peak_profit_bps == pytest.approx(49.88)
    assert close.sell_price == 101.2  # the last values seen while open
    assert close.describe() == "ARB close BTC/USD: buy COINBASE sell BINANCE after 2.500 s (peak 49.88 bps)"
    assert det.open_windows() == []
    assert det.update(m.agg(13.0), 13 * S) == []


def test_just_below_the_fee_threshold_gives_nothing_and_just_above_opens():
    # Gross 70 bps against 10 + 60 bps of fees: break-even bid is 100.6 / 0.999 = 100.7007...
    m = Market()
    det = ArbitrageDetector()
    m.quote("COINBASE", 99.0, 1.0, 100.0, 2.0, 1.0)
    m.quote("BINANCE", 100.70, 1.0, 101.5, 1.0, 1.0)
    assert det.update(m.agg(1.0), 1 * S) == []
    m.quote("BINANCE", 100.71, 1.0, 101.5, 1.0, 2.0)
    [ev] = det.update(m.agg(2.0), 2 * S)
    assert ev.kind == "open" and ev.profit_bps == pytest.approx((100.71 * 0.999 - 100.6) / 100.0 * 1e4)
    assert 0.0 < ev.profit_bps < 1.0


def test_min_profit_and_zero_fees_move_the_threshold():
    m = Market()
    m.quote("COINBASE", 99.0, 1.0, 100.0, 2.0, 1.0)
    m.quote("BINANCE", 101.0, 0.5, 101.5, 1.0, 1.0)
    assert ArbitrageDetector(min_profit_bps=30.0).update(m.agg(1.0), S) == []  # 29.9 bps is not enough
    [ev] = ArbitrageDetector(taker_fee_bps={"BINANCE": 0.0, "COINBASE": 0.0}).update(m.agg(1.0), S)
    assert ev.profit_bps == pytest.approx(100.0) and ev.profit_quote == pytest.approx(0.5)


def test_a_stale_venue_closes_the_window():
    m = Market()
    det = ArbitrageDetector()
    m.quote("COINBASE", 99.0, 1.0, 100.0, 2.0, 10.0)
    m.quote("BINANCE", 101.0, 0.5, 101.5, 1.0, 10.0)
    assert [e.kind for e in det.update(m.agg(10.0), 10 * S)] == ["open"]
    m.quote("COINBASE", 99.0, 1.0, 100.0, 2.0, 14.0)  # only COINBASE keeps updating
    assert det.update(m.agg(15.0), 15 * S) == []  # BINANCE is 5 s old: still fresh
    [ev] = det.update(m.agg(15.5), int(15.5 * S))
    assert ev.kind == "close" and ev.duration_ns == int(5.5 * S)


def test_no_window_on_a_single_venue_or_a_normal_market():
    m = Market()
    det = ArbitrageDetector()
    m.quote("BINANCE", 100.0, 1.0, 100.1, 1.0, 1.0)
    assert det.update(m.agg(1.0), S) == []
    m.quote("COINBASE", 100.02, 1.0, 100.08, 1.0, 1.0)
    assert det.update(m.agg(1.0), S) == []
    assert det.open_windows() == []


def test_both_directions_are_separate_windows():
    m = Market()
    det = ArbitrageDetector(taker_fee_bps={"BINANCE": 0.0, "COINBASE": 0.0})
    m.quote("COINBASE", 99.0, 1.0, 100.0, 1.0, 1.0)
    m.quote("BINANCE", 101.0, 1.0, 101.5, 1.0, 1.0)
    [a] = det.update(m.agg(1.0), S)
    m.quote("COINBASE", 103.0, 1.0, 104.0, 1.0, 2.0)  # now COINBASE's bid is above BINANCE's ask
    events = det.update(m.agg(2.0), 2 * S)
    assert [(e.kind, e.buy_venue, e.sell_venue) for e in events] == [
        ("close", "COINBASE", "BINANCE"), ("open", "BINANCE", "COINBASE")]


# -- spikes -------------------------------------------------------------------------------------

def test_flat_then_jump_fires_once_at_the_jump():
    det = SpikeDetector(window=60, z_threshold=4.0, min_samples=20)
    prices = [100.0] * 50 + [101.0] * 50
    fired = [(i, ev) for i, p in enumerate(prices) if (ev := det.update("BINANCE", "BTC/USD", p, i * S))]
    assert [i for i, _ in fired] == [50]
    ev = fired[0][1]
    assert isinstance(ev, SpikeEvent)
    assert (ev.venue, ev.unified, ev.prev_price, ev.price, ev.at_ns) == ("BINANCE", "BTC/USD", 100.0, 101.0, 50 * S)
    assert ev.return_bps == pytest.approx(100.0)
    assert ev.std_bps == 0.0 and ev.z == pytest.approx(0.01 / 1e-5)  # deviation floored at 1e-5
    assert ev.describe() == "SPIKE BINANCE BTC/USD: 100 -> 101 (+100.0 bps, z=1000.0)"


def test_noise_does_not_fire_but_a_jump_inside_it_does():
    rng = random.Random(7)
    det = SpikeDetector()
    price = 100.0
    fired = []
    for i in range(1500):
        price *= 1.0 + rng.gauss(0.0, 2e-4)  # 2 bps noise
        if i == 1000:
            price *= 1.01  # a 100 bps jump: z about 50
        if det.update("COINBASE", "ETH/USD", price, i * S):
            fired.append(i)
    assert fired == [1000]


def test_no_score_before_min_samples():
    det = SpikeDetector(window=60, z_threshold=4.0, min_samples=20)
    prices = [100.0] * 10 + [110.0]  # 10 returns only before the jump
    assert all(det.update("BINANCE", "BTC/USD", p, i) is None for i, p in enumerate(prices))


def test_running_sums_match_a_plain_recomputation_of_the_window():
    rng = random.Random(3)
    det = SpikeDetector(window=30, z_threshold=0.0, min_samples=20)  # threshold 0: every scored return fires
    det.RESUM_EVERY = 1 << 30  # exercise the running sums alone
    prices = [100.0]
    for _ in range(5000):
        prices.append(prices[-1] * (1.0 + rng.gauss(0.0, 1e-3)))
    events = [det.update("BINANCE", "BTC/USD", p, i) for i, p in enumerate(prices)]
    returns = [b / a - 1.0 for a, b in zip(prices, prices[1:])]
    for k in (20, 31, 777, 4999):  # the event for returns[k] is scored against returns[k-30:k]
        window = returns[max(0, k - 30):k]
        ev = events[k + 1]
        assert ev.mean_bps == pytest.approx(statistics.fmean(window) * 1e4, rel=1e-9, abs=1e-9)
        assert ev.std_bps == pytest.approx(statistics.pstdev(window) * 1e4, rel=1e-6)
        assert ev.z == pytest.approx((returns[k] - statistics.fmean(window)) / statistics.pstdev(window), rel=1e-6)


def test_series_are_independent_per_venue_and_symbol():
    det = SpikeDetector(min_samples=20)
    for i in range(30):
        det.update("BINANCE", "BTC/USD", 100.0, i)
        det.update("COINBASE", "BTC/USD", 100.0 if i % 2 else 100.5, i)  # noisy: big deviation
    assert det.update("BINANCE", "BTC/USD", 101.0, 30) is not None
    assert det.update("COINBASE", "BTC/USD", 101.0, 30) is None  # a 50-bps move is ordinary here
    det.reset("BINANCE", "BTC/USD")
    assert det.update("BINANCE", "BTC/USD", 150.0, 31) is None  # first price after a reset is no return


def test_bad_prices_and_bad_settings():
    det = SpikeDetector()
    assert det.update("BINANCE", "BTC/USD", 0.0, 0) is None
    assert det.update("BINANCE", "BTC/USD", math.nan, 0) is None
    with pytest.raises(ValueError):
        SpikeDetector(window=10, min_samples=20)
