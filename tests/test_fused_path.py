"""The pipeline's fused per-stream path (a combined stream's frames decoded and applied by what was bound once
for that stream) must be observably the general path: same counts, rejections, duplicates, gaps, state and
listener calls, over real captures and a corpus with bad, repeated, reordered and lying frames."""
from __future__ import annotations

import gzip
import random
from pathlib import Path
from typing import Any

import orjson
import pytest
from msgspec.structs import astuple

from feeds.clock import ManualClock
from feeds.core.pipeline import Pipeline
from feeds.drivers.replay import read_cryptofeed
from feeds.symbols import SymbolMap
from feeds.venues import VENUES
from tests.capture_files import PACKED, capture_dir
from tui.bench.corpus import binance_corpus

T0_MS = 1_700_000_000_000
CONN = "BINANCE#1"


def _agg(stream: str, symbol: str, a: int) -> str:
    return orjson.dumps({"stream": stream, "data": {"e": "aggTrade", "E": T0_MS, "s": symbol, "a": a, "p": "100.5",
                                                    "q": "0.1", "f": a, "l": a, "T": T0_MS, "m": True}}).decode()


def _pipeline(symbols: set[str] | None) -> Pipeline:
    p = Pipeline(ManualClock(T0_MS * 1_000_000), interval="1m")
    p.attach(CONN, "BINANCE", VENUES["BINANCE"].make_codec(SymbolMap()), symbols)
    return p


def test_a_payload_naming_another_symbol_than_its_stream_is_decided_by_the_payload() -> None:
    p = _pipeline({"BTCUSDT"})
    now = T0_MS * 1_000_000
    p.feed(CONN, _agg("btcusdt@aggTrade", "BTCUSDT", 1), now)
    p.feed(CONN, _agg("btcusdt@aggTrade", "ETHUSDT", 2), now)  # the subscribed stream lies about its symbol
    p.feed(CONN, _agg("ethusdt@aggTrade", "BTCUSDT", 3), now)  # a stream never subscribed carries a subscribed symbol
    assert p.rejected == {"unexpected_symbol": 1}
    assert p.recent_rejections[0][1].symbol == "ETHUSDT"
    assert ("BINANCE", "ETHUSDT") not in p.state.symbols
    btc = p.state.symbols["BINANCE", "BTCUSDT"]
    assert btc.trades == 2 and btc.last_trade.trade_id == 3  # type: ignore[union-attr]


def test_a_new_subscription_decides_each_bound_stream_again() -> None:
    p = _pipeline({"BTCUSDT"})
    now = T0_MS * 1_000_000
    p.feed(CONN, _agg("btcusdt@aggTrade", "BTCUSDT", 1), now)
    p.set_symbols("BINANCE", {"ETHUSDT"})
    p.feed(CONN, _agg("btcusdt@aggTrade", "BTCUSDT", 2), now)
    p.set_symbols("BINANCE", {"BTCUSDT"})
    p.feed(CONN, _agg("btcusdt@aggTrade", "BTCUSDT", 3), now)
    assert p.rejected == {"unexpected_symbol": 1}
    assert p.state.symbols["BINANCE", "BTCUSDT"].trades == 2


def _spoil(raw: str, rng: random.Random) -> str:
    """One of the ways a frame goes wrong: a field missing, of another type, out of range, or the frame cut."""
    m = orjson.loads(raw)
    d = m["data"]
    how = rng.randrange(9)
    if how == 0:
        return raw[: rng.randrange(len(raw))]
    if how == 1:
        d.pop(rng.choice(list(d)))
    elif how == 2:
        d[rng.choice(list(d))] = rng.choice([None, "x", 1.5, True, "7", [], "-3"])
    elif how == 3:
        d["s"] = rng.choice(["ETHUSDT", "NOPEUSDT", "btcusdt", ""])
    elif how == 4:
        m["stream"] = rng.choice(["ethusdt@aggTrade", "solusdt@bookTicker", "xrpusdt@kline_1s", "", "@depth"])
    elif how == 5 and "p" in d:
        d["p"] = rng.choice(["1e9", "0.0000001", "-1", "0"])
    elif how == 6 and "E" in d:
        d["E"] += 3_600_000  # an hour in the future
    elif how == 7 and d.get("e") == "aggTrade":
        d["a"] += rng.choice([-2, 0, 50])  # an old id again, a repeat, a gap
    elif how == 8 and "u" in d:
        d["u"] -= rng.choice([0, 1, 5_000_000])  # the same update again, a late one, ids restarted
    elif "k" in d:
        d["k"][rng.choice(["o", "h", "l", "c", "x", "t"])] = rng.choice(["-1", "x", 2, None])
    return orjson.dumps(m).decode()


def _observe(p: Pipeline) -> list[Any]:
    log: list[Any] = []
    p.event_listeners.append(lambda ev: log.append(("event", ev)))
    p.rejection_listeners.append(lambda conn, ev: log.append(("rejected", conn, ev)))
    p.integrity_listeners.append(lambda kind, ev, cause: log.append((kind, ev, cause)))
    p.closed_candle_listeners.append(lambda ev: log.append(("closed", ev)))
    p.control_listeners.append(lambda conn, ev: log.append(("control", conn, ev)))
    p.guard.on_gap = lambda ev, first, last: log.append(("trade_gap", ev, first, last))
    return log


def _outcome(p: Pipeline, log: list[Any]) -> Any:
    states = {key: (s.messages, s.trades, s.volume, s.last_recv_ns, s.last_exch_ns, s.version, s.last_trade, s.quote,
                    {i: (c.bars, c.forming, c.version) for i, c in s.candles.items()})
              for key, s in p.state.symbols.items()}
    seen = {key: (w.exch_ns, w.recv_ns, w.exch_changed_ns) for key, w in p.watchdog.streams.items()}
    return (p.events, p.rejected, p.duplicates, p.gaps, p.guard.gaps, p.guard.late_fills, p.stale_updates,
            p.bar_gaps, states, seen, log)


def _symbols(frames: list[tuple[str, str | bytes, int]]) -> set[str]:
    out = set()
    for _, raw, _ in frames:
        try:
            out.add(orjson.loads(raw)["data"]["s"])
        except Exception:  # noqa: BLE001, S112 - replies, cut frames
            continue
    return out


def _compare(venue: str, frames: list[tuple[str, str | bytes, int]], symbols: set[str] | None) -> Pipeline:
    """Frames fed through ``feed`` (the fused path where there is one) and through the codec and ``apply_all``."""
    fused, general = Pipeline(ManualClock(0)), Pipeline(ManualClock(0))
    for p in (fused, general):
        for symbol in _symbols(frames):
            p.watchdog.expect(venue, str(symbol), "candle", 0)  # watched: its candles' times are recorded
    logs = _observe(fused), _observe(general)
    codec = VENUES[venue].make_codec(SymbolMap())
    for conn in {c for c, _, _ in frames}:
        fused.attach(conn, venue, VENUES[venue].make_codec(SymbolMap()), symbols)
        general.attach(conn, venue, codec, symbols)
    for conn, raw, recv_ns in frames:
        fused.clock.set(recv_ns)  # type: ignore[attr-defined]
        general.clock.set(recv_ns)  # type: ignore[attr-defined]
        fused.feed(conn, raw, recv_ns)
        general.apply_all(codec.decode(raw, recv_ns), conn, recv_ns)
    assert _outcome(fused, logs[0]) == _outcome(general, logs[1])
    assert fused.messages == len(frames)
    return fused


def test_the_fused_path_applies_a_spoiled_corpus_as_the_general_path_does() -> None:
    corpus = binance_corpus(6000, 6, rate=2000.0, interval="1s", seed=3)
    rng = random.Random(5)
    frames: list[tuple[str, str | bytes, int]] = []
    for raw, recv_ns in zip(corpus.frames, corpus.recv_ns):
        if rng.random() < 0.2:
            raw = _spoil(raw, rng)
        frames.append((CONN, raw if rng.random() < 0.5 else raw.encode(), recv_ns))
        if rng.random() < 0.03:
            frames.append(frames[rng.randrange(max(0, len(frames) - 20), len(frames))])  # sent again, or late
    everything = _compare("BINANCE", frames, None)
    some = _compare("BINANCE", frames, set(corpus.symbols[:4]))
    # the comparison saw every kind of refusal, not only clean frames
    assert {"bad_field", "bad_price", "future_time", "malformed_json", "missing_field", "price_outlier",
            "unknown_event"} <= set(everything.rejected)
    assert everything.duplicates > 50 and everything.stale_updates > 5 and everything.guard.gaps > 5
    assert everything.events["candle_closed"] > 5
    assert some.rejected["unexpected_symbol"] > 1000


def test_the_fused_path_applies_the_real_and_simulated_captures_as_the_general_path_does(tmp_path: Path) -> None:
    for name in ("BINANCE_FUTURES.0", "BINANCE_FUTURES.ws.1.0"):  # the simulator's futures capture
        with gzip.open(PACKED / "sim" / f"{name}.gz", "rb") as src:
            (tmp_path / name).write_bytes(src.read())
    for prefix, venue in ((capture_dir() / "BINANCE", "BINANCE"), (tmp_path / "BINANCE_FUTURES", "BINANCE_FUTURES")):
        _, stream = read_cryptofeed(str(prefix))
        frames = [(r.conn, r.payload, r.recv_ns) for r in stream if r.kind == "recv"]
        stream.close()
        assert len(frames) > 150
        _compare(venue, frames, None)
        _compare(venue, frames, set(sorted(_symbols(frames))[::2]))


def _depth(symbol: str, first: object, last: object, bids: list[list[object]], asks: list[list[object]],
           e_time: object = T0_MS, prev: object = None) -> str:
    data = {"e": "depthUpdate", "E": e_time, "s": symbol, "U": first, "u": last, "b": bids, "a": asks}
    if prev is not None:  # futures chain each diff to the one before
        data |= {"T": e_time, "pu": prev}
    return orjson.dumps({"stream": f"{symbol.lower()}@depth@100ms", "data": data}).decode()


def _same(a: object, b: object) -> bool:
    """Equal, where nan equals nan (and -0.0 equals 0.0, as numbers: msgspec reads "-0" as 0.0, float() as -0.0)."""
    if isinstance(a, tuple) and isinstance(b, tuple):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return a == b or (a != a and b != b)


@pytest.mark.parametrize("venue", ["BINANCE", "BINANCE_FUTURES"])
def test_the_typed_depth_reader_takes_only_what_the_field_checks_take_and_reads_it_alike(venue: str) -> None:
    # The typed depth reader lets msgspec parse the levels (lax). Text that float() reads but msgspec may not
    # ("1_0", " 1"), JSON numbers, bools, nulls, and ids sent as text or floats: whatever the reader takes must be
    # what the untyped handler (the field checks that name a bad field) makes of it; what it refuses, the
    # general path decodes again.
    codec = VENUES[venue].make_codec(SymbolMap())
    route = codec.stream_reader("btcusdt@depth@100ms")  # type: ignore[attr-defined]
    read, handler = route[-1], codec._by_event["depthUpdate"]  # type: ignore[attr-defined]
    odd: list[object] = ["1.5", "nan", "inf", "1_0", " 1", "1e3", "1e400", "", "0x10", 1, 2.5, True, None, "-0"]
    taken = refused = 0
    for value in odd:
        for first, last, prev in ((1, 2, 0), ("3", 4, 2), (5, 6.0, 4), (7, True, 6), (9, 10, "8")):
            raw = _depth("BTCUSDT", first, last, [["100.5", value]], [[value, "2"]],
                         prev=None if venue == "BINANCE" else prev)
            try:
                got = read(codec.envelope(raw).data, 5)  # type: ignore[attr-defined]
            except ValueError:  # msgspec's DecodeError / ValidationError
                got = None
            try:
                want = handler(orjson.loads(raw)["data"], 5)
            except (ValueError, TypeError):
                want = None
            if got is None:
                refused += 1
            else:
                taken += 1
                assert want is not None and len(want) == 1 and _same(astuple(want[0]), astuple(got))
    assert taken >= 6 and refused >= 30
