"""Staleness watchdog per stream (venue, symbol, kind), not per connection.

A stream is stale when nothing arrived for ``threshold`` seconds, or a "zombie" when frames still
arrive but their exchange time stopped advancing. Sans-I/O: ``check(now_ns)`` is called by a live
timer or by replay on recorded time, and returns the streams whose health changed.
"""
from __future__ import annotations

from typing import NamedTuple

OK, STALE, ZOMBIE = "ok", "stale", "zombie"


class StreamHealth(NamedTuple):
    venue: str
    symbol: str
    kind: str
    status: str  # ok | stale | zombie
    detail: str


class _Stream:
    __slots__ = ("recv_ns", "exch_ns", "exch_changed_ns", "status")

    def __init__(self, now_ns: int) -> None:
        self.recv_ns = now_ns  # a stream that never delivers goes stale ``threshold`` after it was expected
        self.exch_ns = 0
        self.exch_changed_ns = now_ns
        self.status = OK


class StalenessWatchdog:
    def __init__(self, threshold_s: float = 5.0) -> None:
        self.threshold_ns = int(threshold_s * 1e9)
        self.streams: dict[tuple[str, str, str], _Stream] = {}

    def expect(self, venue: str, symbol: str, kind: str, now_ns: int) -> None:
        """Start watching a stream from ``now_ns`` (e.g. when its subscription is confirmed)."""
        key = (venue, symbol, kind)
        st = self.streams.get(key)
        if st is None:
            self.streams[key] = _Stream(now_ns)
        else:
            st.recv_ns = max(st.recv_ns, now_ns)
            st.exch_changed_ns = max(st.exch_changed_ns, now_ns)

    def forget(self, venue: str, symbol: str | None = None) -> None:
        for key in [k for k in self.streams if k[0] == venue and (symbol is None or k[1] == symbol)]:
            del self.streams[key]

    def seen(self, venue: str, symbol: str, kind: str, exch_ns: int, recv_ns: int) -> None:
        """Called for each accepted event of a watched kind."""
        st = self.streams.get((venue, symbol, kind))
        if st is None:
            return
        st.recv_ns = recv_ns
        if exch_ns != st.exch_ns:
            st.exch_ns = exch_ns
            st.exch_changed_ns = recv_ns

    def check(self, now_ns: int) -> list[StreamHealth]:
        changes = []
        limit = self.threshold_ns
        for (venue, symbol, kind), st in self.streams.items():
            silent = now_ns - st.recv_ns
            frozen = now_ns - st.exch_changed_ns
            if silent > limit:
                status, detail = STALE, f"no {kind} for {silent / 1e9:.1f}s"
            elif st.exch_ns and frozen > limit:
                status, detail = ZOMBIE, f"{kind} event time frozen for {frozen / 1e9:.1f}s"
            else:
                status, detail = OK, "data flowing"
            if status != st.status:
                st.status = status
                changes.append(StreamHealth(venue, symbol, kind, status, detail))
        return changes

    def unhealthy(self) -> list[tuple[str, str, str]]:
        return [k for k, st in self.streams.items() if st.status != OK]
