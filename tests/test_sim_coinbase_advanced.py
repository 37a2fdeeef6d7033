"""The simulated Coinbase Advanced Trade feed over real loopback sockets, read by the real client codec."""
from __future__ import annotations

import asyncio
import json
import time
from decimal import Decimal

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from feeds.events import Control, Rejected
from feeds.sim.server import Simulator
from feeds.symbols import SymbolMap
from feeds.venues.coinbase import parse_time_ns
from feeds.venues.coinbase_advanced import CoinbaseAdvancedCodec

DEADLINE = 5.0
VENUES = ("BINANCE", "COINBASE_ADVANCED")


async def recv(ws, timeout: float = DEADLINE) -> tuple[bytes | str, dict]:
    raw = await asyncio.wait_for(ws.recv(), timeout)
    return raw, json.loads(raw)


async def frames_until(ws, pred, timeout: float = DEADLINE) -> list[dict]:
    """Receive frames until ``pred(frame)``; all of them, the matching one last."""
    deadline = time.monotonic() + timeout
    out = []
    while True:
        out.append((await recv(ws, max(0.01, deadline - time.monotonic())))[1])
        if pred(out[-1]):
            return out


def at_connect(sim):
    return connect(sim.ws_url("COINBASE_ADVANCED"), max_queue=4096)


async def subscribe(ws, channel: str, *products: str, kind: str = "subscribe") -> None:
    msg = {"type": kind, "channel": channel}
    if products:
        msg["product_ids"] = list(products)
    await ws.send(json.dumps(msg))


def events_of(frames: list[dict], channel: str) -> list[dict]:
    return [ev for f in frames if f.get("channel") == channel for ev in f["events"]]


async def test_acks_and_data_share_one_contiguous_sequence_per_connection():
    async with Simulator(symbols=("BTCUSDT", "ETHUSDT"), venues=VENUES, speed=10.0) as sim:
        assert sim.ws_url("COINBASE_ADVANCED").endswith("/coinbase-advanced")
        async with at_connect(sim) as ws:
            await subscribe(ws, "heartbeats")
            await subscribe(ws, "ticker", "BTC-USD", "ETH-USD")
            await subscribe(ws, "level2", "BTC-USD")
            frames = await frames_until(ws, lambda f: f.get("channel") == "heartbeats")
            acks = [f for f in frames if f["channel"] == "subscriptions"]
            assert [a["events"][0]["subscriptions"] for a in acks] == [
                {"heartbeats": []},
                {"heartbeats": [], "ticker": ["BTC-USD", "ETH-USD"]},
                {"heartbeats": [], "ticker": ["BTC-USD", "ETH-USD"], "level2": ["BTC-USD"]}]
            assert {f["channel"] for f in frames} >= {"subscriptions", "ticker", "l2_data", "heartbeats"}
            assert [f["sequence_num"] for f in frames] == list(range(len(frames)))
            assert all(f["client_id"] == "" and f["timestamp"].endswith("Z") and len(f["timestamp"]) == 30
                       for f in frames)
            await subscribe(ws, "ticker", kind="unsubscribe")
            more = await frames_until(ws, lambda f: f["channel"] == "subscriptions")
            assert more[-1]["events"][0]["subscriptions"] == {"heartbeats": [], "level2": ["BTC-USD"]}
            assert [f["sequence_num"] for f in more] == list(range(len(frames), len(frames) + len(more)))


async def test_heartbeat_counter_rises_by_one():
    async with Simulator(symbols=("BTCUSDT",), venues=VENUES, speed=20.0) as sim:
        async with at_connect(sim) as ws:
            await subscribe(ws, "heartbeats")
            beats = []
            while len(beats) < 4:
                _, f = await recv(ws)
                if f["channel"] == "heartbeats":
                    beats.append(f["events"][0]["heartbeat_counter"])
            assert all(isinstance(b, int) for b in beats)
            assert beats == list(range(beats[0], beats[0] + 4))


async def test_unknown_and_private_channels_get_authentication_failure():
    async with Simulator(symbols=("BTCUSDT",), venues=VENUES) as sim:
        async with at_connect(sim) as ws:
            for channel in ("user", "no_such_channel"):
                await subscribe(ws, channel, "BTC-USD")
                assert (await recv(ws))[1] == {"type": "error", "message": "authentication failure"}
            await subscribe(ws, "heartbeats")
            _, ack = await recv(ws)
            assert ack["channel"] == "subscriptions" and ack["sequence_num"] == 0  # errors carry no number


async def test_connection_without_a_subscribe_is_closed():
    async with Simulator(symbols=("BTCUSDT",), venues=VENUES) as sim:
        sim.venue("COINBASE_ADVANCED").subscribe_timeout_s = 0.3
        async with at_connect(sim) as ws:
            t0 = time.monotonic()
            with pytest.raises(ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), DEADLINE)
            assert 0.25 < time.monotonic() - t0 < 3.0
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
        # a subscriber within the deadline stays connected past it
        async with at_connect(sim) as ws:
            await subscribe(ws, "heartbeats")
            t0 = time.monotonic()
            while time.monotonic() - t0 < 0.6:
                await recv(ws)


async def test_client_codec_decodes_every_frame_without_rejects_or_gaps():
    codec = CoinbaseAdvancedCodec(SymbolMap())
    kinds: dict[str, int] = {}
    async with Simulator(venues=VENUES, speed=10.0, trades_per_second=40.0) as sim:
        async with at_connect(sim) as ws:
            products = ("BTC-USD", "ETH-USD", "SOL-USD")
            await subscribe(ws, "heartbeats")
            for channel in ("ticker", "market_trades", "candles", "level2"):
                await subscribe(ws, channel, *products)
            n = 0
            while n < 400 or "Candle" not in kinds or "Control:heartbeat" not in kinds:
                raw, _ = await recv(ws)
                n += 1
                for ev in codec.decode(raw, time.time_ns()):
                    assert not isinstance(ev, Rejected), ev
                    name = type(ev).__name__ + (f":{ev.what}" if isinstance(ev, Control) else "")
                    kinds[name] = kinds.get(name, 0) + 1
    assert "Control:gap" not in kinds
    for name in ("Trade", "Quote", "Ticker", "Candle", "BookSnapshot", "BookDelta", "Control:response",
                 "Control:heartbeat"):
        assert kinds.get(name, 0) > 0, (name, kinds)
    assert kinds["BookSnapshot"] == 3


async def test_ticker_best_bid_is_below_best_ask():
    async with Simulator(symbols=("BTCUSDT", "ETHUSDT"), venues=VENUES, speed=10.0) as sim:
        async with at_connect(sim) as ws:
            await subscribe(ws, "ticker", "BTC-USD", "ETH-USD")
            frames = await frames_until(ws, lambda f: f["channel"] == "ticker" and f["events"][0]["type"] == "update")
            while len(frames) < 30:
                frames.append((await recv(ws))[1])
            tickers = [t for ev in events_of(frames, "ticker") for t in ev["tickers"]]
            assert [ev["type"] for ev in events_of(frames, "ticker")][:2] == ["snapshot", "snapshot"]
            assert len(tickers) >= 20
            for t in tickers:
                assert Decimal(t["best_bid"]) < Decimal(t["best_ask"]), t
                assert Decimal(t["low_24_h"]) <= Decimal(t["price"]) <= Decimal(t["high_24_h"])
                assert Decimal(t["best_bid_quantity"]) > 0 and Decimal(t["best_ask_quantity"]) > 0


async def test_l2_data_snapshot_and_updates_keep_the_book_uncrossed():
    async with Simulator(symbols=("BTCUSDT",), venues=VENUES, speed=10.0, trades_per_second=40.0) as sim:
        async with at_connect(sim) as ws:
            await subscribe(ws, "level2", "BTC-USD")
            book = {"bid": {}, "offer": {}}
            updates = 0
            while updates < 40:
                _, f = await recv(ws)
                if f["channel"] != "l2_data":
                    continue
                (ev,) = f["events"]
                assert ev["product_id"] == "BTC-USD"
                if ev["type"] == "snapshot":
                    assert updates == 0 and len(ev["updates"]) == 2 * sim.book_levels
                else:
                    assert book["bid"], "an update before the snapshot"
                    updates += 1
                for row in ev["updates"]:
                    side, price, qty = book[row["side"]], Decimal(row["price_level"]), Decimal(row["new_quantity"])
                    if qty == 0:
                        side.pop(price, None)
                    else:
                        side[price] = qty
                assert max(book["bid"]) < min(book["offer"])


async def test_market_trades_side_is_the_makers_side():
    """The ticker sent with each trade shows the book right after it: a taker buy trades at the ask."""
    async with Simulator(symbols=("BTCUSDT",), venues=VENUES, speed=2.0, trades_per_second=40.0) as sim:
        async with at_connect(sim) as ws:
            await subscribe(ws, "ticker", "BTC-USD")
            await subscribe(ws, "market_trades", "BTC-USD")
            tickers: dict[tuple[str, str], dict] = {}
            trades = []
            checked = 0
            deadline = time.monotonic() + DEADLINE
            while checked < 20 and time.monotonic() < deadline:
                _, f = await recv(ws)
                for ev in f.get("events", ()):
                    if f["channel"] == "ticker" and ev["type"] == "update":
                        t = ev["tickers"][0]
                        tickers[(f["timestamp"], t["price"])] = t
                    elif f["channel"] == "market_trades" and ev["type"] == "update":
                        trades.extend(ev["trades"])
                checked = 0
                for tr in trades:
                    t = tickers.get((tr["time"], tr["price"]))
                    if t is None:
                        continue
                    checked += 1
                    assert isinstance(tr["trade_id"], str) and tr["trade_id"].isdigit()
                    if tr["price"] == t["best_ask"]:
                        assert tr["side"] == "SELL", (tr, t)  # taker bought from a resting sell order
                    else:
                        assert tr["price"] == t["best_bid"] and tr["side"] == "BUY", (tr, t)
            assert checked >= 20
            assert {tr["side"] for tr in trades} == {"BUY", "SELL"}


async def test_forming_candle_equals_the_streamed_trades_of_its_bucket():
    async with Simulator(symbols=("BTCUSDT",), venues=VENUES, speed=300.0, trades_per_second=2.0) as sim:
        async with at_connect(sim) as ws:
            t_sub = sim.now_ms()
            await subscribe(ws, "market_trades", "BTC-USD")
            await subscribe(ws, "candles", "BTC-USD")
            bucket = (t_sub // 300_000 + 1) * 300  # the first 5-minute bucket that starts after subscribing
            trades: list[dict] = []
            compared = 0
            deadline = time.monotonic() + 10.0
            while True:
                _, f = await recv(ws, max(0.01, deadline - time.monotonic()))
                if f["channel"] == "market_trades" and f["events"][0]["type"] == "update":
                    trades.extend(f["events"][0]["trades"][::-1])  # newest first on the wire
                if f["channel"] != "candles" or f["events"][0]["type"] != "update":
                    continue
                (candle,) = f["events"][0]["candles"]
                assert candle["product_id"] == "BTC-USD"
                start = int(candle["start"])
                if start < bucket:
                    continue
                if start > bucket:
                    break
                lo, hi = start * 10**9, (start + 300) * 10**9
                mine = [tr for tr in trades if lo <= parse_time_ns(tr["time"]) < hi]
                prices = [Decimal(tr["price"]) for tr in mine]
                assert mine, candle
                assert Decimal(candle["open"]) == prices[0] and Decimal(candle["close"]) == prices[-1]
                assert Decimal(candle["high"]) == max(prices) and Decimal(candle["low"]) == min(prices)
                assert Decimal(candle["volume"]) == sum(Decimal(tr["size"]) for tr in mine)
                compared += 1
            assert compared >= 5

