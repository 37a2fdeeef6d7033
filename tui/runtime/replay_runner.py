"""Plays recordings into a Session at a chosen speed, with pause, step and seek for the app.

The records go through ``ReplayDriver`` into the same pipeline, strategy and halt a live session uses;
the clock is the recorded receive time. Seeking backwards builds a new Session from the recording's
header (a fresh SessionConfig every time) and replays the records up to the target: nothing the session
owns (symbols, watchdog expectations, halt, signals, books...) carries over from before the seek.
"""
from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import orjson

from feeds.api import TICK_S
from feeds.clock import ManualClock
from feeds.drivers.recording import Record
from feeds.drivers.replay import ReadReport, RecordingError, RecordingTail, RecordStream, batches_of, read_recordings
from feeds.drivers.replay_source import ReplayDriver
from feeds.venues import CRYPTOFEED_IDS, VENUES
from tui.runtime.alert_delivery import AlertDispatcher
from tui.runtime.runner import RunnerBase, start_metrics
from tui.runtime.session import Session, SessionConfig

SPEEDS = (0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 25.0, 50.0, 100.0, None)  # None: as fast as possible
TICK_NS = int(TICK_S * 1e9)
MAX_SILENT_TICKS = 36_000  # one hour of recorded time without a record
YIELD_EVERY = 2000  # records between yields to the event loop at max speed, so the UI stays live
FOLLOW_POLL_S = 0.1  # a followed recording is looked at this often once everything in it is played


def session_config(header: dict) -> SessionConfig:
    """A new SessionConfig for replaying a recording, from its header alone.

    The header holds the session's starting symbols and the settings that decide what it computed
    (``settings``: staleness threshold, strategy and risk parameters, quote aliases); recordings made
    before those were written get the defaults.
    """
    settings = header.get("settings")
    settings = settings if isinstance(settings, dict) else {}
    config = SessionConfig(mode="replay", venues=[str(v) for v in header.get("venues") or []],
                           symbols=[str(s) for s in header.get("symbols") or []],
                           interval=str(header.get("interval") or "1m"), record_path=None)
    stale = settings.get("stale_after_s")
    if isinstance(stale, (int, float)) and not isinstance(stale, bool) and stale > 0:
        config.stale_after_s = float(stale)
    for name in ("strategy", "risk", "paper"):
        if isinstance(settings.get(name), dict):
            setattr(config, name, dict(settings[name]))
    intervals = settings.get("intervals")
    if isinstance(intervals, list) and all(isinstance(i, str) for i in intervals):
        config.intervals = list(intervals)
    aliases = settings.get("quote_aliases")
    if isinstance(aliases, dict):
        config.quote_aliases = {str(k): str(v) for k, v in aliases.items()}
    return config


class RecordedTime:
    """Ticks on recorded time and operator actions as recorded: shared by a replay and a bus viewer."""

    clock: ManualClock
    session: Session
    driver: ReplayDriver
    position_ns: int  # recorded time of the last record applied
    _next_tick: int  # recorded time of the session's next tick (0: before the first record)

    def _apply(self, rec: Record) -> None:
        """One record at its recorded time: the session's ticks due before it (health checks), then the record."""
        if self._next_tick:
            self._tick_until(rec.recv_ns)
        else:
            self._next_tick = rec.recv_ns + TICK_NS
        self.driver.apply(rec)
        self.position_ns = rec.recv_ns

    def _apply_run(self, records: list[Record], start: int, stop: int) -> None:
        """``_apply`` for each of ``records[start:stop]``, the records between two ticks in one loop."""
        apply_until = self.driver.apply_until
        i = start
        while i < stop:
            t = records[i][0]
            if self._next_tick <= t:
                if self._next_tick:
                    self._tick_until(t)
                else:
                    self._next_tick = t + TICK_NS
            i = apply_until(records, i, stop, self._next_tick)  # at least records[i]: its ticks are done
        self.position_ns = records[stop - 1][0]

    def _tick_until(self, now_ns: int) -> None:
        """The session's ticks (every 100 ms of recorded time from the first record) up to ``now_ns``.

        A silence longer than ``MAX_SILENT_TICKS`` skips to the last tick before ``now_ns``: every health
        check has fired by then, and a record stamped years off (a lying clock) must not mean 10^9 ticks."""
        ticks = 0
        while self._next_tick and self._next_tick <= now_ns:
            self.clock.set(self._next_tick)  # what a tick does (a halt) is stamped with the tick's time
            self.session.tick(self._next_tick)
            self._next_tick += TICK_NS
            ticks += 1
            if ticks == MAX_SILENT_TICKS and now_ns - self._next_tick >= TICK_NS:
                self._next_tick += (now_ns - self._next_tick) // TICK_NS * TICK_NS

    def _operator(self, rec: Record) -> None:
        """Operator actions replay as recorded; automatic halts are not replayed but recomputed."""
        try:
            payload = orjson.loads(rec.payload)
        except orjson.JSONDecodeError:
            return
        halt = self.session.halt
        if rec.kind == "halt" and isinstance(payload, dict) and payload.get("by") != "auto":
            halt.halt(str(payload.get("cause", "replayed halt")), by=str(payload.get("by", "operator")))
        elif rec.kind == "resume" and isinstance(payload, dict):
            halt.resume(by=str(payload.get("by", "operator")))
        elif rec.kind in ("add_symbol", "remove_symbol") and isinstance(payload, dict):
            symbol = str(payload.get("symbol", ""))
            feed = self.session.feed
            feed.symbol_added(symbol) if rec.kind == "add_symbol" else feed.symbol_removed(symbol)
            self.session.config.symbols = list(feed.symbols)
        elif rec.kind == "alert" and isinstance(payload, dict):  # recorded alerts fire again at their times
            from strategy.alerts import Alert
            try:
                alert = Alert.from_json(payload)
            except ValueError:
                return
            self.session.deliver_alert(alert, replayed=True)
        elif rec.kind == "stop":  # the recorded session ended here: its connections were as they are now
            self.session.final_connections = self.session.connections_summary()
        elif rec.kind == "toggle" and isinstance(payload, dict):
            symbol = str(payload.get("symbol", ""))
            if bool(payload.get("visible")) == (symbol in self.session.hidden):
                self.session.toggle_symbol(symbol)


class ReplayRunner(RecordedTime, RunnerBase):
    def __init__(self, paths: list[str], fmt: str | None = None, speed: float | None = 1.0,
                 overrides: dict | None = None, follow: bool = False) -> None:
        """``follow``: ``paths[0]`` is a clearterm recording still being written (the DVR); at its end
        the replay waits for more instead of finishing."""
        self.paths = [str(p) for p in paths]
        self.fmt = fmt
        self.speed = speed
        self.follow = follow
        self.paused = False
        self.at_edge = False  # following: everything written so far is played
        self.header, stream = read_recordings(self.paths, fmt)  # fails early (RecordingError) on bad input
        stream.close()
        unknown = [str(v) for v in self.header.get("venues") or [] if v not in VENUES]
        if unknown:
            raise RecordingError(f"unknown venue {unknown[0]!r} in {', '.join(self.paths)}; known venues: "
                                 f"{', '.join(VENUES)}; cryptofeed ids: {', '.join(CRYPTOFEED_IDS)}")
        # settings given to the replay command (alert rules and deliveries, a tighter risk limit), applied to
        # every session built from the recording, the first and each one a seek builds
        self.overrides = dict(overrides or {})
        self.dispatcher: AlertDispatcher | None = None  # the first session's, kept across seeks
        self.finished = asyncio.Event()
        self.first_ns = 0
        self.position_ns = 0
        self.report: ReadReport | None = None
        self._task: asyncio.Task | None = None
        self._wake = asyncio.Event()
        self._steps = 0
        self._target_ns: int | None = None  # fast-forward up to here, then pause
        self._next_tick = 0  # recorded time of the session's next tick (0: before the first record)
        self.metrics_port: int | None = None
        self.metrics = None
        self._new_session()

    @property
    def config(self) -> SessionConfig:
        """The session's settings as they are now (symbols change as recorded additions replay)."""
        return self.session.config

    def _new_session(self) -> None:
        """A session as the recording started it: nothing from an earlier session is reused."""
        self._stream: RecordingTail | RecordStream
        if self.follow:
            self._stream = RecordingTail(self.paths[0])
        else:
            self.header, self._stream = read_recordings(self.paths, self.fmt)
        self.clock = ManualClock()
        config = session_config(self.header)
        for key, value in self.overrides.items():
            setattr(config, key, value)
        self.session = Session(config, clock=self.clock)
        self.session.started_ns = self.first_ns
        if self.dispatcher is None:
            self.dispatcher = self.session.dispatcher
            self.dispatcher.submitted = set()  # each alert goes out once per replay, however often seeks replay it
        self.session.dispatcher = self.dispatcher  # one sender (and its counts) across rebuilds on seek
        self.driver = ReplayDriver(self.session.feed, self.clock, on_operator=self._operator)
        self.report = self._stream.report
        stream = self._stream  # a followed recording is read line by line as it grows: no batches
        self._batches: Iterator[list[Record]] | None = stream.batches() if isinstance(stream, RecordStream) else None
        self.position_ns = 0
        self.at_edge = False

    # -- controls -----------------------------------------------------------------------------
    def set_speed(self, speed: float | None) -> None:
        self.speed = speed
        self._anchor()
        self._wake.set()

    def toggle_pause(self) -> None:
        self.paused = not self.paused
        self._anchor()
        self._wake.set()

    def step(self) -> None:
        """Apply one record while paused."""
        self.paused = True
        self._steps += 1
        self._wake.set()

    def seek(self, target_ns: int) -> None:
        """Go to a recorded time and pause there: forward plays fast up to it; backward starts a new
        session from the recording's header and plays fast from the first record (nothing is kept)."""
        if target_ns < self.position_ns:
            if self._task is not None:
                self._task.cancel()  # the old loop is parked at an await: it ends there, untouched
            self._stream.close()
            self._new_session()
            self.finished.clear()
            if self._task is not None:
                self._task = asyncio.get_running_loop().create_task(self._play())
        self._target_ns = max(target_ns, self.first_ns)
        self._wake.set()

    # -- lifecycle ----------------------------------------------------------------------------
    async def start(self) -> None:
        self.metrics = await start_metrics(self, self.metrics_port)
        self._task = asyncio.get_running_loop().create_task(self._play())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):
                pass
        self._stream.close()
        assert self.dispatcher is not None, "set by the first _new_session, in __init__"
        await self.dispatcher.stop()
        await self.stop_metrics()

    async def run_for(self, duration_s: float | None, stop_event: asyncio.Event | None = None) -> None:
        waits = [asyncio.ensure_future(self.finished.wait())]
        if stop_event is not None:
            waits.append(asyncio.ensure_future(stop_event.wait()))
        try:
            await asyncio.wait(waits, timeout=duration_s, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waits:
                w.cancel()

    def _anchor(self) -> None:
        self._wall0 = time.monotonic()
        self._rec0 = self.position_ns

    def _superseded(self) -> bool:
        """A seek back started another play task: this one must not touch the new session. (Python 3.11's
        wait_for can swallow the cancel when the wake-up it waited for comes with it.)"""
        return self._task is not None and asyncio.current_task() is not self._task

    async def _play(self) -> None:
        self._next_tick = 0
        self._anchor()
        while True:
            await self._play_records()
            if self._superseded():
                return
            if not self.follow:
                break
            self.at_edge = True  # caught up with the recording: look again in a moment
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), FOLLOW_POLL_S)
            except TimeoutError:
                pass
            if self._superseded():
                return
        self.session.stopped_ns = self.position_ns
        self.finished.set()

    async def _play_records(self) -> None:
        """Apply records as paced, until the source has no more (for now, when following)."""
        since_yield = 0
        batches = batches_of(self._stream) if self._batches is None else self._batches  # a tail is read again
        for batch in batches:
            self.at_edge = False
            if not self.first_ns:
                self.first_ns = self.session.started_ns = batch[0].recv_ns
            i, n = 0, len(batch)
            while i < n:
                if not self._rec0:
                    self._rec0 = batch[i].recv_ns
                # Nothing paces and no control can come before the next await: the records up to the next
                # yield (or the target of a seek) go in one loop.
                target = self._target_ns
                if not self._steps and (target is not None or (self.speed is None and not self.paused)):
                    stop = min(n, i + YIELD_EVERY - since_yield)
                    if target is not None:
                        stop = _first_after(batch, i, stop, target)
                    if stop > i:
                        self._apply_run(batch, i, stop)
                        since_yield += stop - i
                        i = stop
                        if since_yield >= YIELD_EVERY:
                            since_yield = 0
                            await asyncio.sleep(0)
                            if self._superseded():
                                return
                        continue
                rec = batch[i]
                while True:  # the gates before this record lands; a control while waiting sends it round again
                    target = self._target_ns
                    if target is not None and rec.recv_ns > target:
                        self._target_ns = None
                        self.paused = True
                        self._tick_until(target)  # the state as it was at the target time, ticks included
                        self.clock.set(target)
                        self.position_ns = max(self.position_ns, target)
                    if self.paused and not self._steps and self._target_ns is None:
                        self._wake.clear()
                        await self._wake.wait()
                        if self._superseded():
                            return
                        continue
                    if self._steps:
                        self._steps -= 1
                    elif self._target_ns is None and self.speed is not None:
                        delay = self._wall0 + (rec.recv_ns - self._rec0) / 1e9 / self.speed - time.monotonic()
                        if delay > 0.001:
                            self._wake.clear()
                            since_yield = 0
                            try:
                                await asyncio.wait_for(self._wake.wait(), delay)
                            except TimeoutError:
                                pass  # on time; but a seek may have come while wait_for cleaned up: the gates again
                            else:
                                self._anchor()  # a control changed the pace: start timing afresh from here
                            if self._superseded():
                                return
                            continue  # a seek or pause made meanwhile applies before this record
                    break
                self._apply(rec)
                i += 1
                since_yield += 1
                if since_yield >= YIELD_EVERY:
                    since_yield = 0
                    await asyncio.sleep(0)
                    if self._superseded():
                        return


def _first_after(records: list[Record], start: int, stop: int, target_ns: int) -> int:
    """The index of the first of ``records[start:stop]`` stamped after ``target_ns`` (``stop``: none is)."""
    while start < stop and records[start][0] <= target_ns:
        start += 1
    return start
