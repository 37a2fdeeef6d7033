"""One WebSocket connection to a venue: connect, subscribe, read frames into the pipeline, report state.

The only feeds module that touches the network besides REST (feeds/rest.py). Frames are handed to
``sink(conn, raw, recv_ns)`` as they arrive; nothing here parses them. Reconnects use exponential
backoff with full jitter and move to the next endpoint after repeated failures.
"""
from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass
from typing import Callable, NamedTuple
from urllib.parse import urlsplit

import orjson
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

# Connection states, in the order a healthy connection goes through them.
DISCONNECTED, CONNECTING, SUBSCRIBED, STALE, RECONNECTING, FAILED = (
    "disconnected", "connecting", "subscribed", "stale", "reconnecting", "failed")

MAX_FRAME_BYTES = 4 * 1024 * 1024  # a frame larger than this is refused by the library: bounds memory


class StateChange(NamedTuple):
    at_ns: int
    state: str
    reason: str


@dataclass
class ReconnectPolicy:
    """Exponential backoff with full jitter; the delay resets after a connection stayed up ``stable_s``."""

    initial_s: float = 1.0
    cap_s: float = 60.0
    stable_s: float = 60.0
    max_attempts: int | None = None  # None: forever
    failover_after: int = 3  # consecutive failures on one endpoint before trying the next
    rng: random.Random | None = None

    def delay(self, attempt: int) -> float:
        rng = self.rng or random
        return rng.uniform(0.0, min(self.cap_s, self.initial_s * 2 ** attempt))


class Connection:
    """A venue connection that keeps itself alive until ``stop()``."""

    def __init__(self, name: str, venue: str, urls: list[str], sink: Callable[[str, str, int], None],
                 subscribe_frames: Callable[[], list[str]] | None = None,
                 recorder=None, policy: ReconnectPolicy | None = None,
                 on_state: Callable[["Connection", StateChange], None] | None = None,
                 subscribed_on_open: bool = True, on_open: Callable[[], None] | None = None) -> None:
        self.name = name
        self.venue = venue
        self.urls = list(urls)
        self.endpoint_index = 0
        self.sink = sink
        self.subscribe_frames = subscribe_frames or (lambda: [])
        self.recorder = recorder
        self.policy = policy or ReconnectPolicy()
        self.on_state = on_state
        self.subscribed_on_open = subscribed_on_open
        self.on_open = on_open  # e.g. reset a codec's per-connection sequence numbers
        self.state = DISCONNECTED
        self.history: list[StateChange] = []
        self.reconnects = 0
        self.messages = 0
        self.connected_at_ns = 0
        self.last_close: tuple[int | None, str] | None = None
        self._ws = None
        self._stopping = False
        self._task: asyncio.Task | None = None

    @property
    def url(self) -> str:
        return self.urls[self.endpoint_index]

    def set_state(self, state: str, reason: str = "") -> None:
        if state == self.state and not reason:
            return
        change = StateChange(time.time_ns(), state, reason)
        self.state = state
        self.history.append(change)
        del self.history[:-200]  # keep the recent past only
        if self.on_state is not None:
            self.on_state(self, change)

    def mark_subscribed(self) -> None:
        if self.state in (CONNECTING, STALE):
            self.set_state(SUBSCRIBED, "subscription confirmed" if self.state == CONNECTING else "data flowing")

    def start(self) -> asyncio.Task:
        self._task = asyncio.get_running_loop().create_task(self.run(), name=f"conn-{self.name}")
        return self._task

    async def stop(self) -> None:
        self._stopping = True
        if self._ws is not None:
            await self._ws.close()
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):
                pass
        self.set_state(DISCONNECTED, "stopped")

    async def send(self, frame: str) -> bool:
        """Send a frame on the open connection (recorded); False when not connected."""
        ws = self._ws
        if ws is None:
            return False
        if self.recorder is not None:
            self.recorder.write(time.time_ns(), self.name, "send", frame)
        try:
            await ws.send(frame)
        except ConnectionClosed:
            return False
        return True

    def reconnect_now(self, reason: str) -> None:
        """Drop the current socket (e.g. a stale stream); the run loop reconnects."""
        ws = self._ws
        if ws is not None:
            self.set_state(RECONNECTING, reason)
            asyncio.get_running_loop().create_task(ws.close(code=4000, reason=reason[:100]))

    async def run(self) -> None:
        attempt = 0
        failures_here = 0
        while not self._stopping:
            url = self.url
            self.set_state(CONNECTING if not self.reconnects and not attempt else RECONNECTING,
                           f"connecting to {url}")
            opened_ns = 0
            try:
                host = urlsplit(url).hostname or ""
                loopback = host in ("127.0.0.1", "localhost", "::1")
                async with connect(url, max_size=MAX_FRAME_BYTES, open_timeout=10, ping_interval=20,
                                   ping_timeout=20, close_timeout=2, max_queue=None,
                                   proxy=None if loopback else True) as ws:
                    self._ws = ws
                    opened_ns = self.connected_at_ns = time.time_ns()
                    if self.recorder is not None:
                        self.recorder.write(opened_ns, self.name, "open", url)
                    self.set_state(CONNECTING, f"open {url}")
                    if self.on_open is not None:
                        self.on_open()
                    for frame in self.subscribe_frames():
                        await self.send(frame)
                    if self.subscribed_on_open:
                        self.set_state(SUBSCRIBED, "streams in URL")
                    await self._read(ws)
                    self._closed(ws.close_code, ws.close_reason or "closed by server")
            except asyncio.CancelledError:
                raise
            except ConnectionClosed as exc:
                self._closed(exc.rcvd.code if exc.rcvd else 1006, exc.rcvd.reason if exc.rcvd else "no close frame")
            except InvalidStatus as exc:
                self._closed(None, f"HTTP {exc.response.status_code}")
            except (OSError, asyncio.TimeoutError, Exception) as exc:  # noqa: BLE001 - report, never die
                self._closed(None, f"{type(exc).__name__}: {exc}"[:200])
            finally:
                self._ws = None
            if self._stopping:
                break
            stable = opened_ns and time.time_ns() - opened_ns >= self.policy.stable_s * 1e9
            if stable:
                attempt = 0
                failures_here = 0
            else:
                attempt += 1
                failures_here += 1
            if self.policy.max_attempts is not None and attempt > self.policy.max_attempts:
                self.set_state(FAILED, f"gave up after {attempt - 1} attempts")
                return
            if failures_here >= self.policy.failover_after and len(self.urls) > 1:
                self.endpoint_index = (self.endpoint_index + 1) % len(self.urls)
                failures_here = 0
            self.reconnects += 1
            delay = self.policy.delay(attempt) if attempt else 0.0
            self.set_state(RECONNECTING, f"retry in {delay:.1f}s via {self.url}")
            await asyncio.sleep(delay)

    async def _read(self, ws) -> None:
        sink = self.sink
        name = self.name
        recorder = self.recorder
        time_ns = time.time_ns
        async for raw in ws:
            recv_ns = time_ns()
            self.messages += 1
            if recorder is not None:
                recorder.write(recv_ns, name, "recv", raw)
            sink(name, raw, recv_ns)

    def _closed(self, code: int | None, reason: str) -> None:
        self.last_close = (code, reason)
        if self.recorder is not None:
            self.recorder.write(time.time_ns(), self.name, "close",
                                orjson.dumps({"code": code, "reason": reason}).decode())
        if not self._stopping:
            self.set_state(DISCONNECTED, f"closed {code if code is not None else '-'} {reason}".strip())
