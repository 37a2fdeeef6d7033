"""Small text helpers the widgets share: UTC times from nanoseconds, milliseconds, basis points."""
from __future__ import annotations

import time

from feeds.venues import VENUES


def utc_hms(ns: int, millis: bool = False) -> str:
    """``12:00:44`` (or ``12:00:44.123``) in UTC; ``--:--:--`` for no time."""
    if ns <= 0:
        return "--:--:--.---" if millis else "--:--:--"
    stamp = time.strftime("%H:%M:%S", time.gmtime(ns // 1_000_000_000))
    return f"{stamp}.{ns // 1_000_000 % 1000:03d}" if millis else stamp


def utc_datetime(ns: int) -> str:
    """``2026-01-01 12:00:44`` in UTC."""
    if ns <= 0:
        return "----------- --:--:--"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ns // 1_000_000_000))


def ms_number(ms: float | None) -> str:
    """A latency in ms without the unit: ``6.03``, ``34.2``, ``120``, ``1025``; ``-`` when unknown."""
    if ms is None:
        return "-"
    if ms >= 100:
        return f"{ms:.0f}"
    if ms >= 10:
        return f"{ms:.1f}"
    return f"{ms:.2f}"


def bps_text(bps: float | None, signed: bool = True) -> str:
    if bps is None:
        return "-"
    return f"{bps:+.2f}" if signed else f"{bps:.2f}"


def short_venue(venue: str) -> str:
    """A three-letter venue tag for narrow screens."""
    declared = VENUES.get(venue)
    return declared.short if declared is not None else venue[:3]
