"""Clocks: every component that needs "now" asks one of these, so replay can run on recorded time."""
from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol


class Clock(Protocol):
    """Anything that tells the time in integer nanoseconds since the epoch."""

    def now_ns(self) -> int: ...


class WallClock:
    """Real time, integer nanoseconds since the epoch."""

    def now_ns(self) -> int:
        return time.time_ns()


def now_ns_reader(clock: Clock) -> Callable[[], int]:
    """What reads ``clock`` per frame: its ``now_ns``, or for the wall clock ``time.time_ns`` itself (the same
    value without a Python call per read: the receive loop and the pipeline each read it once a frame)."""
    return time.time_ns if type(clock) is WallClock else clock.now_ns


class ManualClock:
    """A clock that only moves when told: replay sets it to each frame's receive time, tests drive it."""

    def __init__(self, start_ns: int = 0) -> None:
        self._now = start_ns

    def now_ns(self) -> int:
        return self._now

    def set(self, now_ns: int) -> None:
        if now_ns > self._now:
            self._now = now_ns

    def advance(self, seconds: float) -> None:
        self._now += int(seconds * 1e9)
