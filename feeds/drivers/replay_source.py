"""Replay: recorded Records back into the very same pipeline, with the recorded receive times as the clock.

Sans-I/O: ``ReplayDriver.apply(record)`` does one record; pacing (speed, pause, seek) is the caller's.
Recorded connections become ``ReplayConnection`` objects with the attributes the app and the
statistics read from a live ``Connection``.
"""
from __future__ import annotations

from typing import Callable

import orjson

from feeds.drivers.connection import DISCONNECTED, SUBSCRIBED, StateChange
from feeds.events import reject
from feeds.drivers.recording import Record
from feeds.venues import VENUES, RestRequest

OPERATOR_KINDS = ("halt", "resume", "toggle", "key", "note", "stop", "add_symbol", "remove_symbol", "alert")


class ReplayConnection:
    """A recorded connection as seen through its records."""

    def __init__(self, name: str, venue: str, clock, url: str = "", on_state=None) -> None:
        self.clock = clock
        self.on_state = on_state
        self.name = name
        self.venue = venue
        self.url = url
        self.state = DISCONNECTED
        self.messages = 0
        self.reconnects = 0
        self.opens = 0
        self.history: list[StateChange] = []

    def mark_subscribed(self) -> None:
        """A live connection's hook; in replay the records themselves say the state."""

    def set_state(self, state: str, reason: str = "") -> None:
        change = StateChange(self.clock.now_ns(), state, reason)
        self.state = state
        self.history.append(change)
        del self.history[:-200]
        if self.on_state is not None:
            self.on_state(self, change)


class ReplayDriver:
    def __init__(self, feed, clock, on_operator: Callable[[Record], None] | None = None) -> None:
        self.feed = feed
        self.pipeline = feed.pipeline
        self.clock = clock
        self.on_operator = on_operator
        self.records = 0
        self.last_ns = 0

    def _conn(self, name: str, url: str = "") -> ReplayConnection | None:
        conn = self.feed.connections.get(name)
        if conn is None:
            venue = name.partition("#")[0].upper()
            if venue not in VENUES:
                return None
            conn = self.feed.connections[name] = ReplayConnection(name, venue, self.clock, url,
                                                                      self.feed.notify_state)
            self.pipeline.attach(name, venue, VENUES[venue].make_codec(self.feed.symbol_map),
                                 self.feed.venue_symbols(venue))
            self.feed.prepare_venue(venue)
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
        if isinstance(msg.get("what"), str):
            request = RestRequest(msg["what"], "", str(msg.get("symbol", "")), str(msg.get("interval", "")))
        else:  # recorded before requests were: the venue tells what was asked from the URL
            request = venue.request_for_url(str(url))
        if request is not None:
            self.feed.apply_rest(rec.conn, request, body, rec.recv_ns)

    def _unknown(self, rec: Record) -> None:
        self.pipeline.add_rejection(reject("", "unknown_connection", f"no venue for connection {rec.conn!r}",
                                     rec.payload, rec.recv_ns), rec.conn)
