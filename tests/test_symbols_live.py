"""Symbols added and removed on the running connections, against the simulator over loopback."""
import asyncio

import waiting

from tui.runtime.runner import Runner
from tui.runtime.session import SessionConfig


async def until(predicate, timeout: float = 10.0, what: str = "the condition") -> None:
    await waiting.until(predicate, timeout, what)


def trades(session, venue: str, symbol: str) -> int:
    st = session.pipeline.state.symbols.get((venue, symbol))
    return st.trades if st else 0


async def test_add_and_remove_a_symbol_while_running(tmp_path):
    runner = Runner(SessionConfig(mode="demo", venues=["BINANCE", "COINBASE"], symbols=["BTCUSDT"],
                                  interval="1s", record_path=str(tmp_path / "s.jsonl"), startup_bars=0))
    await runner.start()
    try:
        session = runner.session
        await until(lambda: all(c.state == "subscribed" for c in session.connections.values()))
        assert await session.add_symbol("FOOUSDT") == "FOOUSDT is not listed on BINANCE"
        assert await session.add_symbol("btcusdt") == "BTCUSDT is already shown"
        assert await session.add_symbol("BNBUSDT") is None
        assert session.config.symbols == ["BTCUSDT", "BNBUSDT"]
        await until(lambda: trades(session, "BINANCE", "BNBUSDT") > 0 and trades(session, "COINBASE", "BNB-USD") > 0)
        assert await session.remove_symbol("BNBUSDT") is None
        assert await session.remove_symbol("BNBUSDT") == "BNBUSDT is not shown"
        # once the unsubscribe took effect, BNB stops while BTC goes on
        await asyncio.sleep(0)  # let the frames go out
        settled = trades(session, "BINANCE", "BNBUSDT"), trades(session, "COINBASE", "BNB-USD")
        btc = trades(session, "BINANCE", "BTCUSDT")
        await until(lambda: trades(session, "BINANCE", "BTCUSDT") > btc + 40)
        late = trades(session, "BINANCE", "BNBUSDT") - settled[0], trades(session, "COINBASE", "BNB-USD") - settled[1]
        assert late[0] <= 5 and late[1] <= 5  # at most what was in flight when the unsubscribe went out
        mid = trades(session, "BINANCE", "BNBUSDT"), trades(session, "COINBASE", "BNB-USD")
        btc = trades(session, "BINANCE", "BTCUSDT")
        await until(lambda: trades(session, "BINANCE", "BTCUSDT") > btc + 40)
        assert (trades(session, "BINANCE", "BNBUSDT"), trades(session, "COINBASE", "BNB-USD")) == mid
        assert session.halt.halted is False  # the removed stream is no longer watched
    finally:
        await runner.stop()


async def test_coinbase_advanced_trade_venue_end_to_end():
    runner = Runner(SessionConfig(mode="demo", venues=["COINBASE_ADVANCED"], symbols=["BTCUSDT"], interval="1s",
                                  record_path=None, startup_bars=0))
    await runner.start()
    try:
        session = runner.session
        sync = session.feed.books.get("COINBASE_ADVANCED", "BTC-USD", "BTC/USD")
        await until(lambda: trades(session, "COINBASE_ADVANCED", "BTC-USD") > 20 and sync.state == "synced")
        st = session.pipeline.state.get("COINBASE_ADVANCED", "BTC-USD")
        assert st.quote is not None and st.quote.bid < st.quote.ask
        assert session.pipeline.rejected_summary()["total"] == 0 and session.pipeline.total_gaps == 0
        assert session.connections["COINBASE_ADVANCED#1"].state == "subscribed"
        assert "COINBASE_ADVANCED" in session.pipeline.candle_checks  # its 5-minute candles get checked
    finally:
        await runner.stop()
