"""Cross-exchange aggregation: one ``Aggregate`` per unified symbol from every venue's state.

Time-injected: ``Aggregator.compute(state, now_ns)`` reads the market state and returns records. It
is meant for the feed's tick (10 Hz) and the end of a run, not for every message. It is incremental:
a unified symbol's figures are computed again only when one of its venues' inputs (quote, last trade,
session volume) changed, or when the time reached a venue's staleness edge; otherwise the figures of the
last computation are kept and only the venues' ages move. ``compute_one`` keeps nothing.

A venue's data time is the newer of its quote's and its last trade's receive time. A venue whose
data is older than ``stale_after_s`` (or that has neither a quote nor a trade) is *stale*: it is
shown in ``venues`` and listed in ``stale_venues`` but excluded from every figure.

A venue's *price* is its last trade price; when that trade is older than ``stale_after_s`` while
the quote is not, the quote mid is used instead (an old print on a quiet market says less
than the current book). With no trade the price is the quote mid.
"""
from __future__ import annotations

from collections.abc import Generator
from operator import itemgetter
from typing import Any, NamedTuple

from feeds.core.state import MarketState, SymbolState
from feeds.venues import PRIORITY

STRATEGIES = ("first", "last", "average", "median", "vwap", "best_bid_ask")


class VenueView(NamedTuple):
    """One venue's contribution to an aggregate. Quote fields are None without a quote."""

    venue: str
    symbol: str
    bid: float | None
    bid_size: float | None
    ask: float | None
    ask_size: float | None
    last: float | None  # last trade price
    volume: float  # base volume traded this session
    age_ns: int | None  # now - data time; None when the venue has no quote and no trade
    stale: bool
    price: float | None = None  # the price used by the strategies (see the module docstring)
    deviation_bps: float | None = None  # (price - median) / median * 1e4; None when stale
    updated_ns: int = 0  # data time: newest receive time of quote and trade


class Aggregate(NamedTuple):
    """Cross-venue figures for one unified symbol, computed over the venues that are not stale.

    Prices by strategy (None when no fresh venue has a price):

    - ``first``: the price of the first fresh venue in the aggregator's ``venue_priority``
      (venues not named there follow in alphabetical order).
    - ``last``: the price of the fresh venue whose data was received most recently.
    - ``average``: the arithmetic mean of the fresh venues' prices.
    - ``median``: the median of those prices (mean of the two middle ones for an even count).
    - ``vwap``: sum(price x session volume) / sum(session volume) over fresh venues; ``average``
      when their total volume is 0.
    - ``best_bid_ask``: (best_bid + best_ask) / 2, None unless both exist.

    ``spread_bps`` is (best_ask - best_bid) / ((best_ask + best_bid) / 2) x 1e4 across venues:
    negative when one venue's bid is above another's ask. ``dispersion_bps`` is
    (max price - min price) / median x 1e4. ``volume`` sums the fresh venues' session volumes.
    """

    unified: str
    venues: list[VenueView]  # every venue, sorted by (venue, symbol)
    best_bid: float | None
    best_bid_venue: str | None
    best_bid_size: float | None
    best_ask: float | None
    best_ask_venue: str | None
    best_ask_size: float | None
    spread_bps: float | None
    first: float | None
    last: float | None
    average: float | None
    median: float | None
    vwap: float | None
    best_bid_ask: float | None
    dispersion_bps: float | None
    volume: float
    stale_venues: list[str]

    def price(self, strategy: str) -> float | None:
        """The price by one of ``STRATEGIES``."""
        if strategy not in STRATEGIES:
            raise ValueError(f"unknown price strategy {strategy!r}; expected one of {', '.join(STRATEGIES)}")
        price: float | None = getattr(self, strategy)
        return price

    def to_stats(self) -> dict[str, Any]:
        """The run-statistics form (design.md "aggregate"): JSON-ready, None where nothing is known."""
        names = [v.venue for v in self.venues]
        shared = len(set(names)) != len(names)  # one venue listing two symbols of this unified pair
        venues: dict[str, dict[str, Any]] = {}
        for v in self.venues:
            venues[f"{v.venue}:{v.symbol}" if shared else v.venue] = {
                "symbol": v.symbol, "bid": v.bid, "ask": v.ask, "last": v.last, "price": v.price,
                "volume": v.volume, "age_ms": None if v.age_ns is None else round(v.age_ns / 1e6, 3),
                "deviation_bps": v.deviation_bps, "stale": v.stale,
            }
        return {
            "best_bid": self.best_bid, "best_bid_venue": self.best_bid_venue, "best_bid_size": self.best_bid_size,
            "best_ask": self.best_ask, "best_ask_venue": self.best_ask_venue, "best_ask_size": self.best_ask_size,
            "stale_venues": list(self.stale_venues),
            "spread_bps": self.spread_bps,
            "first": self.first, "last": self.last, "average": self.average, "median": self.median,
            "vwap": self.vwap, "best_bid_ask": self.best_bid_ask,
            "dispersion_bps": self.dispersion_bps, "volume": self.volume,
            "venues": venues,
        }


_by_venue_symbol = itemgetter(0, 1)  # a VenueView's (venue, symbol)
_DEVIATION = VenueView._fields.index("deviation_bps")
_new = tuple.__new__  # builds a NamedTuple without its Python-level __new__ (as the codecs do)


def _median(sorted_values: list[float]) -> float:
    n = len(sorted_values)
    mid = n // 2
    if n % 2:
        return sorted_values[mid]
    return (sorted_values[mid - 1] + sorted_values[mid]) / 2.0


class _Figures:
    """A unified symbol's last computation: its inputs, result, and until when the result holds."""

    __slots__ = ("group", "inputs", "agg", "computed_ns", "valid_until_ns", "data_ns")

    def __init__(self, group: list[SymbolState], inputs: list[object], agg: Aggregate, computed_ns: int,
                 valid_until_ns: int, data_ns: list[int]) -> None:
        self.group = group
        self.inputs = inputs
        self.agg = agg
        self.computed_ns = computed_ns
        self.valid_until_ns = valid_until_ns
        self.data_ns = data_ns  # per view of ``agg.venues``: its data time, -1 without data


def _inputs(group: list[SymbolState]) -> list[object]:
    """What a unified symbol's figures are computed from, besides the time (compared by identity)."""
    out: list[object] = []
    for st in group:
        out += (st.quote, st.last_trade, st.volume)
    return out


def _same_inputs(group: list[SymbolState], inputs: list[object]) -> bool:
    i = 0
    for st in group:
        if st.quote is not inputs[i] or st.last_trade is not inputs[i + 1] or st.volume != inputs[i + 2]:
            return False
        i += 3
    return True


_AGE = VenueView._fields.index("age_ns")
_NEVER = 1 << 62


class Aggregator:
    """Builds ``Aggregate`` records from a ``MarketState`` at a given time."""

    def __init__(self, stale_after_s: float = 5.0, venue_priority: tuple[str, ...] = PRIORITY) -> None:
        self.stale_after_s = stale_after_s
        self.stale_after_ns = int(stale_after_s * 1e9)
        self.venue_priority = tuple(venue_priority)
        self._rank = {v: i for i, v in enumerate(self.venue_priority)}
        self._figures: dict[str, _Figures] = {}  # unified -> its last computation (``compute``)
        self._groups: dict[str, list[SymbolState]] = {}  # unified -> its SymbolStates, in state order
        self._grouped: tuple[MarketState | None, int] = (None, -1)  # the state and symbol count grouped
        self.recomputed: list[str] = []  # the unified symbols whose figures the last ``compute`` computed

    def compute(self, state: MarketState, now_ns: int) -> dict[str, Aggregate]:
        """Every unified symbol in ``state``, in alphabetical order."""
        work = self.compute_slices(state, now_ns)
        while True:
            try:
                next(work)
            except StopIteration as done:
                out: dict[str, Aggregate] = done.value
                return out

    def compute_slices(self, state: MarketState, now_ns: int,
                       per_slice: int = 10) -> Generator[None, None, dict[str, Aggregate]]:
        """``compute``, yielding after every ``per_slice`` symbols computed (a live tick reads frames between)."""
        symbols = state.symbols
        if self._grouped[0] is not state or self._grouped[1] != len(symbols):  # symbols are only ever added
            groups: dict[str, list[SymbolState]] = {}
            for st in symbols.values():
                g = groups.get(st.unified)
                if g is None:
                    groups[st.unified] = [st]
                else:
                    g.append(st)
            self._groups = {u: groups[u] for u in sorted(groups)}
            self._grouped = (state, len(symbols))
            self._figures = {u: f for u, f in self._figures.items() if f.group == groups.get(u)}
        out: dict[str, Aggregate] = {}
        figures = self._figures
        recomputed: list[str] = []
        for u, group in self._groups.items():
            f = figures.get(u)
            if f is not None and f.computed_ns <= now_ns <= f.valid_until_ns and _same_inputs(group, f.inputs):
                out[u] = self._aged(f, now_ns)
            else:
                out[u] = self._compute(u, group, now_ns)
                recomputed.append(u)
                if not len(recomputed) % per_slice:
                    yield
        self.recomputed = recomputed
        return out

    def _compute(self, unified: str, group: list[SymbolState], now_ns: int) -> Aggregate:
        agg = self._aggregate(unified, group, now_ns)
        limit = self.stale_after_ns
        valid_until = _NEVER  # the first time a venue's staleness or price choice changes
        data: list[int] = []
        for v in agg.venues:
            data.append(-1 if v.age_ns is None else v.updated_ns)
        for st in group:
            for ev in (st.quote, st.last_trade):
                if ev is not None:
                    edge = ev.recv_ns + limit
                    if now_ns <= edge < valid_until:
                        valid_until = edge
        self._figures[unified] = _Figures(group, _inputs(group), agg, now_ns, valid_until, data)
        return agg

    @staticmethod
    def _aged(f: _Figures, now_ns: int) -> Aggregate:
        """The figures of the last computation, with the venues' ages as of ``now_ns``."""
        agg = f.agg
        views = [v if d < 0 else _new(VenueView, (*v[:_AGE], max(now_ns - d, 0), *v[_AGE + 1:]))
                 for v, d in zip(agg.venues, f.data_ns)]
        return _new(Aggregate, (agg[0], views, *agg[2:]))

    def compute_one(self, state: MarketState, unified: str, now_ns: int) -> Aggregate | None:
        """One unified symbol; None when no venue has it."""
        group = state.by_unified(unified)
        return self._aggregate(unified, group, now_ns) if group else None

    def stats(self, state: MarketState, now_ns: int) -> dict[str, dict[str, Any]]:
        """``{unified: Aggregate.to_stats()}`` for the run statistics."""
        return {u: a.to_stats() for u, a in self.compute(state, now_ns).items()}
    def _view(self, st: SymbolState, now_ns: int) -> VenueView:
        q = st.quote
        t = st.last_trade
        q_ns = q.recv_ns if q is not None else -1
        t_ns = t.recv_ns if t is not None else -1
        data_ns = q_ns if q_ns > t_ns else t_ns
        limit = self.stale_after_ns
        if data_ns < 0:
            age = None
            stale = True
        else:
            age = now_ns - data_ns
            if age < 0:  # received after the sliced tick read its time: fresh, not from the future
                age = 0
            stale = age > limit
        if t is not None and (q is None or now_ns - t_ns <= limit or now_ns - q_ns > limit):
            price = t.price
        elif q is not None:
            price = (q.bid + q.ask) / 2.0
        else:
            price = None
        if q is None:
            return _new(VenueView, (st.venue, st.symbol, None, None, None, None, t.price if t else None, st.volume,
                                    age, stale, price, None, max(data_ns, 0)))
        return _new(VenueView, (st.venue, st.symbol, q.bid, q.bid_size, q.ask, q.ask_size, t.price if t else None,
                                st.volume, age, stale, price, None, data_ns))

    def _aggregate(self, unified: str, group: list[SymbolState], now_ns: int) -> Aggregate:
        if len(group) == 1:
            return _one_venue(unified, self._view(group[0], now_ns))
        return self._aggregate_many(unified, group, now_ns)

    def _aggregate_many(self, unified: str, group: list[SymbolState], now_ns: int) -> Aggregate:
        """The figures by their definitions (``Aggregate``), for any number of venues."""
        views = [self._view(st, now_ns) for st in group]
        if len(views) > 1:
            views.sort(key=_by_venue_symbol)
        fresh = [v for v in views if not v.stale]
        stale_venues = sorted({v.venue for v in views if v.stale})

        best_bid = best_ask = None
        bid_view = ask_view = None
        for v in fresh:
            if v.bid is not None and (best_bid is None or v.bid > best_bid):
                best_bid, bid_view = v.bid, v
            if v.ask is not None and (best_ask is None or v.ask < best_ask):
                best_ask, ask_view = v.ask, v
        spread_bps = best_bid_ask = None
        if best_bid is not None and best_ask is not None:
            best_bid_ask = (best_bid + best_ask) / 2.0
            spread_bps = (best_ask - best_bid) / best_bid_ask * 1e4

        pairs = [(v, v.price) for v in fresh if v.price is not None]  # (view, its price), price known
        priced = [v for v, _ in pairs]
        first: float | None = None
        last: float | None = None
        average: float | None = None
        median: float | None = None
        vwap: float | None = None
        dispersion: float | None = None
        volume = 0.0
        for v in fresh:
            volume += v.volume
        if priced:
            rank = self._rank
            far = len(rank)
            first = priced[0].price if len(priced) == 1 else \
                min(priced, key=lambda v: (rank.get(v.venue, far), v.venue, v.symbol)).price
            newest = priced[0]
            for v in priced:
                if v.updated_ns > newest.updated_ns:
                    newest = v
            last = newest.price
            prices = sorted(p for _, p in pairs)
            average = sum(prices) / len(prices)
            mid = median = _median(prices)
            weight = sum(v.volume for v in priced)
            vwap = sum(p * v.volume for v, p in pairs) / weight if weight > 0.0 else average
            dispersion = (prices[-1] - prices[0]) / mid * 1e4
            views = [_new(VenueView, (*v[:_DEVIATION], (v.price - mid) / mid * 1e4, v.updated_ns))
                     if not v.stale and v.price is not None else v for v in views]

        return Aggregate(
            unified, views,
            best_bid, bid_view.venue if bid_view else None, bid_view.bid_size if bid_view else None,
            best_ask, ask_view.venue if ask_view else None, ask_view.ask_size if ask_view else None,
            spread_bps, first, last, average, median, vwap, best_bid_ask, dispersion, volume, stale_venues,
        )


def _one_venue(unified: str, v: VenueView) -> Aggregate:
    """``Aggregator._aggregate_many`` of a one-venue symbol: the same figures by the same float operations."""
    if v.stale:
        return _new(Aggregate, (unified, [v], None, None, None, None, None, None, None, None, None, None, None,
                                None, None, None, 0.0, [v.venue]))
    bid, ask = v.bid, v.ask
    spread_bps = best_bid_ask = None
    if bid is not None and ask is not None:
        best_bid_ask = (bid + ask) / 2.0
        spread_bps = (ask - bid) / best_bid_ask * 1e4
    volume = 0.0 + v.volume  # sum() over one venue
    p = v.price
    if p is None:
        first = last = average = median = vwap = dispersion = None
        views = [v]
    else:
        first = last = median = p
        average = (0.0 + p) / 1
        vwap = (0.0 + p * v.volume) / volume if volume > 0.0 else average
        dispersion = (p - p) / p * 1e4
        views = [_new(VenueView, (*v[:_DEVIATION], dispersion, v.updated_ns))]
    return _new(Aggregate, (
        unified, views,
        bid, v.venue if bid is not None else None, v.bid_size if bid is not None else None,
        ask, v.venue if ask is not None else None, v.ask_size if ask is not None else None,
        spread_bps, first, last, average, median, vwap, best_bid_ask, dispersion, volume, []))
