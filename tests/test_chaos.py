"""Chaos: the demo app's session against the simulator under a seeded schedule of faults.

The client must end with closed candles equal, bar for bar, to the simulator's REST klines for the
same window (none missing, none duplicated, none altered), and each fault must leave a trace: a
connection state change, a counted rejection, gap, duplicate, late or stale update, or a book resync.
"""
import asyncio
import random
import time

import orjson
from waiting import wait_for

from feeds.drivers import rest
from feeds.drivers.connection import ReconnectPolicy
from feeds.venues.binance import parse_klines
from tui.runtime.runner import Runner
from tui.runtime.session import SessionConfig

SYMBOLS = ["BTCUSDT", "ETHUSDT"]
SEED = 20240607
STALE_AFTER_S = 2.0




def evidence(session) -> dict:
    """Every counter a fault can move."""
    p = session.pipeline
    conn = session.connections["BINANCE#1"]
    books = session.feed.books.syncs.values()
    return {
        "rejected": sum(p.rejected.values()),
        "duplicates": p.duplicates,
        "gaps": p.total_gaps,
        "late": p.guard.late_fills + p.stale_updates,
        "book": sum(s.gaps + s.skipped_stale + s.resyncs for s in books),
        "changes": sum(conn.state_counts.values()),
        "disconnects": conn.state_counts["disconnected"],
        "stale": conn.state_counts["stale"],
        "failed_attempts": conn.failed_attempts,
        "rollovers": conn.rollovers,
    }


def schedule(rng: random.Random) -> list[tuple]:
    """At least one fault of each kind, then random extra quick ones, in a seeded order."""
    kinds = [("drop", None), ("drop", 1011), ("refuse", 1.0), ("shutdown", 0.4), ("stall_symbol", 3.0),
             ("stall_all", 3.0), ("garbage",), ("truncate", 2), ("duplicate", 3), ("reorder",),
             ("skip_trades", 4), ("skip_depth",)]
    quick = [("drop", None), ("drop", 1001), ("shutdown", 0.3), ("garbage",), ("truncate", 1), ("duplicate", 2),
             ("reorder",), ("skip_trades", 2), ("skip_depth",), ("refuse", 0.6)]
    plan = kinds + [rng.choice(quick) for _ in range(12)]
    rng.shuffle(plan)
    return plan


# The counter that must move for each kind. A reorder is visible (a late trade, a stale quote or
# kline, a book gap) only when the two swapped frames belong to one stream; otherwise it is harmless.
EXPECT = {"drop": "disconnects", "refuse": "failed_attempts", "shutdown": "rollovers", "stall_symbol": "stale",
          "stall_all": "stale", "garbage": "rejected", "truncate": "rejected", "skip_trades": "gaps",
          "skip_depth": "book", "duplicate": "any", "reorder": None}
DATA_COUNTERS = ("rejected", "duplicates", "gaps", "late", "book")


def inject(sim, fault: tuple, rng: random.Random) -> None:
    kind = fault[0]
    if kind == "drop":
        sim.drop_connections(fault[1], "chaos")
    elif kind == "refuse":
        sim.refuse_connections(fault[1])
        sim.drop_connections(None)
    elif kind == "shutdown":
        sim.server_shutdown(fault[1])
    elif kind == "stall_symbol":
        sim.stall(rng.choice(SYMBOLS), fault[1])
    elif kind == "stall_all":
        sim.stall(None, fault[1])
    elif kind == "garbage":
        sim.send_garbage()
    elif kind == "truncate":
        sim.send_truncated(fault[1])
    elif kind == "duplicate":
        sim.duplicate_next(fault[1])
    elif kind == "reorder":
        sim.reorder_next()
    elif kind == "skip_trades":
        sim.skip_trade_ids(fault[1], rng.choice(SYMBOLS))
    elif kind == "skip_depth":
        sim.skip_depth_ids(rng.choice(SYMBOLS))


def settled(session) -> bool:
    """The last fault's effects are over: subscribed, every book synced and bridged, every stream healthy.
    A fault injected earlier can be hidden for good reasons, so each fault starts from here: a REST snapshot
    may already hold changes the stream has not sent yet, so depth ids skipped right after a resync can lie
    inside the snapshot (seen: 7 of 80 skips injected on books synced but not yet bridged left no trace)."""
    conn = session.connections["BINANCE#1"]
    return conn.state == "subscribed" and not session.pipeline.watchdog.unhealthy() \
        and all(s.state == "synced" and s.bridged for s in session.feed.books.syncs.values())


def moved(before: dict, after: dict, key: str | None) -> bool:
    if key is None or key == "any":
        return any(after[k] > before[k] for k in DATA_COUNTERS)
    return after[key] > before[key]


async def rest_closed_bars(sim, symbol: str, start_ms: int) -> list:
    url = f"{sim.rest_url()}/api/v3/klines?symbol={symbol}&interval=1s&startTime={start_ms}&limit=1000"
    resp = await rest.get(url)
    assert resp.status == 200
    candles, rejected = parse_klines(resp.body, symbol, "1s", 0, sim.now_ms())
    assert not rejected
    return [c for c in candles if c.closed]


def bar_key(c) -> tuple:
    return c.open_ns, c.open, c.high, c.low, c.close, c.volume, c.trades


async def test_closed_candles_survive_a_seeded_storm_of_faults_bar_for_bar():
    rng = random.Random(SEED)
    config = SessionConfig(mode="demo", symbols=list(SYMBOLS), interval="1s", record_path=None,
                           stale_after_s=STALE_AFTER_S)
    runner = Runner(config, sim_seed=SEED % 1000, sim_options={"history_s": 20})
    feed = runner.session.feed
    feed.policy = ReconnectPolicy(initial_s=0.05, cap_s=0.4, lifetime_s=4.0, rng=random.Random(SEED))
    started = time.monotonic()
    await runner.start()
    session, sim = runner.session, runner.sim
    conn = session.connections["BINANCE#1"]
    faults = schedule(rng)
    unseen, masked = [], []
    try:
        assert await wait_for(lambda: conn.state == "subscribed", 5)
        for fault in faults:
            assert await wait_for(lambda: settled(session), 10), (conn.history[-3:], session.feed.books.stats())
            before = evidence(session)
            inject(sim, fault, rng)
            key = EXPECT[fault[0]]
            timeout = fault[1] + STALE_AFTER_S + 1.0 if fault[0].startswith("stall") else \
                0.5 if key is None else 5.0  # a symbol's next frame, then a REST resync: seconds on a busy 2-core box
            if not await wait_for(lambda before=before, key=key: moved(before, evidence(session), key), timeout):
                after = evidence(session)
                # a skip that meets a reconnect may fall while nobody is subscribed (nothing to skip): healed,
                # not missed (the bars are still compared with the exchange's below); a rollover heals nothing
                healed = fault[0].startswith("skip") and any(after[k] > before[k] for k in ("disconnects", "stale"))
                (masked if healed else unseen).append((fault, conn.history[-3:]))
            if fault[0].startswith("stall"):  # let the stream come back before the next fault
                await wait_for(lambda: conn.state == "subscribed", fault[1] + 2)
            assert await wait_for(lambda: conn.state == "subscribed", 5), conn.history[-5:]
            await asyncio.sleep(rng.uniform(0.05, 0.3))  # pacing of the schedule, not a wait for a result

        # Settle: every symbol's closed bars catch up with the exchange's and equal its REST klines.
        # The checks below read the very bars that were compared: bars that arrive while the other symbol's
        # REST request is in flight may follow a hole the client is still backfilling (the last fault can be
        # a stall), which is not a loss.
        compared: dict[str, list] = {}

        async def equal_to_exchange() -> tuple[bool, str]:
            for symbol in SYMBOLS:
                series = session.pipeline.state.symbols[("BINANCE", symbol)].candles["1s"]
                mine = compared[symbol] = series.closed_bars()
                theirs = await rest_closed_bars(sim, symbol, mine[0].open_ns // 1_000_000)
                theirs = [c for c in theirs if c.open_ns <= mine[-1].open_ns]
                if len(theirs) < 2 or [bar_key(c) for c in mine] != [bar_key(c) for c in theirs]:
                    return False, f"{symbol}: {len(mine)} bars vs {len(theirs)} on the exchange"
            return True, ""

        deadline = time.monotonic() + 10
        ok, why = False, ""
        while time.monotonic() < deadline:
            ok, why = await equal_to_exchange()
            if ok:
                break
            await asyncio.sleep(0.1)  # polling interval of a condition with a deadline
        assert ok, why

        # The last bars are recent: the client kept up through the storm.
        for symbol in SYMBOLS:
            opens = [b.open_ns for b in compared[symbol]]
            assert opens == sorted(set(opens))  # no duplicate, in order
            assert all(b - a == 1_000_000_000 for a, b in zip(opens, opens[1:]))  # none missing
            assert sim.now_ms() - opens[-1] // 1_000_000 < 5000
    finally:
        await runner.stop()
    elapsed = time.monotonic() - started

    stats = session.stats()
    assert len(faults) >= 20
    assert not [f for f, _ in unseen if EXPECT[f[0]] is not None], unseen
    assert len(masked) <= 2, masked  # healed by a reconnect: rare, or the skips go untested
    assert stats["reconnects"] > 0 and stats["gaps"] > 0 and stats["duplicates"] > 0
    assert stats["backfilled_candles"] > 0 and stats["rejected"]["total"] > 0
    assert stats["halted"] and stats["halts"][0]["by"] == "auto"
    assert conn.rollovers >= 2
    print(orjson.dumps({"faults": len(faults), "reorders_without_trace": len(unseen), "skips_healed": len(masked),
                        "elapsed_s": round(elapsed, 1), "reconnects": stats["reconnects"],
                        "rollovers": conn.rollovers, "gaps": stats["gaps"], "duplicates": stats["duplicates"],
                        "backfilled": stats["backfilled_candles"], "rejected": stats["rejected"]}).decode())
