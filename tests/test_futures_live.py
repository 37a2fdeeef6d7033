"""Binance USD-M futures against the simulator over loopback: subscribed end to end, mark price, funding,
open interest and liquidations arrive and nothing is rejected (the pu-chained book: test_books_live.py)."""

from waiting import until

from feeds.api import Feed
from feeds.sim.server import Simulator

SYMBOL = "BTCUSDT"
VENUE = "BINANCE_FUTURES"




async def test_end_to_end_mark_funding_open_interest_and_liquidations_arrive_without_rejections():
    async with Simulator(symbols=(SYMBOL, "ETHUSDT"), seed=5, venues=(VENUE,), intervals=("1m",),
                         speed=4.0) as sim:
        feed = Feed([VENUE], [SYMBOL, "ETHUSDT"], interval="1m", endpoints={VENUE: [sim.ws_url(VENUE)]},
                    startup_bars=5)
        feed.poll_period_s[VENUE] = 0.5
        await feed.start()
        try:
            p = feed.pipeline
            state = p.state
            await until(lambda: all(feed.books.get(VENUE, s).state == "synced" for s in (SYMBOL, "ETHUSDT")),
                        what="both books synced")
            await until(lambda: p.events["open_interest"] >= 4, what="open interest polled twice per symbol")
            await until(lambda: len(state.liquidations) >= 1, timeout=40.0, what="a liquidation")
            await until(lambda: p.events["trade"] > 0 and p.events["quote"] > 0 and p.events["candle"] > 0,
                        what="trades, quotes and candles")
            for s in (SYMBOL, "ETHUSDT"):
                st = state.get(VENUE, s)
                assert st.unified.endswith(":PERP")
                assert st.mark is not None and st.mark.mark > 0 and st.mark.index > 0
                assert abs(st.mark.funding_rate) < 0.01
                assert st.mark.next_funding_ns > st.mark.exch_ns  # the funding clock points ahead
                assert st.open_interest is not None and st.open_interest_prev is not None
                book = feed.books.get(VENUE, s).book
                assert not book.is_crossed()
            liq = state.liquidations[0]
            assert liq.side in ("buy", "sell") and liq.price > 0 and liq.size > 0
            assert p.events["mark_price"] >= 2 and p.rejected == {}
        finally:
            await feed.stop()
