"""Several collectors on one bus: a viewer merges their records and drops what another collector sent first.

Collectors of the same venue (failover pairs) publish the same exchange frames, each with its own
receive time. A frame's identity is what the venue numbers it by: trade id, book update ids, the
kline's last trade id, Coinbase's per-product sequence; a frame without such a number is known by its
whole content (every figure, never a timestamp alone). The first copy of an identity on the stream is
applied; a copy from another collector is dropped and counted. A collector's own repeats are not
touched here: the pipeline judges those exactly as it does for a single collector. Identities are
remembered from the moment a second collector shows up: a copy of a frame the first one published just
before is not recognised here, and the pipeline's own checks (trade and update ids, equal bars) drop it.

Connections are merged by name (``BINANCE#1`` of every collector is one connection to the viewer), so
a codec sees one clean, ordered stream of first copies. The merged connection is open while any
collector has it open: an ``open`` passes when the first collector opens it, a ``close`` when the last
one closes it.

A collector that dies says nothing, so collectors announce themselves with a heartbeat every
``every_s`` seconds (on the bus, so a replay of the bus decides the same). A collector not heard of for
``MISSED_HEARTBEATS`` of its intervals, on the time of the newest message of any collector, is gone: it
no longer holds its connections, and a connection no live collector holds is closed (a ``close`` record
is made for it). A gone collector's next heartbeat brings it back; its frames reopen the connection.
"""
from __future__ import annotations

from collections import deque
from collections.abc import Hashable

import orjson

from feeds.drivers.recording import Record

IDENTITY_WINDOW = 200_000  # identities remembered (a collector lagging further than this is not deduplicated)
MISSED_HEARTBEATS = 3  # a collector silent for this many of its heartbeat intervals is gone


def frame_identity(venue: str, payload: str) -> Hashable:
    """What the venue numbers this frame by, or its whole content when it carries no such number."""
    try:
        obj = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return payload
    if not isinstance(obj, dict):
        return payload
    data = obj.get("data") if "stream" in obj else obj  # Binance's combined-stream wrapper or a raw stream
    if not isinstance(data, dict):
        return payload
    event, symbol = data.get("e"), data.get("s")
    if event == "aggTrade":
        return venue, symbol, "a", data.get("a")
    if event == "trade":
        return venue, symbol, "t", data.get("t")
    if event == "depthUpdate":
        return venue, symbol, "depth", data.get("U"), data.get("u")
    if event == "kline" and isinstance(data.get("k"), dict):
        k = data["k"]  # the same last trade id and closed flag: the same bar state
        return venue, symbol, "kline", k.get("i"), k.get("t"), k.get("L"), k.get("n"), k.get("x")
    if event == "24hrTicker":
        return venue, symbol, "24h", data.get("L"), data.get("E")
    if (event is None or event == "bookTicker") and "u" in data and "b" in data:
        return venue, symbol, "bookTicker", data.get("u")
    kind, seq = data.get("type"), data.get("sequence")
    if isinstance(seq, int) and kind != "heartbeat":  # Coinbase: one sequence per product (a ticker shares its match's)
        return venue, data.get("product_id"), kind, seq
    if "sequence_num" in data:  # Coinbase Advanced: the number is per connection; the events are the frame
        return venue, data.get("channel"), orjson.dumps(data.get("events"))
    return payload


class RecordMerge:
    """Decides, record by record in stream order, what a viewer applies when several collectors publish."""

    def __init__(self, window: int = IDENTITY_WINDOW) -> None:
        self.window = window
        self._first: dict[Hashable, str] = {}  # identity -> the collector session that sent it first
        self._order: deque[Hashable] = deque()
        self._open: dict[str, set[str]] = {}  # connection -> collector sessions that have it open
        self.sessions: set[str] = set()  # collector sessions seen
        self.duplicates = 0  # frames dropped because another collector sent them first
        self.by_venue: dict[str, int] = {}  # the same, per venue
        self.now_ns = 0  # the newest time any collector stamped on a record or a heartbeat
        self._heard: dict[str, int] = {}  # collector session -> time of its newest heartbeat
        self._every_ns: dict[str, int] = {}  # collector session -> its heartbeat interval (those that announce one)
        self.gone: set[str] = set()  # collectors whose heartbeats stopped

    def accept(self, session: str, rec: Record) -> bool:
        """True when the viewer should apply ``rec`` (published by collector ``session``)."""
        sessions = self.sessions
        if session not in sessions:
            sessions.add(session)
        self._hear(session, rec.recv_ns)  # a collector whose frames arrive is alive, its heartbeat late or not
        kind = rec.kind
        if kind == "recv":
            if len(sessions) == 1:  # one collector: nothing to merge, no identity to work out (the usual case)
                return True
            venue = rec.conn.partition("#")[0].upper()
            identity = frame_identity(venue, rec.payload)
            first = self._first.get(identity)
            if first is None:
                self._remember(identity, session)
                return True
            if first == session:
                return True  # the collector's own repeat: the pipeline's business
            self.duplicates += 1
            self.by_venue[venue] = self.by_venue.get(venue, 0) + 1
            return False
        if kind == "open":
            holders = self._open.setdefault(rec.conn, set())
            was_open = bool(holders)
            holders.add(session)
            return not was_open
        if kind == "close":
            holders = self._open.setdefault(rec.conn, set())
            if session not in holders and holders:
                return False  # a collector closing what it never opened while others hold it
            holders.discard(session)
            return not holders
        return True

    def heartbeat(self, session: str, t_ns: int, every_s: float) -> list[Record]:
        """Collector ``session`` is alive at ``t_ns`` and beats every ``every_s`` (its header says so first, then
        each heartbeat): the closes of collectors gone since."""
        self.sessions.add(session)
        self._every_ns[session] = int(every_s * 1e9)
        self._heard.setdefault(session, t_ns)
        self._hear(session, t_ns)
        return self.expire(self.now_ns)

    def _hear(self, session: str, t_ns: int) -> None:
        if t_ns > self._heard.get(session, 0):
            self._heard[session] = t_ns
            if t_ns > self.now_ns:
                self.now_ns = t_ns
            if self.gone:
                self.gone.discard(session)  # back (its link to the bus had failed): its frames reopen

    def expire(self, now_ns: int) -> list[Record]:
        """Collectors silent for MISSED_HEARTBEATS intervals at ``now_ns`` are gone: closes for what only they held."""
        closes: list[Record] = []
        for session, every_ns in self._every_ns.items():
            if session in self.gone or now_ns - self._heard[session] <= MISSED_HEARTBEATS * every_ns:
                continue
            self.gone.add(session)
            silent_s = (now_ns - self._heard[session]) / 1e9
            for conn, holders in self._open.items():
                if session in holders:
                    holders.discard(session)
                    if not holders:
                        reason = f"collector {session} silent for {silent_s:.1f} s"
                        closes.append(Record(max(now_ns, self.now_ns), conn, "close",
                                             orjson.dumps({"code": 1006, "reason": reason}).decode()))
        return closes

    def live_collectors(self) -> int:
        return len(self.sessions) - len(self.gone)

    def _remember(self, identity: Hashable, session: str) -> None:
        self._first[identity] = session
        self._order.append(identity)
        if len(self._order) > self.window:
            del self._first[self._order.popleft()]
