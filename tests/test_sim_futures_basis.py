"""The simulated perpetual follows simulated spot: its basis stays a few bps, as on a real exchange."""
from __future__ import annotations

from feeds.sim.binance_futures import mark_payload
from feeds.sim.market import SimSymbol
from feeds.sim.server import Simulator


def _mid(sym: SimSymbol) -> float:
    b, _, a, _ = sym.best()
    return (b + a) * 0.5 * sym.tick


def test_perp_mid_stays_within_a_few_bps_of_spot_through_warm_up_and_live_steps() -> None:
    sim = Simulator(venues=["BINANCE", "BINANCE_FUTURES"], seed=11)
    start = 1_700_000_000_000
    sim._warm_up(start - 600_000, start)  # history first, as Simulator.start does
    spot = sim.venues["BINANCE"].market  # type: ignore[attr-defined]
    perp = sim.venues["BINANCE_FUTURES"].market  # type: ignore[attr-defined]
    worst = 0.0
    basis_sum, n = 0.0, 0
    for k in range(6000):  # ten simulated minutes at 10 steps a second
        t = start + k * 100
        for v in sim.venues.values():
            v.step(t)
        for name, s in spot.symbols.items():
            bps = (_mid(perp.symbols[name]) / _mid(s) - 1.0) * 1e4
            worst = max(worst, abs(bps))
            basis_sum += bps
            n += 1
    assert worst < 12.0, f"perp strayed {worst:.1f} bps from spot"
    assert 0.0 < basis_sum / n < 4.0  # a small premium on average


def test_mark_index_is_the_spot_mid() -> None:
    sim = Simulator(venues=["BINANCE", "BINANCE_FUTURES"], seed=3)
    for v in sim.venues.values():
        v.step(1_700_000_000_000)
    streams = sim.venues["BINANCE_FUTURES"].streams  # type: ignore[attr-defined]
    sym = streams.market.symbols["BTCUSDT"]
    body = mark_payload(sym, 1_700_000_000_000, streams.index_price(sym))
    spot_mid = _mid(sim.venues["BINANCE"].market.symbols["BTCUSDT"])  # type: ignore[attr-defined]
    assert abs(float(body["i"]) / spot_mid - 1.0) < 1e-6
    assert abs(float(body["p"]) / float(body["i"]) - 1.0) < 8e-4


def test_liquidations_and_open_interest_have_sizes_a_trader_would_believe() -> None:
    sim = Simulator(venues=["BINANCE", "BINANCE_FUTURES"], seed=5)
    venue = sim.venues["BINANCE_FUTURES"]
    venue.step(1_700_000_000_000)
    streams = venue.streams  # type: ignore[attr-defined]
    notionals = []
    for name in ("BTCUSDT", "ETHUSDT"):
        sym = streams.market.symbols[name]
        for _ in range(400):
            o = streams._liquidation(sym, 1_700_000_000_000)["o"]
            notionals.append(float(o["q"]) * float(o["p"]))
    notionals.sort()
    assert 3_000 < notionals[len(notionals) // 2] < 20_000  # a median of a few thousand dollars
    assert 0.01 < sum(n > 50_000 for n in notionals) / len(notionals) < 0.2  # some pass the highlight
    assert notionals[0] > 10.0  # none of dust size
    oi = {s: float(venue.rest_open_interest({"symbol": s})[1]["openInterest"])  # type: ignore[attr-defined]
          for s in ("BTCUSDT", "ETHUSDT")}
    mids = {s: _mid(streams.market.symbols[s]) for s in oi}
    assert oi["BTCUSDT"] != oi["ETHUSDT"]
    assert all(1e9 < oi[s] * mids[s] < 1.5e9 for s in oi)
