"""Perpetual futures figures from market state, pure: mark, funding (per period and annualised), the
countdown to the next funding, open interest and its change, and the perp-vs-spot basis in bps.

The spot price a perpetual is compared with is the mid of the first venue (by ``PRIORITY``) that quotes
the same unified pair without the ``:PERP`` suffix.
"""
from __future__ import annotations

from dataclasses import dataclass

from feeds.core.state import MarketState, SymbolState
from feeds.venues import PRIORITY
from feeds.venues.binance_futures import PERP_SUFFIX

FUNDING_PERIODS_PER_YEAR = 3 * 365  # Binance funds every 8 hours


@dataclass(frozen=True)
class PerpFigures:
    venue: str
    symbol: str
    unified: str
    mark: float
    index: float
    funding_rate: float  # per period, a fraction
    funding_annual: float  # the rate compounded by nothing: rate * periods a year
    next_funding_ns: int
    seconds_to_funding: float  # never negative
    open_interest: float | None
    open_interest_change: float | None  # a fraction, against the poll before
    basis_bps: float | None  # (perp mid - spot mid) / spot mid * 10_000; None without both prices
    spot_venue: str


def is_perp(unified: str) -> bool:
    return unified.endswith(PERP_SUFFIX)


def _mid(st: SymbolState) -> float | None:
    q = st.quote
    return (q.bid + q.ask) * 0.5 if q is not None and q.bid > 0 and q.ask > 0 else None


def spot_mid(state: MarketState, perp_unified: str) -> tuple[float | None, str]:
    """The spot mid to compare a perpetual with, and the venue it came from."""
    spot = perp_unified[: -len(PERP_SUFFIX)]
    rank = {v: i for i, v in enumerate(PRIORITY)}
    for st in sorted(state.by_unified(spot), key=lambda s: rank.get(s.venue, len(rank))):
        mid = _mid(st)
        if mid is not None:
            return mid, st.venue
    return None, ""


def perp_figures(state: MarketState, now_ns: int) -> list[PerpFigures]:
    """One row per perpetual that has a mark price, in unified-name order."""
    rows = []
    for st in sorted(state.symbols.values(), key=lambda s: (s.unified, s.venue)):
        mark = st.mark
        if mark is None or not is_perp(st.unified):
            continue
        oi = st.open_interest.open_interest if st.open_interest is not None else None
        prev = st.open_interest_prev.open_interest if st.open_interest_prev is not None else None
        change = (oi - prev) / prev if oi is not None and prev else None
        spot, spot_venue = spot_mid(state, st.unified)
        perp = _mid(st) or mark.mark
        basis = (perp - spot) / spot * 10_000.0 if spot else None
        rows.append(PerpFigures(st.venue, st.symbol, st.unified, mark.mark, mark.index, mark.funding_rate,
                                mark.funding_rate * FUNDING_PERIODS_PER_YEAR, mark.next_funding_ns,
                                max(0.0, (mark.next_funding_ns - now_ns) / 1e9) if mark.next_funding_ns else 0.0,
                                oi, change, basis, spot_venue))
    return rows
