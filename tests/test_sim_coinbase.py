"""The simulated Coinbase Exchange: its price against Binance, then the ws-feed and REST over real loopback sockets."""
from __future__ import annotations

import asyncio
import json
import time
import urllib.error
import urllib.request

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from feeds.core.trade_candles import TradeCandleBuilder, compare
from feeds.events import Candle, Rejected, Trade
from feeds.sim.coinbase import AUTH_REASON, CoinbaseConn, iso, product_id
from feeds.sim.faults import GARBAGE_FRAME
from feeds.sim.server import Simulator
from feeds.symbols import SymbolMap
from feeds.venues.coinbase import CoinbaseCodec, parse_time_ns

T0 = 1_700_000_000_000
DEADLINE = 5.0
PRODUCTS = ["BTC-USD", "ETH-USD", "SOL-USD"]


# helpers ------------------------------------------------------------------------------------------
async def recv(ws, timeout: float = DEADLINE) -> dict:
    return json.loads(await asyncio.wait_for(ws.recv(), timeout))


async def frames_until(ws, pred, timeout: float = DEADLINE) -> list[dict]:
    """Receive frames until ``pred(frame)``; all of them, the matching one last."""
    deadline = time.monotonic() + timeout
    out = []
    while True:
        out.append(await recv(ws, max(0.01, deadline - time.monotonic())))
        if pred(out[-1]):
            return out


async def of_type(ws, kind: str, timeout: float = DEADLINE) -> dict:
    return (await frames_until(ws, lambda m: m.get("type") == kind, timeout))[-1]


def cb_connect(sim):
    # a deep client queue: with the default 16 the client stops reading when a test stops consuming, and
    # closing then waits close_timeout for a close frame stuck behind the data (websockets issue #1555)
    return connect(sim.ws_url("COINBASE"), max_queue=4096)


async def send(ws, **msg) -> None:
    await ws.send(json.dumps(msg))


async def http_get(url: str) -> tuple[int, object]:
    def get():
        try:
            with urllib.request.urlopen(url, timeout=DEADLINE) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read())
    return await asyncio.to_thread(get)


def subscriptions(*channels: tuple[str, list[str]]) -> dict:
    return {"type": "subscriptions", "channels": [{"name": n, "product_ids": ids} for n, ids in channels]}


@pytest.fixture
async def sim():
    async with Simulator(speed=10.0, trades_per_second=40.0, venues=("BINANCE", "COINBASE")) as s:
        yield s


# the price process, without sockets -------------------------------------------------------------------
def test_product_ids_come_from_the_binance_symbols():
    assert [product_id(s) for s in ("BTCUSDT", "ETHUSDC", "SOLUSD", "ETHBTC", "XYZ")] == \
        ["BTC-USD", "ETH-USD", "SOL-USD", "ETH-BTC", None]
    sim = Simulator(symbols=("BTCUSDT", "ETHUSDT", "SOLUSDT", "BTCUSDC"))
    assert list(sim.venue("COINBASE").products) == PRODUCTS
    assert iso(T0 + 7) == "2023-11-14T22:13:20.007000Z"
    assert parse_time_ns(iso(T0 + 7)) == (T0 + 7) * 1_000_000


def test_coinbase_follows_binance_within_a_few_bps_but_not_exactly():
    sim = Simulator(seed=11)
    binance, coinbase = sim.venue("BINANCE"), sim.venue("COINBASE")
    coinbase.clock = binance.clock = None
    worst, total, n = 0.0, 0.0, 0
    for i in range(3000):  # 5 minutes in 100 ms steps
        t = T0 + 100 * i
        binance.step(t)
        coinbase.step(t)
        for p in coinbase.products.values():
            ref = binance.market.symbols[p.ref]
            b, _, a, _ = p.sym.best()
            rb, _, ra, _ = ref.best()
            gap = abs((b + a) * p.sym.tick / ((rb + ra) * ref.tick) - 1.0)
            worst, total, n = max(worst, gap), total + gap, n + 1
    assert worst < 8e-4  # 8 bps, best-bid/ask mids
    assert total / n > 3e-5  # a real basis, not a copy
    start = binance.market.symbols["BTCUSDT"].anchor * binance.market.symbols["BTCUSDT"].tick
    assert abs(binance.market.symbols["BTCUSDT"].mid * 0.01 / start - 1) > 1e-3  # and the market did move


# subscribe, unsubscribe, errors -----------------------------------------------------------------------
async def test_subscribe_reply_lists_all_subscriptions_then_first_frames(sim):
    async with cb_connect(sim) as ws:
        assert sim.ws_url("COINBASE").endswith("/coinbase")
        await send(ws, type="subscribe", product_ids=["BTC-USD", "ETH-USD"],
                   channels=["heartbeat", {"name": "ticker", "product_ids": ["SOL-USD", "BTC-USD"]}])
        assert await recv(ws) == subscriptions(("heartbeat", ["BTC-USD", "ETH-USD"]),
                                               ("ticker", ["BTC-USD", "ETH-USD", "SOL-USD"]))
        first = [await recv(ws) for _ in range(3)]  # one ticker per product, at once
        assert [(m["type"], m["product_id"]) for m in first] == [("ticker", p) for p in
                                                                 ("BTC-USD", "ETH-USD", "SOL-USD")]
        await send(ws, type="subscribe", product_ids=["SOL-USD"], channels=["matches", "heartbeat"])
        assert await of_type(ws, "subscriptions") == subscriptions(
            ("heartbeat", ["BTC-USD", "ETH-USD", "SOL-USD"]), ("ticker", ["BTC-USD", "ETH-USD", "SOL-USD"]),
            ("matches", ["SOL-USD"]))
        await send(ws, type="unsubscribe", product_ids=["ETH-USD"], channels=["heartbeat", "ticker"])
        assert await of_type(ws, "subscriptions") == subscriptions(
            ("heartbeat", ["BTC-USD", "SOL-USD"]), ("ticker", ["BTC-USD", "SOL-USD"]), ("matches", ["SOL-USD"]))
        await send(ws, type="unsubscribe", channels=["ticker", {"name": "matches"}])
        assert await of_type(ws, "subscriptions") == subscriptions(("heartbeat", ["BTC-USD", "SOL-USD"]))
        rest = await frames_until(ws, lambda m: m["type"] == "heartbeat" and m["product_id"] == "SOL-USD")
        assert {m["type"] for m in rest} <= {"heartbeat", "ticker", "match"}  # in flight before the unsubscribe
        after = await frames_until(ws, lambda m: m["type"] == "heartbeat" and m["product_id"] == "SOL-USD")
        assert {(m["type"], m["product_id"]) for m in after} <= {("heartbeat", "BTC-USD"), ("heartbeat", "SOL-USD")}


async def test_bad_product_gives_an_error_and_the_valid_rest_is_subscribed(sim):
    async with cb_connect(sim) as ws:
        await send(ws, type="subscribe", product_ids=["BTC-USD", "DOGE-EUR"], channels=["heartbeat"])
        assert await recv(ws) == {"type": "error", "message": "Failed to subscribe",
                                  "reason": "DOGE-EUR is not a valid product"}
        assert await recv(ws) == subscriptions(("heartbeat", ["BTC-USD"]))


async def test_level2_needs_auth_fields_and_unknown_channels_are_errors(sim):
    async with cb_connect(sim) as ws:
        await send(ws, type="subscribe", product_ids=["BTC-USD"], channels=["level2", "level3"])
        assert await recv(ws) == {"type": "error", "message": "Failed to subscribe", "reason": AUTH_REASON}
        assert AUTH_REASON == "level2, level3, and full channels now require authentication."
        assert await recv(ws) == subscriptions()
        await send(ws, type="subscribe", product_ids=["BTC-USD"], channels=["candles"])
        assert await recv(ws) == {"type": "error", "message": "Failed to subscribe",
                                  "reason": "candles is not a valid channel"}
        assert await recv(ws) == subscriptions()
        await send(ws, type="subscribe", product_ids=["BTC-USD"])
        assert await recv(ws) == {"type": "error", "message": "Failed to subscribe", "reason": "No channels provided"}
        await ws.send("{not json")
        assert (await recv(ws))["type"] == "error"
        # with the auth fields (not verified by the simulator) level2 is served
        await send(ws, type="subscribe", product_ids=["ETH-USD"], channels=["level2"], signature="c2ln",
                   key="k", passphrase="p", timestamp="1700000000")
        assert await recv(ws) == subscriptions(("level2", ["ETH-USD"]))
        snap = await recv(ws)
        assert snap["type"] == "snapshot" and snap["product_id"] == "ETH-USD" and len(snap["bids"]) == 200
        assert (await of_type(ws, "l2update"))["product_id"] == "ETH-USD"


async def test_no_subscribe_within_the_deadline_closes_the_connection(sim):
    sim.venue("COINBASE").subscribe_timeout_s = 0.3
    started = time.monotonic()  # before the quiet connection opens, so its deadline cannot have started earlier
    async with cb_connect(sim) as quiet, cb_connect(sim) as active:
        await send(active, type="subscribe", product_ids=["BTC-USD"], channels=["heartbeat"])
        with pytest.raises(ConnectionClosed) as info:
            await recv(quiet, 3.0)
        assert info.value.rcvd.code == 1008
        assert time.monotonic() - started >= 0.29
        # the subscribed connection stays open past the deadline
        await frames_until(active, lambda m: time.monotonic() - started > 0.6)


# channels ---------------------------------------------------------------------------------------------
async def test_heartbeats_once_a_second_with_rising_sequence_and_last_trade_id(sim):
    async with cb_connect(sim) as ws:
        await send(ws, type="subscribe", product_ids=["BTC-USD"], channels=["heartbeat", "matches"])
        frames = []
        while sum(m["type"] == "heartbeat" for m in frames) < 5:
            frames.append(await recv(ws))
    beats = [m for m in frames if m["type"] == "heartbeat"]
    seqs = [m["sequence"] for m in beats]
    assert seqs == sorted(seqs) and seqs[-1] > seqs[0]
    secs = [parse_time_ns(m["time"]) // 1_000_000_000 for m in beats]
    assert all(b - a == 1 for a, b in zip(secs, secs[1:]))
    last = None
    for m in frames:
        if m["type"] in ("match", "last_match"):
            last = m
        elif m["type"] == "heartbeat" and last is not None:
            assert m["last_trade_id"] == last["trade_id"] and m["sequence"] >= last["sequence"]


def test_a_late_step_beats_every_second_its_clock_passed():
    """At speed 10 a step 0.8 s late passes 8 s of the sim clock: all 8 beats are sent, in order (the flake of
    the test above: beats were made up for the last 5 seconds only, so one such step left a hole)."""
    venue = Simulator(symbols=("BTCUSDT",), venues=("COINBASE",)).venue("COINBASE")
    now = T0 + 300
    venue.clock = lambda: now
    venue.step(now)
    conn = CoinbaseConn(None)
    venue.control(conn, json.dumps({"type": "subscribe", "product_ids": ["BTC-USD"], "channels": ["heartbeat"]}))
    conn.outbox.clear()
    for now in (T0 + 1_100, T0 + 1_900, T0 + 9_950, T0 + 10_020, T0 + 11_000):  # the third step is 8 s late
        venue.step(now)
    beats = [json.loads(f) for f in conn.outbox]
    assert [m["type"] for m in beats] == ["heartbeat"] * 11
    assert [parse_time_ns(m["time"]) // 1_000_000 for m in beats] == [T0 + 1000 * s for s in range(1, 12)]
    seqs = [m["sequence"] for m in beats]
    assert seqs == sorted(seqs)


async def test_matches_last_match_first_maker_side_and_contiguous_ids(sim):
    async with cb_connect(sim) as ws:
        await send(ws, type="subscribe", product_ids=["ETH-USD"], channels=["matches", "ticker"])
        await of_type(ws, "subscriptions")
        frames = [await recv(ws) for _ in range(2)]
        while sum(m["type"] == "match" for m in frames) < 60 or frames[-1]["type"] != "ticker":
            frames.append(await recv(ws))
    matches = [m for m in frames if m["type"] in ("match", "last_match")]
    assert matches[0]["type"] == "last_match"
    assert all(m["type"] == "match" for m in matches[1:])
    ids = [m["trade_id"] for m in matches]
    assert ids == list(range(ids[0], ids[0] + len(ids)))
    seqs = [m["sequence"] for m in matches]
    assert all(b > a for a, b in zip(seqs, seqs[1:]))
    tickers = {m["sequence"]: m for m in frames if m["type"] == "ticker"}
    sides = set()
    with_ticker = [m for m in matches[1:] if m["sequence"] in tickers]  # trades in one ms get one ticker
    assert len(with_ticker) >= 0.8 * len(matches[1:]) and with_ticker[-1] is matches[-1]
    for m in with_ticker:
        t = tickers[m["sequence"]]  # the ticker of the same trade
        assert t["trade_id"] == m["trade_id"] and t["price"] == m["price"] and t["last_size"] == m["size"]
        assert float(t["best_bid"]) < float(t["best_ask"])
        if m["side"] == "sell":  # a resting sell was hit: the taker bought at the ask
            assert t["side"] == "buy" and m["price"] == t["best_ask"]
        else:
            assert m["side"] == "buy" and t["side"] == "sell" and m["price"] == t["best_bid"]
        sides.add(m["side"])
    assert sides == {"buy", "sell"}


async def test_ticker_best_bid_below_best_ask_and_24h_fields(sim):
    async with cb_connect(sim) as ws:
        await send(ws, type="subscribe", channels=[{"name": "ticker", "product_ids": PRODUCTS}])
        await of_type(ws, "subscriptions")
        tickers = [await recv(ws) for _ in range(60)]
    assert {t["product_id"] for t in tickers} == set(PRODUCTS)
    for t in tickers:
        assert t["type"] == "ticker"
        bid, ask, price = float(t["best_bid"]), float(t["best_ask"]), float(t["price"])
        assert bid < ask and bid <= price <= ask
        assert float(t["low_24h"]) <= price <= float(t["high_24h"])
        assert float(t["best_bid_size"]) > 0 and float(t["best_ask_size"]) > 0
        assert t["side"] in ("buy", "sell") and isinstance(t["trade_id"], int) and t["time"].endswith("Z")
    assert all(float(t["volume_24h"]) > 0 for t in tickers[3:])  # after the first ticker of each product


async def test_level2_batch_snapshot_then_updates_keep_a_full_uncrossed_book(sim):
    async with cb_connect(sim) as ws:
        await send(ws, type="subscribe", product_ids=["BTC-USD", "SOL-USD"], channels=["level2_batch"])
        await of_type(ws, "subscriptions")
        books, times, updates = {}, [], 0
        while updates < 60:
            m = await recv(ws)
            if m["type"] == "snapshot":
                assert m["product_id"] not in books
                books[m["product_id"]] = ({p: s for p, s in m["bids"]}, {p: s for p, s in m["asks"]})
                continue
            assert m["type"] == "l2update" and "sequence" not in m
            bids, asks = books[m["product_id"]]
            for side, price, size in m["changes"]:
                book = bids if side == "buy" else asks
                if float(size) == 0:
                    book.pop(price, None)
                else:
                    book[price] = size
            assert max(map(float, bids)) < min(map(float, asks))
            assert len(bids) == len(asks) == 200  # the market keeps 200 levels a side: nothing was missed
            times.append(parse_time_ns(m["time"]))
            updates += 1
    assert set(books) == {"BTC-USD", "SOL-USD"}
    status, rest = await http_get(f"{sim.rest_url('COINBASE')}/products/SOL-USD/book?level=2")
    assert status == 200 and len(rest["bids"]) == len(rest["asks"]) == 200
    assert all(len(row) == 3 and row[2] >= 1 for row in rest["bids"] + rest["asks"])
    assert float(rest["bids"][0][0]) < float(rest["asks"][0][0]) and isinstance(rest["sequence"], int)


async def test_coinbase_btc_usd_trades_near_binance_btcusdt(sim):
    async with connect(sim.ws_url("BINANCE") + "/ws/btcusdt@trade", max_queue=4096) as bws, cb_connect(sim) as cws:
        await send(cws, type="subscribe", product_ids=["BTC-USD"], channels=["matches"])
        await of_type(cws, "last_match")
        binance = [await recv(bws) for _ in range(100)]
        coinbase = []
        while len(coinbase) < 50 or parse_time_ns(coinbase[-1]["time"]) // 1_000_000 < binance[-1]["T"]:
            coinbase.append(await of_type(cws, "match"))
    bt = [(b["T"], float(b["p"])) for b in binance]
    checked = 0
    for m in coinbase:
        t = parse_time_ns(m["time"]) // 1_000_000
        near = min(bt, key=lambda x: abs(x[0] - t))
        if abs(near[0] - t) <= 200:
            assert abs(float(m["price"]) / near[1] - 1) < 0.005
            checked += 1
    assert checked >= 20
    assert {m["price"] for m in coinbase} != {b["p"] for b in binance}


# REST -------------------------------------------------------------------------------------------------
async def test_rest_candles_equal_candles_built_from_the_match_stream(sim):
    codec = CoinbaseCodec(SymbolMap())
    builder = TradeCandleBuilder(1000, "1s")
    closed: list[Candle] = []
    async with cb_connect(sim) as ws:
        await send(ws, type="subscribe", product_ids=["SOL-USD"], channels=["matches"])
        await of_type(ws, "last_match")  # an older trade: its bar would be partial
        while len(closed) < 8:
            raw = await asyncio.wait_for(ws.recv(), DEADLINE)
            for ev in codec.decode(raw, time.time_ns()):
                assert isinstance(ev, Trade)
                closed += [c for c in builder.update(ev) if c.closed]
    closed = closed[1:]  # the first bar began before the subscription
    first, last = closed[0].open_ns // 10**9, closed[-1].open_ns // 10**9
    status, rows = await http_get(f"{sim.rest_url('COINBASE')}/products/SOL-USD/candles"
                                  f"?granularity=1&start={first}&end={last}")
    assert status == 200
    assert [r[0] for r in rows] == sorted((r[0] for r in rows), reverse=True)  # newest first
    assert [r[0] for r in reversed(rows)] == [c.open_ns // 10**9 for c in closed]
    for row, built in zip(reversed(rows), closed):
        t, low, high, open_, close, volume = row
        rest = Candle("COINBASE", "SOL-USD", "SOL/USD", 0, 0, "1s", t * 10**9, open_, high, low, close, volume, 0,
                      True, "backfill")
        assert compare(rest, built) is None


async def test_rest_products_time_and_candle_errors(sim):
    base = sim.rest_url("COINBASE")
    assert base.endswith("/coinbase")
    status, products = await http_get(f"{base}/products")
    assert status == 200 and [p["id"] for p in products] == PRODUCTS
    assert products[0]["base_currency"] == "BTC" and products[0]["quote_currency"] == "USD"
    status, now = await http_get(f"{base}/time")
    assert status == 200 and parse_time_ns(now["iso"]) // 10**6 == round(now["epoch"] * 1000)
    assert abs(now["epoch"] * 1000 - sim.now_ms()) < 5_000
    deadline = time.monotonic() + DEADLINE
    while len((await http_get(f"{base}/products/ETH-USD/trades?limit=20"))[1]) < 20:  # wait for some trading
        assert time.monotonic() < deadline
        await asyncio.sleep(0.02)  # poll interval
    status, trades = await http_get(f"{base}/products/ETH-USD/trades?limit=5")
    assert status == 200 and len(trades) == 5
    newest = trades[0]["trade_id"]
    assert [t["trade_id"] for t in trades] == list(range(newest, newest - 5, -1))  # newest first
    _, older = await http_get(f"{base}/products/ETH-USD/trades?limit=3&after={newest - 4}")
    assert [t["trade_id"] for t in older] == [newest - 5, newest - 6, newest - 7]
    status, book = await http_get(f"{base}/products/BTC-USD/book")
    assert status == 200 and len(book["bids"]) == len(book["asks"]) == 1  # level 1 by default
    status, rows = await http_get(f"{base}/products/BTC-USD/candles?granularity=60")
    assert status == 200 and 1 <= len(rows) <= 2 and rows[0][0] % 60 == 0
    assert rows[0][1] <= min(rows[0][3], rows[0][4]) <= max(rows[0][3], rows[0][4]) <= rows[0][2]
    assert (await http_get(f"{base}/products/BTC-USD/candles?granularity=7"))[1] == \
        {"message": "Unsupported granularity"}
    status, body = await http_get(f"{base}/products/BTC-USD/candles?granularity=60&start=1700000000&end=1700030000")
    assert status == 400 and "exceeds 300" in body["message"]
    status, body = await http_get(f"{base}/products/BTC-USD/candles?granularity=1&start=2023-11-14T22:13:20Z"
                                  "&end=2023-11-14T22:13:30Z")
    assert status == 200 and body == []  # long before the simulator started
    assert (await http_get(f"{base}/products/DOGE-EUR/candles"))[0] == 404
    assert (await http_get(f"{base}/nothing"))[0] == 404


async def test_warm_up_history_follows_binance_minute_by_minute():
    async with Simulator(history_s=240, intervals=("1m",), venues=("BINANCE", "COINBASE")) as sim:
        _, binance = await http_get(f"{sim.rest_url()}/api/v3/klines?symbol=ETHUSDT&interval=1m")
        status, coinbase = await http_get(f"{sim.rest_url('COINBASE')}/products/ETH-USD/candles?granularity=60")
        # the warm-up stepped the venues together: Coinbase followed Binance's own market, no private twin
        assert sim.venue("COINBASE").twin.now_ms is None
    assert status == 200 and len(coinbase) >= 4
    closes = {k[0] // 1000: float(k[4]) for k in binance}
    assert sum(row[5] for row in coinbase) > 0
    for row in coinbase:
        assert abs(row[4] / closes[row[0]] - 1) < 15e-4  # the same minute closes within 15 bps
    assert len({row[4] for row in coinbase} - set(closes.values())) >= 3  # and are not copies


# the real client codec ----------------------------------------------------------------------------------
async def test_the_client_codec_accepts_every_frame(sim):
    codec = CoinbaseCodec(SymbolMap())
    raws = []
    async with cb_connect(sim) as ws:
        await send(ws, type="subscribe", product_ids=["BTC-USD", "ETH-USD"],
                   channels=["heartbeat", "ticker", "matches", "level2_batch", "status"])
        # alone: root product ids would apply to it too, and a ticker_batch repeats a ticker's sequence
        await send(ws, type="subscribe", channels=[{"name": "ticker_batch", "product_ids": ["SOL-USD"]}])
        await send(ws, type="subscribe", product_ids=["XRP-USD"], channels=["ticker"])
        await send(ws, type="unsubscribe", channels=["status"])
        seen: set[str] = set()
        want = {"subscriptions", "error", "heartbeat", "ticker", "match", "last_match", "snapshot", "l2update",
                "status"}
        while not want <= seen or len(raws) < 500:
            raws.append(await asyncio.wait_for(ws.recv(), DEADLINE))
            seen.add(json.loads(raws[-1])["type"])
        deadline = time.monotonic() + DEADLINE
        while not any('"SOL-USD"' in r and '"ticker"' in r for r in raws):  # the 5 s ticker_batch
            raws.append(await asyncio.wait_for(ws.recv(), deadline - time.monotonic()))
    events = [ev for raw in raws for ev in codec.decode(raw, time.time_ns())]
    assert [(ev.reason, ev.detail) for ev in events if isinstance(ev, Rejected)] == []
    kinds = {ev.kind for ev in events}
    assert kinds == {"trade", "quote", "ticker", "book_snapshot", "book_delta", "control", "status"}


# faults ---------------------------------------------------------------------------------------------
async def matches_until(ws, pred, timeout: float = DEADLINE) -> list[dict]:
    """``last_match`` and the matches after it until ``pred(previous, match)``, the matching one last."""
    deadline = time.monotonic() + timeout
    out = [await of_type(ws, "last_match", timeout)]
    while True:
        out.append(await of_type(ws, "match", max(0.01, deadline - time.monotonic())))
        if pred(out[-2], out[-1]):
            return out


async def test_skipped_trade_ids_make_one_gap_of_that_size(sim):
    async with cb_connect(sim) as ws:
        await send(ws, type="subscribe", product_ids=["BTC-USD"], channels=["matches"])
        await of_type(ws, "subscriptions")
        sim.skip_trade_ids(7, "BTCUSDT")  # a Binance symbol reaches the Coinbase product too
        got = await matches_until(ws, lambda a, b: b["trade_id"] != a["trade_id"] + 1)
    assert got[-1]["trade_id"] - got[-2]["trade_id"] == 8


async def test_stall_withholds_trades_and_heartbeats_then_resumes(sim):
    async with cb_connect(sim) as ws:
        await send(ws, type="subscribe", product_ids=["BTC-USD"], channels=["matches", "heartbeat"])
        frames = [await of_type(ws, "subscriptions")]
        while sum(m["type"] == "match" for m in frames) < 5:
            frames.append(await recv(ws))
        sim.stall("BTCUSDT", 0.4)
        started = time.monotonic()
        frames += await frames_until(ws, lambda m: m["type"] == "match" and time.monotonic() - started > 0.3)
        frames += await frames_until(ws, lambda m: m["type"] == "heartbeat")
    trades = [m for m in frames if m["type"] in ("last_match", "match")]
    pauses = [i for i in range(2, len(trades))  # after the first live match; 0.4 s is 4 s at speed 10
              if parse_time_ns(trades[i]["time"]) - parse_time_ns(trades[i - 1]["time"]) >= 3 * 10**9]
    assert len(pauses) == 1
    before, after = trades[pauses[0] - 1], trades[pauses[0]]
    assert after["trade_id"] - before["trade_id"] > 20  # the trades during the stall are lost
    silent = (parse_time_ns(before["time"]) + 10**9, parse_time_ns(after["time"]) - 10**9)
    beats = [parse_time_ns(m["time"]) for m in frames if m["type"] == "heartbeat"]
    assert beats and not any(silent[0] < t < silent[1] for t in beats)


async def test_garbage_and_dropped_connections(sim):
    async with cb_connect(sim) as ws:
        await send(ws, type="subscribe", product_ids=["BTC-USD"], channels=["heartbeat"])
        await of_type(ws, "subscriptions")
        sim.send_garbage(venue="COINBASE")
        raw = await asyncio.wait_for(ws.recv(), DEADLINE)
        while raw != GARBAGE_FRAME.decode():
            raw = await asyncio.wait_for(ws.recv(), DEADLINE)
        codec = CoinbaseCodec(SymbolMap())
        assert codec.decode(raw, 0)[0].reason == "malformed_json"
        assert sim.drop_connections(venue="COINBASE") == 1
        with pytest.raises(ConnectionClosed) as info:
            while True:
                await asyncio.wait_for(ws.recv(), DEADLINE)
        assert info.value.rcvd is None  # abrupt: no close frame
