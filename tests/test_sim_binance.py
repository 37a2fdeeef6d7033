"""The simulated Binance exchange: the pure market, then the protocol over real loopback sockets."""
from __future__ import annotations

import asyncio
import json
import time
import urllib.error
import urllib.request

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from feeds.sim.faults import GARBAGE_FRAME
from feeds.sim.market import SimMarket, bar_next, bar_open
from feeds.sim.server import Simulator

T0 = 1_700_000_000_000  # a fixed start for the pure market tests
DEADLINE = 5.0


# helpers ------------------------------------------------------------------------------------------
async def recv(ws, timeout: float = DEADLINE):
    return json.loads(await asyncio.wait_for(ws.recv(), timeout))


async def reply(ws, rid, timeout: float = DEADLINE) -> dict:
    """The control reply with ``id == rid``, skipping market data frames."""
    deadline = time.monotonic() + timeout
    while True:
        msg = await recv(ws, max(0.01, deadline - time.monotonic()))
        if isinstance(msg, dict) and "id" in msg and ("result" in msg or "error" in msg) and msg["id"] == rid:
            return msg


async def frames_until(ws, pred, timeout: float = DEADLINE) -> list:
    """Receive frames (parsed) until ``pred(frame)``; returns all of them, the matching one last."""
    deadline = time.monotonic() + timeout
    out = []
    while True:
        out.append(await recv(ws, max(0.01, deadline - time.monotonic())))
        if pred(out[-1]):
            return out


async def closed_code(ws, timeout: float = DEADLINE) -> int | None:
    try:
        while True:
            await asyncio.wait_for(ws.recv(), timeout)
    except ConnectionClosed as exc:
        return exc.rcvd.code if exc.rcvd is not None else 1006


async def http_get(url: str) -> tuple[int, object]:
    def get():
        try:
            with urllib.request.urlopen(url, timeout=DEADLINE) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read())
    return await asyncio.to_thread(get)


# the pure market --------------------------------------------------------------------------------------
def run_market(seed: int, steps: list[int], **kw) -> tuple[SimMarket, list]:
    m = SimMarket(["BTCUSDT", "ETHUSDT", "SOLUSDT"], seed=seed, **kw)
    trades = []
    for t in steps:
        trades.extend(m.step(t))
    return m, trades


def test_market_is_deterministic_and_independent_of_step_slicing():
    even = [T0 + 20 * i for i in range(501)]  # 10 s in 20 ms steps
    ragged, t = [T0], T0
    while t < T0 + 10_000:
        t = min(T0 + 10_000, t + (7, 333, 1, 90)[len(ragged) % 4])
        ragged.append(t)
    _, a = run_market(7, even)
    _, b = run_market(7, even)
    _, c = run_market(7, ragged)
    _, d = run_market(8, even)
    assert len(a) > 400
    assert a == b
    assert sorted(a) == sorted(c)  # same trades whatever the step boundaries
    assert a != d
    for sym in ("BTCUSDT", "ETHUSDT", "SOLUSDT"):
        ids = [tr.agg_id for tr in a if tr.symbol == sym]
        assert ids == list(range(ids[0], ids[0] + len(ids)))


def test_book_changes_rebuild_the_book_and_ids_are_contiguous():
    m = SimMarket(["BTCUSDT", "SOLUSDT"], seed=3, trades_per_second=200)
    m.step(T0)
    books = {}
    for name in m.symbols:
        uid, bids, asks = m.depth(name, 10_000)
        books[name] = [uid, dict(bids), dict(asks)]
    for i in range(1, 200):
        m.step(T0 + 25 * i)
        for name, sym in m.symbols.items():
            book = books[name]
            for uid, is_bid, p, q in sym.changes:
                assert uid == book[0] + 1
                book[0] = uid
                side = book[1] if is_bid else book[2]
                if q:
                    side[p] = q
                else:
                    side.pop(p, None)
            assert max(book[1]) < min(book[2])
            for uid, _b, _bq, _a, _aq in sym.tops:
                assert uid <= book[0]
    for name, sym in m.symbols.items():
        assert books[name][0] == sym.update_id
        assert books[name][1] == sym.bids and books[name][2] == sym.asks
        assert len(sym.bids) == len(sym.asks) == 200


def test_klines_are_built_from_the_trades_and_close_on_time():
    steps = [T0 + 1 + 50 * i for i in range(400)]  # 20 s, slow market: some 1 s bars are empty
    m, trades = run_market(5, steps, trades_per_second=1.5, intervals=("1s", "1m"))
    hist = m.symbols["ETHUSDT"].series["1s"].history
    mine = [tr for tr in trades if tr.symbol == "ETHUSDT"]
    assert len(hist) == 19  # bars [T0 .. T0+19 s) closed; the 20th is forming
    assert [k.open_time for k in hist] == [T0 + 1000 * i for i in range(19)]
    empty = 0
    prev_close = None
    for k in hist:
        assert k.closed and k.close_time == k.open_time + 999
        inside = [tr for tr in mine if k.open_time <= tr.time <= k.close_time]
        assert k.trades == len(inside)
        if inside:
            assert (k.open, k.close) == (inside[0].price, inside[-1].price)
            assert k.high == max(tr.price for tr in inside) and k.low == min(tr.price for tr in inside)
            assert k.volume == sum(tr.qty for tr in inside)
            assert (k.first_id, k.last_id) == (inside[0].trade_id, inside[-1].trade_id)
        else:
            empty += 1
            assert k.open == k.high == k.low == k.close and k.first_id == k.last_id == -1
            assert prev_close is None or k.close == prev_close
        prev_close = k.close
    assert empty > 0
    assert bar_open("1w", T0) % 86_400_000 == 0 and bar_next("1M", bar_open("1M", T0)) > T0


# the protocol over sockets ------------------------------------------------------------------------------
@pytest.fixture
async def sim():
    async with Simulator(speed=10.0, trades_per_second=40.0, venues=("BINANCE",)) as s:
        yield s


EXPECTED_KEYS = {
    "trade": {"e", "E", "s", "t", "p", "q", "T", "m", "M"},
    "aggTrade": {"e", "E", "s", "a", "p", "q", "f", "l", "T", "m", "M"},
    "bookTicker": {"u", "s", "b", "B", "a", "A"},
    "depth@100ms": {"e", "E", "s", "U", "u", "b", "a"},
    "depth": {"e", "E", "s", "U", "u", "b", "a"},
    "depth5": {"lastUpdateId", "bids", "asks"},
    "kline_1s": {"e", "E", "s", "k"},
    "ticker": {"e", "E", "s", "p", "P", "w", "x", "c", "Q", "b", "B", "a", "A", "o", "h", "l", "v", "q",
               "O", "C", "F", "L", "n"},
    "miniTicker": {"e", "E", "s", "c", "o", "h", "l", "v", "q"},
}


async def test_combined_stream_wraps_every_payload_with_the_documented_shape(sim):
    url = sim.ws_url() + "/stream?streams=" + "/".join(f"ethusdt@{k}" for k in EXPECTED_KEYS)
    seen = {}
    async with connect(url) as ws:
        deadline = time.monotonic() + DEADLINE
        while len(seen) < len(EXPECTED_KEYS):
            msg = await recv(ws, deadline - time.monotonic())
            assert set(msg) == {"stream", "data"}
            seen.setdefault(msg["stream"].split("@", 1)[1], msg["data"])
    for kind, data in seen.items():
        assert set(data) == EXPECTED_KEYS[kind], kind
        if "s" in data:
            assert data["s"] == "ETHUSDT"
    assert float(seen["aggTrade"]["p"]) > 0 and seen["aggTrade"]["p"].count(".") == 1
    k = seen["kline_1s"]["k"]
    assert k["i"] == "1s" and k["T"] == k["t"] + 999 and isinstance(k["x"], bool)
    assert float(k["l"]) <= float(k["o"]) <= float(k["h"])
    bid, ask = float(seen["bookTicker"]["b"]), float(seen["bookTicker"]["a"])
    assert bid < ask
    assert seen["ticker"]["e"] == "24hrTicker" and seen["miniTicker"]["e"] == "24hrMiniTicker"


async def test_raw_stream_sends_bare_payloads_and_set_property_switches_framing(sim):
    async with connect(sim.ws_url() + "/ws/btcusdt@aggTrade") as ws:
        first = await recv(ws)
        assert first["e"] == "aggTrade" and first["s"] == "BTCUSDT" and "stream" not in first
        assert first["T"] <= first["E"] and first["f"] == first["l"]
        await ws.send(json.dumps({"method": "GET_PROPERTY", "params": ["combined"], "id": 2}))
        assert await reply(ws, 2) == {"result": False, "id": 2}
        await ws.send(json.dumps({"method": "SET_PROPERTY", "params": ["combined", True], "id": 5}))
        assert await reply(ws, 5) == {"result": None, "id": 5}
        wrapped = await recv(ws)
        assert wrapped["stream"] == "btcusdt@aggTrade" and wrapped["data"]["a"] > first["a"]


async def test_subscribe_unsubscribe_and_list_round_trip(sim):
    async with connect(sim.ws_url() + "/ws") as ws:
        await ws.send(json.dumps({"method": "SUBSCRIBE", "params": ["btcusdt@aggTrade", "ethusdt@depth"], "id": 1}))
        assert await reply(ws, 1) == {"result": None, "id": 1}
        data = await frames_until(ws, lambda m: m.get("e") == "aggTrade")
        assert data[-1]["s"] == "BTCUSDT"
        await ws.send(json.dumps({"method": "LIST_SUBSCRIPTIONS", "id": 3}))
        assert await reply(ws, 3) == {"result": ["btcusdt@aggTrade", "ethusdt@depth"], "id": 3}
        await ws.send(json.dumps({"method": "UNSUBSCRIBE", "params": ["ethusdt@depth"], "id": 312}))
        assert await reply(ws, 312) == {"result": None, "id": 312}
        await ws.send(json.dumps({"method": "LIST_SUBSCRIPTIONS", "id": 4}))
        assert await reply(ws, 4) == {"result": ["btcusdt@aggTrade"], "id": 4}


async def test_control_errors_use_the_wrapped_form(sim):
    async with connect(sim.ws_url() + "/ws") as ws:
        await ws.send("{bad")
        err = await recv(ws)
        assert err == {"error": {"code": 3, "msg": "Invalid JSON: expected value at line 1 column 2"}, "id": None}
        await ws.send(json.dumps({"method": "FOO", "params": [], "id": 7}))
        err = await recv(ws)
        assert err["id"] == 7 and err["error"]["code"] == 2
        assert err["error"]["msg"].startswith(
            "Invalid request: unknown variant `FOO`, expected one of `SUBSCRIBE`, `UNSUBSCRIBE`, "
            "`LIST_SUBSCRIPTIONS`, `SET_PROPERTY`, `GET_PROPERTY` at line 1 column ")
        await ws.send(json.dumps({"method": "SUBSCRIBE", "params": ["BTCUSDT@trade"], "id": 8}))
        assert await recv(ws) == {"error": {"code": 2, "msg": "Invalid request: invalid stream"}, "id": 8}
        await ws.send(json.dumps({"method": "SET_PROPERTY", "params": ["compressed", True], "id": 9}))
        assert await recv(ws) == {"error": {"code": 0, "msg": "Unknown property"}, "id": 9}
        await ws.send(json.dumps({"method": "SET_PROPERTY", "params": ["combined", "yes"], "id": 10}))
        assert await recv(ws) == {"error": {"code": 1, "msg": "Invalid value type: expected Boolean"}, "id": 10}


async def test_sixth_message_within_a_second_closes_with_1008(sim):
    async with connect(sim.ws_url() + "/ws") as ws:
        for i in range(6):
            await ws.send(json.dumps({"method": "LIST_SUBSCRIPTIONS", "id": i}))
        replies = []
        with pytest.raises(ConnectionClosed) as info:
            while True:
                replies.append(await recv(ws))
        assert info.value.rcvd.code == 1008
        assert [r["id"] for r in replies] == [0, 1, 2, 3, 4]


async def test_too_many_streams_and_bad_url_streams_are_refused(sim):
    async with connect(sim.ws_url() + "/ws") as ws:
        names = [f"s{i}usdt@trade" for i in range(1025)]
        await ws.send(json.dumps({"method": "SUBSCRIBE", "params": names, "id": 1}))
        assert (await recv(ws))["error"]["code"] == 4
    with pytest.raises(InvalidStatus) as info:
        async with connect(sim.ws_url() + "/ws/btcusdt@nonsense"):
            pass
    assert info.value.response.status_code == 400


async def test_microsecond_time_unit(sim):
    async with connect(sim.ws_url() + "/ws/btcusdt@trade?timeUnit=MICROSECOND") as ws:
        msg = await recv(ws)
        assert msg["E"] > 10**15 and msg["T"] > 10**15


async def test_rest_klines_equal_the_closed_stream_klines_bar_for_bar(sim):
    async with connect(sim.ws_url() + "/ws/solusdt@kline_1s") as ws:
        closed = []
        deadline = time.monotonic() + DEADLINE
        while len(closed) < 5:
            msg = await recv(ws, deadline - time.monotonic())
            if msg["k"]["x"]:
                assert msg["E"] > msg["k"]["T"]  # closed only once the sim clock passed the bar
                closed.append(msg["k"])
    assert [k["t"] for k in closed] == [closed[0]["t"] + 1000 * i for i in range(5)]
    status, rows = await http_get(f"{sim.rest_url()}/api/v3/klines?symbol=SOLUSDT&interval=1s"
                                  f"&startTime={closed[0]['t']}&endTime={closed[-1]['t']}")
    assert status == 200
    assert rows == [[k["t"], k["o"], k["h"], k["l"], k["c"], k["v"], k["T"], k["q"], k["n"], k["V"], k["Q"], "0"]
                    for k in closed]
    _, before = await http_get(f"{sim.rest_url()}/api/v3/time")
    status, latest = await http_get(f"{sim.rest_url()}/api/v3/klines?symbol=SOLUSDT&interval=1s&limit=3")
    _, after = await http_get(f"{sim.rest_url()}/api/v3/time")
    assert len(latest) == 3 and latest[0][0] + 2000 == latest[-1][0]
    assert latest[-1][0] <= after["serverTime"] and latest[-1][6] >= before["serverTime"]  # forming bar last


async def test_depth_snapshot_lines_up_with_the_diff_stream(sim):
    async with connect(sim.ws_url() + "/ws/btcusdt@depth@100ms") as ws:
        events = [await recv(ws)]
        status, snap = await http_get(f"{sim.rest_url()}/api/v3/depth?symbol=BTCUSDT&limit=1000")
        assert status == 200 and len(snap["bids"]) == len(snap["asks"]) == 200
        last_id = snap["lastUpdateId"]
        assert last_id >= events[0]["U"] - 1
        events += await frames_until(ws, lambda e: e["u"] > last_id)
    for prev, nxt in zip(events, events[1:]):
        assert nxt["U"] == prev["u"] + 1
    first = next(e for e in events if e["u"] > last_id)
    assert first["U"] <= last_id + 1 <= first["u"]
    bids = {p: q for p, q in snap["bids"]}
    asks = {p: q for p, q in snap["asks"]}
    for e in events:
        if e["u"] <= last_id:
            continue
        for side, levels in ((bids, e["b"]), (asks, e["a"])):
            for p, q in levels:
                if float(q) == 0:
                    side.pop(p, None)
                else:
                    side[p] = q
    assert max(map(float, bids)) < min(map(float, asks))


async def test_rest_reference_endpoints_and_errors(sim):
    base = sim.rest_url()
    assert await http_get(base + "/api/v3/ping") == (200, {})
    status, info = await http_get(base + "/api/v3/exchangeInfo")
    assert status == 200
    assert [(s["symbol"], s["baseAsset"], s["quoteAsset"], s["status"]) for s in info["symbols"]] == [
        ("BTCUSDT", "BTC", "USDT", "TRADING"), ("ETHUSDT", "ETH", "USDT", "TRADING"),
        ("SOLUSDT", "SOL", "USDT", "TRADING")]
    assert await http_get(base + "/api/v3/depth?symbol=NOPE") == (400, {"code": -1121, "msg": "Invalid symbol."})
    assert (await http_get(base + "/api/v3/klines?symbol=BTCUSDT&interval=7x"))[0] == 400
    assert (await http_get(base + "/nowhere"))[0] == 404


# faults -----------------------------------------------------------------------------------------------
async def test_duplicate_skip_and_reorder_faults_show_on_trade_ids(sim):
    async with connect(sim.ws_url() + "/ws/btcusdt@aggTrade") as ws:
        prev = await recv(ws)

        async def next_oddity() -> tuple[dict, dict]:
            """The first frame whose id is not previous + 1 (frames already in flight pass first)."""
            nonlocal prev
            for _ in range(500):
                cur = await recv(ws)
                pair, prev = (prev, cur), cur
                if cur["a"] != pair[0]["a"] + 1:
                    return pair
            raise AssertionError("no fault seen")

        sim.duplicate_next(1)
        a, b = await next_oddity()
        assert a == b
        assert (await recv(ws))["a"] == b["a"] + 1
        prev = await recv(ws)
        sim.skip_trade_ids(5)
        a, b = await next_oddity()
        assert b["a"] == a["a"] + 6 and b["f"] == a["f"] + 6
        prev = await recv(ws)
        sim.reorder_next()
        a, b = await next_oddity()
        assert b["a"] == a["a"] + 2  # x, then x+2 came before x+1
        assert (await recv(ws))["a"] == a["a"] + 1


async def test_garbage_truncated_and_drop_with_code(sim):
    async with connect(sim.ws_url() + "/ws/ethusdt@aggTrade") as ws:
        await recv(ws)
        sim.send_garbage()
        raw = await frames_raw_until(ws, lambda r: not r.startswith("{"))
        assert raw.encode() == GARBAGE_FRAME
        sim.send_truncated()
        bad = await frames_raw_until(ws, lambda r: not r.endswith("}"))
        with pytest.raises(ValueError):
            json.loads(bad)
        sim.drop_connections(1008, "test")
        assert await closed_code(ws) == 1008
    async with connect(sim.ws_url() + "/ws/ethusdt@aggTrade") as ws:
        await recv(ws)
        sim.drop_connections()
        assert await closed_code(ws) == 1006


async def frames_raw_until(ws, pred, timeout: float = DEADLINE) -> str:
    deadline = time.monotonic() + timeout
    while True:
        raw = await asyncio.wait_for(ws.recv(), max(0.01, deadline - time.monotonic()))
        if pred(raw):
            return raw


async def test_refuse_stall_and_depth_gap(sim):
    sim.refuse_connections(30)
    with pytest.raises(InvalidStatus) as info:
        async with connect(sim.ws_url() + "/ws/btcusdt@trade"):
            pass
    assert info.value.response.status_code == 503
    sim.refuse_connections(0)
    async with connect(sim.ws_url() + "/stream?streams=btcusdt@aggTrade/ethusdt@aggTrade/solusdt@depth@100ms") as ws:
        await frames_until(ws, lambda m: m["stream"] == "btcusdt@aggTrade")
        sim.stall("BTCUSDT", 30)
        after = sim.now_ms() + 100  # frames stamped later than this were generated during the stall
        late = [m for m in await frames_until(
            ws, lambda m: m["stream"] == "ethusdt@aggTrade" and m["data"]["E"] > after + 1500)
            if m["data"].get("E", 0) > after]
        assert late and not [m for m in late if m["stream"] == "btcusdt@aggTrade"]
        depth = [m["data"] for m in await frames_until(ws, lambda m: m["stream"] == "solusdt@depth@100ms")
                 if m["stream"] == "solusdt@depth@100ms"]
        sim.skip_depth_ids("SOLUSDT")
        for _ in range(20):
            depth += [m["data"] for m in await frames_until(ws, lambda m: m["stream"] == "solusdt@depth@100ms")
                      if m["stream"] == "solusdt@depth@100ms"]
            if depth[-1]["U"] != depth[-2]["u"] + 1:
                break
        assert depth[-1]["U"] > depth[-2]["u"] + 1
        assert all(b["U"] == a["u"] + 1 for a, b in zip(depth[:-1], depth[1:-1]))


async def test_server_shutdown_and_connection_lifetime():
    async with Simulator(speed=10.0, connection_lifetime_s=0.3, venues=("BINANCE",)) as sim:
        async with connect(sim.ws_url() + "/stream?streams=btcusdt@trade") as ws:
            frames = await frames_until(ws, lambda m: m["stream"] == "!serverShutdown")
            assert set(frames[-1]["data"]) == {"e", "E"} and frames[-1]["data"]["e"] == "serverShutdown"
            assert await closed_code(ws) == 1000
    async with Simulator(speed=10.0, venues=("BINANCE",)) as sim:
        async with connect(sim.ws_url() + "/ws/btcusdt@trade") as ws:
            await recv(ws)
            sim.server_shutdown(grace_s=0.0)
            await frames_until(ws, lambda m: m["e"] == "serverShutdown")
            assert await closed_code(ws) == 1001


async def test_flood_continues_the_live_ids_as_fast_as_possible(sim):
    async with connect(sim.ws_url() + "/stream?streams=btcusdt@aggTrade/ethusdt@aggTrade/btcusdt@bookTicker",
                       max_queue=None) as ws:
        await recv(ws)
        started = time.perf_counter()
        task = sim.flood(30_000)
        assert await asyncio.wait_for(task, 10) == [30_000]
        conn = next(iter(sim.venue("BINANCE").conns))
        total = conn.sent
        frames = [await recv(ws) for _ in range(total - 1)]
        elapsed = time.perf_counter() - started
    last: dict[str, int] = {}
    for f in frames:
        stream, d = f["stream"], f["data"]
        val = d["a"] if stream.endswith("aggTrade") else d["u"]
        if stream in last:
            assert val == last[stream] + 1 if stream.endswith("aggTrade") else val > last[stream]
        last[stream] = val
    assert len(frames) == total - 1 >= 30_000
    # How fast is measured by the bench (loopback_client, loopback_receive_only), not asserted here.
    print(f"flood: {total} frames in {elapsed:.2f} s ({total / elapsed:,.0f} frames/s incl. client parse)")


async def test_flood_at_a_fixed_rate(sim):
    async with connect(sim.ws_url() + "/ws/btcusdt@aggTrade") as ws:
        await recv(ws)
        started = time.perf_counter()
        task = sim.flood(rate=2000, seconds=0.25)
        ids = [(await recv(ws))["a"] for _ in range(500)]  # live frames in flight, then the flood
        assert time.perf_counter() - started >= 0.2
        assert await asyncio.wait_for(task, DEADLINE) == [500]
        assert ids == list(range(ids[0], ids[0] + 500))


async def test_history_warm_up_and_printable_urls():
    from feeds.sim import url_lines
    async with Simulator(history_s=150, intervals=("1m",), venues=("BINANCE",)) as sim:
        status, rows = await http_get(f"{sim.rest_url()}/api/v3/klines?symbol=BTCUSDT&interval=1m")
        assert status == 200 and len(rows) >= 3
        assert all(b[0] - a[0] == 60_000 for a, b in zip(rows, rows[1:]))
        assert sum(r[8] for r in rows) > 150 * 20 * 0.8  # about 20 trades a second of warm-up
        lines = url_lines(sim)
        assert any(f"ws://127.0.0.1:{sim.port}" in line for line in lines)
        assert sim.ws_url() == f"ws://127.0.0.1:{sim.port}" and sim.rest_url() == f"http://127.0.0.1:{sim.port}"


def test_a_late_step_closes_and_sends_every_bar_its_clock_passed():
    """However late the exchange's loop runs, each 1 s bar its clock passed is closed once, sent once on the
    kline stream, and the REST klines hold the same bars (a slow market: some bars are empty)."""
    from feeds.sim.binance import BinanceConn, BinanceVenue, parse_stream

    now = [T0 + 1]
    venue = BinanceVenue(SimMarket(["BTCUSDT"], seed=3, trades_per_second=1.5, intervals=("1s",)),
                         clock=lambda: now[0])
    conn = BinanceConn(None, combined=True, micro=False)
    venue.streams.add(conn, parse_stream("btcusdt@kline_1s"))
    sent: list[dict] = []
    for late_ms in (20, 20, 5_500, 20, 12_345, 1_000, 999, 20):  # steps up to 12 s late
        now[0] += late_ms
        venue.step(now[0])
        sent += [json.loads(f)["data"]["k"] for f in conn.outbox]
        conn.outbox.clear()
    closed = [k["t"] for k in sent if k["x"]]
    last_passed = (now[0] - T0) // 1000 - 1  # bars whose close time the clock passed
    assert closed == [T0 + 1000 * i for i in range(last_passed + 1)]
    status, rows = venue.rest("/api/v3/klines", {"symbol": "BTCUSDT", "interval": "1s", "startTime": str(T0),
                                                  "limit": "1000"})
    assert status == 200
    assert [r[0] for r in rows if r[6] < now[0]] == closed
    by_open = {k["t"]: k for k in sent if k["x"]}
    assert all((r[1], r[4], r[8]) == (by_open[r[0]]["o"], by_open[r[0]]["c"], by_open[r[0]]["n"])
               for r in rows if r[0] in by_open)
