"""The guard: validates decoded market events and finds duplicates and trade-id gaps.

Every check returns ``None`` (accept) or a reason key. Duplicates are not rejections: the caller
counts them separately. Prices must be finite and positive and not absurdly far from the last
accepted price of the same stream; sizes finite and not negative; exchange times not far in the future.
"""
from __future__ import annotations

import math

MAX_FUTURE_NS = 10 * 1_000_000_000  # a venue clock this far ahead of ours is wrong, not early
OUTLIER_FACTOR = 10.0  # a 10x move between two updates of one stream is a bad print, not a market
MAX_TRACKED_MISSING = 1000
REANCHOR_AFTER = 20  # ...unless it persists: then the reference was the bad one
_isfinite = math.isfinite


class Guard:
    def __init__(self) -> None:
        self._last_trade_id: dict[tuple[str, str], int] = {}
        self._ref_price: dict[tuple[str, str], float] = {}
        self._outliers: dict[tuple[str, str], int] = {}
        self._missing: dict[tuple[str, str], set[int]] = {}  # ids skipped lately, for reordered frames
        self.gaps = 0  # trade ids skipped (missed trades), counted per jump
        self.late_fills = 0  # out-of-order trades that filled a hole
        self.last_gap: tuple[str, str, int, int] | None = None

    def _price(self, key: tuple[str, str], price: float) -> str | None:
        if not (_isfinite(price) and price > 0.0):
            return "bad_price"
        ref = self._ref_price.get(key)
        if ref is not None and (price > ref * OUTLIER_FACTOR or price * OUTLIER_FACTOR < ref):
            n = self._outliers.get(key, 0) + 1
            self._outliers[key] = n
            if n < REANCHOR_AFTER:
                return "price_outlier"
        self._outliers[key] = 0
        self._ref_price[key] = price
        return None

    def check_trade(self, ev, now_ns: int) -> str | None:
        size = ev.size
        if not (_isfinite(size) and size >= 0.0):
            return "bad_size"
        if ev.exch_ns > now_ns + MAX_FUTURE_NS:
            return "future_time"
        key = (ev.venue, ev.symbol)
        tid = ev.trade_id
        last = self._last_trade_id.get(key)
        late = False
        if last is not None and tid and tid <= last:
            missing = self._missing.get(key)
            if not missing or tid not in missing:
                return "duplicate"
            late = True  # a reordered trade filling a hole we saw: keep it
        reason = self._price(key, ev.price)
        if reason:
            return reason
        if late:
            self._missing[key].discard(tid)
            self.late_fills += 1
        elif tid:
            if last is not None and tid > last + 1:
                self.gaps += 1
                self.last_gap = (ev.venue, ev.symbol, last + 1, tid - 1)
                if tid - last - 1 <= MAX_TRACKED_MISSING:
                    missing = self._missing.setdefault(key, set())
                    if len(missing) > MAX_TRACKED_MISSING:
                        missing.clear()
                    missing.update(range(last + 1, tid))
            self._last_trade_id[key] = tid
        return None

    def check_quote(self, ev, now_ns: int) -> str | None:
        bid, ask = ev.bid, ev.ask
        if not (_isfinite(bid) and _isfinite(ask) and bid > 0.0 and ask > 0.0):
            return "bad_price"
        if not (_isfinite(ev.bid_size) and _isfinite(ev.ask_size) and ev.bid_size >= 0.0 and ev.ask_size >= 0.0):
            return "bad_size"
        if bid > ask:
            return "crossed_quote"
        if ev.exch_ns > now_ns + MAX_FUTURE_NS:
            return "future_time"
        return self._price((ev.venue, ev.symbol), (bid + ask) * 0.5)

    def check_candle(self, ev, now_ns: int) -> str | None:
        o, h, l, c = ev.open, ev.high, ev.low, ev.close
        if not (_isfinite(o) and _isfinite(h) and _isfinite(l) and _isfinite(c) and l > 0.0):
            return "bad_price"
        if not (l <= o <= h and l <= c <= h):
            return "bad_candle"
        if not (_isfinite(ev.volume) and ev.volume >= 0.0):
            return "bad_size"
        if ev.exch_ns > now_ns + MAX_FUTURE_NS:
            return "future_time"
        return None

    def check_ticker(self, ev, now_ns: int) -> str | None:
        if not (_isfinite(ev.last) and ev.last > 0.0):
            return "bad_price"
        if not (_isfinite(ev.volume) and ev.volume >= 0.0):
            return "bad_size"
        if ev.exch_ns > now_ns + MAX_FUTURE_NS:
            return "future_time"
        return None

    def check_book(self, ev, now_ns: int) -> str | None:
        for side in (ev.bids, ev.asks):
            for price, size in side:
                if not (_isfinite(price) and price > 0.0 and _isfinite(size) and size >= 0.0):
                    return "bad_level"
        if ev.exch_ns > now_ns + MAX_FUTURE_NS:
            return "future_time"
        return None
