"""Higher timeframes from the base interval's closed bars: 5m from 1m equals the simulator's own REST 5m
klines (fetched over loopback HTTP), partial buckets after a gap, duplicates and bad interval pairs."""
from __future__ import annotations

import asyncio
import urllib.request

import pytest
from msgspec.structs import replace

from feeds.core.resample import ResampleError, Resampler
from feeds.events import Candle
from feeds.sim.server import Simulator
from feeds.venues.binance import klines_path, parse_klines

MIN = 60_000_000_000


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as r:
        return r.read()


async def test_5m_bars_built_from_1m_equal_the_simulators_rest_5m_klines():
    # three hours of history at 2 trades/s (still ~120 per 1m bar): the warm-up at 20/s took 40 s
    sim = Simulator(symbols=("BTCUSDT",), seed=11, port=0, intervals=("1m", "5m"), history_s=3 * 3600,
                    trades_per_second=2.0, venues=("BINANCE",))
    await sim.start()
    try:
        base = sim.rest_url("BINANCE")
        one, five = await asyncio.gather(
            asyncio.to_thread(_get, base + klines_path("BTCUSDT", "1m", limit=1000)),
            asyncio.to_thread(_get, base + klines_path("BTCUSDT", "5m", limit=1000)))
    finally:
        await sim.stop()
    now_ms = 1 << 62  # every bar fetched counts as closed except the forming one, dropped below
    ones, bad1 = parse_klines(one, "BTCUSDT", "1m", 0, now_ms)
    fives, bad5 = parse_klines(five, "BTCUSDT", "5m", 0, now_ms)
    assert not bad1 and not bad5
    ones, fives = ones[:-1], fives[:-1]  # the forming bars
    resampler = Resampler("1m", "5m")
    built = [bar for c in ones for bar in resampler.add(c)]
    venue = {c.open_ns: c for c in fives}
    compared = [b for b in built if b.open_ns in venue and b.open_ns >= ones[0].open_ns]
    assert len(compared) >= 30 and resampler.partial <= 1  # only the first bucket may start mid-way
    for b in compared:
        v = venue[b.open_ns]
        assert (b.open, b.high, b.low, b.close, b.trades) == (v.open, v.high, v.low, v.close, v.trades), b.open_ns
        assert b.volume == pytest.approx(v.volume, rel=1e-9)


def bar(i: int, close: float, source: str = "live") -> Candle:
    return Candle("BINANCE", "BTCUSDT", "BTC/USD", 0, 0, "1m", 1_795_000_200 * 10**9 // (5 * MIN) * 5 * MIN + i * MIN,
                  close - 1, close + 2, close - 3, close, 1.0, 2, True, source)


def test_a_gap_gives_a_partial_bar_and_duplicates_are_ignored():
    r = Resampler("1m", "5m")
    assert r.add(bar(0, 10, "backfill")) == [] and r.add(bar(1, 11)) == [] and r.add(bar(1, 11)) == []
    out = r.add(bar(6, 16))  # minutes 2-4 never came: the first 5m bar closes with what it had
    assert len(out) == 1 and (out[0].open, out[0].close, out[0].volume, out[0].source) == (9, 11, 2.0, "live")
    assert r.partial == 1
    forming = r.forming(replace(bar(7, 18), closed=False))
    assert (forming.open, forming.close, forming.closed, forming.volume) == (15, 18, False, 2.0)
    assert r.add(bar(3, 13)) == [] and r.late == 1  # older than the bar being built: the caller rebuilds
    done = [b for i in (7, 8, 9) for b in r.add(bar(i, 10 + i))]
    assert len(done) == 1 and (done[0].open, done[0].high, done[0].low, done[0].close) == (15, 21, 13, 19)


@pytest.mark.parametrize("base, target", [("5m", "1m"), ("3m", "5m"), ("1d", "1M"), ("1m", "7m")])
def test_impossible_pairs_are_refused(base, target):
    with pytest.raises(ResampleError):
        Resampler(base, target)


async def test_the_session_builds_higher_timeframes_from_backfill_at_start():
    from feeds.core.resample import combine
    from tui.runtime.runner import Runner
    from tui.runtime.session import SessionConfig
    runner = Runner(SessionConfig(mode="demo", interval="1s", intervals=["1s", "1m"], venues=["BINANCE"],
                                  symbols=["BTCUSDT"], record_path=None, startup_bars=500),
                    sim_options={"history_s": 300})
    await runner.start()
    try:
        state = runner.session.pipeline.state
        deadline = asyncio.get_running_loop().time() + 30
        while True:
            st = state.symbols.get(("BINANCE", "BTCUSDT"))
            minutes = st.candles.get("1m") if st is not None else None
            if minutes is not None and len(minutes.bars) >= 3 and minutes.forming is not None:
                break
            assert asyncio.get_running_loop().time() < deadline, "no 1m bars built from the 1s backfill"
            await asyncio.sleep(0.05)

        def whole_minutes() -> str:
            """'' when every minute after the first holds its 60 seconds and equals them combined."""
            seconds = {b.open_ns: b for b in st.candles["1s"].bars}
            for m in list(minutes.bars)[1:]:  # the first minute may have started before the backfill
                parts = [seconds[t] for t in range(m.open_ns, m.open_ns + MIN, 1_000_000_000) if t in seconds]
                if len(parts) != 60 or m != combine(parts, "1m", m.open_ns, True):
                    return f"the minute at {m.open_ns} from {len(parts)} seconds"
            return ""

        # a second the first answer lacked (it closed between the REST answer and the first live bar) is
        # backfilled a moment later, and its minute rebuilt: wait for that, with a deadline
        while why := whole_minutes():
            assert asyncio.get_running_loop().time() < deadline, why
            await asyncio.sleep(0.05)
        assert minutes.bars[1].source == "backfill" and minutes.forming.closed is False
    finally:
        await runner.stop()


def test_backfill_landing_after_live_bars_still_builds_the_higher_bars():
    from feeds.clock import ManualClock
    from tui.runtime.session import Session, SessionConfig
    session = Session(SessionConfig(mode="replay", venues=[], interval="1s", intervals=["1s", "1m"],
                                    record_path=None), clock=ManualClock(0))
    t0 = 1_795_000_200 * 10**9 // MIN * MIN
    sec = 1_000_000_000

    def one(i: int, source: str) -> Candle:
        return Candle("BINANCE", "BTCUSDT", "BTC/USD", 0, 0, "1s", t0 + i * sec, 10.0 + i, 11.0 + i, 9.0 + i,
                      10.5 + i, 1.0, 1, True, source)

    series = session.pipeline.state.get("BINANCE", "BTCUSDT", "BTC/USD").series("1s")
    for i in range(120, 125):  # live bars first
        series.apply(one(i, "live"))
        session._on_closed_candle(one(i, "live"))
    for i in range(0, 120):  # then the startup backfill, older
        series.apply(one(i, "backfill"))
        session._on_closed_candle(one(i, "backfill"))
    session._forming_higher_bars()
    minutes = session.pipeline.state.symbols[("BINANCE", "BTCUSDT")].candles["1m"]
    assert [(b.open_ns - t0) // MIN for b in minutes.bars] == [0, 1]
    assert minutes.bars[0].open == 10.0 and minutes.bars[0].close == 10.5 + 59 and minutes.bars[0].volume == 60
    assert minutes.bars[1].source == "backfill"
