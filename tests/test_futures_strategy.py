"""The strategy, risk and the halt act on futures candles as on spot ones, through a real session's pipeline."""
from feeds.events import Candle
from tui.runtime.session import Session, SessionConfig

MIN_NS = 60_000_000_000
T0 = 1_790_000_000 * 1_000_000_000
VENUE = "BINANCE_FUTURES"


def v_series(symbol: str, start: int) -> list[Candle]:
    """Falls then rises: one upward EMA9/EMA21 cross with RSI below 70 (as in test_strategy.py)."""
    closes = [200.0 - i for i in range(30)]
    closes += [closes[-1] + 0.5 * (k + 1) for k in range(40)]
    out = []
    for i, c in enumerate(closes):
        open_ns = T0 + (start + i) * MIN_NS
        out.append(Candle(VENUE, symbol, symbol[:-4] + "/USD:PERP", open_ns + MIN_NS, open_ns + MIN_NS + 1, "1m",
                          open_ns, c, c + 0.5, c - 0.5, c, 1.0, 10, True, "live"))
    return out


def test_futures_candles_signal_through_risk_and_the_halt_stops_them():
    session = Session(SessionConfig(mode="live", venues=[VENUE], symbols=["BTCUSDT", "ETHUSDT"], interval="1m",
                                    record_path=None))
    session.pipeline.apply_all(v_series("BTCUSDT", 0))
    [first] = list(session.signal_log)
    assert (first.signal.venue, first.signal.symbol, first.signal.side) == (VENUE, "BTCUSDT", "long")
    assert first.status == "APPROVED"
    session.halt.halt("test", by="operator")
    session.pipeline.apply_all(v_series("ETHUSDT", 0))
    decisions = list(session.signal_log)
    assert len(decisions) == 2 and decisions[1].signal.symbol == "ETHUSDT"
    assert decisions[1].status != "APPROVED" and "halt" in decisions[1].reason.lower()
