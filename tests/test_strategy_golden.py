"""A fixed simulator seed gives a fixed list of signals, through the real pipeline, strategy and risk.

The simulator's market is stepped on a fixed clock (no sockets, no wall time), its closed klines are
encoded as the Binance frames the simulator would send, and the session's pipeline takes them in.
Regenerate the golden file only on purpose: ``python tests/test_strategy_golden.py``.
"""
import json
from pathlib import Path

import orjson

from feeds.venues.binance import BinanceCodec
from feeds.clock import ManualClock
from feeds.sim.binance import kline_body
from feeds.sim.market import SimMarket
from tui.runtime.session import Session, SessionConfig

GOLDEN = Path(__file__).parent / "golden" / "signals_seed7.json"
SYMBOLS = ("BTCUSDT", "ETHUSDT", "SOLUSDT")
START_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z
MINUTES = 15
STEP_MS = 50


def run_signals(seed: int = 7) -> list[dict]:
    clock = ManualClock(START_MS * 1_000_000)
    session = Session(SessionConfig(mode="replay", symbols=list(SYMBOLS), interval="1s"), clock=clock)
    session.pipeline.attach("SIM#1", "BINANCE", BinanceCodec(session.feed.symbol_map))
    market = SimMarket(SYMBOLS, seed=seed, intervals=("1s",))
    for now_ms in range(START_MS, START_MS + MINUTES * 60_000, STEP_MS):
        market.step(now_ms)
        clock.set(now_ms * 1_000_000 + 1_000_000)
        for k in market.closed:
            frame = {"stream": f"{k.symbol.lower()}@kline_1s",
                     "data": {"e": "kline", "E": k.close_time, "s": k.symbol, "k": kline_body(k, market.symbols[k.symbol])}}
            session.pipeline.feed("SIM#1", orjson.dumps(frame), clock.now_ns())
    return [{"symbol": d.signal.symbol, "side": d.signal.side, "bar_open_ns": d.signal.bar_open_ns,
             "price": d.signal.price, "stop": round(d.signal.stop_distance, 10),
             "take": round(d.signal.take_distance, 10), "status": d.status, "size": round(d.size, 10),
             "reason": d.signal.reason, "risk_reason": d.reason} for d in session.signal_log]


def test_seed_7_gives_the_golden_signals():
    signals = run_signals()
    golden = json.loads(GOLDEN.read_text())
    assert len(signals) >= 5  # the golden file is not trivially empty
    assert signals == golden


def test_another_seed_gives_other_signals():
    assert run_signals(seed=8) != json.loads(GOLDEN.read_text())


if __name__ == "__main__":
    GOLDEN.write_text(json.dumps(run_signals(), indent=1) + "\n")
    print(f"wrote {GOLDEN}")
