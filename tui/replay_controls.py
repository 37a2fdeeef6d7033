"""Replay and DVR controls of the app: play, pause, speed, step, seek, go to a time, the DVR, the replay bar.

``clearterm replay`` runs the app on a ReplayRunner. In a live or demo session ``r`` opens the DVR: a
replay of the session's own recording, which keeps following the recording as it grows, while live
ingestion and recording go on underneath; ``r`` returns to live. The DVR opens paused one minute
before now (fast-forwarding there first); a recording shorter than that plays from its start at 1x.
Halt and resume always act on the live session, and the header's HALTED banner is the live session's;
the replay bar says when the replayed session was halted at the time shown.

Every seek builds the replayed session afresh from the recording (see ReplayRunner.seek): the screen
then shows the session exactly as it was at the target time. A standalone replay has no ``r``: ``q``
quits, as everywhere.

``ReplayControls`` is mixed into the App: the actions must be the App's, for its bindings.
"""
from __future__ import annotations

import asyncio
import gzip
import logging
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, TypeGuard

import orjson
from textual import work

from tui.widgets.formatting import utc_hms
from tui.widgets.goto_screen import GotoScreen
from tui.widgets.replay_bar import ReplayBar
from tui.widgets.safe_text import clean

if TYPE_CHECKING:
    from textual.app import App

    from tui.runtime.attach import AttachRunner
    from tui.runtime.replay_runner import ReplayRunner
    from tui.runtime.runner import Runner
    from tui.runtime.session import Session

    _Base = App  # mixed into ClearTermApp, before App
else:
    _Base = object

log = logging.getLogger("clearterm.app")

DVR_LOOKBACK_NS = 60_000_000_000
DVR_STOP_TIMEOUT_S = 5.0
NS_PER_DAY = 86_400_000_000_000
REPLAY_ACTIONS = frozenset({"pause", "play", "faster", "slower", "step", "seek", "goto"})
END_SCAN_GZIP_MAX = 32 * 1024 * 1024  # compressed bytes read to find a .gz recording's end


def is_replay(runner: object) -> TypeGuard[ReplayRunner]:
    """Is ``runner`` a ReplayRunner? (A live or demo app does not import the replay machinery to ask.)"""
    module = sys.modules.get("tui.runtime.replay_runner")
    return module is not None and isinstance(runner, module.ReplayRunner)


def recording_end_ns(paths: list[str]) -> int | None:
    """The newest receive time in clearterm recordings (for the replay bar's progress); None if unknown."""
    newest = None
    for path in paths:
        try:
            last = _last_line(Path(path))
            t = orjson.loads(last)["t"] if last else None
        except (OSError, EOFError, orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            return None
        if not isinstance(t, int):
            return None
        newest = t if newest is None else max(newest, t)
    return newest


def _last_line(path: Path) -> bytes | None:
    if path.suffix == ".gz":
        if path.stat().st_size > END_SCAN_GZIP_MAX:
            return None
        last = None
        with gzip.open(path, "rb") as f:
            for line in f:
                if line.strip():
                    last = line
        return last
    with open(path, "rb") as f:
        f.seek(0, os.SEEK_END)
        size = f.tell()
        f.seek(max(0, size - 65536))
        lines = [ln for ln in f.read().splitlines() if ln.strip()]
    for line in reversed(lines):  # a partial last line (a killed writer) is skipped
        if line.endswith(b"}"):
            return line
    return None


class ReplayControls(_Base):
    """The App's replay and DVR part (mixed into ClearTermApp, which has ``runner`` and ``live_session``)."""

    if TYPE_CHECKING:  # what ClearTermApp provides
        runner: Runner | ReplayRunner | AttachRunner

        @property
        def live_session(self) -> Session: ...

        def refresh_view(self, slow: bool | None = None, turn: int | None = None) -> None: ...

    dvr: ReplayRunner | None = None  # a replay of the live session's recording, while shown
    _replay_end_ns: int | None = None
    _replay_bar: ReplayBar  # the App's, set when it mounts

    @property
    def replay(self) -> ReplayRunner | None:
        """The replay on screen: the DVR, or the app's own runner in ``clearterm replay``."""
        if self.dvr is not None:
            return self.dvr
        return self.runner if is_replay(self.runner) else None

    @property
    def standalone_replay(self) -> bool:
        """The app runs ``clearterm replay`` (there is no live session to go back to)."""
        return is_replay(self.runner)

    @work(exit_on_error=False, thread=True, name="replay-end")
    def _find_replay_end(self) -> None:
        """The recording's last time, for the progress bar (a thread: a .gz file must be read through)."""
        assert is_replay(self.runner), "started only for clearterm replay"
        self._replay_end_ns = recording_end_ns(self.runner.paths)

    def check_replay_action(self, action: str) -> bool | None:
        """check_action for the replay actions (False: hidden, None: greyed out)."""
        replay = self.replay
        if action == "dvr":
            return not self.standalone_replay and self.dvr is None
        if action == "leave_replay":
            return self.dvr is not None  # a standalone replay is left with q, never by r
        if replay is None:
            return False  # hidden, and the key goes to whatever else wants it
        if action == "pause":
            return not replay.paused
        if action == "play":
            return replay.paused
        if action == "faster":
            return True if replay.speed is not None else None
        if action == "slower":
            from tui.runtime.replay_runner import SPEEDS
            return True if replay.speed != SPEEDS[0] else None
        return True

    def _sync_replay_bar(self) -> None:
        replay = self.replay
        bar = self._replay_bar  # found at mount: a query would search a modal screen on top
        bar.display = replay is not None
        if replay is None:
            return
        if self.dvr is None:
            bar.show("REPLAY", replay.position_ns, replay.first_ns, self._replay_end_ns, replay.speed,
                     replay.paused, replay.finished.is_set(), "space play/pause · +/- speed · . step · "
                     "←/→ 1 min · g go to · q quit")
            return
        halted = replay.session.halt.halted
        hint = ("at now: r for live" if replay.at_edge else "space play/pause · +/- speed · . step · "
                "←/→ 1 min · g go to · r live")
        bar.show("DVR", replay.position_ns, replay.first_ns, self.live_session.clock.now_ns(), replay.speed,
                 replay.paused, False, hint, halted_then=halted, at_now=replay.at_edge)

    # -- actions ----------------------------------------------------------------------------------
    def action_pause(self) -> None:
        self._toggle_pause()

    def action_play(self) -> None:
        self._toggle_pause()

    def _toggle_pause(self) -> None:
        replay = self.replay
        if replay is not None:
            replay.toggle_pause()
            self.refresh_view()

    def action_faster(self) -> None:
        self._change_speed(+1)

    def action_slower(self) -> None:
        self._change_speed(-1)

    def _change_speed(self, direction: int) -> None:
        replay = self.replay
        if replay is None:
            return
        from tui.runtime.replay_runner import SPEEDS
        order = [s if s is not None else float("inf") for s in SPEEDS]
        current = replay.speed if replay.speed is not None else float("inf")
        if direction > 0:
            i = next((i for i, s in enumerate(order) if s > current), len(order) - 1)
        else:
            i = next((i for i in range(len(order) - 1, -1, -1) if order[i] < current), 0)
        replay.set_speed(SPEEDS[i])
        self.refresh_view()

    def action_step(self) -> None:
        replay = self.replay
        if replay is not None:
            replay.step()
            self.refresh_view()

    def action_seek(self, seconds: int) -> None:
        replay = self.replay
        if replay is None:
            return
        base = replay.position_ns or replay.first_ns
        self._seek(replay, base + int(seconds * 1e9))

    def _seek(self, replay: ReplayRunner, target_ns: int) -> None:
        """Seek to a recorded time: never before the first record, and in the DVR never past now."""
        if replay is self.dvr:
            target_ns = min(target_ns, self.live_session.clock.now_ns())
        replay.seek(max(replay.first_ns, target_ns))
        self.refresh_view()

    def action_goto(self) -> None:
        replay = self.replay
        if replay is None:
            return
        at = replay.position_ns or replay.first_ns
        day_start = at - at % NS_PER_DAY
        day = time.strftime("%Y-%m-%d", time.gmtime(at // 1_000_000_000)) if at else "the recorded day"

        def chosen(seconds: int | None) -> None:
            if seconds is not None and self.replay is replay:
                self._seek(replay, day_start + seconds * 1_000_000_000)

        self.push_screen(GotoScreen(day, utc_hms(at)), chosen)

    async def action_dvr(self) -> None:
        """Show a replay of the live session's recording so far; live ingestion goes on underneath."""
        if self.dvr is not None or self.standalone_replay:
            return
        from feeds.drivers.bus import RecordTee
        from tui.runtime.replay_runner import ReplayRunner
        session = self.live_session
        recorder = session.recorder
        # with --publish the recorder is a tee: its local side is the file (None with --no-record)
        local = recorder.local if isinstance(recorder, RecordTee) else recorder
        if recorder is None or local is None:
            self.notify("recording is off (--no-record): there is nothing to replay", severity="warning",
                        markup=False)
            return
        recorder.flush()
        try:
            dvr = ReplayRunner([str(local.path)], speed=1.0, follow=True)
        except Exception as exc:  # noqa: BLE001 - e.g. a recording that cannot be read yet
            self.notify(f"cannot replay the recording: {clean(exc)}", severity="error", markup=False)
            return
        now = session.clock.now_ns()
        started = int(dvr.header.get("started_ns") or session.started_ns or 0)
        await dvr.start()
        if now - DVR_LOOKBACK_NS > started:
            dvr.seek(now - DVR_LOOKBACK_NS)  # fast-forwards there, then pauses
        self.dvr = dvr
        self.refresh_view()

    async def action_leave_replay(self) -> None:
        """Back to live from the DVR (a standalone replay has nothing to go back to: q quits it)."""
        if self.dvr is None:
            return
        dvr, self.dvr = self.dvr, None
        self.refresh_view()
        try:
            await asyncio.wait_for(dvr.stop(), DVR_STOP_TIMEOUT_S)
        except Exception as exc:  # noqa: BLE001
            log.error("DVR stop failed: %r", exc)
