"""``clearterm attach nats://HOST:PORT``: a viewer of what a collector publishes, through replay's pipeline.

The bus is one more record source: its records go through ``ReplayDriver`` into a Session built from
the collector's header, with the recorded receive time as the clock, exactly as a replay of the
collector's recording would — so the viewer computes the collector's candles, halts and signals.
By default a viewer starts at the collector session's first record (its header), which brings the
REST backfill that fills the candle tables; ``--since S`` starts S seconds back instead. Then it follows.
In the app a viewer keeps what it applied in a temporary recording (deleted when it stops; about as
big as the collector's), which is what the DVR (``r``) replays and seeks in.
"""
from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

from feeds.clock import ManualClock
from feeds.drivers.bus import BusReader, read_header
from feeds.drivers.recording import Recorder
from feeds.drivers.replay_source import ReplayDriver
from tui.runtime.replay_runner import YIELD_EVERY, RecordedTime, session_config
from tui.runtime.runner import RunnerBase, start_metrics
from tui.runtime.session import Session

SESSION_WRITES = ("halt", "resume", "alert", "toggle")  # operator records the session itself writes as it applies them


class AttachRunner(RecordedTime, RunnerBase):
    """Runs a Session on the records a bus carries (the app sees it as a running session, not a replay)."""

    def __init__(self, url: str, header: dict, start_seq: int | None = None, since_s: float | None = None,
                 venues: list[str] | None = None, symbols: list[str] | None = None,
                 alerts: dict | None = None, keep_copy: bool = False) -> None:
        """``keep_copy``: keep what is applied in a temporary recording, for the app's DVR."""
        self.url = url
        self.header = header
        config = session_config(header)
        config.mode = "attach"
        if venues:
            config.venues = [v for v in config.venues if v.upper() in {x.upper() for x in venues}]
        if symbols:
            config.symbols = list(symbols)
        for key, value in (alerts or {}).items():
            setattr(config, key, value)
        self.clock = ManualClock()
        self.session = Session(config, clock=self.clock)
        start_ns = time.time_ns() - int(since_s * 1e9) if since_s is not None else None
        self.reader = BusReader(url, start_seq=None if since_s is not None else start_seq, start_ns=start_ns,
                                venues=config.venues)  # the server sends only these venues' subjects
        self.session.bus = self.reader
        self.copy: Recorder | None = None
        if keep_copy:
            fd, path = tempfile.mkstemp(prefix="clearterm-attach-", suffix=".jsonl")
            os.close(fd)
            self.copy = Recorder(path, dict(header, mode="attach", source=url))
            # the session writes its own operator actions and alerts to it, as a live session does
            self.session.recorder = self.copy
        self.driver = ReplayDriver(self.session.feed, self.clock, on_operator=self._operator)
        self.position_ns = 0
        self._next_tick = 0
        self._task: asyncio.Task[None] | None = None
        self.finished = asyncio.Event()
        self.metrics_port: int | None = None
        self.metrics = None

    @property
    def config(self):
        return self.session.config

    async def start(self) -> None:
        self.metrics = await start_metrics(self, self.metrics_port)
        self._task = asyncio.get_running_loop().create_task(self._follow(), name="bus viewer")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.wait({self._task}, timeout=2)  # a wedged client must not hold the app's quit
            self._task = None
        await asyncio.wait({asyncio.ensure_future(self.reader.close())}, timeout=2)
        self.session.stopped_ns = self.position_ns
        await self.session.dispatcher.stop()
        if self.copy is not None:
            self.copy.close()
            for part in [self.copy.path, *self.copy.parts]:
                Path(part).unlink(missing_ok=True)
        await self.stop_metrics()

    async def _follow(self) -> None:
        copy = self.copy
        since_yield = 0
        async for _, rec in self.reader.records():
            if copy is not None and not (rec.conn == "operator" and rec.kind in SESSION_WRITES):
                copy.write(rec.recv_ns, rec.conn, rec.kind, rec.payload)
            if not self.session.started_ns:
                self.session.started_ns = rec.recv_ns
            self._apply(rec)
            since_yield += 1
            if since_yield >= YIELD_EVERY:  # catching up: let the UI draw
                since_yield = 0
                await asyncio.sleep(0)


def run_attach(args) -> int:
    from tui.runtime.cli import (
        UsageError,
        apply_alert_flags,
        apply_ui_flags,
        finish,
        run_app,
        run_headless,
    )
    from tui.runtime.config import ConfigError, UISettings, load
    from tui.runtime.session import SessionConfig
    alerts = SessionConfig(alert_desktop=True)
    apply_alert_flags(alerts, args)
    options = {"alerts": alerts.alerts, "alert_webhook": alerts.alert_webhook, "alert_command": alerts.alert_command}
    try:
        header, start_seq = asyncio.run(read_header(args.url, timeout_s=args.wait))
    except LookupError as exc:
        raise UsageError(str(exc)) from None
    except Exception as exc:  # noqa: BLE001 - nats-py raises several kinds for an unreachable server
        raise UsageError(f"cannot reach the bus at {args.url}: {str(exc) or type(exc).__name__}") from None
    runner = AttachRunner(args.url, header, start_seq, since_s=args.since,
                          venues=[v.upper() for v in args.venues] if args.venues else None,
                          symbols=args.symbols, alerts=options, keep_copy=not args.headless)
    ui = UISettings()
    try:
        load(SessionConfig(), ui, args.config)  # the [ui] and [keys] tables
    except ConfigError as exc:
        raise UsageError(str(exc)) from None
    runner.metrics_port = args.metrics_port
    if not runner.config.venues:
        raise UsageError(f"--venues: the collector publishes {', '.join(header.get('venues') or [])}")
    if args.headless:
        asyncio.run(run_headless(runner, args.duration))
    else:
        apply_ui_flags(ui, args)
        run_app(runner, ui, args.duration)
    if runner.reader.skipped:
        print(f"clearterm: warning: {runner.reader.skipped} bus messages were not records", file=sys.stderr)
    finish(runner.session, args)
    return 0
