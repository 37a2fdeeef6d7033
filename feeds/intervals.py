"""Bar intervals: their names (as Binance spells them, which the app uses everywhere) and lengths."""
from __future__ import annotations

_MINUTE = 60_000
_DAY = 1440 * _MINUTE
INTERVALS: dict[str, int] = {
    "1s": 1000, "1m": _MINUTE, "3m": 3 * _MINUTE, "5m": 5 * _MINUTE, "15m": 15 * _MINUTE,
    "30m": 30 * _MINUTE, "1h": 60 * _MINUTE, "2h": 120 * _MINUTE, "4h": 240 * _MINUTE,
    "6h": 360 * _MINUTE, "8h": 480 * _MINUTE, "12h": 720 * _MINUTE, "1d": _DAY, "3d": 3 * _DAY,
    "1w": 7 * _DAY,
    "1M": 30 * _DAY,  # nominal only: calendar months vary (28-31 days); bar edges come from the venue
}
"""Interval text -> length in milliseconds."""
