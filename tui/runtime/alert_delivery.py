"""Delivers alerts off the event loop's critical path: webhook, shell command, desktop notification.

``submit`` only queues (never blocks, never raises); one worker task sends each alert to every sink,
each attempt under a timeout, retried a bounded number of times, failures counted per sink. The app's
own panel, bell and OSC 9 read the session's alert history on its timer and are not sinks here.
"""
from __future__ import annotations

import asyncio
import logging
import os
import shutil
import time
import urllib.error
import urllib.request
from typing import Any

import orjson

from strategy.alerts import Alert

log = logging.getLogger("clearterm.alerts")
TIMEOUT_S = 5.0
RETRIES = 2  # attempts after the first
RETRY_DELAY_S = 0.5
QUEUE_MAX = 1000


class AlertDispatcher:
    def __init__(self, webhook: str | None = None, command: str | None = None, desktop: bool = False,
                 timeout_s: float = TIMEOUT_S, retries: int = RETRIES) -> None:
        self.webhook = webhook
        self.command = command
        self.notify_send = shutil.which("notify-send") if desktop else None
        self.timeout_s = timeout_s
        self.retries = retries
        self.counts: dict[str, dict[str, int]] = {}
        for sink in self._sinks():
            self.counts[sink] = {"sent": 0, "failed": 0, "retries": 0}
        self.dropped = 0
        # A replay sets this: every alert submitted, so one that a seek replays again is sent only once.
        self.submitted: set[Alert] | None = None
        self.repeats = 0  # alerts not sent again (replayed after a seek)
        self._queue: asyncio.Queue[Alert] | None = None
        self._worker: asyncio.Task[None] | None = None

    def _sinks(self) -> list[str]:
        return [name for name, on in (("webhook", self.webhook), ("command", self.command),
                                      ("desktop", self.notify_send)) if on]

    def submit(self, alert: Alert) -> None:
        if not self.counts:
            return
        if self.submitted is not None:
            if alert in self.submitted:
                self.repeats += 1
                return
            self.submitted.add(alert)
        if self._queue is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                self.dropped += 1  # no loop (a synchronous test): nothing can send it
                return
            self._queue = asyncio.Queue(QUEUE_MAX)
            self._worker = loop.create_task(self._run())
        try:
            self._queue.put_nowait(alert)
        except asyncio.QueueFull:
            self.dropped += 1

    async def stop(self, drain_s: float = TIMEOUT_S * (RETRIES + 1)) -> None:
        """Let queued alerts go out (up to ``drain_s``), then end the worker."""
        if self._queue is not None and self._worker is not None:
            try:
                await asyncio.wait_for(self._queue.join(), drain_s)
            except TimeoutError:
                log.warning("alerts: %d not delivered at exit", self._queue.qsize())
            self._worker.cancel()
            try:
                await self._worker
            except asyncio.CancelledError:
                pass
        self._queue = self._worker = None

    def stats(self) -> dict[str, Any]:
        out: dict[str, Any] = {k: dict(v) for k, v in self.counts.items()}
        out["dropped"] = self.dropped
        out["repeats"] = self.repeats
        return out

    async def _run(self) -> None:
        assert self._queue is not None
        while True:
            alert = await self._queue.get()
            try:
                await asyncio.gather(*(self._deliver(sink, alert) for sink in self._sinks()))
            finally:
                self._queue.task_done()

    async def _deliver(self, sink: str, alert: Alert) -> None:
        counts = self.counts[sink]
        for attempt in range(self.retries + 1):
            if attempt:
                counts["retries"] += 1
                await asyncio.sleep(RETRY_DELAY_S * attempt)
            try:
                await asyncio.wait_for(self._send(sink, alert), self.timeout_s)
                counts["sent"] += 1
                return
            except (TimeoutError, OSError, RuntimeError, urllib.error.URLError) as exc:
                log.warning("alert %s via %s, attempt %d: %s", alert.rule, sink, attempt + 1, exc or type(exc).__name__)
        counts["failed"] += 1

    async def _send(self, sink: str, alert: Alert) -> None:
        if sink == "webhook":
            body = orjson.dumps({**alert.to_json(), "sent_at_ns": time.time_ns()})
            await asyncio.to_thread(_post, str(self.webhook), body, self.timeout_s)
        elif sink == "command":
            await _run(["/bin/sh", "-c", str(self.command)], alert_environment(alert))
        else:
            await _run([str(self.notify_send), "--app-name=clearterm", f"clearterm alert: {alert.rule}",
                        alert.detail], None)


def _post(url: str, body: bytes, timeout_s: float) -> None:
    request = urllib.request.Request(url, data=body, method="POST",
                                     headers={"Content-Type": "application/json", "User-Agent": "clearterm"})
    with urllib.request.urlopen(request, timeout=timeout_s) as response:  # noqa: S310 (operator's URL)
        if not 200 <= response.status < 300:
            raise RuntimeError(f"HTTP {response.status}")


async def _run(argv: list[str], env: dict[str, str] | None) -> None:
    proc = await asyncio.create_subprocess_exec(*argv, env=env, stdin=asyncio.subprocess.DEVNULL,
                                                stdout=asyncio.subprocess.DEVNULL,
                                                stderr=asyncio.subprocess.DEVNULL)
    try:
        code = await proc.wait()
    except asyncio.CancelledError:  # timed out: do not leave it running
        proc.kill()
        await proc.wait()
        raise
    if code != 0:
        raise RuntimeError(f"exit status {code}")


def alert_environment(alert: Alert) -> dict[str, str]:
    """The process environment plus CLEARTERM_ALERT_* (and the whole alert as JSON)."""
    env = dict(os.environ)
    for key, value in alert.to_json().items():
        env[f"CLEARTERM_ALERT_{key.upper()}"] = str(value)
    env["CLEARTERM_ALERT_JSON"] = orjson.dumps(alert.to_json()).decode()
    return env
