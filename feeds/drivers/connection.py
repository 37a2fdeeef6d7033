"""One WebSocket connection to a venue: connect, subscribe, read frames into the pipeline, report state.

The only feeds module that touches the network besides REST (feeds/rest.py). Frames are handed to
``sink(conn, raw, recv_ns)`` as they arrive; nothing here parses them.

- Implements the feed core's ``Connection`` protocol (feeds/core/feed_core.py), whose states it uses:
  disconnected, connecting, subscribed, stale (set by the core's watchdog), reconnecting, failed. Every change is kept with its time and reason and counted per state.
- Reconnects: exponential backoff with full jitter, reset after a connection stayed up a minute;
  forever unless ``ReconnectPolicy.max_attempts`` says otherwise. Attempts share a client-side
  budget (Binance allows 300 connection attempts per 5 minutes per IP); sends are spaced so a
  connection stays under the venue's 5 incoming messages per second.
- Endpoint failover: after ``failover_after`` failures in a row on one endpoint, the next one.
- Rollover (lifetime reached, or the venue announced a shutdown): a replacement socket opens and
  subscribes while the old one keeps feeding; its frames are held until its first one arrives, then
  the old socket is closed (everything it still had in flight is read and fed), and the held frames
  are fed except those byte-identical to frames the old socket delivered during the overlap. So the
  switch leaves no gap and feeds no frame twice. Frames are recorded when they are fed, so a replay
  sees exactly what the pipeline saw.
- A frame bigger than ``max_frame_bytes`` is refused by the library (close 1009): it is reported as
  a ``frame_too_big`` rejection through ``on_reject`` and counted, then the connection reconnects.
- The client is picows' websockets-compatible layer (``picows.websockets``: websockets' API and close
  semantics on picows' Cython transport): 1.73x less CPU per frame end to end than websockets (1.48-1.91
  in 4 paired runs of ``python -m tui.bench.transport``; picows' own API 1.92x). Its receive queue is not visible, so the backlog
  is measured as the frames read back to back without the queue running dry (see ``_read``).
"""
from __future__ import annotations

import asyncio
import logging
import random
import socket
import ssl
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import orjson

from feeds.clock import Clock, WallClock, now_ns_reader
from feeds.core.feed_core import CONNECTING, DISCONNECTED, FAILED, RECONNECTING, STALE, STATES, SUBSCRIBED, StateChange
from feeds.drivers.recording import Recorder
from feeds.events import Rejected, reject

log = logging.getLogger(__name__)

MAX_FRAME_BYTES = 4 * 1024 * 1024  # a frame larger than this is refused by the library: bounds memory
MAX_QUEUE_FRAMES = 100_000  # frames read but not yet processed before the socket stops reading
MAX_OVERLAP_FRAMES = 200_000  # frames remembered during a rollover to recognise the replacement's copies
LIFETIME_S = 23 * 3600 + 50 * 60  # Binance closes a connection at 24 h: roll over before


@dataclass
class ReconnectPolicy:
    """Exponential backoff with full jitter; the delay resets after a connection stayed up ``stable_s``."""

    initial_s: float = 1.0
    cap_s: float = 60.0
    stable_s: float = 60.0
    max_attempts: int | None = None  # None: forever
    failover_after: int = 3  # consecutive failures on one endpoint before trying the next
    lifetime_s: float | None = LIFETIME_S  # proactive rollover after this long (None: never)
    handover_timeout_s: float = 10.0  # a replacement that sends nothing in this time is abandoned
    min_send_interval_s: float = 0.25  # at most 4 sends a second (Binance closes above 5 incoming/s)
    open_timeout_s: float = 10.0
    rng: random.Random | None = None

    def delay(self, attempt: int) -> float:
        rng = self.rng or random
        return rng.uniform(0.0, min(self.cap_s, self.initial_s * 2 ** attempt))


def failure_cause(exc: BaseException) -> str:
    """Why a connection attempt failed, said as an operator reads it: the kind first, then the detail."""
    from picows.websockets.exceptions import InvalidStatus  # picows loads on the first socket (below)
    if isinstance(exc, InvalidStatus):
        return f"HTTP {exc.response.status_code}"
    if isinstance(exc, socket.gaierror):
        return f"DNS failure: {exc.strerror or exc}"
    if isinstance(exc, ssl.SSLError):
        return f"TLS failure: {exc.reason or exc}"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, (TimeoutError, asyncio.TimeoutError)):
        return "timed out"
    if isinstance(exc, OSError) and exc.strerror:
        return f"network error: {exc.strerror}"
    return f"{type(exc).__name__}: {exc}"[:200]


class AttemptBudget:
    """At most ``limit`` connection attempts in any ``window_s`` (shared by a venue's connections)."""

    def __init__(self, limit: int = 300, window_s: float = 300.0) -> None:
        self.limit = limit
        self.window_s = window_s
        self.attempts: deque[float] = deque()
        self.waits = 0  # times an attempt had to wait for the budget

    def wait_s(self, now: float) -> float:
        """Seconds until an attempt is allowed (0: now)."""
        attempts = self.attempts
        while attempts and attempts[0] <= now - self.window_s:
            attempts.popleft()
        if len(attempts) < self.limit:
            return 0.0
        return attempts[0] + self.window_s - now

    def take(self, now: float) -> None:
        self.attempts.append(now)


class _Socket:
    """One open WebSocket of a connection, and what its reader knows."""

    __slots__ = ("ws", "url", "opened_mono", "reader", "held", "first_frame", "overlap", "frames",
                 "timer", "next_send", "retired", "backlog", "ran", "marked")

    def __init__(self, ws: Any, url: str) -> None:  # a picows.websockets ClientConnection
        self.ws = ws
        self.url = url
        self.opened_mono = time.monotonic()
        self.reader: asyncio.Task[None] | None = None
        self.held: list[tuple[str, int]] | None = None  # a replacement's frames, not fed yet
        self.first_frame = asyncio.Event()
        self.overlap: set[str] | None = None  # frames fed while a replacement is being prepared
        self.frames = 0  # frames received on this socket
        self.timer: asyncio.TimerHandle | None = None  # the lifetime rollover
        self.next_send = 0.0
        self.retired = False  # closed on purpose after a rollover
        self.backlog = 0  # frames read back to back since the library's queue last ran dry
        self.ran = False  # the event loop ran since the last frame (set by a call_soon marker)
        self.marked = False  # a marker is scheduled

    def loop_ran(self) -> None:
        self.ran, self.marked = True, False


class Connection:
    """A live venue connection that keeps itself alive until ``stop()`` (the core's ``Connection``)."""

    def __init__(self, name: str, venue: str, urls: list[str], sink: Callable[[str, str, int], None],
                 subscribe_frames: Callable[[], list[str]] | None = None,
                 recorder: Recorder | None = None, policy: ReconnectPolicy | None = None,
                 on_state: Callable[[Connection, StateChange], None] | None = None,
                 subscribed_on_open: bool = True, on_open: Callable[[], None] | None = None,
                 budget: AttemptBudget | None = None, clock: Clock | None = None,
                 on_reject: Callable[[str, Rejected], None] | None = None,
                 max_frame_bytes: int = MAX_FRAME_BYTES) -> None:
        self.name = name
        self.venue = venue
        self.urls = list(urls)
        self.endpoint_index = 0
        self.sink = sink
        self.subscribe_frames = subscribe_frames or (lambda: [])
        self.recorder = recorder
        self.policy = policy or ReconnectPolicy()
        self.budget = budget or AttemptBudget()
        self.clock = clock or WallClock()
        self.on_state = on_state
        self.on_reject = on_reject
        self.subscribed_on_open = subscribed_on_open
        self.on_open = on_open  # e.g. reset a codec's per-connection sequence numbers
        self.max_frame_bytes = max_frame_bytes
        self.state = DISCONNECTED
        self.state_since_ns = 0  # when the current state began (changes of reason alone do not count)
        self.history: list[StateChange] = []
        self.state_counts = dict.fromkeys(STATES, 0)  # changes into each state
        self.messages = 0  # frames fed to the sink
        self.reconnects = 0  # sockets opened after the first (rollovers included)
        self.attempts = 0  # connection attempts, failed ones included
        self.failed_attempts = 0
        self.rollovers = 0  # completed handovers to a replacement socket
        self.failed_rollovers = 0
        self.overlap_duplicates = 0  # a replacement's frames already fed by the old socket
        self.oversize_frames = 0
        self.max_queue_depth = 0  # most frames read back to back from the library's queue (a backlog)
        self.connected_at_ns = 0
        self.last_close: tuple[int | None, str] | None = None
        self.last_error = ""  # why the last attempt failed or the socket closed ("DNS failure: ...")
        self.last_error_ns = 0
        self.next_attempt_ns = 0  # when the next attempt is due while waiting to retry (0: not waiting)
        self._active: _Socket | None = None
        self._sockets: set[_Socket] = set()  # every open socket (two during a rollover)
        self._handover: asyncio.Task[None] | None = None
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self._ever_opened = False

    # -- reading the state ------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return self.urls[self.endpoint_index]

    def queue_depth(self) -> int:
        """Frames of the backlog being worked through now, read so far (0 when caught up)."""
        sock = self._active
        return sock.backlog if sock is not None and not sock.ran else 0

    def set_state(self, state: str, reason: str = "") -> None:
        if state == self.state and not reason:
            return
        change = StateChange(self.clock.now_ns(), state, reason)
        if state != self.state:
            self.state_since_ns = change.at_ns
        self.state = state
        self.state_counts[state] = self.state_counts.get(state, 0) + 1
        self.history.append(change)
        del self.history[:-200]  # keep the recent past only
        if self.on_state is not None:
            self.on_state(self, change)

    def mark_subscribed(self) -> None:
        if self.state in (CONNECTING, STALE):
            self.set_state(SUBSCRIBED, "subscription confirmed" if self.state == CONNECTING else "data flowing")

    # -- control ----------------------------------------------------------------------------------
    def start(self) -> asyncio.Task[None]:
        self._task = asyncio.get_running_loop().create_task(self.run(), name=f"conn-{self.name}")
        return self._task

    async def stop(self) -> None:
        self._stopping = True
        for task in (self._handover, self._task):
            if task is not None:
                task.cancel()
                try:
                    await task
                except (asyncio.CancelledError, Exception):
                    pass
        for sock in list(self._sockets):
            await self._close_socket(sock, 1000, "client stopping")
        self.set_state(DISCONNECTED, "stopped")

    async def send(self, frame: str) -> bool:
        """Send a frame on the active socket (recorded, spaced); False when not connected."""
        sock = self._active
        return False if sock is None else await self._send_on(sock, frame)

    def reconnect_now(self, reason: str) -> None:
        """Drop the current socket (e.g. a stale stream); the run loop reconnects."""
        sock = self._active
        if sock is not None:
            self.set_state(RECONNECTING, reason)
            asyncio.get_running_loop().create_task(sock.ws.close(code=4000, reason=reason[:100]))

    def rollover(self, reason: str) -> bool:
        """Replace the socket without a gap (lifetime, server shutdown); False if one is under way."""
        sock = self._active
        if self._stopping or sock is None or (self._handover is not None and not self._handover.done()):
            return False
        self._handover = asyncio.get_running_loop().create_task(self._hand_over(sock, reason),
                                                                name=f"rollover-{self.name}")
        return True

    # -- the run loop -----------------------------------------------------------------------------
    async def run(self) -> None:
        attempt = 0  # failures since the last stable connection: the backoff exponent
        failures_here = 0  # failures in a row on the current endpoint
        while not self._stopping:
            sock = await self._open(RECONNECTING if self._ever_opened or attempt else CONNECTING)
            if sock is not None:
                await self._serve()
                sock = self._active  # a rollover may have replaced it
                assert sock is not None  # _serve returns with an active socket
                stable = time.monotonic() - sock.opened_mono >= self.policy.stable_s
                useful = sock.frames > 0
                self._active = None
                if self._stopping:
                    break
                if self.state not in (DISCONNECTED, RECONNECTING):
                    code, why = self.last_close or (None, "closed")
                    self.set_state(DISCONNECTED, f"closed {code if code is not None else '-'} {why}")
                attempt = 0 if stable else attempt + 1
                failures_here = 0 if useful else failures_here + 1
            else:
                attempt += 1
                failures_here += 1
            if self.policy.max_attempts is not None and attempt > self.policy.max_attempts:
                self.set_state(FAILED, f"gave up after {attempt - 1} attempts")
                return
            if failures_here >= self.policy.failover_after and len(self.urls) > 1:
                self.endpoint_index = (self.endpoint_index + 1) % len(self.urls)
                failures_here = 0
                self.set_state(RECONNECTING, f"failing over to endpoint {self.endpoint_index}: {self.url}")
            delay = self.policy.delay(attempt)
            self.next_attempt_ns = self.clock.now_ns() + int(delay * 1e9)
            log.warning("%s: %s; next try in %.1fs (%s)", self.name, self.last_error or "closed", delay,
                        urlsplit(self.url).netloc)
            self.set_state(RECONNECTING, f"retry in {delay:.2f}s via {self.url}")
            try:
                await asyncio.sleep(delay)
            finally:
                self.next_attempt_ns = 0

    async def _serve(self) -> None:
        """Wait while the active socket feeds; a rollover may switch sockets meanwhile."""
        while True:
            current = self._active
            assert current is not None and current.reader is not None  # set by _open before _serve
            await asyncio.wait([current.reader])
            handover = self._handover
            if handover is not None and not handover.done():
                await asyncio.wait([handover])  # it may have a replacement ready
            if self._active is current:
                break

    def _activate(self, sock: _Socket) -> None:
        self._active = sock
        self.connected_at_ns = self.clock.now_ns()
        lifetime = self.policy.lifetime_s
        if lifetime:
            sock.timer = asyncio.get_running_loop().call_later(
                lifetime, self.rollover, f"connection lifetime {lifetime:g}s reached")

    async def _open(self, state: str) -> _Socket | None:
        """One attempt: connect, subscribe, start reading (feeding). None when it failed."""
        url = self.url
        self.set_state(state, f"connecting to {url}")
        sock = await self._connect(url)
        if sock is None:
            return None
        self._activate(sock)
        self.set_state(CONNECTING, f"open {url}")
        if self.on_open is not None:
            self.on_open()
        sock.reader = asyncio.get_running_loop().create_task(self._read(sock))
        for frame in self.subscribe_frames():
            await self._send_on(sock, frame)
        if self.subscribed_on_open:
            self.set_state(SUBSCRIBED, "streams in URL")
        return sock

    async def _connect(self, url: str, replacement: bool = False) -> _Socket | None:
        wait = self.budget.wait_s(time.monotonic())
        if wait > 0:
            self.budget.waits += 1
            if not replacement:
                self.set_state(RECONNECTING, f"attempt budget used up ({self.budget.limit} per "
                                             f"{self.budget.window_s:.0f}s): waiting {wait:.1f}s")
            await asyncio.sleep(wait)
        self.budget.take(time.monotonic())
        self.attempts += 1
        host = urlsplit(url).hostname or ""
        loopback = host in ("127.0.0.1", "localhost", "::1")
        # picows (90 ms of imports) loads with the first socket: a replay, which opens none, never loads it
        from picows.websockets import connect
        try:
            ws = await connect(url, max_size=self.max_frame_bytes, open_timeout=self.policy.open_timeout_s,
                               ping_interval=20, ping_timeout=20, close_timeout=2,
                               max_queue=MAX_QUEUE_FRAMES, proxy=None if loopback else True)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - report, never die
            self._failed_attempt(url, failure_cause(exc), replacement)
            return None
        if self.recorder is not None:
            self.recorder.write(self.clock.now_ns(), self.name, "open", url)
        if self._ever_opened:
            self.reconnects += 1
        self._ever_opened = True
        sock = _Socket(ws, url)
        self._sockets.add(sock)
        return sock

    def _failed_attempt(self, url: str, why: str, replacement: bool) -> None:
        self.failed_attempts += 1
        self._remember_error(why)
        if replacement:
            self.set_state(self.state, f"replacement failed to connect: {why}")
        else:
            self.set_state(DISCONNECTED, f"connect to {url} failed: {why}")
        return None

    async def _send_on(self, sock: _Socket, frame: str) -> bool:
        from picows.websockets.exceptions import ConnectionClosed  # loaded with the socket
        wait = sock.next_send - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        sock.next_send = time.monotonic() + self.policy.min_send_interval_s
        if self.recorder is not None:
            self.recorder.write(self.clock.now_ns(), self.name, "send", frame)
        try:
            await sock.ws.send(frame)
        except ConnectionClosed:
            return False
        return True

    # -- reading ----------------------------------------------------------------------------------
    async def _read(self, sock: _Socket) -> None:
        """Read frames until the socket closes; feed them, or hold them while it is a replacement."""
        from picows.websockets.exceptions import ConnectionClosed  # loaded with the socket
        ws = sock.ws
        now_ns = now_ns_reader(self.clock)
        sink, name, recorder = self.sink, self.name, self.recorder
        call_soon = asyncio.get_running_loop().call_soon
        code: int | None = None
        reason = ""
        try:
            async for raw in ws:  # the hot path: _feed inlined
                recv_ns = now_ns()
                n = sock.frames = sock.frames + 1
                # A frame already queued is returned without suspending; the loop runs (and the marker
                # fires) only when the queue ran dry, or when we let others run below.
                if sock.ran:
                    sock.ran = False
                    if sock.backlog > self.max_queue_depth:
                        self.max_queue_depth = sock.backlog
                    sock.backlog = 0
                backlog = sock.backlog = sock.backlog + 1
                if not sock.marked:
                    sock.marked = True
                    call_soon(sock.loop_ran)
                if not n & 63:  # a buffered backlog is read without suspending: let others run
                    if backlog > self.max_queue_depth:
                        self.max_queue_depth = backlog
                    await asyncio.sleep(0)
                    sock.ran = False  # that was us, not an empty queue
                    sock.marked = True
                    call_soon(sock.loop_ran)
                held = sock.held
                if held is not None:
                    held.append((raw, recv_ns))
                    sock.first_frame.set()
                    continue
                overlap = sock.overlap
                if overlap is not None and len(overlap) < MAX_OVERLAP_FRAMES:
                    overlap.add(raw)
                self.messages += 1
                if recorder is not None:
                    recorder.write(recv_ns, name, "recv", raw)
                sink(name, raw, recv_ns)
            code, reason = ws.close_code, ws.close_reason or "closed by server"
        except asyncio.CancelledError:
            raise
        except ConnectionClosed as exc:
            if exc.sent is not None and exc.sent.code == 1009:
                self._oversize(exc.sent.reason)
                code, reason = 1009, f"frame too big: {exc.sent.reason}"
            elif exc.rcvd is not None:
                code, reason = exc.rcvd.code, exc.rcvd.reason or "closed by server"
            else:
                code, reason = 1006, "no close frame"
        except Exception as exc:  # noqa: BLE001 - report, never die
            code, reason = None, f"{type(exc).__name__}: {exc}"[:200]
        finally:
            if sock.timer is not None:
                sock.timer.cancel()
            sock.first_frame.set()  # wakes a handover waiting on this replacement
            self._sockets.discard(sock)
        self._closed(sock, code, reason)

    def _feed(self, raw: str, recv_ns: int) -> None:
        self.messages += 1
        if self.recorder is not None:
            self.recorder.write(recv_ns, self.name, "recv", raw)
        self.sink(self.name, raw, recv_ns)

    def _oversize(self, detail: str) -> None:
        self.oversize_frames += 1
        if self.on_reject is not None:
            now = self.clock.now_ns()
            self.on_reject(self.name, reject(self.venue, "frame_too_big", f"frame refused: {detail} "
                                             f"(limit {self.max_frame_bytes} bytes); reconnecting", "", now))

    def _closed(self, sock: _Socket, code: int | None, reason: str) -> None:
        if self.recorder is not None:
            close = {"code": code, "reason": reason, "retired": True} if sock.retired else \
                {"code": code, "reason": reason}
            self.recorder.write(self.clock.now_ns(), self.name, "close", orjson.dumps(close).decode())
        if sock.retired:
            return  # closed on purpose by a rollover, which reports it
        self.last_close = (code, reason)
        if self._stopping:
            return
        self._remember_error(f"closed with code {code if code is not None else '-'}: {reason}".rstrip(": "))
        text = f"closed {code if code is not None else '-'} {reason}".strip()
        if sock.held is not None:
            self.set_state(self.state, f"replacement {text}")
        elif self._handover is not None and not self._handover.done():
            self.set_state(RECONNECTING, f"{text} during a rollover: waiting for the replacement")
        else:
            self.set_state(DISCONNECTED, text)

    def _remember_error(self, cause: str) -> None:
        self.last_error = cause
        self.last_error_ns = self.clock.now_ns()

    async def _close_socket(self, sock: _Socket, code: int, reason: str) -> None:
        try:
            await sock.ws.close(code, reason)
        except Exception:  # noqa: BLE001 - closing a broken socket
            pass
        if sock.reader is not None:
            await asyncio.wait([sock.reader])

    # -- rollover ---------------------------------------------------------------------------------
    async def _hand_over(self, old: _Socket, reason: str) -> None:
        """Open a replacement, switch to it when it delivers, retire ``old``; see the module docstring."""
        self.set_state(self.state, f"rollover: {reason}")
        old.overlap = set()  # from now on, remember what old feeds
        new = await self._connect(self.url, replacement=True)
        if new is None:
            self.failed_rollovers += 1
            old.overlap = None
            return
        new.held = []
        new.reader = asyncio.get_running_loop().create_task(self._read(new))
        for frame in self.subscribe_frames():
            await self._send_on(new, frame)
        try:
            await asyncio.wait_for(new.first_frame.wait(), self.policy.handover_timeout_s)
        except TimeoutError:
            pass
        if not new.held or new.reader.done():
            self.failed_rollovers += 1
            self.set_state(self.state, "rollover abandoned: the replacement delivered nothing")
            old.overlap = None
            new.held = None
            new.retired = True
            await self._close_socket(new, 1000, "replacement not needed")
            return
        # Switch: old stops here; everything it still has in flight is read (and fed) before it closes.
        old.retired = old.reader is not None and not old.reader.done()
        if old.timer is not None:
            old.timer.cancel()
        self._activate(new)
        if old.retired:
            await self._close_socket(old, 1000, "rolled over to a new connection")
        seen = old.overlap or ()
        old.overlap = None
        held, new.held = new.held, None
        for raw, recv_ns in held:
            if raw in seen:
                self.overlap_duplicates += 1
            else:
                self._feed(raw, recv_ns)
        self.rollovers += 1
        self.set_state(SUBSCRIBED, f"rolled over to a new socket ({len(held)} held frames, "
                       f"{self.overlap_duplicates} overlap duplicates so far)")
