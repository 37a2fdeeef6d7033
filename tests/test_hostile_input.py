"""A hostile venue on 127.0.0.1: frames for symbols nobody subscribed to (markup and terminal escapes in
the name), mistyped fields and a flood of made-up names. Each is a counted rejection with its reason;
none creates market state, the app never shows such a symbol, and memory stays flat under the flood."""
from __future__ import annotations

import time
import tracemalloc

import orjson
from waiting import until
from websockets.asyncio.server import serve

from feeds.api import Feed
from feeds.clock import WallClock
from feeds.core.pipeline import Pipeline
from feeds.symbols import SymbolMap
from feeds.venues import VENUES
from tui.app import ClearTermApp
from tui.runtime.runner import Runner
from tui.runtime.session import SessionConfig

HOSTILE = "[bold red]PWNED[/] \x1b]0;owned\x07"
NOW_MS = int(time.time() * 1000)


def agg(symbol: str, trade_id: int, **changes) -> bytes:
    data = {"e": "aggTrade", "E": NOW_MS, "s": symbol, "a": trade_id, "p": "50000.10", "q": "0.010",
            "f": trade_id, "l": trade_id, "T": NOW_MS, "m": False, "M": True, **changes}
    return orjson.dumps({"stream": "btcusdt@aggTrade", "data": data})


def kline(**changes) -> bytes:
    k = {"t": NOW_MS - NOW_MS % 60_000, "T": NOW_MS, "s": "BTCUSDT", "i": "1m", "f": 1, "L": 2, "o": "1.0",
         "c": "1.1", "h": "1.2", "l": "0.9", "v": "10", "n": 5, "x": False, "q": "1", "V": "1", "Q": "1",
         "B": "0", **changes}
    return orjson.dumps({"stream": "btcusdt@kline_1m", "data": {"e": "kline", "E": NOW_MS, "s": "BTCUSDT", "k": k}})


def book_ticker(**changes) -> bytes:
    data = {"u": 7, "s": "BTCUSDT", "b": "49999.0", "B": "1.0", "a": "50001.0", "A": "1.0", **changes}
    return orjson.dumps({"stream": "btcusdt@bookTicker", "data": data})


MISTYPED = [  # (frame, the field it gets wrong)
    (agg("BTCUSDT", 2, T="soon"), "T"),
    (agg("BTCUSDT", 3, p=True), "p"),
    (agg("BTCUSDT", 4, E="1700000000000"), "E"),
    (kline(x="yes"), "k.x"),
    (kline(n=5.5), "k.n"),
    (book_ticker(u="7"), "u"),
    (book_ticker(b=None), "b"),
]
FLOOD = 6000  # made-up names: more than any name cache keeps


def script() -> list[bytes]:
    """What the hostile venue sends: a good trade, the bad frames, a flood, then a last good trade."""
    frames = [agg("BTCUSDT", 1), agg(HOSTILE, 1)]
    frames += [frame for frame, _ in MISTYPED]
    frames += [agg(f"X{i}Y[b]USDT", i) for i in range(FLOOD)]
    frames.append(agg("BTCUSDT", 9))
    return frames


async def hostile_venue(ws) -> None:
    for frame in script():
        await ws.send(frame.decode())
    await ws.wait_closed()


def listen(pipeline: Pipeline) -> list:
    """Every rejection the pipeline counts, in order (its own ring keeps only the latest)."""
    seen: list = []
    pipeline.rejection_listeners.append(lambda conn, ev: seen.append(ev))
    return seen


def assert_only_btcusdt(pipeline: Pipeline, rejections: list) -> None:
    assert set(pipeline.state.symbols) == {("BINANCE", "BTCUSDT")}
    assert pipeline.rejected["unexpected_symbol"] == 1 + FLOOD
    assert pipeline.rejected["bad_field"] == len(MISTYPED)
    details = [ev.detail for ev in rejections if ev.reason == "bad_field"]
    assert len(details) == len(MISTYPED)
    for (_, field), detail in zip(MISTYPED, details):
        assert repr(field) in detail, (field, detail)
    [hostile] = [ev for ev in rejections if ev.symbol == HOSTILE]
    assert hostile.reason == "unexpected_symbol" and hostile.unified == ""
    st = pipeline.state.symbols[("BINANCE", "BTCUSDT")]
    assert st.trades == 2 and st.quote is None and not st.candles  # only the two good trades got in




async def test_feed_rejects_what_a_hostile_venue_sends_over_loopback(tmp_path):
    async with serve(hostile_venue, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        feed = Feed(["BINANCE"], ["BTCUSDT"], endpoints={"BINANCE": [f"ws://127.0.0.1:{port}"]},
                    rest_endpoints={"BINANCE": "http://127.0.0.1:9"}, startup_bars=0, backfill=False,
                    stale_reconnect_s=None, dead_letter_path=str(tmp_path / "dead.jsonl"))
        rejections = listen(feed.pipeline)
        async with feed:
            await until(lambda: feed.pipeline.messages >= len(script()))
            assert_only_btcusdt(feed.pipeline, rejections)
            assert len(feed.pipeline.guard._streams) == 1  # the guard kept nothing for made-up names
        lines = [orjson.loads(line) for line in (tmp_path / "dead.jsonl").read_bytes().splitlines()]
        assert sum(1 for d in lines if d["reason"] == "unexpected_symbol") == 1 + FLOOD  # all dead-lettered


async def test_app_never_shows_a_symbol_nobody_subscribed_to():
    async with serve(hostile_venue, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        runner = Runner(SessionConfig(mode="live", venues=["BINANCE"], symbols=["BTCUSDT"], interval="1m",
                                      endpoints={"BINANCE": [f"ws://127.0.0.1:{port}"]},
                                      rest_endpoints={"BINANCE": "http://127.0.0.1:9"}, startup_bars=0,
                                      stale_reconnect_s=None, record_path=None))
        rejections = listen(runner.session.pipeline)
        app = ClearTermApp(runner)
        async with app.run_test(size=(160, 48)) as pilot:
            pipeline = runner.session.pipeline
            deadline = time.monotonic() + 20
            while pipeline.messages < len(script()):
                assert time.monotonic() < deadline
                await pilot.pause(0.05)
            await pilot.pause(0.3)  # a few UI refreshes after the last frame
            text = "\n".join(strip.text for strip in app.screen._compositor.render_strips())
            assert "BTCUSDT" in text
            assert "PWNED" not in text and "owned" not in text and "X1Y" not in text
            assert_only_btcusdt(pipeline, rejections)


def test_memory_stays_flat_under_a_flood_of_made_up_names():
    pipeline = Pipeline(WallClock())
    symbols = SymbolMap()
    pipeline.attach("BINANCE#1", "BINANCE", VENUES["BINANCE"].make_codec(symbols), ["BTCUSDT"])

    def flood(start: int, n: int) -> None:
        for i in range(start, start + n):
            pipeline.feed("BINANCE#1", agg(f"FAKE{i}USDT", i), time.time_ns())

    tracemalloc.start()
    try:
        flood(0, 10_000)  # fills every bounded cache and the rejection ring to their caps
        before = tracemalloc.get_traced_memory()[0]
        flood(10_000, 40_000)
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert pipeline.rejected["unexpected_symbol"] == 50_000
    assert not pipeline.state.symbols
    # the name caches start over at their cap, so the figure wobbles by up to a cache's size (~1 MB);
    # keeping state for each name would take tens of MB
    assert grown < 3_000_000, f"{grown} bytes more after 40,000 made-up names"


CB_TIME = "2026-01-01T12:00:00.000000Z"
COINBASE_FRAMES = {  # venue -> (good frame, frame for an unsubscribed product, mistyped frame, its field)
    "COINBASE": (
        {"type": "match", "trade_id": 1, "sequence": 1, "product_id": "BTC-USD", "price": "50000.1", "size": "0.1",
         "side": "buy", "time": CB_TIME},
        {"type": "match", "trade_id": 2, "sequence": 2, "product_id": HOSTILE, "price": "1", "size": "1",
         "side": "buy", "time": CB_TIME},
        {"type": "match", "trade_id": 3, "sequence": 3, "product_id": "BTC-USD", "price": [], "size": "0.1",
         "side": "buy", "time": CB_TIME},
        "price"),
    "COINBASE_ADVANCED": (
        {"channel": "market_trades", "timestamp": CB_TIME, "sequence_num": 0, "events": [{"type": "update", "trades": [
            {"trade_id": "1", "product_id": "BTC-USD", "price": "50000.1", "size": "0.1", "side": "BUY",
             "time": CB_TIME}]}]},
        {"channel": "market_trades", "timestamp": CB_TIME, "sequence_num": 1, "events": [{"type": "update", "trades": [
            {"trade_id": "2", "product_id": HOSTILE, "price": "1", "size": "1", "side": "BUY", "time": CB_TIME}]}]},
        {"channel": "market_trades", "timestamp": CB_TIME, "sequence_num": 2, "events": [{"type": "update", "trades": [
            {"trade_id": "3", "product_id": "BTC-USD", "price": "1", "size": False, "side": "BUY", "time": CB_TIME}]}]},
        "size"),
}


def test_every_venue_refuses_unsubscribed_products_and_mistyped_fields():
    for venue, (good, unsubscribed, mistyped, field) in COINBASE_FRAMES.items():
        pipeline = Pipeline(WallClock())
        rejections = listen(pipeline)
        pipeline.attach(f"{venue}#1", venue, VENUES[venue].make_codec(SymbolMap()), ["BTC-USD"])
        now = 1_767_268_800_000_000_000
        for frame in (good, unsubscribed, mistyped):
            pipeline.feed(f"{venue}#1", orjson.dumps(frame), now)
        assert set(pipeline.state.symbols) == {(venue, "BTC-USD")}, venue
        assert [ev.reason for ev in rejections] == ["unexpected_symbol", "bad_field"], venue
        assert rejections[0].symbol == HOSTILE and repr(field) in rejections[1].detail, venue
