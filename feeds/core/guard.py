"""The guard: validates decoded market events and finds duplicates and trade-id gaps.

Every check returns ``None`` (accept) or a reason key. Duplicates are not rejections: the caller
counts them separately. Prices must be finite and positive and not absurdly far from the last
accepted price of the same stream; sizes finite and not negative; exchange times not far in the future.
Chained comparisons such as ``0.0 < price < INF`` are false for NaN too, so they check finiteness at once.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from feeds.events import (
        BookDelta,
        BookSnapshot,
        Candle,
        Level3Snapshot,
        Level3Update,
        Liquidation,
        MarkPrice,
        OpenInterest,
        Quote,
        Ticker,
        Trade,
    )

MAX_FUTURE_NS = 10 * 1_000_000_000  # a venue clock this far ahead of ours is wrong, not early
OUTLIER_FACTOR = 10.0  # a 10x move between two updates of one stream is a bad print, not a market
REANCHOR_AFTER = 20  # ...unless it persists: then the reference was the bad one
MAX_TRACKED_MISSING = 1000
MAX_FUNDING_RATE = 0.05  # 5 % per period: far beyond any venue's cap, so a bigger rate is a bad field
_INF = math.inf


class _Stream:
    """What the guard remembers of one (venue, symbol)."""

    __slots__ = ("last_trade_id", "ref_price", "outliers", "missing")

    def __init__(self) -> None:
        self.last_trade_id = 0
        self.ref_price = 0.0  # 0: no reference yet
        self.outliers = 0
        self.missing: set[int] | None = None  # trade ids skipped lately, for reordered frames


class Guard:
    def __init__(self) -> None:
        self._streams: dict[tuple[str, str], _Stream] = {}
        self._trade_checks: dict[tuple[str, str], Callable[[Trade, int], str | None]] = {}
        self._quote_checks: dict[tuple[str, str], Callable[[Quote, int], str | None]] = {}
        self.gaps = 0  # trade ids skipped (missed trades), counted per jump
        self.late_fills = 0  # out-of-order trades that filled a hole
        self.last_gap: tuple[str, str, int, int] | None = None
        self.on_gap: Callable[[Trade, int, int], None] | None = None  # (trade, first missing id, last missing id)

    @staticmethod
    def _price(st: _Stream, price: float) -> str | None:
        if not 0.0 < price < _INF:
            return "bad_price"
        ref = st.ref_price
        if ref and (price > ref * OUTLIER_FACTOR or price * OUTLIER_FACTOR < ref):
            st.outliers += 1
            if st.outliers < REANCHOR_AFTER:
                return "price_outlier"
        st.outliers = 0
        st.ref_price = price
        return None

    def stream(self, venue: str, symbol: str) -> _Stream:
        """What the guard remembers of (venue, symbol), created on first use: a fused path binds it once."""
        key = (venue, symbol)
        st = self._streams.get(key)
        if st is None:
            st = self._streams[key] = _Stream()
        return st

    def check_trade(self, ev: Trade, now_ns: int) -> str | None:
        key = (ev.venue, ev.symbol)
        check = self._trade_checks.get(key) or self.trade_check(*key)
        return check(ev, now_ns)

    def trade_check(self, venue: str, symbol: str) -> Callable[[Trade, int], str | None]:
        """``check_trade`` for the trades of (venue, symbol), bound to what the guard remembers of them: the
        busiest check of all, a closure (a fused path calls it directly; half the cost of a bound method)."""
        st = self.stream(venue, symbol)

        def check(ev: Trade, now_ns: int) -> str | None:
            if not 0.0 <= ev.size < _INF:
                return "bad_size"
            if ev.exch_ns > now_ns + MAX_FUTURE_NS:
                return "future_time"
            tid = ev.trade_id
            last = st.last_trade_id
            late = tid and tid <= last
            if late and (st.missing is None or tid not in st.missing):
                return "duplicate"
            price = ev.price
            ref = st.ref_price
            if not 0.0 < price < _INF:
                return "bad_price"
            if ref and (price > ref * OUTLIER_FACTOR or price * OUTLIER_FACTOR < ref):
                reason = self._price(st, price)  # an outlier: counted there
                if reason:
                    return reason
            else:
                st.outliers = 0
                st.ref_price = price
            if late:  # a reordered trade filling a hole we saw: keep it
                st.missing.discard(tid)  # type: ignore[union-attr]  # late implies missing holds tid
                self.late_fills += 1
            elif tid:
                if last and tid > last + 1:
                    self._gap(ev, st, last, tid)
                st.last_trade_id = tid
            return None

        self._trade_checks[venue, symbol] = check
        return check

    def _gap(self, ev: Trade, st: _Stream, last: int, tid: int) -> None:
        self.gaps += 1
        self.last_gap = (ev.venue, ev.symbol, last + 1, tid - 1)
        if self.on_gap is not None:
            self.on_gap(ev, last + 1, tid - 1)
        if tid - last - 1 <= MAX_TRACKED_MISSING:
            if st.missing is None or len(st.missing) > MAX_TRACKED_MISSING:
                st.missing = set()
            st.missing.update(range(last + 1, tid))

    def check_quote(self, ev: Quote, now_ns: int) -> str | None:
        key = (ev.venue, ev.symbol)
        check = self._quote_checks.get(key) or self.quote_check(*key)
        return check(ev, now_ns)

    def quote_check(self, venue: str, symbol: str) -> Callable[[Quote, int], str | None]:
        """``check_quote`` for the quotes of (venue, symbol), bound as ``trade_check`` is: the second busiest."""
        st = self.stream(venue, symbol)

        def check(ev: Quote, now_ns: int) -> str | None:
            bid, ask = ev.bid, ev.ask
            if not (0.0 < bid < _INF and 0.0 < ask < _INF):
                return "bad_price"
            if not (0.0 <= ev.bid_size < _INF and 0.0 <= ev.ask_size < _INF):
                return "bad_size"
            if bid > ask:
                return "crossed_quote"
            if ev.exch_ns > now_ns + MAX_FUTURE_NS:
                return "future_time"
            mid = (bid + ask) * 0.5
            ref = st.ref_price
            if not mid < _INF or ref and (mid > ref * OUTLIER_FACTOR or mid * OUTLIER_FACTOR < ref):
                return self._price(st, mid)  # bid + ask overflowed, or an outlier: counted there
            st.outliers = 0
            st.ref_price = mid
            return None

        self._quote_checks[venue, symbol] = check
        return check

    def check_candle(self, ev: Candle, now_ns: int) -> str | None:
        o, h, lo, c = ev.open, ev.high, ev.low, ev.close
        if not (0.0 < lo < _INF and 0.0 < h < _INF and 0.0 < o < _INF and 0.0 < c < _INF):
            return "bad_price"
        if not (lo <= o <= h and lo <= c <= h):
            return "bad_candle"
        if not 0.0 <= ev.volume < _INF:
            return "bad_size"
        if ev.exch_ns > now_ns + MAX_FUTURE_NS:
            return "future_time"
        return None

    def check_ticker(self, ev: Ticker, now_ns: int) -> str | None:
        if not 0.0 < ev.last < _INF:
            return "bad_price"
        if not 0.0 <= ev.volume < _INF:
            return "bad_size"
        if ev.exch_ns > now_ns + MAX_FUTURE_NS:
            return "future_time"
        return None

    def check_book(self, ev: BookSnapshot | BookDelta, now_ns: int) -> str | None:
        for side in (ev.bids, ev.asks):
            for price, size in side:
                if not (0.0 < price < _INF and 0.0 <= size < _INF):
                    return "bad_level"
        if ev.exch_ns > now_ns + MAX_FUTURE_NS:
            return "future_time"
        return None

    def check_level3_update(self, ev: Level3Update, now_ns: int) -> str | None:
        """An order message: a price of 0 means none (market orders)."""
        if not (0.0 <= ev.price < _INF and 0.0 <= ev.size < _INF):
            return "bad_level"
        if ev.exch_ns > now_ns + MAX_FUTURE_NS:
            return "future_time"
        return None

    def check_level3_snapshot(self, ev: Level3Snapshot, now_ns: int) -> str | None:
        for side in (ev.bids, ev.asks):
            for price, size, _ in side:
                if not (0.0 < price < _INF and 0.0 <= size < _INF):
                    return "bad_level"
        if ev.exch_ns > now_ns + MAX_FUTURE_NS:
            return "future_time"
        return None

    def check_mark(self, ev: MarkPrice, now_ns: int) -> str | None:
        if not (0.0 < ev.mark < _INF and 0.0 < ev.index < _INF and 0.0 <= ev.settle < _INF):
            return "bad_price"
        if not -MAX_FUNDING_RATE <= ev.funding_rate <= MAX_FUNDING_RATE:
            return "bad_funding_rate"
        if ev.next_funding_ns < 0:
            return "bad_time"
        if ev.exch_ns > now_ns + MAX_FUTURE_NS:
            return "future_time"
        return None

    def check_liquidation(self, ev: Liquidation, now_ns: int) -> str | None:
        if ev.side != "buy" and ev.side != "sell":
            return "bad_side"
        if not (0.0 < ev.price < _INF and 0.0 <= ev.avg_price < _INF):
            return "bad_price"
        if not (0.0 < ev.size < _INF and 0.0 <= ev.filled < _INF):
            return "bad_size"
        if ev.exch_ns > now_ns + MAX_FUTURE_NS:
            return "future_time"
        return None

    def check_open_interest(self, ev: OpenInterest, now_ns: int) -> str | None:
        if not 0.0 <= ev.open_interest < _INF:
            return "bad_size"
        if ev.exch_ns > now_ns + MAX_FUTURE_NS:
            return "future_time"
        return None
