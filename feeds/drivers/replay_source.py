"""Replay: recorded Records back into the very same pipeline, with the recorded receive times as the clock.

Sans-I/O: ``ReplayDriver.apply(record)`` does one record; pacing (speed, pause, seek) is the caller's.
Recorded connections become ``ReplayConnection`` objects implementing the feed core's ``Connection``
protocol. The feed core makes the same decisions as live, but its requests are turned off: the
recording already holds what the live requests got (REST answers, reopened sockets).
"""
from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import orjson

from feeds.core.feed_core import DISCONNECTED, STATES, SUBSCRIBED, StateChange
from feeds.drivers.recording import Record
from feeds.events import reject
from feeds.venues import VENUES, RestRequest

if TYPE_CHECKING:
    from feeds.api import Feed
    from feeds.clock import Clock, ManualClock

OPERATOR_KINDS = ("halt", "resume", "toggle", "key", "note", "stop", "add_symbol", "remove_symbol", "alert")


class ReplayConnection:
    """A recorded connection as seen through its records."""

    def __init__(self, name: str, venue: str, clock: Clock, url: str = "",
                 on_state: Callable[[ReplayConnection, StateChange], None] | None = None) -> None:
        self.clock = clock
        self.on_state = on_state
        self.name = name
        self.venue = venue
        self.url = url
        self.state = DISCONNECTED
        self.state_since_ns = 0
        self.messages = 0
        self.reconnects = 0
        self.opens = 0
        self.history: list[StateChange] = []
        self.state_counts = dict.fromkeys(STATES, 0)
        self.endpoint_index = 0
        # Live socket machinery a recording does not show.
        self.attempts = self.failed_attempts = self.rollovers = self.failed_rollovers = 0
        self.overlap_duplicates = self.oversize_frames = self.max_queue_depth = 0

    def mark_subscribed(self) -> None:
        """A live connection's hook; in replay the records themselves say the state."""

    def queue_depth(self) -> int:
        return 0

    def set_state(self, state: str, reason: str = "") -> None:
        change = StateChange(self.clock.now_ns(), state, reason)
        if state != self.state:
            self.state_since_ns = change.at_ns
        self.state_counts[state] = self.state_counts.get(state, 0) + 1
        self.state = state
        self.history.append(change)
        del self.history[:-200]
        if self.on_state is not None:
            self.on_state(self, change)


class ReplayDriver:
    def __init__(self, feed: Feed, clock: ManualClock, on_operator: Callable[[Record], None] | None = None) -> None:
        self.feed = feed
        self.core = feed.core
        self.core.requests_enabled = False
        self.conns: dict[str, ReplayConnection] = {}
        self.pipeline = feed.pipeline
        self.clock = clock
        self.on_operator = on_operator
        self.records = 0
        self.last_ns = 0

    def _conn(self, name: str, url: str = "") -> ReplayConnection | None:
        conn = self.conns.get(name)
        if conn is None:
            venue = name.partition("#")[0].upper()
            if venue not in VENUES:
                return None
            conn = self.conns[name] = ReplayConnection(name, venue, self.clock, url, self.core.state_changed)
            self.core.attach(conn, VENUES[venue].make_codec(self.core.symbol_map))
        return conn

    def apply(self, rec: Record) -> None:
        self.clock.set(rec.recv_ns)
        self.records += 1
        self.last_ns = rec.recv_ns
        kind = rec.kind
        if kind == "recv":
            conn = self._conn(rec.conn)
            if conn is None:
                self._unknown(rec)
                return
            if conn.state == DISCONNECTED:  # a capture that starts mid-session has no "open" record
                conn.set_state(SUBSCRIBED, "data flowing")
            conn.messages += 1
            self.pipeline.feed(rec.conn, rec.payload, rec.recv_ns)
        elif kind == "open":
            conn = self._conn(rec.conn, rec.payload)
            if conn is None:
                return
            conn.url = rec.payload
            conn.opens += 1
            conn.reconnects = conn.opens - 1
            conn.set_state(SUBSCRIBED, f"open {rec.payload}")
        elif kind == "close":
            conn = self._conn(rec.conn)
            if conn is not None:
                self._close(conn, rec)
        elif kind == "rest":
            self._rest(rec)
        elif kind in OPERATOR_KINDS:
            if self.on_operator is not None:
                self.on_operator(rec)

    def apply_until(self, records: list[Record], start: int, stop: int, before_ns: int) -> int:
        """``apply`` for ``records[start:stop]`` in order, up to the first stamped at ``before_ns`` or later;
        returns that one's index (``stop``: all were applied). Frames of a connection already open go
        straight to the pipeline: one loop for many records, as a replay at full speed needs."""
        conns = self.conns
        feed = self.pipeline.feed
        set_clock = self.clock.set
        fed = 0
        i = start
        while i < stop:
            rec = records[i]
            t = rec[0]
            if t >= before_ns:
                break
            if rec[2] == "recv" and (conn := conns.get(rec[1])) is not None and conn.state != DISCONNECTED:
                set_clock(t)
                conn.messages += 1
                feed(rec[1], rec[3], t)
                fed += 1
            else:
                self.apply(rec)
            i += 1
        if i > start:
            self.records += fed
            self.last_ns = records[i - 1][0]
        return i

    def _close(self, conn: ReplayConnection, rec: Record) -> None:
        try:
            close = orjson.loads(rec.payload)
        except orjson.JSONDecodeError:
            close = {}
        if not isinstance(close, dict):
            close = {}
        if close.get("retired"):
            return  # the old socket of a rollover: its replacement already carries the stream
        if close.get("code") == 1009:  # live, the library refused an oversized frame: a counted rejection
            self.pipeline.add_rejection(reject(conn.venue, "frame_too_big", f"frame refused: {close.get('reason')}",
                                               "", rec.recv_ns), rec.conn)
        conn.set_state(DISCONNECTED, f"closed {close.get('code')} {close.get('reason', '')}".strip())

    def _rest(self, rec: Record) -> None:
        if self._conn(rec.conn) is None:
            return
        try:
            msg = orjson.loads(rec.payload)
            url, body, status = msg["url"], msg["body"], msg.get("status", 200)
        except (orjson.JSONDecodeError, KeyError, TypeError):
            self.pipeline.apply_all([reject(rec.conn.partition("#")[0], "malformed_record", "a REST record is "
                                            "not {url, body} JSON", rec.payload, rec.recv_ns)], rec.conn)
            return
        if status != 200:
            return
        venue = VENUES[rec.conn.partition("#")[0].upper()]
        request: RestRequest | None
        if isinstance(msg.get("what"), str):
            request = RestRequest(msg["what"], "", str(msg.get("symbol", "")), str(msg.get("interval", "")))
        else:  # recorded before requests were: the venue tells what was asked from the URL
            request = venue.request_for_url(str(url))
        if request is not None:
            self.core.receive_rest(rec.conn, request, body, rec.recv_ns)

    def _unknown(self, rec: Record) -> None:
        self.pipeline.add_rejection(reject("", "unknown_connection", f"no venue for connection {rec.conn!r}",
                                     rec.payload, rec.recv_ns), rec.conn)
