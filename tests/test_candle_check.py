"""A venue's own candles are checked against candles built from its trades: Advanced Trade frames
through the real codec and the pipeline; an agreeing bar passes, an altered one is flagged."""
import orjson

from feeds.api import Feed
from feeds.clock import ManualClock
from feeds.venues import VENUES

T0 = 1_767_225_600  # 2026-01-01T00:00:00Z, a 5-minute boundary
CONN = "COINBASE_ADVANCED#1"


def iso(t: float) -> str:
    whole = int(t)
    return f"2026-01-01T00:{(whole - T0) // 60:02d}:{(whole - T0) % 60:02d}.{int((t - whole) * 1e6):06d}Z"


class Frames:
    def __init__(self) -> None:
        self.seq = 0

    def envelope(self, channel: str, t: float, events: list) -> str:
        self.seq += 1
        return orjson.dumps({"channel": channel, "client_id": "", "timestamp": iso(t), "sequence_num": self.seq,
                             "events": events}).decode()

    def trade(self, t: float, trade_id: int, price: str, size: str) -> str:
        return self.envelope("market_trades", t, [{"type": "update", "trades": [
            {"trade_id": str(trade_id), "product_id": "BTC-USD", "price": price, "size": size, "side": "SELL",
             "time": iso(t)}]}])

    def candle(self, t: float, start: int, o: str, h: str, low: str, c: str, v: str) -> str:
        return self.envelope("candles", t, [{"type": "update", "candles": [
            {"start": str(start), "high": h, "low": low, "open": o, "close": c, "volume": v, "product_id": "BTC-USD"}]}])


def run(exchange_high: str, feed: Feed | None = None, clock: ManualClock | None = None):
    clock = clock or ManualClock(T0 * 10**9)
    feed = feed or Feed(["COINBASE_ADVANCED"], ["BTC/USD"], interval="1m", clock=clock)
    feed.prepare_venue("COINBASE_ADVANCED")
    feed.pipeline.attach(CONN, "COINBASE_ADVANCED", VENUES["COINBASE_ADVANCED"].make_codec(feed.symbol_map))
    f = Frames()
    frames = [(10.0, f.trade(T0 + 10, 1, "100.0", "1.0")), (20.0, f.candle(T0 + 20, T0, "100.0", "100.0", "100.0",
                                                                            "100.0", "1.0")),
              (100.0, f.trade(T0 + 100, 2, "104.0", "0.5")), (200.0, f.trade(T0 + 200, 3, "99.0", "2.0")),
              (290.0, f.candle(T0 + 290, T0, "100.0", exchange_high, "99.0", "99.0", "3.5")),
              (301.0, f.trade(T0 + 301, 4, "101.0", "1.0")),  # the next bucket: our bar closes
              (302.0, f.candle(T0 + 302, T0 + 300, "101.0", "101.0", "101.0", "101.0", "1.0"))]  # theirs too
    for t, raw in frames:
        recv = int((T0 + t) * 1e9) + 3_000_000
        clock.set(recv)
        feed.pipeline.feed(CONN, raw, recv)
    assert feed.pipeline.rejected_summary()["total"] == 0
    st = feed.pipeline.state.get("COINBASE_ADVANCED", "BTC-USD")
    assert set(st.candles) == {"1m"}  # the venue's 5-minute candles are checked, not shown as a series
    return feed.pipeline.candle_checks["COINBASE_ADVANCED"]


def test_an_agreeing_bar_passes():
    check = run(exchange_high="104.0")
    assert check.compared == 1 and check.mismatches == []


def test_a_bar_that_differs_is_flagged_with_the_difference():
    check = run(exchange_high="104.5")
    assert check.compared == 1 and len(check.mismatches) == 1
    candle, text = check.mismatches[0]
    assert candle.open_ns == T0 * 10**9 and "high 104.5 vs 104" in text and check.mismatch_count == 1


def test_the_session_logs_a_mismatch_and_counts_it():
    from tui.runtime.session import Session, SessionConfig
    clock = ManualClock(T0 * 10**9)
    session = Session(SessionConfig(mode="replay", venues=["COINBASE_ADVANCED"], symbols=["BTC/USD"],
                                    record_path=None), clock=clock)
    run(exchange_high="104.5", feed=session.feed, clock=clock)
    session.tick(T0 * 10**9 + 400 * 10**9)
    [h] = session.happenings.of("candle_mismatch")  # told as it happened, kept in the happenings log
    assert (h.venue, h.symbol) == ("COINBASE_ADVANCED", "BTC-USD") and "high 104.5" in h.detail
    assert any("differs from its trades" in line and "high 104.5" in line for _, line in session.market_log)
    assert session.stats()["candle_checks"] == {"COINBASE_ADVANCED": {"compared": 1, "mismatches": 1}}
