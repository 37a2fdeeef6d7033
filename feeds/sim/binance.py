"""Binance spot market-data protocol on top of SimMarket (protocols.md section 1).

WebSocket: ``/ws/<s1>/<s2>`` (raw frames), ``/ws``, ``/stream?streams=<s1>/<s2>`` and ``/stream``
(frames wrapped as ``{"stream":..,"data":..}`` while the ``combined`` property is true), live
SUBSCRIBE / UNSUBSCRIBE / LIST_SUBSCRIPTIONS / SET_PROPERTY / GET_PROPERTY with Binance's replies and
its wrapped error form, ``timeUnit=MICROSECOND``, at most ``max_incoming_per_s`` inbound messages per
second (else close 1008; pings are answered by the library and not counted) and ``max_streams`` streams.
Streams: ``trade``, ``aggTrade``, ``bookTicker``, ``kline_<i>`` (updates every 1 s for 1s bars, 2 s
otherwise, plus one ``x:true`` frame per closed bar), ``ticker`` / ``miniTicker`` (1 s), diff depth
``depth`` / ``depth@100ms`` and partial depth ``depth5|10|20[@100ms]``.
REST: ``/api/v3/klines`` (and ``uiKlines``), ``/api/v3/depth``, ``/api/v3/exchangeInfo``, ``/api/v3/time``,
``/api/v3/ping``, ``/api/v3/ticker/bookTicker``.

Closed klines on the stream and REST rows are rendered from the same SimMarket ``Kline`` objects, and
diff-depth events cover every book update id, so a REST depth snapshot always lines up with the stream.
"""
from __future__ import annotations

import asyncio
import re
import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple

import orjson
from websockets.asyncio.server import ServerConnection

from .faults import Stalls
from .market import INTERVAL_MS, Kline, SimMarket, SimSymbol
from .server import SimConn, Venue, encode_text_frames, send_frames, send_wire

if TYPE_CHECKING:
    from .server import Simulator

dumps = orjson.dumps

METHODS = ("SUBSCRIBE", "UNSUBSCRIBE", "LIST_SUBSCRIPTIONS", "SET_PROPERTY", "GET_PROPERTY")
_STREAM_RE = re.compile(
    r"([a-z0-9]+)@(trade|aggTrade|bookTicker|ticker|miniTicker|kline_([0-9]+[smhdwM])|depth(5|10|20)?(@100ms)?)\Z")
_ID_RE = re.compile(r"[A-Za-z0-9]{1,36}\Z")


class StreamSpec(NamedTuple):
    name: str
    symbol: str  # upper case, as in payloads
    kind: str  # trade, aggTrade, bookTicker, ticker, miniTicker, kline, depth, partial
    interval: str = ""
    levels: int = 0
    fast: bool = False  # @100ms


def parse_stream(name: Any) -> StreamSpec | None:
    """A valid stream name -> its spec; anything else -> None. Unknown symbols are valid (no data)."""
    if not isinstance(name, str):
        return None
    m = _STREAM_RE.match(name)
    if m is None:
        return None
    symbol, kind, interval, levels, fast = m.group(1).upper(), m.group(2), m.group(3), m.group(4), m.group(5)
    if interval is not None:
        return StreamSpec(name, symbol, "kline", interval) if interval in INTERVAL_MS else None
    if kind.startswith("depth"):
        return StreamSpec(name, symbol, "partial" if levels else "depth", "", int(levels or 0), bool(fast))
    return StreamSpec(name, symbol, kind)


# payloads -------------------------------------------------------------------------------------------
def px(sym: SimSymbol, ticks: int) -> str:
    return f"{ticks * sym.tick:.8f}"


def qty(sym: SimSymbol, lots: int) -> str:
    return f"{lots * sym.step:.8f}"


def kline_body(k: Kline, sym: SimSymbol) -> dict[str, Any]:
    return {"t": k.open_time, "T": k.close_time, "s": k.symbol, "i": k.interval, "f": k.first_id,
            "L": k.last_id, "o": px(sym, k.open), "c": px(sym, k.close), "h": px(sym, k.high),
            "l": px(sym, k.low), "v": qty(sym, k.volume), "n": k.trades, "x": k.closed,
            "q": f"{k.quote_volume:.8f}", "V": qty(sym, k.taker_volume), "Q": f"{k.taker_quote:.8f}",
            "B": "0"}


def kline_row(k: Kline, sym: SimSymbol) -> list[Any]:
    """The 12-element REST row."""
    return [k.open_time, px(sym, k.open), px(sym, k.high), px(sym, k.low), px(sym, k.close),
            qty(sym, k.volume), k.close_time, f"{k.quote_volume:.8f}", k.trades, qty(sym, k.taker_volume),
            f"{k.taker_quote:.8f}", "0"]


def _levels(sym: SimSymbol, pairs: list[tuple[int, int]]) -> list[list[str]]:
    return [[px(sym, p), qty(sym, q)] for p, q in pairs]


def _to_micro(payload: dict[str, Any]) -> dict[str, Any]:
    out = dict(payload)
    for key in ("E", "T", "O", "C"):
        if type(out.get(key)) is int:
            out[key] *= 1000
    k = out.get("k")
    if k is not None:
        out["k"] = k = dict(k)
        k["t"] *= 1000
        k["T"] *= 1000
    return out


class DiffAcc:
    """Book changes waiting for the next diff-depth event of one stream (latest size per level)."""

    __slots__ = ("first", "last", "bids", "asks", "drop_next")

    def __init__(self) -> None:
        self.first = 0
        self.last = 0
        self.bids: dict[int, int] = {}
        self.asks: dict[int, int] = {}
        self.drop_next = False

    def add(self, changes: list[tuple[int, bool, int, int]]) -> None:
        if not self.first:
            self.first = changes[0][0]
        bids, asks = self.bids, self.asks
        for _, is_bid, p, q in changes:
            if is_bid:
                bids[p] = q
            else:
                asks[p] = q
        self.last = changes[-1][0]

    def take(self, sym: SimSymbol, now_ms: int) -> dict[str, Any]:
        bids = sorted(self.bids.items(), reverse=True)
        asks = sorted(self.asks.items())
        body = {"e": "depthUpdate", "E": now_ms, "s": sym.name, "U": self.first, "u": self.last,
                "b": _levels(sym, bids), "a": _levels(sym, asks)}
        self.reset()
        return body

    def reset(self) -> None:
        self.first = self.last = 0
        self.bids = {}
        self.asks = {}


class BinanceConn(SimConn):
    def __init__(self, ws: ServerConnection | None, combined: bool, micro: bool) -> None:
        super().__init__(ws)
        self.streams: dict[str, StreamSpec] = {}  # insertion-ordered: LIST_SUBSCRIPTIONS order
        self.combined = combined
        self.micro = micro
        self.plain = not combined and not micro
        self.recent: deque[float] = deque()  # monotonic times of recent inbound messages

    def set_combined(self, value: bool) -> None:
        self.combined = value
        self.plain = not value and not self.micro


class BinanceStreams:
    """Subscriptions of one market and the fan-out of each step's data to them."""

    diff_acc = DiffAcc  # what accumulates a diff-depth stream's changes (futures chains them by pu)

    def __init__(self, market: SimMarket) -> None:
        self.market = market
        self.subs: dict[str, list[BinanceConn]] = {}
        self.timed: dict[str, StreamSpec] = {}  # subscribed streams sent on a cadence
        self.diffs: dict[str, DiffAcc] = {}  # subscribed diff-depth streams
        self.stalls = Stalls()
        self.last_ms: int | None = None
        self.names = {s: (f"{s.lower()}@trade", f"{s.lower()}@aggTrade", f"{s.lower()}@bookTicker")
                      for s in market.symbols}
        self.kline_names: dict[tuple[str, str], str] = {}

    def add(self, conn: BinanceConn, spec: StreamSpec) -> None:
        if spec.name in conn.streams:
            return
        conn.streams[spec.name] = spec
        self.subs.setdefault(spec.name, []).append(conn)
        if spec.kind == "kline" and spec.symbol in self.market.symbols:
            self.market.ensure_interval(spec.interval)
        if spec.kind in ("kline", "ticker", "miniTicker", "partial", "depth"):
            self.timed[spec.name] = spec
        if spec.kind == "depth" and spec.name not in self.diffs:
            self.diffs[spec.name] = self.diff_acc()

    def remove(self, conn: BinanceConn, name: str) -> None:
        if conn.streams.pop(name, None) is None:
            return
        conns = self.subs[name]
        conns.remove(conn)
        if not conns:
            del self.subs[name]
            self.timed.pop(name, None)
            self.diffs.pop(name, None)

    def emit(self, name: str, conns: list[BinanceConn], payload: dict[str, Any]) -> None:
        raw = dumps(payload)
        wrapped = None
        variants: dict[bool, bytes] | None = None
        for c in conns:
            if c.muted:
                continue
            if c.plain:
                c.push(raw)
            elif not c.micro:
                if wrapped is None:
                    wrapped = b'{"stream":"%s","data":%s}' % (name.encode(), raw)
                c.push(wrapped)
            else:
                if variants is None:
                    variants = {}
                f = variants.get(c.combined)
                if f is None:
                    f = dumps(_to_micro(payload))
                    if c.combined:
                        f = b'{"stream":"%s","data":%s}' % (name.encode(), f)
                    variants[c.combined] = f
                c.push(f)

    def step(self, now_ms: int) -> None:
        m = self.market
        trades = m.step(now_ms)
        assert m.now_ms is not None  # step() starts the market clock
        now_ms = m.now_ms
        last = now_ms if self.last_ms is None else self.last_ms
        self.last_ms = now_ms
        subs = self.subs
        if not subs:
            return
        all_stalled, stalled = self.stalls.current()
        if all_stalled:
            for acc in self.diffs.values():
                acc.reset()  # withheld changes are lost: the client sees a gap afterwards
            return
        symbols, names, emit = m.symbols, self.names, self.emit

        for tr in trades:
            tname, aname, _ = names[tr.symbol]
            tconns, aconns = subs.get(tname), subs.get(aname)
            if not (tconns or aconns) or tr.symbol in stalled:
                continue
            sym = symbols[tr.symbol]
            p, q = f"{tr.price * sym.tick:.8f}", f"{tr.qty * sym.step:.8f}"
            if tconns:
                emit(tname, tconns, {"e": "trade", "E": now_ms, "s": tr.symbol, "t": tr.trade_id, "p": p,
                                     "q": q, "T": tr.time, "m": tr.buyer_maker, "M": True})
            if aconns:
                emit(aname, aconns, {"e": "aggTrade", "E": now_ms, "s": tr.symbol, "a": tr.agg_id, "p": p,
                                     "q": q, "f": tr.trade_id, "l": tr.trade_id, "T": tr.time,
                                     "m": tr.buyer_maker, "M": True})

        for sname, (_, _, bname) in names.items():
            conns = subs.get(bname)
            if conns and sname not in stalled:
                sym = symbols[sname]
                tick, step = sym.tick, sym.step
                for uid, b, bq, a, aq in sym.tops:
                    emit(bname, conns, {"u": uid, "s": sname, "b": f"{b * tick:.8f}", "B": f"{bq * step:.8f}",
                                        "a": f"{a * tick:.8f}", "A": f"{aq * step:.8f}"})

        timed = self.timed
        for name, acc in self.diffs.items():
            dsym = symbols.get(timed[name].symbol)
            if dsym is not None and dsym.changes:
                acc.add(dsym.changes)

        just_closed: set[str] = set()
        for k in m.closed:
            key = (k.symbol, k.interval)
            kname = self.kline_names.get(key)
            if kname is None:
                kname = self.kline_names[key] = f"{k.symbol.lower()}@kline_{k.interval}"
            conns = subs.get(kname)
            if conns and k.symbol not in stalled:
                emit(kname, conns, {"e": "kline", "E": now_ms, "s": k.symbol, "k": kline_body(k, symbols[k.symbol])})
                just_closed.add(kname)

        if now_ms // 100 != last // 100:
            self._cadence(now_ms, now_ms // 1000 != last // 1000, now_ms // 2000 != last // 2000,
                          stalled, just_closed)

    def _cadence(self, now_ms: int, sec: bool, two_sec: bool, stalled: frozenset[str],
                 just_closed: set[str]) -> None:
        symbols, subs, m = self.market.symbols, self.subs, self.market
        for name, spec in self.timed.items():
            kind = spec.kind
            if kind in ("depth", "partial"):
                if not (spec.fast or sec):
                    continue
            elif kind == "kline":
                if not (two_sec or (sec and spec.interval == "1s")) or name in just_closed:
                    continue
            elif not sec:
                continue
            sym = symbols.get(spec.symbol)
            if sym is None:
                continue
            if kind == "depth":
                acc = self.diffs[name]
                if not acc.first:
                    continue
                if acc.drop_next or spec.symbol in stalled:
                    acc.drop_next = False
                    acc.reset()
                    continue
                self.emit(name, subs[name], acc.take(sym, now_ms))
                continue
            if spec.symbol in stalled:
                continue
            if kind == "kline":
                k = sym.series[spec.interval].current
                payload = {"e": "kline", "E": now_ms, "s": sym.name, "k": kline_body(k, sym)}
            elif kind == "partial":
                uid, bids, asks = m.depth(sym.name, spec.levels)
                payload = {"lastUpdateId": uid, "bids": _levels(sym, bids), "asks": _levels(sym, asks)}
            else:
                payload = ticker_payload(m, sym, now_ms, kind == "miniTicker")
            self.emit(name, subs[name], payload)


def ticker_payload(m: SimMarket, sym: SimSymbol, now_ms: int, mini: bool) -> dict[str, Any]:
    t = m.ticker(sym.name, now_ms)
    if mini:
        return {"e": "24hrMiniTicker", "E": now_ms, "s": sym.name, "c": px(sym, t["last"]),
                "o": px(sym, t["open"]), "h": px(sym, t["high"]), "l": px(sym, t["low"]),
                "v": qty(sym, t["volume"]), "q": f"{t['quote_volume']:.8f}"}
    b, bq, a, aq = sym.best()
    change = (t["last"] - t["open"]) * sym.tick
    open_px = t["open"] * sym.tick
    vwap = t["quote_volume"] / (t["volume"] * sym.step) if t["volume"] else t["last"] * sym.tick
    return {"e": "24hrTicker", "E": now_ms, "s": sym.name, "p": f"{change:.8f}",
            "P": f"{100.0 * change / open_px:.3f}", "w": f"{vwap:.8f}", "x": px(sym, t["prev_close"]),
            "c": px(sym, t["last"]), "Q": qty(sym, t["last_qty"]), "b": px(sym, b), "B": qty(sym, bq),
            "a": px(sym, a), "A": qty(sym, aq), "o": px(sym, t["open"]), "h": px(sym, t["high"]),
            "l": px(sym, t["low"]), "v": qty(sym, t["volume"]), "q": f"{t['quote_volume']:.8f}",
            "O": t["open_time"], "C": t["close_time"], "F": t["first_id"], "L": t["last_id"], "n": t["count"]}


# control messages -------------------------------------------------------------------------------------
def _error(code: int, msg: str, rid: Any = None) -> dict[str, Any]:
    return {"error": {"code": code, "msg": msg}, "id": rid}


def _line_col(text: str, pos: int) -> tuple[int, int]:
    line = text.count("\n", 0, pos) + 1
    return line, pos - (text.rfind("\n", 0, pos) + 1) + 1


def _method_error(text: str, method: Any) -> dict[str, Any]:
    if method is None:
        line, col = _line_col(text, len(text.rstrip()))
        return _error(2, f"Invalid request: missing field `method` at line {line} column {col}")
    token = orjson.dumps(method).decode()
    pos = text.find(token, max(0, text.find('"method"')))
    line, col = _line_col(text, pos + len(token) if pos >= 0 else len(text))
    expected = ", ".join(f"`{m}`" for m in METHODS)
    shown = method if isinstance(method, str) else token
    return _error(2, f"Invalid request: unknown variant `{shown}`, expected one of {expected} "
                     f"at line {line} column {col}")


RestHandler = Callable[[Any, dict[str, str]], tuple[int, Any]]  # (venue, query) -> (status, body)


class BinanceVenue(Venue):
    name = "BINANCE"
    ws_path = ""
    rest_path = ""
    parse = staticmethod(parse_stream)  # stream names this venue serves
    streams_class = BinanceStreams
    routes: dict[str, RestHandler] = {}  # REST path below rest_path -> handler (set below the class)

    def __init__(self, market: SimMarket, *, clock: Callable[[], int] | None = None, max_incoming_per_s: int = 5,
                 max_streams: int = 1024, lifetime_s: float | None = 86_400.0) -> None:
        super().__init__()
        self.market = market
        self.streams = self.streams_class(market)
        self.clock = clock  # () -> ms; market time when None
        self.max_incoming_per_s = max_incoming_per_s
        self.max_streams = max_streams
        self.lifetime_s = lifetime_s
        self.conns: set[BinanceConn] = set()  # type: ignore[assignment]
        self._tasks: set[asyncio.Task[Any]] = set()
        self._floods = 0

    def now_ms(self) -> int:
        if self.clock is not None:
            return self.clock()
        return self.market.now_ms or int(time.time() * 1000)

    def step(self, now_ms: int) -> None:
        self.streams.step(now_ms)

    # WebSocket --------------------------------------------------------------------------------------
    def owns(self, path: str) -> bool:
        return path in ("/ws", "/stream") or path.startswith(("/ws/", "/api/"))

    @staticmethod
    def _url_streams(path: str, query: dict[str, str]) -> tuple[list[str], bool]:
        if path.startswith("/ws"):
            return [s for s in path[4:].split("/") if s], False
        return [s for s in query.get("streams", "").split("/") if s], True

    def check_ws(self, path: str, query: dict[str, str]) -> tuple[int, Any] | None:
        if path.startswith("/api/"):
            return 400, {"code": -1000, "msg": "REST path, not a WebSocket endpoint."}
        names, _ = self._url_streams(path, query)
        bad = [n for n in names if self.parse(n) is None]
        if bad:
            return 400, {"code": 2, "msg": f"Invalid request: invalid stream {bad[0]}"}
        if len(set(names)) > self.max_streams:
            return 400, {"code": 4, "msg": "Too many subscriptions"}
        if query.get("timeUnit", "MILLISECOND").upper() not in ("MILLISECOND", "MICROSECOND"):
            return 400, {"code": 2, "msg": "Invalid request: invalid timeUnit"}
        return None

    async def serve(self, ws: ServerConnection, path: str, query: dict[str, str]) -> None:
        names, combined = self._url_streams(path, query)
        conn = BinanceConn(ws, combined, query.get("timeUnit", "").upper() == "MICROSECOND")
        for n in names:
            spec = self.parse(n)
            assert spec is not None  # check_ws refused the connection otherwise
            self.streams.add(conn, spec)
        timer = None
        if self.lifetime_s:
            timer = asyncio.get_running_loop().call_later(self.lifetime_s, self._expire, conn)
        limit = self.max_incoming_per_s
        recent = conn.recent

        async def handle(message: str | bytes) -> bool:
            now = time.monotonic()
            recent.append(now)
            while recent[0] <= now - 1.0:
                recent.popleft()
            if len(recent) > limit:
                await conn.drained()  # replies to the allowed messages go out first
                await ws.close(1008, "Too many requests")
                return False
            conn.push(dumps(self.control(conn, message)))
            return True

        await self.run_connection(conn, handle, timer)

    def release(self, conn: SimConn) -> None:
        if isinstance(conn, BinanceConn):
            for n in list(conn.streams):
                self.streams.remove(conn, n)

    def control(self, conn: BinanceConn, message: str | bytes) -> dict[str, Any]:
        """One control request -> its reply (``result`` or the wrapped ``error``)."""
        text = message.decode("utf-8", "replace") if isinstance(message, bytes) else message
        try:
            req = orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            return _error(3, f"Invalid JSON: expected value at line {exc.lineno} column {exc.colno}")
        if not isinstance(req, dict):
            return _error(2, "Invalid request: expected a JSON object")
        rid = req.get("id")
        if not (rid is None or (type(rid) is int and -2**63 <= rid < 2**63)
                or (isinstance(rid, str) and _ID_RE.match(rid))):
            return _error(2, "Invalid request: request ID must be an unsigned integer")
        method = req.get("method")
        if method not in METHODS:
            return {**_method_error(text, method), "id": rid}
        params = req.get("params", [])
        if method in ("SUBSCRIBE", "UNSUBSCRIBE"):
            if not isinstance(params, list):
                return _error(2, "Invalid request: params must be an array of stream names", rid)
            parsed = [self.parse(p) for p in params]
            specs = [s for s in parsed if s is not None]
            if len(specs) != len(parsed):
                return _error(2, "Invalid request: invalid stream", rid)
            if method == "SUBSCRIBE":
                new = {s.name for s in specs} - conn.streams.keys()
                if len(conn.streams) + len(new) > self.max_streams:
                    return _error(4, "Too many subscriptions", rid)
                for s in specs:
                    self.streams.add(conn, s)
            else:
                for s in specs:
                    self.streams.remove(conn, s.name)
            return {"result": None, "id": rid}
        if method == "LIST_SUBSCRIPTIONS":
            return {"result": list(conn.streams), "id": rid}
        if not isinstance(params, list) or not params:
            return _error(2, "Invalid request: missing property name", rid)
        if len(params) > (2 if method == "SET_PROPERTY" else 1):
            return _error(2, "Invalid request: too many parameters", rid)
        if not isinstance(params[0], str):
            return _error(2, "Invalid request: property name must be a string", rid)
        if params[0] != "combined":
            return _error(0, "Unknown property", rid)
        if method == "GET_PROPERTY":
            return {"result": conn.combined, "id": rid}
        if len(params) < 2 or not isinstance(params[1], bool):
            return _error(1, "Invalid value type: expected Boolean", rid)
        conn.set_combined(params[1])
        return {"result": None, "id": rid}

    def _expire(self, conn: BinanceConn) -> None:
        conn.push(self.shutdown_frame(conn))
        task = asyncio.ensure_future(self._close_after_flush(conn, 1000, "connection lifetime reached"))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    @staticmethod
    async def _close_after_flush(conn: BinanceConn, code: int, reason: str) -> None:
        await conn.drained()
        await conn.socket.close(code, reason)

    def shutdown_frame(self, conn: SimConn) -> bytes:
        body = dumps({"e": "serverShutdown", "E": self.now_ms()})
        if getattr(conn, "combined", False):
            return b'{"stream":"!serverShutdown","data":%s}' % body
        return body

    # faults -----------------------------------------------------------------------------------------
    def stall(self, symbol: str | None, seconds: float) -> None:
        self.streams.stalls.add(symbol, seconds)

    def skip_trade_ids(self, n: int, symbol: str | None) -> None:
        self.market.skip_trade_ids(n, symbol)

    def skip_depth_ids(self, symbol: str | None) -> None:
        for name, acc in self.streams.diffs.items():
            if symbol is None or self.streams.timed[name].symbol == symbol:
                acc.drop_next = True

    def render(self, conn: BinanceConn, count: int, rate: float | None) -> list[bytes]:
        """Pre-generate ``count`` frames of ``conn``'s streams from a fork of the live market."""
        self._floods += 1
        m = self.market
        wanted = {spec.symbol for spec in conn.streams.values()} & m.symbols.keys()
        per_arrival = 0  # frames one arrival makes on this connection, summed over its symbols
        for s in wanted:
            per_arrival += sum(f"{s.lower()}@{k}" in conn.streams for k in ("trade", "aggTrade", "bookTicker"))
        if rate is None:  # about 200k frames per second of simulated time
            tps, step_ms = 200_000.0 / max(1, per_arrival), 1
        else:
            tps, step_ms = max(1.0, rate / max(1, per_arrival)), 10
        fork = m.fork(m.seed * 1000 + self._floods, tps, sorted(wanted))
        streams = self.streams_class(fork)
        streams.last_ms = self.streams.last_ms
        sink = BinanceConn(None, conn.combined, conn.micro)
        for spec in conn.streams.values():
            streams.add(sink, spec)
        for name, acc in streams.diffs.items():  # pending live changes continue in the flood
            live = self.streams.diffs.get(name)
            if live is not None:
                acc.first, acc.last, acc.bids, acc.asks = live.first, live.last, dict(live.bids), dict(live.asks)
        t = fork.now_ms or self.now_ms()
        for _ in range(max(100_000, count)):
            if len(sink.outbox) >= count:
                break
            t += step_ms
            streams.step(t)
        return sink.outbox[:count]

    async def flood(self, conn: SimConn, count: int, rate: float | None) -> int:
        assert isinstance(conn, BinanceConn)
        conn.muted = True  # from here on this connection only gets the flood (its ids continue)
        frames = self.render(conn, count, rate)
        await conn.drained()
        if rate is None:
            chunk = 2000
            wire = [encode_text_frames(frames[i:i + chunk]) for i in range(0, len(frames), chunk)]
            del frames[:]
            sent = 0
            for i, data in enumerate(wire):
                if not await send_wire(conn.socket, data):
                    break
                sent = min(count, (i + 1) * chunk)
            conn.sent += sent
            return sent
        loop = asyncio.get_running_loop()
        start, sent = loop.time(), 0
        while sent < len(frames):
            due = min(len(frames), int((loop.time() - start) * rate) + 1)
            if due > sent:
                await send_frames(conn.socket, frames[sent:due])
                conn.sent += due - sent
                sent = due
            await asyncio.sleep(0.005)  # pacing of the fixed-rate mode
        return sent

    # REST -------------------------------------------------------------------------------------------
    def rest(self, path: str, query: dict[str, str]) -> tuple[int, Any]:
        handler = self.routes.get(path[len(self.rest_path):])
        if handler is None:
            return 404, {"code": -1000, "msg": f"Unknown endpoint {path}."}
        if self.clock is not None:
            self.step(self.clock())  # answer from the market as of now, not as of the last tick
        try:
            return handler(self, query)
        except _BadRequest as exc:
            return 400, {"code": exc.args[0], "msg": exc.args[1]}

    def _symbol(self, query: dict[str, str]) -> SimSymbol:
        name = query.get("symbol")
        if not name:
            raise _BadRequest(-1102, "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed.")
        sym = self.market.symbols.get(name)
        if sym is None:
            raise _BadRequest(-1121, "Invalid symbol.")
        return sym

    def rest_klines(self, query: dict[str, str]) -> tuple[int, Any]:
        sym = self._symbol(query)
        interval = query.get("interval")
        if not interval:
            raise _BadRequest(-1102, "Mandatory parameter 'interval' was not sent, was empty/null, or malformed.")
        if interval not in INTERVAL_MS:
            raise _BadRequest(-1120, "Invalid interval.")
        start, end = _int(query, "startTime"), _int(query, "endTime")
        limit = min(1000, _int(query, "limit") or 500)
        bars = self.market.klines(sym.name, interval, start, end, limit)
        return 200, [kline_row(k, sym) for k in bars]

    def rest_depth(self, query: dict[str, str]) -> tuple[int, Any]:
        sym = self._symbol(query)
        limit = min(5000, _int(query, "limit") or 100)
        uid, bids, asks = self.market.depth(sym.name, limit)
        return 200, {"lastUpdateId": uid, "bids": _levels(sym, bids), "asks": _levels(sym, asks)}

    def rest_exchange_info(self, query: dict[str, str]) -> tuple[int, Any]:
        wanted = list(self.market.symbols)
        if "symbol" in query:
            wanted = [self._symbol(query).name]
        elif "symbols" in query:
            try:
                wanted = orjson.loads(query["symbols"])
            except orjson.JSONDecodeError:
                raise _BadRequest(-1100, "Illegal characters found in parameter 'symbols'.") from None
            if any(s not in self.market.symbols for s in wanted):
                raise _BadRequest(-1121, "Invalid symbol.")
        out = []
        for name in wanted:
            sym = self.market.symbols[name]
            out.append({"symbol": name, "status": "TRADING", "baseAsset": sym.base_asset,
                        "baseAssetPrecision": 8, "quoteAsset": sym.quote_asset, "quotePrecision": 8,
                        "quoteAssetPrecision": 8, "isSpotTradingAllowed": True,
                        "filters": [{"filterType": "PRICE_FILTER", "tickSize": f"{sym.tick:.8f}"},
                                    {"filterType": "LOT_SIZE", "stepSize": f"{sym.step:.8f}"}]})
        return 200, {"timezone": "UTC", "serverTime": self.now_ms(), "rateLimits": [], "exchangeFilters": [],
                     "symbols": out}

    def rest_book_ticker(self, query: dict[str, str]) -> tuple[int, Any]:
        sym = self._symbol(query)
        b, bq, a, aq = sym.best()
        return 200, {"symbol": sym.name, "bidPrice": px(sym, b), "bidQty": qty(sym, bq),
                     "askPrice": px(sym, a), "askQty": qty(sym, aq)}


class _BadRequest(Exception):
    pass


def _int(query: dict[str, str], key: str) -> int | None:
    raw = query.get(key)
    if raw is None or raw == "":
        return None
    if not raw.lstrip("-").isdigit():
        raise _BadRequest(-1100, f"Illegal characters found in parameter '{key}'; legal range is '^[0-9]{{1,20}}$'.")
    return int(raw)


def rest_routes(api: str, handlers: dict[str, RestHandler]) -> dict[str, RestHandler]:
    """REST paths below ``api`` -> handlers, with the ``time`` and ``ping`` every Binance API answers."""
    common: dict[str, RestHandler] = {"time": lambda self, q: (200, {"serverTime": self.now_ms()}),
                                      "ping": lambda self, q: (200, {})}
    return {f"{api}/{name}": handler for name, handler in {**handlers, **common}.items()}


BinanceVenue.routes = rest_routes("/api/v3", {
    "klines": BinanceVenue.rest_klines, "uiKlines": BinanceVenue.rest_klines, "depth": BinanceVenue.rest_depth,
    "exchangeInfo": BinanceVenue.rest_exchange_info, "ticker/bookTicker": BinanceVenue.rest_book_ticker})


def make_venue(sim: Simulator) -> BinanceVenue:
    """Registry hook used by feeds.sim.server.Simulator."""
    market = SimMarket(sim.symbols, sim.seed, trades_per_second=sim.trades_per_second,
                       intervals=sim.intervals, book_levels=sim.book_levels)
    return BinanceVenue(market, clock=sim.now_ms, max_incoming_per_s=sim.max_incoming_per_s,
                        max_streams=sim.max_streams, lifetime_s=sim.connection_lifetime_s)
