"""The exchange simulator: one loopback port, WebSocket and REST, one module per venue.

Routing (one ``websockets`` server; ``process_request`` sees every request first):
  - each venue says which paths it owns (``Venue.owns(path)``); the first match wins, venues with a
    path prefix are asked before the root venue:
      BINANCE   WS ``/ws``, ``/ws/<streams>``, ``/stream``, ``/stream?streams=...``;  REST ``/api/v3/...``
      COINBASE  (feeds/sim/coinbase.py, when present) WS ``/coinbase``;  REST ``/coinbase/...``
      BINANCE_FUTURES  WS ``/futures/stream?streams=...``;  REST ``/futures/fapi/v1/...``
  - a request with ``Upgrade: websocket`` goes to ``Venue.check_ws`` (may refuse it with an HTTP
    response) and then to ``Venue.serve``; a plain HTTP GET goes to ``Venue.rest``, whose
    ``(status, json-able body)`` becomes a JSON response;
  - unknown paths get 404.
Adding a venue: write ``feeds/sim/<venue>.py`` with ``make_venue(sim) -> Venue`` (a ``Venue`` subclass
with ``ws_path``/``rest_path`` such as ``"/coinbase"``, ``owns``, ``serve``, ``rest``, ``step``; reuse
``SimConn``, ``send_frames``, ``SimMarket`` and ``faults``) and add one line to ``VENUE_MODULES``; a
module that does not exist yet is skipped. ``ws_url(venue)`` is ``ws://host:port`` + ``ws_path`` (the
Binance client appends ``/ws`` or ``/stream``); ``rest_url(venue)`` is ``http://host:port`` + ``rest_path``.

Time: ``Simulator.now_ms()`` is the simulated clock, wall time by default; ``speed`` > 1 runs the
market faster (tests) and every exchange timestamp (E, T, bar times, serverTime) follows that clock.
A ticker task steps every venue ``tick_hz`` times a second; each venue steps its own SimMarket and
appends frames to its subscribers' outboxes; one writer task per connection sends them.

Faults (see the methods under "fault injection"): drop, stall, refuse, garbage, truncate, duplicate,
reorder, skipped trade or depth ids, serverShutdown, and flood (pre-generated frames as fast as
possible or at a fixed rate).
"""
from __future__ import annotations

import asyncio
import importlib
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Iterator
from http import HTTPStatus
from typing import Any, TypeVar
from urllib.parse import parse_qs

import orjson
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.protocol import State

from .faults import GARBAGE_FRAME, FrameFaults
from .market import MarketMoment, SpotMarket, market_moment

T = TypeVar("T")
log = logging.getLogger(__name__)
# The websockets server's per-connection chatter ("connection open", "HTTP response sent (200 OK)")
# would fill the user's log every second in the demo; only its warnings and errors go there.
wire_log = logging.getLogger(f"{__name__}.wire")
wire_log.setLevel(logging.WARNING)

VENUE_MODULES = {"BINANCE": "feeds.sim.binance", "COINBASE": "feeds.sim.coinbase",
                 "COINBASE_ADVANCED": "feeds.sim.coinbase_advanced", "BINANCE_FUTURES": "feeds.sim.binance_futures"}
LEADER = "BINANCE"  # the venue the others follow (their prices track its prices)

_HEADERS_SMALL = [bytes((0x81, n)) for n in range(126)]


def encode_text_frames(frames: Iterable[bytes]) -> bytes:
    """Server-side (unmasked, uncompressed) WebSocket text frames, concatenated."""
    parts: list[bytes] = []
    ap = parts.append
    small = _HEADERS_SMALL
    for f in frames:
        n = len(f)
        if n < 126:
            ap(small[n])
        elif n < 65536:
            ap(b"\x81\x7e" + n.to_bytes(2, "big"))
        else:
            ap(b"\x81\x7f" + n.to_bytes(8, "big"))
        ap(f)
    return b"".join(parts)


async def send_frames(ws: ServerConnection, frames: list[bytes]) -> None:
    """Send UTF-8 JSON frames as text frames; one socket write per batch (the server never compresses)."""
    if not frames:
        return
    if not isinstance(ws, ServerConnection):  # not the websockets>=13 asyncio connection
        for f in frames:
            await ws.send(f, text=True)
        return
    await send_wire(ws, encode_text_frames(frames))


async def send_wire(ws: ServerConnection, data: bytes) -> bool:
    """Write already-encoded frames; False (nothing written) once the connection is closing."""
    if ws.protocol.state is not State.OPEN:  # a data frame after Close would be a protocol error
        return False
    ws.transport.write(data)
    await ws.drain()
    return True


class SimConn:
    """One WebSocket client: venues append frames to ``outbox``; the writer task sends them."""

    def __init__(self, ws: ServerConnection | None) -> None:
        self.ws = ws
        self.outbox: list[bytes] = []
        self.wake = asyncio.Event()
        self.idle = asyncio.Event()
        self.faults = FrameFaults()
        self.muted = False  # no live market data (during and after a flood)
        self.sent = 0

    @property
    def socket(self) -> ServerConnection:
        """The live socket (only a frame sink, built to generate frames offline, has none)."""
        assert self.ws is not None, "a frame sink has no socket"
        return self.ws

    def push(self, frame: bytes) -> None:
        self.outbox.append(frame)
        self.wake.set()

    async def run_writer(self) -> None:
        ws, wake = self.socket, self.wake
        while True:
            await wake.wait()
            wake.clear()
            while self.outbox:
                self.idle.clear()
                frames, self.outbox = self.outbox, []
                if self.faults.active:
                    frames = self.faults.apply(frames)
                await send_frames(ws, frames)
                self.sent += len(frames)
            self.idle.set()

    async def drained(self) -> None:
        """Wait until everything pushed so far has been written to the socket."""
        while self.outbox or not self.idle.is_set():
            self.idle.clear()
            self.wake.set()
            await self.idle.wait()

    def abort(self) -> None:
        if self.ws is not None:
            self.ws.transport.abort()


class Venue:
    """What the server needs from a venue module. Subclasses fill in the protocol."""

    name = "?"
    ws_path = ""  # appended to ws://host:port
    rest_path = ""  # appended to http://host:port

    def __init__(self) -> None:
        self.conns: set[SimConn] = set()

    def owns(self, path: str) -> bool:
        raise NotImplementedError

    def rest(self, path: str, query: dict[str, str]) -> tuple[int, Any]:
        return 404, {"error": "not found"}

    def check_ws(self, path: str, query: dict[str, str]) -> tuple[int, Any] | None:
        return None

    async def serve(self, ws: ServerConnection, path: str, query: dict[str, str]) -> None:
        raise NotImplementedError

    async def run_connection(self, conn: SimConn, handle: Callable[[str | bytes], Awaitable[bool]],
                             timer: asyncio.TimerHandle | None = None) -> None:
        """Send ``conn``'s frames and pass each incoming message to ``handle`` (False: stop reading) until
        the client goes; then cancel ``timer``, stop the writer and ``release`` what the connection held."""
        self.conns.add(conn)
        writer = asyncio.create_task(conn.run_writer())
        try:
            async for message in conn.socket:
                if not await handle(message):
                    break
        except ConnectionClosed:
            pass
        finally:
            if timer is not None:
                timer.cancel()
            writer.cancel()
            self.release(conn)
            self.conns.discard(conn)

    def release(self, conn: SimConn) -> None:
        """Drop every subscription of a connection that closed."""

    def step(self, now_ms: int) -> None:
        raise NotImplementedError

    # venue-specific fault hooks (defaults do nothing) -------------------------------------------
    def shutdown_frame(self, conn: SimConn) -> bytes | None:
        return None

    def skip_trade_ids(self, n: int, symbol: str | None) -> None:
        pass

    def skip_depth_ids(self, symbol: str | None) -> None:
        pass

    def stall(self, symbol: str | None, seconds: float) -> None:
        pass

    async def flood(self, conn: SimConn, count: int, rate: float | None) -> int:
        return 0


def json_response(status: int, body: Any) -> Response:
    data = orjson.dumps(body)
    st = HTTPStatus(status)
    headers = Headers([("Content-Type", "application/json;charset=UTF-8"), ("Content-Length", str(len(data))),
                       ("Connection", "close")])
    return Response(st.value, st.phrase, headers, data)


def _query(raw: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(raw, keep_blank_values=True).items()}


class Simulator:
    """The simulated exchanges on one loopback port. Use ``async with Simulator(...) as sim:``."""

    def __init__(self, symbols: Iterable[str] = ("BTCUSDT", "ETHUSDT", "SOLUSDT"), seed: int = 7,
                 host: str = "127.0.0.1", port: int = 0, intervals: Iterable[str] = ("1s", "1m"),
                 trades_per_second: float = 20.0, *, venues: Iterable[str] | None = None,
                 speed: float = 1.0, tick_hz: float = 50.0, ping_interval: float | None = 20.0,
                 ping_timeout: float | None = 60.0, max_incoming_per_s: int = 5, max_streams: int = 1024,
                 connection_lifetime_s: float | None = 86_400.0, book_levels: int = 200,
                 history_s: float = 0.0) -> None:
        self.symbols = tuple(symbols)
        self.seed = seed
        self.host = host
        self.requested_port = port
        self.intervals = tuple(intervals)
        self.trades_per_second = trades_per_second
        self.speed = speed
        self.tick_hz = tick_hz
        self.ping_interval = ping_interval
        self.ping_timeout = ping_timeout
        self.max_incoming_per_s = max_incoming_per_s
        self.max_streams = max_streams
        self.connection_lifetime_s = connection_lifetime_s
        self.book_levels = book_levels
        self.history_s = history_s
        self.port = 0
        self._t0 = time.time()
        self._refuse_until = 0.0
        self._server: Server | None = None
        self._ticker: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._building: dict[Venue, asyncio.Event] = {}  # venues whose history is not built yet
        self._moment: MarketMoment | None = None  # the leader as a follower being built reads it
        self._stopping = False
        self.venues: dict[str, Venue] = {}
        for name in (VENUE_MODULES if venues is None else venues):
            module_name = VENUE_MODULES[name.upper()]
            try:
                module = importlib.import_module(module_name)
            except ModuleNotFoundError as exc:
                if venues is None and exc.name == module_name:
                    continue  # that venue is not written yet
                raise
            self.venues[name.upper()] = module.make_venue(self)
        # prefixed venues first, so "/coinbase/..." is never claimed by a root venue
        self._routing = sorted(self.venues.values(), key=lambda v: -len(v.ws_path))

    # clock --------------------------------------------------------------------------------------
    def now_ms(self) -> int:
        t0 = self._t0
        return int((t0 + (time.time() - t0) * self.speed) * 1000)

    # lifecycle ----------------------------------------------------------------------------------
    async def start(self, followers_later: bool = False) -> Simulator:
        """Build the history and serve. ``followers_later``: serve as soon as the leader's history is built (the
        demo's first price is Binance's); each venue that follows it is served once its own history is built, in
        slices between which the loop serves the leader (a request to a venue still building waits for it)."""
        self._t0 = time.time()
        self._stopping = False
        now = self.now_ms()
        times = [*range(now - int(self.history_s * 1000), now, 1000), now] if self.history_s > 0 else [now]
        leader = self.venues.get(LEADER)
        tape = self._lead(leader, times) if leader is not None else None
        followers = [v for v in self.venues.values() if v is not leader]
        self._building = {v: asyncio.Event() for v in followers}
        if not followers_later:
            self._build_followers(followers, times, tape)
        self._server = server = await serve(
            self._handle, self.host, self.requested_port, process_request=self._process_request,
            open_timeout=None,  # a request to a venue still building waits in the handshake, however long the build
            compression=None, ping_interval=self.ping_interval, ping_timeout=self.ping_timeout,
            max_size=2**20, max_queue=64, logger=wire_log)
        self.port = server.sockets[0].getsockname()[1]
        self._ticker = asyncio.create_task(self._run())
        if followers_later:
            self._spawn(self._build_followers_sliced(followers, times, tape))
        return self

    # history ------------------------------------------------------------------------------------
    # The venues that follow Binance (their mids track its mids) read its market at each step. Built in
    # lockstep, no venue served before all were built; now Binance is built first, its mids taped at each step,
    # and each follower is built after it, reading the tape: the same history, served sooner.

    def _lead(self, leader: Venue, times: list[int]) -> list[MarketMoment] | None:
        market = self.spot_market()
        tape: list[MarketMoment] | None = [] if market is not None else None
        for t in times:
            leader.step(t)
            if tape is not None and market is not None:
                tape.append(market_moment(market))
        return tape

    def _follow(self, venue: Venue, times: list[int], tape: list[MarketMoment] | None) -> Iterator[None]:
        """Step ``venue`` through ``times``, reading the leader as it was at each; yields after each step."""
        for i, t in enumerate(times):
            self._moment = tape[i] if tape is not None else None
            try:
                venue.step(t)
            finally:
                self._moment = None
            yield

    def _build_followers(self, followers: list[Venue], times: list[int], tape: list[MarketMoment] | None) -> None:
        for v in followers:
            for _ in self._follow(v, times, tape):
                pass
            self._built(v)

    async def _build_followers_sliced(self, followers: list[Venue], times: list[int],
                                      tape: list[MarketMoment] | None) -> None:
        for v in followers:
            for _ in self._follow(v, times, tape):
                await asyncio.sleep(0)  # the leader's clients are served between two seconds of history
            self._built(v)

    def _built(self, venue: Venue) -> None:
        self._building.pop(venue).set()

    def building(self) -> list[str]:
        """The venues whose history is still being built (not served yet)."""
        return [v.name for v in self._building]

    async def built(self) -> None:
        """Wait until every venue's history is built."""
        for event in list(self._building.values()):
            await event.wait()

    def spot_market(self) -> SpotMarket | None:
        """What the venues following Binance read: its market, or, while one's history is built, the tape's moment."""
        if self._moment is not None:
            return self._moment
        market: SpotMarket | None = getattr(self.venues.get(LEADER), "market", None)
        return market

    def _warm_up(self, from_ms: int, to_ms: int) -> None:
        """Every venue's history over [from_ms, to_ms), second by second, the leader first."""
        times = list(range(from_ms, to_ms, 1000))
        leader = self.venues.get(LEADER)
        tape = self._lead(leader, times) if leader is not None else None
        for v in self.venues.values():
            if v is not leader:
                for _ in self._follow(v, times, tape):
                    pass

    async def stop(self) -> None:
        self._stopping = True
        if self._ticker is not None:
            self._ticker.cancel()
            try:
                await self._ticker
            except asyncio.CancelledError:
                pass
            self._ticker = None
        for task in list(self._tasks):
            task.cancel()
        for event in self._building.values():  # a request waiting for a history that will never be built
            event.set()
        self._building = {}
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def __aenter__(self) -> Simulator:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def _run(self) -> None:
        period = 1.0 / self.tick_hz
        while True:
            now = self.now_ms()
            for v in self.venues.values():
                if v in self._building:
                    continue  # its history is not built yet: it goes live once it is
                try:
                    v.step(now)
                except Exception:  # a bug in one step must not silence the whole exchange
                    log.exception("simulator step failed (%s)", v.name)
            await asyncio.sleep(period)  # the exchange's own pacing

    # URLs ---------------------------------------------------------------------------------------
    def ws_url(self, venue: str = "BINANCE") -> str:
        return f"ws://{self.host}:{self.port}{self.venues[venue.upper()].ws_path}"

    def rest_url(self, venue: str = "BINANCE") -> str:
        return f"http://{self.host}:{self.port}{self.venues[venue.upper()].rest_path}"

    def venue(self, name: str = "BINANCE") -> Venue:
        return self.venues[name.upper()]

    # routing ------------------------------------------------------------------------------------
    def _route(self, path: str) -> Venue | None:
        for v in self._routing:
            if v.owns(path):
                return v
        return None

    async def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        if time.monotonic() < self._refuse_until:
            return json_response(503, {"code": -1008, "msg": "Service unavailable (simulated)."})
        path, _, raw_query = request.path.partition("?")
        venue = self._route(path)
        if venue is None:
            return json_response(404, {"code": -1000, "msg": f"Unknown path {path}"})
        building = self._building.get(venue)
        if building is not None:  # served once its history is built
            await building.wait()
            if self._stopping:  # released by stop(): never built
                return json_response(503, {"code": -1008, "msg": "Service unavailable (stopping)."})
        query = _query(raw_query)
        if request.headers.get("Upgrade", "").lower() != "websocket":
            status, body = venue.rest(path, query)
            return json_response(status, body)
        refused = venue.check_ws(path, query)
        return None if refused is None else json_response(*refused)

    async def _handle(self, ws: ServerConnection) -> None:
        assert ws.request is not None  # the handshake is over before the handler runs
        path, _, raw_query = ws.request.path.partition("?")
        venue = self._route(path)
        if venue is not None:
            await venue.serve(ws, path, _query(raw_query))

    # fault injection ----------------------------------------------------------------------------
    def _selected(self, venue: str | None) -> list[Venue]:
        return list(self.venues.values()) if venue is None else [self.venues[venue.upper()]]

    def _conns(self, venue: str | None) -> list[SimConn]:
        return [c for v in self._selected(venue) for c in v.conns]

    def _spawn(self, coro: Coroutine[Any, Any, T]) -> asyncio.Task[T]:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def drop_connections(self, code: int | None = None, reason: str = "", venue: str | None = None) -> int:
        """Drop every connection: abruptly (code None or 1006: the client sees 1006) or with a close frame."""
        conns = self._conns(venue)
        for c in conns:
            if code is None or code == 1006:
                c.abort()
            else:
                self._spawn(c.socket.close(code, reason))
        return len(conns)

    def stall(self, symbol: str | None = None, seconds: float = 5.0, venue: str | None = None) -> None:
        """Send no market data for ``symbol`` (all symbols if None) for ``seconds``; sockets stay open."""
        for v in self._selected(venue):
            v.stall(symbol, seconds)

    def refuse_connections(self, seconds: float) -> None:
        """Answer every new request (WebSocket or REST) with HTTP 503 for ``seconds``."""
        self._refuse_until = time.monotonic() + seconds

    def send_garbage(self, venue: str | None = None) -> None:
        for c in self._conns(venue):
            c.push(GARBAGE_FRAME)

    def send_truncated(self, n: int = 1, venue: str | None = None) -> None:
        """The next ``n`` frames on every connection are cut in half (invalid JSON)."""
        for c in self._conns(venue):
            c.faults.truncate += n

    def duplicate_next(self, n: int = 1, venue: str | None = None) -> None:
        for c in self._conns(venue):
            c.faults.duplicate += n

    def reorder_next(self, venue: str | None = None) -> None:
        """The next two frames on every connection swap places."""
        for c in self._conns(venue):
            c.faults.reorder = True

    def skip_trade_ids(self, n: int = 5, symbol: str | None = None, venue: str | None = None) -> None:
        for v in self._selected(venue):
            v.skip_trade_ids(n, symbol)

    def skip_depth_ids(self, symbol: str | None = None, venue: str | None = None) -> None:
        """The next depth update for ``symbol`` (all if None) is not sent: a sequence gap."""
        for v in self._selected(venue):
            v.skip_depth_ids(symbol)

    def server_shutdown(self, grace_s: float = 0.5, venue: str | None = None) -> None:
        """Send the venue's shutdown notice (Binance ``serverShutdown``), then close after ``grace_s``."""
        for v in self._selected(venue):
            for c in list(v.conns):
                frame = v.shutdown_frame(c)
                if frame is not None:
                    c.push(frame)
                self._spawn(_close_later(c, grace_s, 1001, "server shutdown"))

    def flood(self, count: int | None = None, *, rate: float | None = None, seconds: float | None = None,
              venue: str | None = "BINANCE") -> asyncio.Task[list[int]]:
        """Send every current connection ``count`` pre-generated frames of its own streams (or
        ``rate * seconds``), as fast as possible (``rate`` None) or at ``rate`` frames/s.

        The frames continue the live id sequences; the flooded connections get no more live data
        afterwards (they are muted), so what they receive stays gap-free. The task's result is the
        number of frames sent per connection.
        """
        if count is None:
            if rate is None or seconds is None:
                raise ValueError("flood needs count, or rate and seconds")
            count = int(rate * seconds)

        async def run() -> list[int]:
            jobs = [v.flood(c, count, rate) for v in self._selected(venue) for c in list(v.conns)]
            return list(await asyncio.gather(*jobs))

        return self._spawn(run())

    def set_trades_per_second(self, rate: float, venue: str | None = None) -> None:
        """Fixed-rate live mode: change the per-symbol trade rate of the live markets."""
        for v in self._selected(venue):
            market = getattr(v, "market", None)
            if market is not None:
                market.set_trades_per_second(rate)


async def _close_later(conn: SimConn, delay: float, code: int, reason: str) -> None:
    await conn.drained()
    await asyncio.sleep(delay)
    await conn.socket.close(code, reason)


def url_lines(sim: Simulator) -> list[str]:
    """The lines ``clearterm sim`` prints."""
    lines = [f"clearterm exchange simulator on {sim.host}:{sim.port} (seed {sim.seed}, "
             f"symbols {','.join(sim.symbols)})"]
    for name in sim.venues:
        lines.append(f"  {name:<9} ws   {sim.ws_url(name)}")
        lines.append(f"  {name:<9} rest {sim.rest_url(name)}")
    endpoints = " ".join(f"--endpoint {n}={sim.ws_url(n)}" for n in sim.venues)
    lines.append(f"connect with: clearterm live --venues {','.join(sim.venues).lower()} {endpoints}")
    return lines


async def serve_forever(port: int = 0, seed: int = 7, host: str = "127.0.0.1", print_fn: Callable[[str], object] = print,
                        **kwargs: Any) -> None:
    """Run the simulator until cancelled (Ctrl-C), printing its URLs first."""
    async with Simulator(port=port, seed=seed, host=host, **kwargs) as sim:
        for line in url_lines(sim):
            print_fn(line)
        await asyncio.Event().wait()
