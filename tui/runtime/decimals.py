"""Numbers written at the precision the venue used, not with float noise (``185.17800000000005``).

A price the venue sent as ``"185.178"`` is the float nearest 185.178; sums of sizes (a candle's volume
built from trades) pick up noise far below the venue's step. The precision of a column is the most
decimal places any of its values needs once that noise is ignored.
"""
from __future__ import annotations

from collections.abc import Iterable

MAX_DECIMALS = 12
_NOISE = 1e-11  # relative: far above float rounding of sums, far below any venue's tick or step


def decimals(value: float) -> int:
    """The fewest decimal places that give ``value`` back, float noise ignored (at most 12)."""
    tolerance = abs(value) * _NOISE + 1e-15
    for places in range(MAX_DECIMALS):
        if abs(value - round(value, places)) <= tolerance:
            return places
    return MAX_DECIMALS


def column_decimals(values: Iterable[float]) -> int:
    return max((decimals(v) for v in values), default=0)


def fixed(value: float, places: int) -> str:
    return f"{value:.{places}f}"
