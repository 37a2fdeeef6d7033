"""The connection over real loopback sockets: states with reasons, backoff, budget, failover, rollover,
oversized frames, send spacing, and what gets recorded."""
import random
import socket

import orjson
import pytest
import waiting
from websockets.asyncio.server import serve

from feeds.drivers.connection import (
    DISCONNECTED,
    FAILED,
    RECONNECTING,
    SUBSCRIBED,
    AttemptBudget,
    Connection,
    ReconnectPolicy,
)
from feeds.drivers.recording import Recorder
from feeds.drivers.replay import read_recordings
from feeds.sim.server import Simulator
from feeds.venues.binance import combined_url, streams_for

SYMBOLS = ("BTCUSDT", "ETHUSDT")
FAST = dict(initial_s=0.01, cap_s=0.05, open_timeout_s=2.0)


async def wait_for(cond, timeout: float = 5.0) -> bool:
    return await waiting.wait_for(cond, timeout)


def dead_url() -> str:
    """A loopback URL where nothing listens (connections are refused at once)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return f"ws://127.0.0.1:{port}"


def sim_url(sim) -> str:
    return combined_url(sim.ws_url(), streams_for(SYMBOLS, "1s", ("aggTrade", "kline")))


class Frames:
    """A sink keeping what the connection fed, parsed."""

    def __init__(self) -> None:
        self.items: list[dict] = []

    def __call__(self, conn: str, raw, recv_ns: int) -> None:
        self.items.append(orjson.loads(raw))

    def trade_ids(self, symbol: str) -> list[int]:
        return [f["data"]["a"] for f in self.items if f.get("data", {}).get("e") == "aggTrade"
                and f["data"]["s"] == symbol]

    def closed_bars(self, symbol: str) -> list[int]:
        return [f["data"]["k"]["t"] for f in self.items if f.get("data", {}).get("e") == "kline"
                and f["data"]["s"] == symbol and f["data"]["k"]["x"]]


@pytest.fixture
async def sim():
    async with Simulator(symbols=SYMBOLS, intervals=("1s",), trades_per_second=40, venues=("BINANCE",)) as s:
        yield s


# -- pure parts --------------------------------------------------------------------------------------
def test_backoff_is_exponential_with_full_jitter_and_a_cap():
    policy = ReconnectPolicy(initial_s=1.0, cap_s=60.0, rng=random.Random(1))
    for attempt, ceiling in [(0, 1.0), (1, 2.0), (3, 8.0), (5, 32.0), (6, 60.0), (20, 60.0)]:
        delays = [policy.delay(attempt) for _ in range(300)]
        assert all(0.0 <= d <= ceiling for d in delays)
        assert max(delays) > 0.8 * ceiling and min(delays) < 0.2 * ceiling  # spread over the whole range


def test_attempt_budget_allows_a_limit_per_window():
    budget = AttemptBudget(limit=3, window_s=300.0)
    for t in (0.0, 1.0, 2.0):
        assert budget.wait_s(t) == 0.0
        budget.take(t)
    assert budget.wait_s(10.0) == pytest.approx(290.0)
    assert budget.wait_s(300.5) == 0.0  # the first attempt left the window


# -- states, backoff, failover, budget ------------------------------------------------------------
async def test_states_are_kept_with_time_and_reason_and_counted(sim):
    frames = Frames()
    conn = Connection("BINANCE#1", "BINANCE", [sim_url(sim)], frames, policy=ReconnectPolicy(**FAST))
    conn.start()
    try:
        assert await wait_for(lambda: conn.state == SUBSCRIBED)
        sim.drop_connections(1011, "chaos")
        assert await wait_for(lambda: conn.state_counts[SUBSCRIBED] == 2)
        sim.drop_connections(None)
        assert await wait_for(lambda: conn.state_counts[SUBSCRIBED] == 3)
    finally:
        await conn.stop()
    states = [c.state for c in conn.history]
    assert states[:3] == ["connecting", "connecting", "subscribed"]
    closes = [c.reason for c in conn.history if c.state == DISCONNECTED]
    assert closes[0].startswith("closed 1011 chaos") and closes[1].startswith("closed 1006")
    assert any(c.state == RECONNECTING and c.reason.startswith("retry in") for c in conn.history)
    assert all(a.at_ns <= b.at_ns for a, b in zip(conn.history, conn.history[1:]))
    assert conn.reconnects == 2 and conn.state_counts[DISCONNECTED] == 3  # two drops, then stop()


async def test_gives_up_after_max_attempts_only_when_asked():
    conn = Connection("X#1", "BINANCE", [dead_url()], lambda *a: None,
                      policy=ReconnectPolicy(max_attempts=3, **FAST))
    conn.start()
    assert await wait_for(lambda: conn.state == FAILED)
    assert conn.history[-1].reason == "gave up after 3 attempts"
    assert conn.attempts == 4 and conn.failed_attempts == 4
    failures = [c.reason for c in conn.history if c.state == DISCONNECTED]
    assert len(failures) == 4 and all(r.startswith("connect to ws://127.0.0.1:") and "failed" in r
                                      for r in failures)
    await conn.stop()


async def test_fails_over_to_the_next_endpoint_and_says_which(sim):
    frames = Frames()
    conn = Connection("BINANCE#1", "BINANCE", [dead_url(), sim_url(sim)], frames,
                      policy=ReconnectPolicy(failover_after=2, **FAST))
    conn.start()
    try:
        assert await wait_for(lambda: conn.state == SUBSCRIBED and frames.items)
    finally:
        await conn.stop()
    assert conn.endpoint_index == 1 and conn.url == sim_url(sim)
    assert conn.failed_attempts == 2
    assert any(c.reason.startswith("failing over to endpoint 1") for c in conn.history)


async def test_attempts_wait_for_the_client_side_budget():
    budget = AttemptBudget(limit=2, window_s=0.3)
    conn = Connection("X#1", "BINANCE", [dead_url()], lambda *a: None, budget=budget,
                      policy=ReconnectPolicy(**FAST))
    conn.start()
    try:
        assert await wait_for(lambda: conn.attempts >= 5)
    finally:
        await conn.stop()
    assert budget.waits >= 1
    assert any("attempt budget used up" in c.reason for c in conn.history)
    times = list(budget.attempts)
    assert all(b - a >= 0.29 for a, b in zip(times, times[2:]))  # never 3 attempts within 0.3 s


# -- rollover ------------------------------------------------------------------------------------------
async def test_lifetime_rollover_leaves_no_gap_and_no_duplicate(sim, tmp_path):
    frames = Frames()
    recorder = Recorder(tmp_path / "r.jsonl", {"venues": ["BINANCE"], "symbols": list(SYMBOLS)})
    conn = Connection("BINANCE#1", "BINANCE", [sim_url(sim)], frames, recorder=recorder,
                      policy=ReconnectPolicy(lifetime_s=0.4, **FAST))
    conn.start()
    try:
        assert await wait_for(lambda: conn.rollovers >= 3)
        assert await wait_for(lambda: all(len(frames.closed_bars(s)) >= 2 for s in SYMBOLS))
    finally:
        await conn.stop()
        recorder.close()
    for symbol in SYMBOLS:
        ids = frames.trade_ids(symbol)
        assert len(ids) > 20
        assert ids == list(range(ids[0], ids[0] + len(ids)))  # every trade once, in order
        bars = frames.closed_bars(symbol)
        assert bars == list(range(bars[0], bars[0] + 1000 * len(bars), 1000))
    assert conn.overlap_duplicates > 0  # the replacement's copies were recognised, not fed
    assert conn.state_counts[DISCONNECTED] == 1  # only stop(): a rollover is not a disconnect
    assert conn.reconnects - conn.rollovers in (0, 1)  # stop() may come while a replacement is being opened
    _, records = read_recordings([tmp_path / "r.jsonl"])
    records = list(records)
    assert sum(r.kind == "recv" for r in records) == conn.messages == len(frames.items)
    assert sum(r.kind == "open" for r in records) == 1 + conn.reconnects
    retired = [orjson.loads(r.payload) for r in records if r.kind == "close"]
    assert sum(bool(c.get("retired")) for c in retired) == conn.rollovers


async def test_rollover_falls_back_to_the_old_socket_when_the_replacement_cannot_connect(sim):
    frames = Frames()
    conn = Connection("BINANCE#1", "BINANCE", [sim_url(sim)], frames, policy=ReconnectPolicy(**FAST))
    conn.start()
    try:
        assert await wait_for(lambda: conn.state == SUBSCRIBED and frames.items)
        sim.refuse_connections(1.0)
        assert conn.rollover("test")
        assert not conn.rollover("again")  # one at a time
        assert await wait_for(lambda: conn.failed_rollovers == 1)
        seen = len(frames.items)
        assert await wait_for(lambda: len(frames.items) > seen)  # the old socket still feeds
    finally:
        await conn.stop()
    assert conn.state_counts[DISCONNECTED] == 1 and conn.reconnects == 0


# -- frames too big, sends spaced ------------------------------------------------------------------------
async def test_a_frame_too_big_is_a_counted_rejection_then_a_reconnect():
    served = []

    async def handler(ws):
        served.append(ws)
        await ws.send("x" * 5000 if len(served) == 1 else '{"small":1}')
        await ws.wait_closed()

    async with serve(handler, "127.0.0.1", 0) as server:
        url = f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}"
        rejected, fed = [], []
        conn = Connection("X#1", "BINANCE", [url], lambda c, raw, t: fed.append(raw), max_frame_bytes=1000,
                          on_reject=lambda c, ev: rejected.append(ev), policy=ReconnectPolicy(**FAST))
        conn.start()
        try:
            assert await wait_for(lambda: fed == ['{"small":1}'])
        finally:
            await conn.stop()
    assert conn.oversize_frames == 1
    assert [ev.reason for ev in rejected] == ["frame_too_big"]
    assert "1000 bytes" in rejected[0].detail
    assert any(c.reason.startswith("closed 1009 frame too big") for c in conn.history)


async def test_sends_are_spaced_below_the_venue_message_limit(sim):
    frames = Frames()
    conn = Connection("BINANCE#1", "BINANCE", [sim_url(sim)], frames, policy=ReconnectPolicy(**FAST))
    conn.start()
    try:
        assert await wait_for(lambda: conn.state == SUBSCRIBED)
        for i in range(7):  # 7 at once would break the 5-per-second limit (close 1008)
            assert await conn.send(orjson.dumps({"method": "LIST_SUBSCRIPTIONS", "id": i}).decode())
        assert await wait_for(lambda: sum(1 for f in frames.items if "result" in f) == 7)
    finally:
        await conn.stop()
    assert conn.state_counts[DISCONNECTED] == 1
