"""Local order books against the simulator over loopback, spot and USD-M futures: a skipped update id forces
a resync, after which the client's book equals the simulator's own book, level for level."""

import pytest
from waiting import until

from feeds.api import Feed
from feeds.sim.server import Simulator

SYMBOL = "BTCUSDT"




def levels(sym, pairs) -> list[tuple[float, float]]:
    return [(round(p * sym.tick, 8), round(q * sym.step, 8)) for p, q in pairs]


@pytest.mark.parametrize(("venue", "interval", "unified", "sync_class", "problem"), [
    ("BINANCE", "1s", "BTC/USD", "BinanceBookSync", "gap: update"),  # U jumps past the book's u + 1
    ("BINANCE_FUTURES", "1m", "BTC/USD:PERP", "ChainedBookSync", "pu"),  # pu no longer names the previous u
])
async def test_a_skipped_update_id_resyncs_and_the_book_equals_the_simulators(venue, interval, unified, sync_class,
                                                                              problem):
    async with Simulator(symbols=(SYMBOL,), seed=3, venues=(venue,), intervals=(interval,)) as sim:
        feed = Feed([venue], [SYMBOL], interval=interval, endpoints={venue: [sim.ws_url(venue)]}, startup_bars=0)
        await feed.start()
        try:
            sync = feed.books.get(venue, SYMBOL, unified)
            assert type(sync).__name__ == sync_class
            await until(lambda: sync.state == "synced", what="the first sync")
            applied = sync.applied_deltas
            await until(lambda: sync.applied_deltas > applied + 3, what="deltas applied")
            sim.skip_depth_ids(SYMBOL)  # the next diff is made but never sent
            await until(lambda: sync.resyncs >= 1, what="the gap to be seen")
            assert sync.gaps >= 1 and problem in sync.last_problem
            await until(lambda: sync.state == "synced" and sync.applied_snapshots >= 2, what="the resync")
            market = sim.venue(venue).market
            sym = market.symbols[SYMBOL]
            seen: dict[int, tuple] = {}  # the simulator's book by update id, as it moves

            def same_book() -> bool:
                uid, bids, asks = market.depth(SYMBOL, 5000)
                seen.setdefault(uid, (levels(sym, bids), levels(sym, asks)))
                expected = seen.get(sync.book_id)
                if expected is None:
                    return False
                ours = sync.book.top(5000)
                return ([(round(p, 8), round(q, 8)) for p, q in ours[0]],
                        [(round(p, 8), round(q, 8)) for p, q in ours[1]]) == expected

            await until(same_book, what="the client's book to equal the simulator's at the same update id")
            assert not sync.book.is_crossed()
            assert feed.pipeline.rejected == {}
        finally:
            await feed.stop()
