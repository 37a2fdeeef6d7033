"""Which closed bars are missing from a candle series, and which REST requests would fill them. Pure.

A series is expected to hold every bar from its *floor* (the start of the startup backfill window, or
the first bar seen) up to the newest bar that should have closed by now (its close plus a grace for
the closing frame to arrive). Holes in that range are missing, wherever they come from: a reconnect,
a stall, a dropped or malformed closing frame. ``BackfillPlanner`` turns them into klines requests
(oldest first, pages of at most 1000 bars, one request in flight per series, retries spaced) and
learns from each answer which bars the venue does not have, so it never asks for them forever.
The caller does the I/O (feeds/api.py) and feeds the answer through the pipeline like any REST body.
"""
from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Set as AbstractSet
from typing import NamedTuple

import orjson

from feeds.intervals import INTERVALS

PAGE_LIMIT = 1000  # Binance /api/v3/klines maximum
MAX_TRIES = 5  # answers in a row with rows, none in the range, before its bars count as absent
MAX_ABSENT = 10_000  # open times remembered as absent on the venue, per series


# Fixed bar lengths in ns ("1M" varies with the month, so it has no entry: no gap checks for it).
_INTERVAL_NS = {k: v * 1_000_000 for k, v in INTERVALS.items() if k != "1M"}


def bar_gap(prev_open_ns: int, open_ns: int, interval: str) -> int:
    """Bars missing between two consecutive closed bars (0 when they follow each other)."""
    step = _INTERVAL_NS.get(interval)
    if not step:
        return 0
    return max(0, (open_ns - prev_open_ns) // step - 1)


def grace_ms(interval_ms: int) -> int:
    """How late a closing frame may be before its bar counts as missing: 2 s to 10 s."""
    return min(max(2000, interval_ms // 10), 10_000)


def retry_ms(interval_ms: int) -> int:
    """Spacing of repeated requests for one series: 1 s for short bars, at most 10 s."""
    return min(max(1000, interval_ms // 6), 10_000)


def newest_due_open(now_ms: int, interval_ms: int, anchor_ms: int = 0) -> int:
    """Open time of the newest bar whose closing frame should have arrived by ``now_ms``."""
    limit = now_ms - grace_ms(interval_ms) - interval_ms
    return anchor_ms + (limit - anchor_ms) // interval_ms * interval_ms


def missing_ranges(opens: list[int], floor_ms: int, due_ms: int, interval_ms: int,
                   absent: AbstractSet[int] = frozenset()) -> list[tuple[int, int]]:
    """Inclusive (first_open, last_open) runs of bars absent from ``opens`` within [floor_ms, due_ms].

    ``opens`` are the open times held, ascending, on the grid of ``interval_ms``; ``absent`` holds
    open times the venue said it does not have. Times are milliseconds.
    """
    if due_ms < floor_ms:
        return []
    out: list[tuple[int, int]] = []
    prev = floor_ms - interval_ms  # a virtual bar just before the floor
    lo, hi = bisect_left(opens, floor_ms), bisect_right(opens, due_ms)
    if hi > lo:
        first, last = opens[lo], opens[hi - 1]
        if last - first == (hi - 1 - lo) * interval_ms:  # on the grid, this says no hole between them (the usual case)
            if first - prev > interval_ms:
                _add_run(out, prev + interval_ms, first - interval_ms, interval_ms, absent)
            prev = last
        else:
            for o in opens[lo:hi]:
                if o - prev > interval_ms:
                    _add_run(out, prev + interval_ms, o - interval_ms, interval_ms, absent)
                prev = o
    if due_ms - prev >= interval_ms:
        _add_run(out, prev + interval_ms, due_ms - (due_ms - prev) % interval_ms, interval_ms, absent)
    return out


def _add_run(out: list[tuple[int, int]], first: int, last: int, step: int, absent: AbstractSet[int]) -> None:
    if not absent:
        out.append((first, last))
        return
    start = None
    t = first
    while t <= last:
        if t in absent:
            if start is not None:
                out.append((start, t - step))
                start = None
        elif start is None:
            start = t
        t += step
    if start is not None:
        out.append((start, last))


def closed_open_times(body: bytes | str, server_now_ms: int) -> list[int] | None:
    """Open times of the closed rows of a klines body (``close_time < server_now_ms``); None when the body is
    not a JSON list or holds a row that cannot be read (no answer, unlike an empty list: no bars)."""
    try:
        rows = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    if rows.__class__ is not list:
        return None
    out = []
    for row in rows:
        try:
            if int(row[6]) < server_now_ms:
                out.append(int(row[0]))
        except (TypeError, ValueError, IndexError, KeyError):
            return None  # a damaged row: its bar is neither there nor absent
    return out


class KlinesRequest(NamedTuple):
    key: tuple[str, str, str]  # (venue, symbol, interval)
    start_ms: int  # first missing open time
    end_ms: int  # last open time wanted (inclusive)
    limit: int
    anchor_ms: int  # the newest bar the exchange had sent when asked: bars before it have closed on its clock


class _SeriesPlan:
    __slots__ = ("floor_ms", "absent", "busy", "next_ms", "tries", "tried_start")

    def __init__(self, floor_ms: int | None) -> None:
        self.floor_ms = floor_ms  # None: set from the first bar seen
        self.absent: set[int] = set()
        self.busy = False
        self.next_ms = 0  # no request before this time
        self.tries = 0
        self.tried_start = -1


class BackfillPlanner:
    """Missing-bar bookkeeping for every watched series; the caller fetches, then reports back."""

    def __init__(self, startup_bars: int = 200, max_bars: int = 500) -> None:
        self.startup_bars = max(0, min(startup_bars, max_bars - 1))
        self.max_bars = max_bars  # a series keeps this many closed bars: never ask for older ones
        self.plans: dict[tuple[str, str, str], _SeriesPlan] = {}
        self.requests = 0
        self.failures = 0  # requests that got no usable answer
        self.absent_bars = 0  # bars the venue did not have (never backfillable)

    def watch(self, key: tuple[str, str, str], now_ms: int, interval_ms: int) -> None:
        """Start expecting bars for ``key``: from ``startup_bars`` before now, or from the first bar seen."""
        if key in self.plans:
            return
        floor = None
        if self.startup_bars:
            floor = (now_ms // interval_ms - self.startup_bars) * interval_ms
        self.plans[key] = _SeriesPlan(floor)

    def next_request(self, key: tuple[str, str, str], opens: list[int], forming_open: int | None,
                     now_ms: int, interval_ms: int) -> KlinesRequest | None:
        """The request to make now for ``key`` (None: nothing missing, or one is in flight or due later)."""
        plan = self.plans.get(key)
        if plan is None or plan.busy or now_ms < plan.next_ms:
            return None
        anchor = opens[-1] if opens else forming_open
        floor_ms = plan.floor_ms
        if floor_ms is None:
            if anchor is None:
                return None
            floor_ms = plan.floor_ms = opens[0] if opens else anchor  # no opens: anchor is forming_open
        if anchor is None:
            anchor = floor_ms
        due = newest_due_open(now_ms, interval_ms, anchor)
        floor = max(floor_ms, due - (self.max_bars - 1) * interval_ms)
        if len(opens) >= self.max_bars:
            floor = max(floor, opens[0])
        floor = anchor - (anchor - floor) // interval_ms * interval_ms  # onto the bars' grid, not below
        absent = plan.absent
        if floor in absent:  # the venue lacks the oldest bars wanted: want none before the first it may have
            while floor in absent:
                floor += interval_ms
            plan.floor_ms = max(floor_ms, floor)
        ranges = missing_ranges(opens, floor, due, interval_ms, absent)
        if not ranges:
            return None
        start, end = ranges[0]
        count = (end - start) // interval_ms + 1
        plan.busy = True
        self.requests += 1
        return KlinesRequest(key, start, end, min(PAGE_LIMIT, count), anchor)

    def done(self, req: KlinesRequest, returned_opens: list[int] | None, now_ms: int, interval_ms: int) -> None:
        """Report the answer: the open times of the closed bars returned (None when the request failed)."""
        plan = self.plans[req.key]
        plan.busy = False
        plan.next_ms = now_ms + retry_ms(interval_ms)
        if returned_opens is None:
            self.failures += 1
            return
        wanted = [o for o in returned_opens if req.start_ms <= o <= req.end_ms]
        if wanted:
            # Rows come oldest first from startTime: any bar up to the newest returned that is not
            # among them does not exist on the venue.
            got = set(wanted)
            t = req.start_ms
            newest = max(wanted)
            while t <= newest:
                if t not in got:
                    self._absent(plan, t)
                t += interval_ms
            if len(returned_opens) >= req.limit:
                plan.next_ms = now_ms  # a full page: ask for the next one at once
            plan.tries = 0
            plan.tried_start = -1
            return
        if plan.tried_start == req.start_ms:
            plan.tries += 1
        else:
            plan.tried_start, plan.tries = req.start_ms, 1
        # An empty list for bars older than one the exchange has sent is its answer: it has none of them (the
        # exchange's clock, not ours, which may run ahead). Rows that are all outside the range say nothing:
        # asked again, until the venue keeps answering so.
        closed = not returned_opens and req.end_ms < req.anchor_ms
        if closed or plan.tries >= MAX_TRIES:
            t = req.start_ms
            while t <= req.end_ms:
                self._absent(plan, t)
                t += interval_ms
            plan.tries = 0

    def _absent(self, plan: _SeriesPlan, open_ms: int) -> None:
        if len(plan.absent) >= MAX_ABSENT:
            plan.absent.clear()
        plan.absent.add(open_ms)
        self.absent_bars += 1

    def stats(self) -> dict[str, int]:
        return {"requests": self.requests, "failures": self.failures, "absent_bars": self.absent_bars,
                "in_flight": sum(p.busy for p in self.plans.values())}
