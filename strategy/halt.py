"""The trading halt: one on/off state for the whole app, its history, and the automatic halt detectors.

A halt is set by the operator (a key, ``--halted``, FLAG_TRADING_HALTED) or automatically (stale feed,
reconnect storm, clock skew, a paper risk limit breached: ``risk_limit_cause``). Only an operator
resumes: an automatic cause clearing up does not make it safe to trade again without a look. A halt while halted (or a resume while running) is ignored and
returns None, so the history holds only real changes. Listeners (recorder, audit log) get every record.
"""
from __future__ import annotations

import datetime as _dt
from collections import deque
from collections.abc import Callable, Mapping
from typing import NamedTuple, Protocol

HALT_ENV_FLAG = "FLAG_TRADING_HALTED"
_TRUE_WORDS = frozenset({"1", "true", "yes"})
BY_VALUES = ("operator", "auto")


class Clock(Protocol):
    def now_ns(self) -> int: ...


class HaltRecord(NamedTuple):
    at_ns: int
    action: str  # "halt" or "resume"
    cause: str  # for a resume: the cause that was cleared
    by: str  # "operator" or "auto"

    def to_json(self) -> dict[str, str]:
        """``{"at": "2026-11-21T10:00:00Z", "cause": ..., "by": ..., "action": ...}`` (UTC, whole seconds)."""
        at = _dt.datetime.fromtimestamp(self.at_ns // 1_000_000_000, _dt.UTC)
        return {"at": at.strftime("%Y-%m-%dT%H:%M:%SZ"), "cause": self.cause, "by": self.by,
                "action": self.action}


RISK_LIMIT_PREFIX = "risk limit breached"


def risk_limit_cause(limit: str, detail: str) -> str:
    """The halt cause of a breached risk limit: ``risk limit breached: max loss per day (lost 301.20 ...)``."""
    return f"{RISK_LIMIT_PREFIX}: {limit} ({detail})"


def halt_from_env(environ: Mapping[str, str]) -> bool:
    """True when FLAG_TRADING_HALTED is "1", "true" or "yes" (any case, surrounding spaces ignored)."""
    return environ.get(HALT_ENV_FLAG, "").strip().lower() in _TRUE_WORDS


class TradingHalt:
    def __init__(self, clock: Clock, halted: bool = False, cause: str = "") -> None:
        self.clock = clock
        self.halted = False
        self.cause = ""
        self.history: list[HaltRecord] = []
        self.listeners: list[Callable[[HaltRecord], None]] = []
        if halted:
            # Starting halted (--halted or the env flag) is an operator choice; it is in the history
            # but no listener exists yet to hear it.
            self.halt(cause or "started halted", by="operator")

    def halt(self, cause: str, by: str = "operator") -> HaltRecord | None:
        if by not in BY_VALUES:
            raise ValueError(f"by must be one of {BY_VALUES}, got {by!r}")
        if self.halted:
            return None
        self.halted = True
        self.cause = cause
        return self._record("halt", cause, by)

    def resume(self, by: str = "operator") -> HaltRecord | None:
        if by != "operator":
            raise ValueError(f"only an operator resumes trading, got by={by!r}")
        if not self.halted:
            return None
        cause, self.cause = self.cause, ""
        self.halted = False
        return self._record("resume", cause, by)

    def halts_json(self) -> list[dict[str, str]]:
        """The halt records (not the resumes) as the statistics object's "halts" list."""
        return [r.to_json() for r in self.history if r.action == "halt"]

    def _record(self, action: str, cause: str, by: str) -> HaltRecord:
        record = HaltRecord(self.clock.now_ns(), action, cause, by)
        self.history.append(record)
        for listener in list(self.listeners):
            listener(record)
        return record


class ReconnectStormDetector:
    """Too many reconnects in a sliding window. ``record`` is true whenever the window holds more than
    ``max_reconnects`` reconnects, so a storm that outlasts an operator's resume halts again."""

    def __init__(self, max_reconnects: int = 5, window_s: float = 60) -> None:
        if max_reconnects < 1 or window_s <= 0:
            raise ValueError("max_reconnects must be >= 1 and window_s > 0")
        self.max_reconnects = max_reconnects
        self.window_ns = int(window_s * 1_000_000_000)
        self._times: deque[int] = deque(maxlen=max_reconnects + 1)  # enough to see the threshold crossed

    def record(self, now_ns: int) -> bool:
        times = self._times
        times.append(now_ns)
        return len(times) == times.maxlen and now_ns - times[0] <= self.window_ns

    def count(self, now_ns: int) -> int:
        """Reconnects still inside the window (capped at max_reconnects + 1)."""
        return sum(1 for t in self._times if now_ns - t <= self.window_ns)


class ClockSkewMonitor:
    """Local clock vs exchange clock, robust to single late frames.

    Keeps the last ``window`` (recv - exch) differences and reports skew when their median is beyond
    ``threshold_ms`` in either direction, i.e. when more than half of them are beyond it on the same
    side (counted incrementally, so ``observe`` is O(1) and cheap enough for every message). No verdict
    before ``min_samples`` observations. Frames without an exchange time (exch_ns 0) are not counted.
    """

    def __init__(self, threshold_ms: float = 1000, window: int = 50, min_samples: int = 10) -> None:
        if threshold_ms <= 0 or window < 1 or not 1 <= min_samples <= window:
            raise ValueError("threshold_ms must be > 0 and 1 <= min_samples <= window")
        self.threshold_ns = int(threshold_ms * 1_000_000)
        self.window = window
        self.min_samples = min_samples
        self._diffs: list[int] = []
        self._next = 0  # ring position once the window is full
        self._ahead = 0  # differences > +threshold: frames arriving late / local clock ahead
        self._behind = 0  # differences < -threshold: local clock behind the exchange
        self.skewed = False

    def observe(self, exch_ns: int, recv_ns: int) -> bool:
        if not exch_ns:
            return self.skewed
        diff = recv_ns - exch_ns
        threshold = self.threshold_ns
        diffs = self._diffs
        if len(diffs) < self.window:
            diffs.append(diff)
        else:
            i = self._next
            old = diffs[i]
            if old > threshold:
                self._ahead -= 1
            elif old < -threshold:
                self._behind -= 1
            diffs[i] = diff
            self._next = (i + 1) % self.window
        if diff > threshold:
            self._ahead += 1
        elif diff < -threshold:
            self._behind += 1
        n = len(diffs)
        self.skewed = n >= self.min_samples and (2 * self._ahead > n or 2 * self._behind > n)
        return self.skewed

    @property
    def median_ms(self) -> float | None:
        """The median (recv - exch) difference in ms, for display; None before any observation."""
        diffs = sorted(self._diffs)
        n = len(diffs)
        if not n:
            return None
        mid = n // 2
        median = diffs[mid] if n % 2 else (diffs[mid - 1] + diffs[mid]) / 2
        return median / 1e6
