"""Paper trading through the real replay path: a fixed recording gives a fill list and P&L that this test
works out on its own from the market it watched, and identical ``paper`` statistics on every replay,
also after seeking back (the app's seek, which rebuilds the session)."""
from __future__ import annotations

import asyncio
from pathlib import Path

import orjson
import pytest

from feeds.events import BookDelta, BookSnapshot, Quote, Trade
from strategy.risk import APPROVED
from tui.runtime.replay_runner import ReplayRunner

FIXTURE = Path(__file__).parent / "fixtures" / "app_session.jsonl.gz"
FEES_BPS = {"BINANCE": 10.0, "COINBASE": 60.0}  # the venues' base taker tiers (the session's defaults)


def watched_replay(paths: list[str]):
    """Replay at full speed while a listener of the test's own notes, after each event the executor saw,
    the book (or quote) of that venue symbol, the halt state and the decisions made so far."""
    runner = ReplayRunner(paths, speed=None)
    session = runner.session
    timeline: list[tuple] = []
    quotes: dict = {}

    def watch(ev) -> None:
        t = type(ev)
        if t is Quote:
            quotes[(ev.venue, ev.symbol)] = (ev.bid, ev.ask)
        if t not in (Trade, Quote, BookDelta, BookSnapshot):
            return
        key = (ev.venue, ev.symbol)
        sync = session.feed.books.syncs.get(key)
        depth = None
        if sync is not None and sync.state == "synced" and not sync.book.is_crossed():
            depth = sync.book.top(50)
        timeline.append((ev.recv_ns, key, ev.price if t is Trade else None, depth, quotes.get(key),
                         session.halt.halted, len(session.signal_log.entries)))

    session.pipeline.event_listeners.append(watch)  # after the executor's: it sees the same book

    async def play():
        await runner.start()
        await asyncio.wait_for(runner.finished.wait(), 60)
        await runner.stop()

    asyncio.run(play())
    return session, timeline


def vwap(levels, size):
    left, cost, price = size, 0.0, 0.0
    for price, available in levels:
        take = min(left, available)
        cost += take * price
        left -= take
        if left <= 0:
            return cost / size
    return (cost + left * price) / size


def expected_fills(decisions, timeline, latency_ns=50_000_000, slippage=1e-4):
    """The documented fill model, written again from the README's description: taker orders at the
    first event of their venue symbol at or after signal receive time + latency, walking the synced
    book (else the quote's touch), 1 bp against; stops and takes on trades, exits taker too."""
    orders = []  # [active_ns, key, side, size, kind, stop_d, take_d]
    pos: dict = {}  # key -> [size, avg, stop, take, exiting]
    fills = []
    seen_decisions = 0
    for recv, key, trade_price, depth, quote, halted, n_decisions in timeline:
        while seen_decisions < n_decisions:
            d = decisions[seen_decisions]
            seen_decisions += 1
            if d.status == APPROVED:
                s = d.signal
                orders.append([s.recv_ns + latency_ns, (s.venue, s.symbol), "buy" if s.side == "long" else "sell",
                               d.size, "signal", s.stop_distance, s.take_distance])
        for order in [o for o in orders if o[1] == key and o[0] <= recv]:
            active, _, side, size, kind, stop_d, take_d = order
            if kind == "signal" and halted:
                orders.remove(order)
                continue
            p = pos.setdefault(key, [0.0, 0.0, 0.0, 0.0, False])
            held = p[0]
            if kind == "signal":
                qty = size + (abs(held) if (held < 0 if side == "buy" else held > 0) else 0.0)
            else:
                qty = abs(held)
            if depth is not None and (depth[1] if side == "buy" else depth[0]):
                price = vwap(depth[1] if side == "buy" else depth[0], qty)
            elif quote is not None:
                price = quote[1] if side == "buy" else quote[0]
            else:
                continue
            orders.remove(order)
            if kind != "signal":
                p[4] = False
            if qty == 0:
                continue
            price *= (1 + slippage) if side == "buy" else (1 - slippage)
            signed = qty if side == "buy" else -qty
            closing = min(qty, abs(held)) if held * signed < 0 else 0.0
            realised = closing * (price - p[1]) * (1 if held > 0 else -1)
            new = held + signed
            if abs(new) < 1e-12:
                p[:4] = [0.0, 0.0, 0.0, 0.0]
            elif held * signed > 0:
                p[1] = (p[1] * abs(held) + price * qty) / abs(new)
                p[0] = new
            elif closing < qty:
                p[0], p[1] = new, price
            if kind == "signal":
                long = p[0] > 0
                p[2] = price - stop_d if long else price + stop_d
                p[3] = price + take_d if long else price - take_d
            fills.append((recv, key, side, qty, price, qty * price * FEES_BPS[key[0]] * 1e-4, realised))
        p = pos.get(key)
        if trade_price is not None and p is not None and p[0] and not p[4] and p[2]:
            size, _, stop, take, _ = p
            if size > 0:
                hit = trade_price <= stop or trade_price >= take
            else:
                hit = trade_price >= stop or trade_price <= take
            if hit:
                p[4] = True
                orders.append([recv + latency_ns, key, "sell" if size > 0 else "buy", abs(size), "exit", 0, 0])
    return fills, pos


@pytest.fixture(scope="module")
def replayed():
    return watched_replay([str(FIXTURE)])


def test_replayed_fills_and_pnl_match_the_fill_model_worked_out_independently(replayed):
    session, timeline = replayed
    decisions = list(session.signal_log)
    assert sum(d.status == APPROVED for d in decisions) >= 5  # enough trading to mean something
    want, positions = expected_fills(decisions, timeline)
    got = [(f.at_ns, (f.venue, f.symbol), f.side, f.size, f.price, f.fee, f.realised_pnl) for f in session.paper.fills]
    assert len(want) >= 10
    assert [g[:3] for g in got] == [w[:3] for w in want]
    for g, w in zip(got, want):
        assert g[3:] == pytest.approx(w[3:], rel=1e-9, abs=1e-9)
    stats = session.stats()["paper"]
    assert stats["fills"] == len(want)
    assert stats["fees"] == pytest.approx(sum(w[5] for w in want), abs=1e-5)
    assert stats["realised_pnl"] == pytest.approx(sum(w[6] for w in want), abs=1e-5)
    open_size = {f"{v}:{s}": p[0] for (v, s), p in positions.items()}
    assert {k: p["position"] for k, p in stats["positions"].items()} == pytest.approx(open_size, abs=1e-9)
    # Every fill reached the venue no earlier than its latency allows.
    approved = [d.signal.recv_ns for d in decisions if d.status == APPROVED]
    entries = [f for f in session.paper.fills if f.reason in ("entry", "reverse", "add")]
    assert all(f.at_ns >= t + 50_000_000 for f, t in zip(entries, approved))


def test_two_replays_give_byte_equal_paper_statistics(replayed):
    first, _ = replayed
    second, _ = watched_replay([str(FIXTURE)])
    a = orjson.dumps(first.stats()["paper"])
    assert a == orjson.dumps(second.stats()["paper"])
    assert first.stats()["paper"]["fills"] > 0


def breach_replay(limit: float):
    runner = ReplayRunner([str(FIXTURE)], speed=None)
    runner.config.risk = {"daily_loss_limit": limit}
    runner._new_session()  # the session a seek would build, now with the tighter limit

    async def play():
        await runner.start()
        await asyncio.wait_for(runner.finished.wait(), 60)
        await runner.stop()

    asyncio.run(play())
    return runner.session


def test_a_daily_loss_breach_in_a_replay_halts_trading_with_the_breach_as_its_cause():
    session = breach_replay(40.0)
    stats = session.stats()
    causes = [h["cause"] for h in stats["halts"]]
    breach = [c for c in causes if c.startswith("risk limit breached: max loss per day")]
    assert len(breach) == 1 and stats["paper"]["breaches"] == breach
    record = next(r for r in session.halt.history if r.cause == breach[0])
    assert record.by == "auto" and record.action == "halt"
    # The loss at the breach, worked out from the fills before it: realised minus fees (flat by then).
    before = [f for f in session.paper.fills if f.at_ns <= record.at_ns]
    lost = -sum(f.realised_pnl - f.fee for f in before)
    assert lost >= 40.0 and f"lost {lost:.2f} today" in breach[0]
    # No new paper order after the breach (unless an operator resumed): later signals are suppressed.
    later = [d for d in session.signal_log if d.signal.decided_ns > record.at_ns]
    resumed = any(r.action == "resume" and r.at_ns > record.at_ns for r in session.halt.history)
    if not resumed:
        assert later and all(d.status != "APPROVED" for d in later)
        assert all(f.at_ns <= record.at_ns for f in session.paper.fills)
    # And the breach is recomputed the same way on a second replay.
    assert orjson.dumps(breach_replay(40.0).stats()["paper"]) == orjson.dumps(stats["paper"])
