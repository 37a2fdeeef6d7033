"""Coinbase's level-3 book (the ``full`` channel) against the simulator over loopback: the book built order by
order equals the simulator's, a lost message resyncs it from a new REST snapshot, and a recording of the
session replays to the same book."""
import asyncio
import time

from feeds.api import Feed
from feeds.clock import ManualClock
from feeds.core.book_check import top_difference
from feeds.core.book_sync import Level3BookSync
from feeds.drivers.recording import Recorder
from feeds.drivers.replay import read_clearterm
from feeds.drivers.replay_source import ReplayDriver
from feeds.sim.server import Simulator

VENUE = "COINBASE_L3"
PRODUCT = "BTC-USD"


async def until(predicate, timeout: float = 20.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.005)


def sim_orders(sim: Simulator) -> tuple[int, dict[str, tuple[bool, float, float]]]:
    """The simulator's resting orders of PRODUCT now, with the sequence they are at."""
    p = sim.venue("COINBASE").products[PRODUCT]  # type: ignore[attr-defined]
    sym = p.sym
    orders = {p.order_id(n): (is_bid, round(tick * sym.tick, 8), round(lots * sym.step, 8))
              for (is_bid, tick), q in p.l3.levels.items() for n, lots in q}
    return p.seq, orders


def our_orders(sync: Level3BookSync) -> dict[str, tuple[bool, float, float]]:
    return {oid: (is_bid, round(price, 8), round(size, 8))
            for oid, (is_bid, price, size) in sync.orders._orders.items()}


async def same_as_simulator(sim: Simulator, sync: Level3BookSync) -> None:
    """Wait until our book, at some sequence, holds exactly the simulator's orders at that sequence."""
    seen: dict[int, dict[str, tuple[bool, float, float]]] = {}

    def same() -> bool:
        seq, orders = sim_orders(sim)
        seen.setdefault(seq, orders)
        expected = seen.get(sync.book_id)
        return sync.state == "synced" and expected is not None and our_orders(sync) == expected

    await until(same, what="our level-3 book to equal the simulator's at the same sequence")
    # the aggregated levels are the orders summed per price, best first
    bids, asks = sync.book.top(10_000)
    orders = our_orders(sync).values()
    assert len(bids) == len({p for b, p, _ in orders if b}) and len(asks) == len({p for b, p, _ in orders if not b})
    assert round(sum(q for _, q in bids), 6) == round(sum(s for b, _, s in orders if b), 6)
    assert bids[0][0] < asks[0][0] and not sync.book.is_crossed()


def feed_for(sim: Simulator, recorder: Recorder | None = None) -> Feed:
    return Feed([VENUE], [PRODUCT], interval="1s", endpoints={VENUE: [sim.ws_url("COINBASE")]}, startup_bars=0,
                recorder=recorder)


async def test_the_full_channel_builds_the_simulators_book_and_a_lost_message_resyncs_it():
    async with Simulator(symbols=("BTCUSDT",), seed=5, venues=("BINANCE", "COINBASE"), intervals=("1s",)) as sim:
        feed = feed_for(sim)
        await feed.start()
        try:
            sync = feed.books.get(VENUE, PRODUCT, "BTC/USD")
            assert isinstance(sync, Level3BookSync)
            await until(lambda: sync.state == "synced" and sync.messages > 50, what="the first sync")
            assert sync.applied_snapshots == 1 and sync.gaps == 0 and len(sync.orders) > 400
            await same_as_simulator(sim, sync)
            trades = feed.pipeline.events["trade"]
            assert trades > 0  # match messages are trades
            sim.skip_depth_ids(PRODUCT, venue="COINBASE")  # the next full message is never sent
            await until(lambda: sync.resyncs >= 1, what="the gap to be seen")
            assert sync.gaps >= 1 and sync.last_problem.startswith("gap: sequence")
            await until(lambda: sync.state == "synced" and sync.applied_snapshots >= 2, what="the resync")
            await same_as_simulator(sim, sync)
            assert feed.pipeline.rejected == {}
        finally:
            await feed.stop()


async def test_a_recording_of_the_full_channel_replays_to_the_same_book(tmp_path):
    path = tmp_path / "l3.jsonl"
    async with Simulator(symbols=("BTCUSDT",), seed=9, venues=("BINANCE", "COINBASE"), intervals=("1s",)) as sim:
        recorder = Recorder(path, {"venues": [VENUE], "symbols": [PRODUCT]})
        feed = feed_for(sim, recorder)
        await feed.start()
        try:
            sync = feed.books.get(VENUE, PRODUCT, "BTC/USD")
            await until(lambda: sync.state == "synced" and sync.messages > 200, what="a synced, moving book")
        finally:
            await feed.stop()
            recorder.close()
    assert isinstance(sync, Level3BookSync)
    live = (sync.book_id, our_orders(sync), sync.book.top(10_000))
    header, stream = read_clearterm(path)
    clock = ManualClock()
    replayed = Feed(header["venues"], header["symbols"], interval="1s", clock=clock, backfill=False)
    driver = ReplayDriver(replayed, clock)
    for rec in stream:
        driver.apply(rec)
    again = replayed.books.syncs[(VENUE, PRODUCT)]
    assert isinstance(again, Level3BookSync) and again.state == "synced"
    assert (again.book_id, our_orders(again), again.book.top(10_000)) == live
    assert replayed.pipeline.events["trade"] == feed.pipeline.events["trade"] > 0
    assert replayed.pipeline.rejected == {}


async def test_the_level2_and_level3_books_of_a_product_agree():
    async with Simulator(symbols=("BTCUSDT",), seed=4, venues=("BINANCE", "COINBASE"), intervals=("1s",)) as sim:
        url = sim.ws_url("COINBASE")
        feed = Feed(["COINBASE", VENUE], [PRODUCT], interval="1s", endpoints={"COINBASE": [url], VENUE: [url]},
                    startup_bars=0)
        feed.core.book_check.persist_ns = int(1.5e9)
        await feed.start()
        try:
            l2, l3 = feed.books.get("COINBASE", PRODUCT, "BTC/USD"), feed.books.get(VENUE, PRODUCT, "BTC/USD")
            await until(lambda: l2.state == l3.state == "synced" and l3.messages > 100, what="both books synced")
            agreed = []
            started = time.monotonic()

            def watched() -> bool:
                agreed.append(top_difference(l3.book, l2.book) == "")
                return time.monotonic() - started > 4.0

            await until(watched, what="four seconds")
            assert any(agreed) and feed.happenings.counts.get("book_mismatch", 0) == 0
            assert l2.resyncs == l3.resyncs == 0
        finally:
            await feed.stop()
