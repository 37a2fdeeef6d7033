"""Signals over the aggregate: cross-venue arbitrage windows and per-venue price spikes. Pure.

``ArbitrageDetector`` watches ``Aggregate`` records (see feeds.core.aggregator) and reports when a
fee-adjusted cross-venue opportunity opens and when it closes, with its duration.
``SpikeDetector`` keeps a rolling z-score of price returns per (venue, unified symbol).
Both take the time from the caller and return events with a one-line ``describe()`` for the log.
"""
from __future__ import annotations

import math
from collections import deque
from typing import NamedTuple

from feeds.core.aggregator import Aggregate
from feeds.venues import VENUES


def _quote_ccy(unified: str) -> str:
    return unified.rpartition("/")[2] if "/" in unified else ""


DEFAULT_TAKER_FEE_BPS = {v.name: v.taker_fee_bps for v in VENUES.values()}  # the venues' base tiers


class ArbEvent(NamedTuple):
    """An arbitrage window opening ("open") or ending ("close").

    Buy ``size`` at ``buy_venue``'s ask and sell it at ``sell_venue``'s bid, both as taker.
    ``profit_bps`` = (bid x (1 - sell fee) - ask x (1 + buy fee)) / ask x 1e4 and ``profit_quote``
    is that per-unit amount times ``size``, in the quote currency. For "close" the prices, size
    and profit are the last ones seen while the window was open; ``peak_profit_bps`` is its best.
    """

    kind: str  # "open" or "close"
    unified: str
    buy_venue: str
    sell_venue: str
    buy_price: float  # the buy venue's ask
    sell_price: float  # the sell venue's bid
    size: float  # min(ask size at the buy venue, bid size at the sell venue)
    profit_bps: float
    profit_quote: float
    opened_ns: int
    at_ns: int
    duration_ns: int  # 0 for "open"
    peak_profit_bps: float

    def describe(self) -> str:
        ccy = _quote_ccy(self.unified)
        if self.kind == "open":
            return (f"ARB open {self.unified}: buy {self.buy_venue} {self.buy_price:.10g} "
                    f"sell {self.sell_venue} {self.sell_price:.10g} size {self.size:.8g} "
                    f"net {self.profit_bps:.2f} bps ({self.profit_quote:.2f} {ccy})")
        return (f"ARB close {self.unified}: buy {self.buy_venue} sell {self.sell_venue} "
                f"after {self.duration_ns / 1e9:.3f} s (peak {self.peak_profit_bps:.2f} bps)")


Opportunity = tuple[float, float, float, float, float]  # (buy_price, sell_price, size, profit_bps, profit_quote)


Quoted = tuple[str, float, float, float, float]  # a fresh venue's (venue, bid, bid_size, ask, ask_size)


def _quoted(agg: Aggregate) -> list[Quoted]:
    """The fresh venues of ``agg`` with a whole quote (a view with a quote has all four figures)."""
    return [(v.venue, v.bid, v.bid_size, v.ask, v.ask_size) for v in agg.venues
            if not v.stale and v.bid is not None and v.ask is not None
            and v.bid_size is not None and v.ask_size is not None]


class _Window:
    __slots__ = ("opened_ns", "last", "peak_bps")

    def __init__(self, opened_ns: int, last: Opportunity) -> None:
        self.opened_ns = opened_ns
        self.last = last  # (buy_price, sell_price, size, profit_bps, profit_quote)
        self.peak_bps = last[3]


class ArbitrageDetector:
    """Opens and closes cross-venue windows keyed by (unified, buy_venue, sell_venue).

    A window exists while some fresh venue's bid, net of its taker fee, exceeds another fresh
    venue's ask plus its taker fee by more than ``min_profit_bps``, with a positive size on both
    sides. Venues missing from ``taker_fee_bps`` pay ``default_fee_bps``.
    """

    def __init__(self, taker_fee_bps: dict[str, float] | None = None, min_profit_bps: float = 0.0,
                 default_fee_bps: float = 10.0) -> None:
        self.taker_fee_bps = dict(DEFAULT_TAKER_FEE_BPS if taker_fee_bps is None else taker_fee_bps)
        self.min_profit_bps = min_profit_bps
        self.default_fee_bps = default_fee_bps
        self._open: dict[str, dict[tuple[str, str], _Window]] = {}  # unified -> (buy, sell) -> window
        self._quoted: dict[str, list[Quoted]] = {}  # unified -> the fresh quotes of its last evaluated update

    def _fee(self, venue: str) -> float:
        return self.taker_fee_bps.get(venue, self.default_fee_bps) * 1e-4

    def opportunities(self, agg: Aggregate) -> dict[tuple[str, str], Opportunity]:
        """Current (buy_venue, sell_venue) -> (buy_price, sell_price, size, profit_bps, profit_quote)."""
        return self._found(_quoted(agg))

    def _found(self, quoted: list[Quoted]) -> dict[tuple[str, str], Opportunity]:
        found: dict[tuple[str, str], Opportunity] = {}
        if len(quoted) < 2:
            return found
        min_bps = self.min_profit_bps
        for buy_venue, _, _, buy_ask, buy_ask_size in quoted:
            cost = buy_ask * (1.0 + self._fee(buy_venue))
            for sell_venue, sell_bid, sell_bid_size, _, _ in quoted:
                if sell_venue == buy_venue or sell_bid <= buy_ask:
                    continue
                net = sell_bid * (1.0 - self._fee(sell_venue)) - cost
                bps = net / buy_ask * 1e4
                size = min(buy_ask_size, sell_bid_size)
                if bps <= min_bps or size <= 0.0:
                    continue
                key = (buy_venue, sell_venue)
                prev = found.get(key)
                if prev is None or bps > prev[3]:  # a venue listing two symbols: keep the better pair
                    found[key] = (buy_ask, sell_bid, size, bps, net * size)
        return found

    def update(self, agg: Aggregate, now_ns: int) -> list[ArbEvent]:
        """Events for windows of ``agg.unified`` that opened or closed since the last update."""
        unified = agg.unified
        quoted = _quoted(agg)
        windows = self._open.get(unified)
        if len(quoted) < 2 and not windows:  # no pair of quotes, nothing open: nothing opens or closes
            return []
        if quoted == self._quoted.get(unified):  # the same quotes: the same opportunities as last time
            return []
        self._quoted[unified] = quoted
        found = self._found(quoted)
        if windows is None:
            if not found:
                return []
            windows = self._open[unified] = {}
        events: list[ArbEvent] = []
        for key in [k for k in windows if k not in found]:
            w = windows.pop(key)
            bp, sp, size, bps, quote = w.last
            events.append(ArbEvent("close", unified, key[0], key[1], bp, sp, size, bps, quote,
                                   w.opened_ns, now_ns, now_ns - w.opened_ns, w.peak_bps))
        for key, last in found.items():
            held = windows.get(key)
            if held is None:
                windows[key] = _Window(now_ns, last)
                events.append(ArbEvent("open", unified, key[0], key[1], *last, now_ns, now_ns, 0, last[3]))
            else:
                held.last = last
                if last[3] > held.peak_bps:
                    held.peak_bps = last[3]
        return events

    def open_windows(self) -> list[tuple[str, str, str, int]]:
        """(unified, buy_venue, sell_venue, opened_ns) of every window open now."""
        return [(u, b, s, w.opened_ns) for u, ws in sorted(self._open.items()) for (b, s), w in sorted(ws.items())]


class SpikeEvent(NamedTuple):
    """A return whose z-score against the preceding window reached the threshold."""

    venue: str
    unified: str
    price: float
    prev_price: float
    return_bps: float
    z: float
    mean_bps: float  # of the window before this return
    std_bps: float  # ditto, before the floor
    at_ns: int

    def describe(self) -> str:
        return (f"SPIKE {self.venue} {self.unified}: {self.prev_price:.10g} -> {self.price:.10g} "
                f"({self.return_bps:+.1f} bps, z={self.z:.1f})")


class _ReturnWindow:
    __slots__ = ("prev", "returns", "total", "total_sq", "updates")

    def __init__(self, price: float) -> None:
        self.prev = price
        self.returns: deque[float] = deque()
        self.total = 0.0
        self.total_sq = 0.0
        self.updates = 0


class SpikeDetector:
    """Rolling z-score of simple returns per (venue, unified); O(1) per update.

    Each new return is scored against the mean and standard deviation of the ``window`` returns
    before it (so a jump does not dilute its own baseline), once at least ``min_samples`` exist.
    The deviation is floored at ``min_std`` (1e-5 = 0.1 bps) so a flat series followed by a jump
    gives a large finite z instead of a division by zero, and sub-tick jitter on a flat series
    does not fire.
    """

    RESUM_EVERY = 4096  # recompute the running sums now and then so float drift cannot build up

    def __init__(self, window: int = 60, z_threshold: float = 4.0, min_samples: int = 20,
                 min_std: float = 1e-5) -> None:
        if window < 2 or min_samples < 2 or min_samples > window:
            raise ValueError("need 2 <= min_samples <= window")
        self.window = window
        self.z_threshold = z_threshold
        self.min_samples = min_samples
        self.min_std = min_std
        self._series: dict[tuple[str, str], _ReturnWindow] = {}

    def update(self, venue: str, unified: str, price: float, now_ns: int) -> SpikeEvent | None:
        if not (price > 0.0 and math.isfinite(price)):
            return None
        key = (venue, unified)
        s = self._series.get(key)
        if s is None:
            self._series[key] = _ReturnWindow(price)
            return None
        prev = s.prev
        s.prev = price
        r = price / prev - 1.0
        returns = s.returns
        n = len(returns)
        event = None
        if n >= self.min_samples:
            mean = s.total / n
            std = math.sqrt(max(s.total_sq / n - mean * mean, 0.0))
            z = (r - mean) / (std if std > self.min_std else self.min_std)
            if abs(z) >= self.z_threshold:
                event = SpikeEvent(venue, unified, price, prev, r * 1e4, z, mean * 1e4, std * 1e4, now_ns)
        returns.append(r)
        s.total += r
        s.total_sq += r * r
        if n + 1 > self.window:
            old = returns.popleft()
            s.total -= old
            s.total_sq -= old * old
        s.updates += 1
        if s.updates % self.RESUM_EVERY == 0:
            s.total = math.fsum(returns)
            s.total_sq = math.fsum(x * x for x in returns)
        return event

    def reset(self, venue: str, unified: str) -> None:
        """Forget one series (after a reconnect the first price must not count as a return)."""
        self._series.pop((venue, unified), None)
