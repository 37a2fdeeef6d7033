"""Automatic halts besides stale streams: a reconnect storm and a skewed clock, on recorded time.

Records go through the replay driver into a real Session, whose tick runs on the recorded clock,
exactly as a live session's does on the wall clock.
"""
import orjson

from feeds.api import TICK_S
from feeds.clock import ManualClock
from feeds.drivers.recording import Record
from feeds.drivers.replay_source import ReplayDriver
from tui.runtime.session import Session, SessionConfig

T0 = 1_767_225_600_000_000_000
URL = "ws://127.0.0.1:9/stream?streams=btcusdt@aggTrade"
TICK = int(TICK_S * 1e9)


def session_and_driver():
    clock = ManualClock(T0)
    session = Session(SessionConfig(mode="replay", symbols=["BTCUSDT"], record_path=None, stale_after_s=60.0),
                      clock=clock)
    return session, ReplayDriver(session.feed, clock)


def play(session, driver, records) -> None:
    for rec in records:
        driver.apply(rec)
        session.tick(rec.recv_ns)


def trade(t_ns: int, trade_id: int, exch_ns: int) -> Record:
    data = {"e": "aggTrade", "E": exch_ns // 1_000_000, "s": "BTCUSDT", "a": trade_id, "p": "100.0", "q": "1",
            "f": trade_id, "l": trade_id, "T": exch_ns // 1_000_000, "m": False, "M": True}
    return Record(t_ns, "BINANCE#1", "recv", orjson.dumps({"stream": "btcusdt@aggTrade", "data": data}).decode())


def test_a_reconnect_storm_halts_trading():
    session, driver = session_and_driver()
    opens = [Record(T0 + i * 5 * 10**9, "BINANCE#1", "open", URL) for i in range(6)]  # 5 reconnects in 25 s
    play(session, driver, opens)
    assert not session.halt.halted
    play(session, driver, [Record(T0 + 30 * 10**9, "BINANCE#1", "open", URL)])  # the 6th within a minute
    assert session.halt.halted and session.halt.history[-1].by == "auto"
    assert session.halt.cause.startswith("reconnect storm")


def test_slow_reconnects_are_no_storm():
    session, driver = session_and_driver()
    play(session, driver, [Record(T0 + i * 20 * 10**9, "BINANCE#1", "open", URL) for i in range(10)])
    assert not session.halt.halted


def test_a_clock_far_from_the_exchanges_halts_trading_but_one_late_frame_does_not():
    session, driver = session_and_driver()
    records = [Record(T0, "BINANCE#1", "open", URL)]
    records += [trade(T0 + i * TICK, i + 1, T0 + i * TICK - 2_000_000) for i in range(1, 20)]  # 2 ms: fine
    records.append(trade(T0 + 20 * TICK, 20, T0 + 20 * TICK - 5 * 10**9))  # one frame 5 s late
    play(session, driver, records)
    assert not session.halt.halted
    skewed = [trade(T0 + (21 + i) * TICK, 21 + i, T0 + (21 + i) * TICK - 3 * 10**9) for i in range(30)]
    play(session, driver, skewed)  # our clock now stands 3 s after the exchange's
    assert session.halt.halted and session.halt.cause.startswith("clock skew BINANCE: +3000 ms")
