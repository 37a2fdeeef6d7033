"""The simulator's start-up history: Binance is served first, the venues following it as each is built, and every
venue serves the same history as when all of them were stepped together, second by second."""
from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import parse_qsl

import orjson

from feeds.sim.server import Simulator

DEADLINE = 10.0
# the demo's venues; speed 0 stops the simulated clock at the start, so the live steps add nothing to compare
SPEC: dict[str, Any] = {"symbols": ("BTCUSDT", "ETHUSDT", "XRPUSDT"), "seed": 7, "intervals": ("1s",),
                        "venues": ("BINANCE", "COINBASE", "BINANCE_FUTURES"), "history_s": 40, "speed": 0.0}
PATHS = {  # what each venue's clients read of the history at start-up
    "BINANCE": ["/api/v3/klines?symbol={s}&interval=1s&limit=1000", "/api/v3/depth?symbol={s}&limit=5000",
                "/api/v3/ticker/bookTicker?symbol={s}"],
    "COINBASE": ["/products/{p}/candles?granularity=1", "/products/{p}/candles?granularity=60",
                 "/products/{p}/book?level=3", "/products/{p}/book?level=2", "/products/{p}/trades",
                 "/products/{p}/ticker", "/products/{p}/stats"],
    "BINANCE_FUTURES": ["/fapi/v1/klines?symbol={s}&interval=1m", "/fapi/v1/depth?symbol={s}&limit=1000",
                        "/fapi/v1/openInterest?symbol={s}"],
}


async def http_get(url: str) -> tuple[int, Any]:
    def get() -> tuple[int, Any]:
        try:
            with urllib.request.urlopen(url, timeout=DEADLINE) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read())
    return await asyncio.to_thread(get)


def lockstep(started: Simulator) -> Simulator:
    """The history as it was built before Binance was served first: every venue stepped at each second, in turn."""
    sim = Simulator(**{**SPEC, "history_s": 0})
    sim._t0 = started._t0  # the same stopped clock (a REST answer steps the market to the clock first)
    now = sim.now_ms()
    for t in range(now - SPEC["history_s"] * 1000, now, 1000):
        for v in sim.venues.values():
            v.step(t)
    for v in sim.venues.values():
        v.step(now)  # the start
    return sim


def _queries(venue: str) -> list[str]:
    return [path.format(s=s, p=s.replace("USDT", "-USD")) for path in PATHS[venue] for s in SPEC["symbols"]]


async def test_each_venue_serves_the_history_built_with_all_venues_in_step() -> None:
    sim = Simulator(**SPEC)
    await sim.start(followers_later=True)
    try:
        await asyncio.wait_for(sim.built(), DEADLINE)
        reference = lockstep(sim)
        for name, venue in reference.venues.items():
            for query in _queries(name):
                path, _, raw = (venue.rest_path + query).partition("?")
                expected = venue.rest(path, dict(parse_qsl(raw)))
                served = await http_get(sim.rest_url(name) + query)
                assert served == (expected[0], orjson.loads(orjson.dumps(expected[1]))), (name, query)
                assert served[0] == 200 and served[1], (name, query)
    finally:
        await sim.stop()


async def test_binance_is_served_while_the_venues_following_it_still_build() -> None:
    sim = Simulator(**SPEC)
    await sim.start(followers_later=True)
    try:
        assert sim.building() == ["COINBASE", "BINANCE_FUTURES"]
        coinbase = asyncio.ensure_future(http_get(f"{sim.rest_url('COINBASE')}/products/BTC-USD/candles?granularity=1"))
        status, klines = await http_get(f"{sim.rest_url()}/api/v3/klines?symbol=BTCUSDT&interval=1s&limit=1000")
        assert status == 200 and len(klines) == 41  # 40 s of history and the forming bar
        assert sim.building(), "Binance answered only once every venue was built"
        # a request to a venue still building waits for it, and gets its whole history
        status, candles = await asyncio.wait_for(coinbase, DEADLINE)
        assert status == 200 and len(candles) >= 38  # seconds without a trade have no candle
        assert "COINBASE" not in sim.building()
    finally:
        await sim.stop()


async def test_stop_while_a_follower_builds_answers_its_waiting_requests() -> None:
    sim = Simulator(**SPEC)
    await sim.start(followers_later=True)
    waiting = asyncio.ensure_future(http_get(f"{sim.rest_url('BINANCE_FUTURES')}/fapi/v1/klines?symbol=BTCUSDT"
                                             "&interval=1m"))
    deadline = asyncio.get_running_loop().time() + DEADLINE
    while sim.building() != ["BINANCE_FUTURES"]:  # by then its request is in (a few turns of the loop), waiting
        assert asyncio.get_running_loop().time() < deadline
        await asyncio.sleep(0)
    await asyncio.wait_for(sim.stop(), DEADLINE)
    status, _ = await asyncio.wait_for(waiting, DEADLINE)
    assert status == 503


async def test_a_request_to_a_venue_building_longer_than_the_handshake_timeout_is_answered(monkeypatch):
    """websockets closes a handshake after 10 s by default; a request waiting for a long build (many symbols,
    a long history) must still be answered once the venue is built."""
    release = asyncio.Event()
    build = Simulator._build_followers_sliced

    async def held(self: Simulator, *args: Any) -> None:
        await release.wait()
        await build(self, *args)

    monkeypatch.setattr(Simulator, "_build_followers_sliced", held)
    sim = await Simulator(symbols=("BTCUSDT",), intervals=("1s",), history_s=2).start(followers_later=True)
    try:
        follower = next(name for name in sim.venues if name in sim.building())
        url = sim.rest_url(follower) + "/health-check-that-does-not-exist"

        def get() -> int | str:
            try:
                with urllib.request.urlopen(url, timeout=60) as r:
                    return int(r.status)
            except urllib.error.HTTPError as e:
                return int(e.code)
            except Exception as e:  # noqa: BLE001 - the failure is the finding
                return type(e).__name__

        answer = asyncio.get_running_loop().run_in_executor(None, get)
        await asyncio.sleep(11)  # the time passing is what is tested: longer than the library's 10 s
        release.set()
        assert await answer == 404  # answered (an unknown path), not dropped
    finally:
        await sim.stop()
