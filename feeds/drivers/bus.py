"""The NATS JetStream bus: a collector publishes its recording's records, viewers read them back.

A message is one recording line (the recorder's own ``{"t","c","k","p"}`` JSON, see recording.py) on a
subject by venue and kind: ``clearterm.raw.<VENUE>.<conn>`` for received frames, ``clearterm.ctl.<VENUE>``
for everything else a recording holds (opens, sends, closes, REST answers, halts, operator actions;
``<VENUE>`` is ``operator`` for those). ``clearterm.hdr`` carries each collector session's recording
header, published first. One stream, ``CLEARTERM``, keeps ``clearterm.>`` with time and size retention.

Publishing never blocks the feed: `BusPublisher.write` appends to a bounded buffer (the oldest record
is dropped and counted when it is full); a task sends windows of records with JetStream acks and
removes a record only once the server acknowledged it (the window's last message is acknowledged:
one connection's messages are stored in order). Every message carries a ``Nats-Msg-Id``, so a
window resent after an outage is stored once. A viewer (`BusReader`) follows the stream with an ordered
consumer and, after any outage, starts again from the sequence after the last one it applied.
"""
from __future__ import annotations

import asyncio
import functools
import logging
import os
import time
from collections import deque
from collections.abc import AsyncIterator, Iterable
from datetime import UTC
from pathlib import Path
from typing import Any

import orjson

from feeds.drivers.bus_merge import RecordMerge
from feeds.drivers.recording import Record

STREAM = "CLEARTERM"
ROOT = "clearterm"
HEADER_SUBJECT = f"{ROOT}.hdr"
HEARTBEAT_SUBJECT = f"{ROOT}.hb"
MAX_AGE_S = 24 * 3600.0  # the stream's time retention
MAX_BYTES = 4 * 1024**3  # the stream's size retention
DUPLICATE_WINDOW_S = 120.0  # a resent record is recognised by its Nats-Msg-Id for this long
BUFFER_RECORDS = 200_000  # records kept while the bus is down (about 60 MB of typical frames)
WINDOW = 2000  # records in flight at once
ACK_TIMEOUT_S = 3.0
HEARTBEAT_S = 1.0  # a collector says it is alive this often (viewers call it gone after 3 missed)
CLOSE_S = 2.0  # the longest a stop waits for nats-py to close a connection or end a task
CONSUMER_IDLE_S = 30.0  # the server deletes a viewer's consumer this long after the viewer went away
log = logging.getLogger(__name__)


def _token(text: str) -> str:
    """A subject token: no dots, wildcards or whitespace (they would split or widen the subject)."""
    out = "".join("_" if ch in ".*> \t\r\n" else ch for ch in text)
    return out or "_"


@functools.lru_cache(maxsize=4096)  # a handful of (connection, kind) pairs, asked once per record
def subject_for(conn: str, kind: str) -> str:
    """``clearterm.raw.BINANCE.BINANCE#1`` for a received frame, ``clearterm.ctl.BINANCE`` otherwise."""
    venue = _token(conn.partition("#")[0])
    if kind == "recv":
        return f"{ROOT}.raw.{venue}.{_token(conn)}"
    return f"{ROOT}.ctl.{venue}"


def encode_record(recv_ns: int, conn: str, kind: str, payload: str) -> bytes:
    """The recorder's line for one record (without the newline)."""
    try:
        return orjson.dumps({"t": recv_ns, "c": conn, "k": kind, "p": payload})
    except TypeError:  # not JSON text (bytes, a lone surrogate): as the recorder does
        text = payload.decode("utf-8", "replace") if isinstance(payload, (bytes, bytearray)) else \
            str(payload).encode("utf-8", "replace").decode("utf-8")
        return orjson.dumps({"t": int(recv_ns), "c": str(conn), "k": str(kind), "p": text})


def decode_record(data: bytes) -> Record | None:
    """A Record from a message body, or None when the body is not one."""
    try:
        obj = orjson.loads(data)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(obj, dict):
        return None
    t, c, k, p = obj.get("t"), obj.get("c"), obj.get("k"), obj.get("p")
    if not isinstance(t, int) or isinstance(t, bool) or not isinstance(c, str) or not isinstance(k, str) \
            or not isinstance(p, str):
        return None
    return Record(t, c, k, p)


async def end_task(task: asyncio.Future[Any], timeout_s: float = CLOSE_S) -> None:
    """Cancel ``task`` and wait until it has ended. nats-py swallows a cancel in some of its awaits (a flush
    in its close, a refused connection racing the cancel of Python 3.11's ``wait_for``) and goes on
    looping, so one ``cancel()`` may never end it: the cancel is repeated until one lands."""
    deadline = time.monotonic() + timeout_s
    while not task.done():
        if time.monotonic() > deadline:
            log.warning("bus: a task did not end %.1f s after it was cancelled: %r", timeout_s, task)
            return
        task.cancel()
        await asyncio.wait({task}, timeout=0.05)
    if not task.cancelled() and task.exception() is not None:
        log.debug("bus: an ended task had failed: %s", task.exception())


def _require_nats() -> Any:
    try:
        import nats
    except ImportError:
        raise RuntimeError("the bus needs nats-py: pip install 'clearterm[bus]'") from None
    return nats


async def _connect(url: str, name: str, on_state: Any = None) -> Any:
    """A NATS connection that reconnects forever; ``on_state(connected: bool)`` follows it."""
    nats = _require_nats()

    async def disconnected() -> None:
        if on_state is not None:
            on_state(False)

    async def reconnected() -> None:
        if on_state is not None:
            on_state(True)

    async def error(exc: Exception) -> None:
        log.debug("bus %s: %s", url, exc)

    return await nats.connect(url, name=name, allow_reconnect=True, max_reconnect_attempts=-1,
                              reconnect_time_wait=0.25, connect_timeout=2, ping_interval=2,
                              max_outstanding_pings=2, disconnected_cb=disconnected,
                              reconnected_cb=reconnected, error_cb=error)


async def ensure_stream(js: Any, max_age_s: float = MAX_AGE_S, max_bytes: int = MAX_BYTES) -> None:
    """Create the stream if it does not exist (an existing one is kept as its owner configured it)."""
    from nats.js.errors import NotFoundError
    try:
        await js.stream_info(STREAM)
        return
    except NotFoundError:
        pass
    await js.add_stream(name=STREAM, subjects=[f"{ROOT}.>"], max_age=max_age_s, max_bytes=max_bytes,
                        duplicate_window=DUPLICATE_WINDOW_S)


class BusLink:
    """The state of a bus client's connection, as badges and statistics show it."""

    url: str
    _nc: Any = None
    connected = False
    outages = 0  # times the connection went down
    down_since_ns: int | None = None
    _closing = False  # set by our own close, which is no outage

    def _set_connected(self, up: bool) -> None:
        if up == self.connected or self._closing:
            return
        self.connected = up
        if up:
            self.down_since_ns = None
        else:
            self.outages += 1
            self.down_since_ns = time.time_ns()
        self._link_changed(up)

    def _link_changed(self, up: bool) -> None:
        """What the client does when its connection goes up or down."""

    async def _close_client(self) -> None:
        """Close the NATS connection, within CLOSE_S: a dead server must not hold the caller's exit."""
        nc, self._nc = self._nc, None
        if nc is None:
            return
        closing = asyncio.ensure_future(nc.close())
        await asyncio.wait({closing}, timeout=CLOSE_S)
        if not closing.done():
            await end_task(closing)
        elif not closing.cancelled() and closing.exception() is not None:
            log.debug("bus %s: closing: %s", self.url, closing.exception())


class BusPublisher(BusLink):
    """Publishes records to the bus from a bounded buffer; has the recorder's write/flush/close."""

    def __init__(self, url: str, header: dict[str, Any], buffer_records: int = BUFFER_RECORDS,
                 max_age_s: float = MAX_AGE_S, max_bytes: int = MAX_BYTES) -> None:
        self.url = url
        self.header = header
        self.max_age_s = max_age_s
        self.max_bytes = max_bytes
        self.buffer_records = buffer_records
        self.session_id = os.urandom(6).hex()  # with the sequence number: each message's Nats-Msg-Id
        self._buffer: deque[tuple[int, str, bytes]] = deque()
        self._seq = 0
        self.written = 0  # records handed to the publisher
        self.published = 0  # records the server acknowledged
        self.dropped = 0  # records the full buffer let go before they could be published
        self.stream_seq = 0  # the stream sequence of the newest acknowledged record
        self.failures = 0  # windows that were not (wholly) acknowledged, resent later
        self.down_since_ns = time.time_ns()  # down until the first connection
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._nc: Any = None
        self._append(HEADER_SUBJECT, orjson.dumps({**header, "bus_session": self.session_id, "heartbeat_s": HEARTBEAT_S}))
        self._next_heartbeat = 0.0  # monotonic time of the next heartbeat

    # -- the recorder's interface (called on the feed's path: appends only) ---------------------
    def write(self, recv_ns: int, conn: str, kind: str, payload: str) -> None:
        self._append(subject_for(conn, kind), encode_record(recv_ns, conn, kind, payload))
        self.written += 1

    def flush(self) -> None:
        self._wake.set()

    def close(self) -> None:
        """Nothing to do at once: `stop` (awaited by the session) sends what is left."""

    def _append(self, subject: str, data: bytes) -> None:
        self._seq += 1
        if len(self._buffer) >= self.buffer_records:
            self._buffer.popleft()
            self.dropped += 1
        self._buffer.append((self._seq, subject, data))
        if len(self._buffer) >= WINDOW:
            self._wake.set()

    # -- lifecycle -------------------------------------------------------------------------------
    async def start(self) -> None:
        _require_nats()
        self._task = asyncio.get_running_loop().create_task(self._run(), name="bus publisher")

    async def stop(self, drain_s: float = 5.0) -> None:
        """Send what the buffer holds (for up to ``drain_s`` while the bus is up), then disconnect."""
        self._wake.set()
        if self._task is not None:
            deadline = time.monotonic() + drain_s
            while self._buffer and self.connected and time.monotonic() < deadline and not self._task.done():
                await asyncio.sleep(0.02)
            self._closing = True
            await end_task(self._task)
            self._task = None
        self._closing = True
        await self._close_client()

    def stats(self) -> dict[str, Any]:
        return {"url": self.url, "role": "publisher", "connected": self.connected, "written": self.written,
                "published": self.published, "pending": len(self._buffer), "dropped": self.dropped,
                "failed_windows": self.failures, "outages": self.outages}

    def _link_changed(self, up: bool) -> None:
        self._wake.set()

    async def _run(self) -> None:
        while self._nc is None and not self._closing:
            try:
                self._nc = await _connect(self.url, "clearterm collector", self._set_connected)
            except Exception as exc:  # noqa: BLE001 - the bus is down: keep collecting, try again
                log.warning("bus %s unreachable: %s", self.url, exc)
                await asyncio.sleep(1.0)
        if self._nc is None:  # stopped before it ever connected
            return
        js = self._nc.jetstream()
        self._set_connected(True)
        stream_ready = False
        while not self._closing:  # a cancel nats-py swallowed must not keep the loop going
            if self.connected and time.monotonic() >= self._next_heartbeat:
                await self._heartbeat()
            if not self._buffer or not self.connected:
                self._wake.clear()
                try:
                    await asyncio.wait_for(self._wake.wait(), 0.1)
                except TimeoutError:
                    pass
                continue
            try:
                if not stream_ready:
                    await ensure_stream(js, self.max_age_s, self.max_bytes)
                    stream_ready = True
                await self._send_window(js)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - an outage, a timeout: the window stays buffered
                self.failures += 1
                stream_ready = False  # a restarted server without its store needs the stream again
                log.info("bus publish failed (%s); %d records kept", exc, len(self._buffer))
                await asyncio.sleep(0.25)

    async def _heartbeat(self) -> None:
        """Alive now: straight to the server, never buffered (a heartbeat kept through an outage would lie)."""
        self._next_heartbeat = time.monotonic() + HEARTBEAT_S
        body = orjson.dumps({"bus_session": self.session_id, "t": time.time_ns(), "every_s": HEARTBEAT_S})
        try:
            await self._nc.publish(HEARTBEAT_SUBJECT, body)
        except Exception as exc:  # noqa: BLE001 - the connection is going: the next one says it
            log.debug("bus heartbeat: %s", exc)

    async def _send_window(self, js: Any) -> None:
        """Publish up to WINDOW records, asking an acknowledgement of the last one only.

        The server handles one connection's messages in order, so the last one's acknowledgement says
        every earlier one was stored (or recognised as a duplicate by its Nats-Msg-Id). A window the
        connection dropped during is sent again whole: some of it may have died in the old socket."""
        count = min(WINDOW, len(self._buffer))
        buffer, prefix, publish = self._buffer, self.session_id, self._nc.publish
        outages = self.outages
        for i in range(count - 1):
            seq, subject, data = buffer[i]
            await publish(subject, data, headers={"Nats-Msg-Id": f"{prefix}-{seq}"})
        seq, subject, data = buffer[count - 1]
        ack = await js.publish(subject, data, timeout=ACK_TIMEOUT_S, headers={"Nats-Msg-Id": f"{prefix}-{seq}"})
        if self.outages != outages:
            raise ConnectionError("the connection dropped while the window was sent")
        self.stream_seq = max(self.stream_seq, int(ack.seq))
        while buffer and buffer[0][0] <= seq:
            buffer.popleft()
            self.published += 1


class RecordTee:
    """The session's recorder when it also publishes: every record to the local file and the bus."""

    def __init__(self, local: Any, bus: BusPublisher) -> None:
        self.local = local
        self.bus = bus

    def write(self, recv_ns: int, conn: str, kind: str, payload: str) -> None:
        if self.local is not None:
            self.local.write(recv_ns, conn, kind, payload)
        self.bus.write(recv_ns, conn, kind, payload)

    def flush(self) -> None:
        if self.local is not None:
            self.local.flush()
        self.bus.flush()

    def close(self) -> None:
        if self.local is not None:
            self.local.close()

    def files(self) -> list[Path]:
        return self.local.files() if self.local is not None else []


async def read_header(url: str, timeout_s: float = 5.0) -> tuple[dict[str, Any], int]:
    """The header a viewer starts from, and the stream sequence to start at.

    With one collector: its newest session's header. With several (one per venue, or a failover pair):
    for each venue the newest session that collects it; venues and symbols are their union and the
    start is the earliest of those sessions' headers, so every venue's REST backfill is replayed."""
    nats = _require_nats()
    from nats.js.errors import NotFoundError
    async def quiet(exc: Exception) -> None:  # nats-py's default prints each failed attempt's traceback
        log.debug("bus %s: %s", url, exc)

    try:
        nc = await asyncio.wait_for(nats.connect(url, connect_timeout=2, allow_reconnect=False,
                                                 max_reconnect_attempts=0, error_cb=quiet), 5.0)
    except TimeoutError:
        raise ConnectionError("no NATS server answered within 5 s") from None
    try:
        js = nc.jetstream()
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                msg = await js.get_last_msg(STREAM, HEADER_SUBJECT)
                break
            except NotFoundError:  # no stream yet, or no collector has published: wait a little
                if time.monotonic() > deadline:
                    raise LookupError(f"no clearterm collector has published to {url}") from None
                await asyncio.sleep(0.2)
        headers: list[tuple[dict[str, Any], int]] = []
        seq = 1
        while seq <= msg.seq:  # every collector session's header, oldest first (a few per day)
            try:
                found = await js.get_msg(STREAM, seq=seq, subject=HEADER_SUBJECT, next=True)
            except NotFoundError:
                break
            header = _json_dict(found.data)
            if header is not None:
                headers.append((header, int(found.seq)))
            seq = int(found.seq) + 1
        if not headers:
            raise LookupError(f"the bus at {url} holds no readable clearterm header")
        return merge_headers(headers)
    finally:
        await nc.close()


def _json_dict(data: bytes) -> dict[str, Any] | None:
    try:
        obj = orjson.loads(data)
    except orjson.JSONDecodeError:
        return None
    return obj if isinstance(obj, dict) else None


def merge_headers(headers: list[tuple[dict[str, Any], int]]) -> tuple[dict[str, Any], int]:
    """The newest session per venue (headers oldest first): one header of their union, the earliest start."""
    newest: dict[str, tuple[dict[str, Any], int]] = {}
    for header, seq in headers:
        for venue in header.get("venues") or []:
            newest[str(venue)] = (header, seq)
    if not newest:  # headers that name no venue: the newest one, as before
        return headers[-1]
    chosen = sorted({seq: header for header, seq in newest.values()}.items())
    venues: dict[str, None] = {}
    symbols: dict[str, None] = {}
    for _, header in chosen:
        venues.update((str(v), None) for v in header.get("venues") or [])
        symbols.update((str(s), None) for s in header.get("symbols") or [])
    merged = dict(chosen[-1][1], venues=list(venues), symbols=list(symbols),
                  collectors=[h.get("bus_session") for _, h in chosen])
    return merged, chosen[0][0]


def _sequences(msg: Any) -> tuple[int, int, int]:
    """A JetStream message's stream and consumer sequences and the messages still pending after it, read off
    its reply subject (nats-py's metadata parses all of it)."""
    tokens: list[str] = msg.reply.split(".") if msg.reply else []
    if len(tokens) == 9:  # $JS.ACK.<stream>.<consumer>.<delivered>.<stream seq>.<consumer seq>.<time>.<pending>
        return int(tokens[5]), int(tokens[6]), int(tokens[8])
    if len(tokens) >= 12:  # $JS.ACK.<domain>.<account>.<stream>.<consumer>.<delivered>.<stream seq>.<consumer seq>...
        return int(tokens[7]), int(tokens[8]), int(tokens[10])
    meta = msg.metadata
    return int(meta.sequence.stream), int(meta.sequence.consumer), int(meta.num_pending)


def viewer_subjects(venues: Iterable[str] | None) -> list[str]:
    """The subjects a viewer of ``venues`` reads (None: all of them): the venues' frames and control
    records, the operator's records, the collectors' headers and heartbeats. The server filters, so a
    viewer of one venue is not sent the others' frames."""
    if not venues:
        return [f"{ROOT}.>"]
    subjects = [HEADER_SUBJECT, HEARTBEAT_SUBJECT, f"{ROOT}.ctl.operator"]
    for venue in sorted(set(venues)):
        subjects += [f"{ROOT}.raw.{_token(venue)}.>", f"{ROOT}.ctl.{_token(venue)}"]
    return subjects


def _session_of(msg: Any) -> str:
    """The collector session that published a message (its Nats-Msg-Id is ``<session>-<number>``)."""
    headers = msg.headers
    msg_id = headers.get("Nats-Msg-Id", "") if headers else ""
    return str(msg_id).rpartition("-")[0]


class BusReader(BusLink):
    """Follows the stream from a sequence or a start time: Records in stream order, across outages."""

    def __init__(self, url: str, start_seq: int | None = None, start_ns: int | None = None,
                 venues: list[str] | None = None) -> None:
        self.url = url
        self.next_seq = start_seq  # the sequence to ask for next (None: from start_ns)
        self.start_ns = start_ns
        self.venues = {v.upper() for v in venues} if venues else None
        self.received = 0
        self.skipped = 0  # messages that were not records (counted, never applied)
        self.messages = 0  # messages the server delivered (records, headers, heartbeats)
        self.filtered = 0  # records of venues this viewer did not ask for (the server's filter let through)
        self.refollows = 0  # times messages went missing on the way and the viewer asked again from the gap
        self.lag_ns: int | None = None  # wall time now minus the last record's receive time
        self.merge = RecordMerge()  # several collectors: their records merged, duplicates dropped
        self._lags: deque[int] = deque(maxlen=4096)
        self._nc: Any = None
        self._resubscribe = asyncio.Event()

    def _link_changed(self, up: bool) -> None:
        if up:
            self._resubscribe.set()  # the consumer may be gone with the old server: ask again

    def lag_percentiles(self) -> tuple[float | None, float | None]:
        """p50 and p99 of recent lags, in ms."""
        if not self._lags:
            return None, None
        ordered = sorted(self._lags)

        def pick(q: float) -> float:
            return ordered[min(len(ordered) - 1, int(q * len(ordered)))] / 1e6
        return round(pick(0.5), 3), round(pick(0.99), 3)

    def stats(self) -> dict[str, Any]:
        p50, p99 = self.lag_percentiles()
        return {"url": self.url, "role": "viewer", "connected": self.connected, "received": self.received,
                "messages": self.messages, "skipped": self.skipped, "filtered": self.filtered, "refollows": self.refollows, "outages": self.outages,
                "lag_ms": round(self.lag_ns / 1e6, 3) if self.lag_ns is not None else None,
                "lag_p50_ms": p50, "lag_p99_ms": p99, "collectors": self.merge.live_collectors(),
                "collectors_gone": len(self.merge.gone),
                "duplicates": self.merge.duplicates, "duplicates_by_venue": dict(self.merge.by_venue)}

    def state(self) -> str:
        """What a badge shows: connected, down, or connecting."""
        if self.connected:
            return "connected"
        return "down" if self.outages else "connecting"

    async def close(self) -> None:
        self._closing = True
        await self._close_client()
        self.connected = False

    async def records(self) -> AsyncIterator[tuple[int, Record]]:
        """(stream sequence, Record) for every record on the bus from the start point, then live."""
        from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
        while self._nc is None:
            try:
                self._nc = await _connect(self.url, "clearterm viewer", self._set_connected)
            except Exception as exc:  # noqa: BLE001 - not up yet: keep trying
                self.down_since_ns = self.down_since_ns or time.time_ns()
                log.warning("bus %s unreachable: %s", self.url, exc)
                await asyncio.sleep(0.5)
        self._set_connected(True)
        js = self._nc.jetstream()
        while True:
            self._resubscribe.clear()
            start: dict[str, Any] = {"deliver_policy": DeliverPolicy.ALL}
            if self.next_seq is not None:
                start = {"deliver_policy": DeliverPolicy.BY_START_SEQUENCE, "opt_start_seq": self.next_seq}
            elif self.start_ns is not None:
                from datetime import datetime
                start = {"deliver_policy": DeliverPolicy.BY_START_TIME,
                         "opt_start_time": datetime.fromtimestamp(self.start_ns / 1e9, UTC)}
            subjects = viewer_subjects(self.venues)
            config = ConsumerConfig(ack_policy=AckPolicy.NONE, inactive_threshold=CONSUMER_IDLE_S, flow_control=False,
                                    filter_subjects=subjects if len(subjects) > 1 else None, **start)
            try:
                # a plain push consumer into our own queue: nats-py's ordered consumer stalled for seconds
                # at 10 k msg/s and a pull consumer got a few messages per round trip; a lost message
                # shows as a sequence gap (see _record) and the viewer follows again from it
                inbox: deque[Any] = deque()
                arrived = asyncio.Event()

                async def on_msg(msg: Any, inbox: deque[Any] = inbox, arrived: asyncio.Event = arrived) -> None:
                    inbox.append(msg)
                    arrived.set()

                sub = await js.subscribe(subjects[0], stream=STREAM, config=config, cb=on_msg, manual_ack=True)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - the server is (still) down
                log.info("bus subscribe failed: %s", exc)
                await asyncio.sleep(0.25)
                continue
            try:
                async for item in self._drain(inbox, arrived):
                    yield item
            finally:
                try:
                    await sub.unsubscribe()
                except Exception:  # noqa: BLE001 - the connection went with the server
                    pass

    async def _drain(self, inbox: deque[Any], arrived: asyncio.Event) -> AsyncIterator[tuple[int, Record]]:
        delivered = 0  # the consumer numbers what it delivers 1, 2, 3...: a number skipped is a message lost
        behind = 1  # messages the server still has for us after the last one (0: we follow live)
        quiet_ns, looked = 0, time.monotonic()  # how long nothing arrived, as counted by on-time looks
        while not self._resubscribe.is_set():
            if not inbox:
                arrived.clear()
                try:
                    await asyncio.wait_for(arrived.wait(), 0.5)
                except TimeoutError:
                    now = time.monotonic()
                    # at most 1 s a look: a stall of our own loop is not the collectors' silence
                    quiet_ns += int(min(now - looked, 1.0) * 1e9)
                    looked = now
                    if self.connected and not behind:  # live and nothing at all, not even a heartbeat:
                        # the collectors' time moves on (catching up, a pause is ours, not theirs)
                        for close in self.merge.expire(self.merge.now_ns + quiet_ns):
                            yield (self.next_seq or 1) - 1, close
                    continue
            quiet_ns, looked = 0, time.monotonic()
            while inbox:
                msg = inbox.popleft()
                seq, consumer_seq, behind = _sequences(msg)
                if consumer_seq > delivered + 1:
                    self.refollows += 1  # messages lost on the way (a slow viewer): follow again from the gap
                    log.info("bus: %d messages missing before %d; following again from %s",
                             consumer_seq - delivered - 1, seq, self.next_seq)
                    return
                delivered = consumer_seq
                self.messages += 1
                for item in self._record(msg, seq):
                    yield item

    def _heartbeat(self, data: bytes) -> list[Record]:
        """A heartbeat ``{bus_session, t, every_s}`` or a header (``started_ns``, ``heartbeat_s``) to the merge."""
        beat = _json_dict(data)
        if beat is None:
            self.skipped += 1
            return []
        session, t, every = beat.get("bus_session"), beat.get("t", beat.get("started_ns")), \
            beat.get("every_s", beat.get("heartbeat_s"))
        if not isinstance(session, str) or not isinstance(t, int) or not isinstance(every, (int, float)) \
                or not every > 0:
            return []  # a header of a collector that does not beat (older versions): never called gone
        return self.merge.heartbeat(session, t, float(every))

    def _record(self, msg: Any, seq: int) -> list[tuple[int, Record]]:
        """The (sequence, Record) a message gives: none for a header, a non-record or a duplicate."""
        if self.next_seq is not None and seq < self.next_seq:
            return []  # already applied before the outage
        self.next_seq = seq + 1
        if msg.subject in (HEARTBEAT_SUBJECT, HEADER_SUBJECT):  # a collector announces itself, or says it is alive
            return [(seq, close) for close in self._heartbeat(msg.data)]
        rec = decode_record(msg.data)
        if rec is None:
            self.skipped += 1
            return []
        venue = rec.conn.partition("#")[0].upper()
        if self.venues is not None and rec.conn != "operator" and venue not in self.venues:
            self.filtered += 1
            return []
        self.received += 1
        self.lag_ns = time.time_ns() - rec.recv_ns
        self._lags.append(self.lag_ns)
        if not self.merge.accept(_session_of(msg), rec):
            return []  # another collector's copy of a frame already applied
        return [(seq, rec)]
