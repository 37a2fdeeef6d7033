"""Session recorder: every raw frame and control event, appended to a JSON Lines file.

File layout (format "clearterm-recording", version 1)::

    {"format":"clearterm-recording","version":1,"venues":[...],"symbols":[...],"started_ns":...,"part":0,...}
    {"t":1700000000123456789,"c":"BINANCE#1","k":"recv","p":"{\\"e\\":\\"trade\\",...}"}
    ...

Line 1 is the header (the caller's extra keys are kept). Every further line is one `Record`:
``t`` the receive time in integer ns, ``c`` the connection ("BINANCE#1": venue before the '#'),
``k`` the kind and ``p`` the payload text exactly as it came (JSON escaping makes it one line).

Kinds: "open" (payload: the URL), "send", "recv", "close" (JSON {"code", "reason"}), "rest" (JSON
{"url", "status", "body"}), and operator/control events "halt", "resume", "key", "toggle", "note"
(JSON text). Readers must pass unknown kinds through: the set grows.

Durability: `write` only appends to a list; the batch goes to the OS in one ``os.write`` on a file
opened with O_APPEND when ``flush_interval_s`` has passed on the injected clock, or when `flush` is
called (the app also calls it from a timer). A process killed with SIGKILL loses the unflushed batch
and leaves at most one partial last line, which the reader skips with a warning.

Rotation: once a part has reached ``rotate_bytes`` (default 64 MiB) or is ``rotate_age_s`` old
(default an hour), the next batch goes to a new part (a part overshoots by at most one batch, and
none is only a header): ``<stem>.jsonl`` is followed by ``<stem>-001.jsonl``, ``<stem>-002.jsonl``...
(``<stem>-001.jsonl.gz`` for ``.jsonl.gz``). Each part starts with its own header carrying
``"part": N``. With ``gzip_rotated=True`` a part is gzipped once it is closed by a rotation
(``<stem>.jsonl`` -> ``<stem>.jsonl.gz``, in a thread, through a temporary file ``.gz.tmp``, so a
crash or an exit that cannot wait leaves the plain part, which readers take as well). `recording_parts` lists a session's parts in order, whichever form each has.

Compression (``compress=True``, use a ``.jsonl.gz`` name): a gzip stream written with Z_SYNC_FLUSH
at every flush. A gzip file cut by SIGKILL has no trailer and is readable only up to the last
complete flushed block; the sync flush makes every flushed batch recoverable.
"""
from __future__ import annotations

import gzip
import logging
import os
import shutil
import threading
import time
import zlib
from datetime import datetime, timezone
from pathlib import Path
from typing import NamedTuple

import orjson

from feeds.clock import WallClock

FORMAT = "clearterm-recording"
VERSION = 1
ROTATE_BYTES = 64 * 1024 * 1024  # a part's size cap (JSON text; gzipped it is about a sixth)
ROTATE_AGE_S = 3600.0  # a part's age cap
GZIP_WAIT_S = 2.0  # close() waits this long for compressions; one cut short by the exit leaves its plain part
log = logging.getLogger(__name__)


class Record(NamedTuple):
    """One recorded line: receive time (ns), connection ("BINANCE#1"), kind, payload text."""

    recv_ns: int
    conn: str
    kind: str
    payload: str


_SUFFIXES = (".jsonl.gz", ".jsonl", ".gz")
_OPT_LINE = orjson.OPT_APPEND_NEWLINE


def part_path(path: str | os.PathLike, part: int) -> Path:
    """The file of rotated part ``part`` of the recording started at ``path`` (part 0 is ``path``)."""
    path = Path(path)
    if part == 0:
        return path
    name = path.name
    for suffix in _SUFFIXES:
        if name.endswith(suffix) and len(name) > len(suffix):
            return path.with_name(f"{name[: -len(suffix)]}-{part:03d}{suffix}")
    return path.with_name(f"{name}-{part:03d}")


def _on_disk(path: Path) -> Path | None:
    """``path``, or its gzipped form ``path.gz`` (a part compressed after rotation), whichever exists."""
    if path.exists():
        return path
    zipped = path.with_name(path.name + ".gz")
    return zipped if zipped.exists() else None


def recording_parts(path: str | os.PathLike) -> list[Path]:
    """``path`` followed by its rotated parts that exist on disk, in part order.

    Each part is found plain or gzipped (``x.jsonl`` or ``x.jsonl.gz``), and ``path`` may name either.
    """
    path = Path(path)
    base = _plain_twin(path)  # each part is looked for plain, then gzipped
    parts = [_on_disk(base) or path]
    while (nxt := _on_disk(part_path(base, len(parts)))) is not None:
        parts.append(nxt)
    return parts


def _plain_twin(path: Path) -> Path:
    """``x.jsonl.gz`` -> ``x.jsonl`` (other names unchanged)."""
    return path.with_name(path.name[:-3]) if path.name.endswith(".jsonl.gz") else path


def gzip_file(path: Path) -> Path:
    """Compress ``path`` to ``path.gz`` (atomically, via a temporary file) and remove ``path``."""
    target = path.with_name(path.name + ".gz")
    tmp = path.with_name(path.name + ".gz.tmp")
    with open(path, "rb") as src, gzip.open(tmp, "wb", compresslevel=6) as dst:
        shutil.copyfileobj(src, dst, 1024 * 1024)
    os.replace(tmp, target)
    os.unlink(path)
    return target


def default_recording_path(now: datetime | None = None) -> Path:
    """$XDG_DATA_HOME (or ~/.local/share)/clearterm/recordings/session-YYYYmmdd-HHMMSS.jsonl.

    ``now`` defaults to the current UTC time; a given datetime is formatted as it is.
    """
    if now is None:
        now = datetime.now(timezone.utc)
    base = os.environ.get("XDG_DATA_HOME", "")
    # The XDG spec says a relative value is invalid and must be ignored.
    data_home = Path(base) if os.path.isabs(base) else Path.home() / ".local" / "share"
    return data_home / "clearterm" / "recordings" / f"session-{now:%Y%m%d-%H%M%S}.jsonl"


class Recorder:
    """Appends Records to a JSON Lines recording, flushing in batches (see the module docstring)."""

    def __init__(
        self,
        path: str | os.PathLike,
        header: dict,
        flush_interval_s: float = 0.1,
        rotate_bytes: int = ROTATE_BYTES,
        compress: bool = False,
        clock=None,
        rotate_age_s: float | None = ROTATE_AGE_S,
        gzip_rotated: bool = False,
    ) -> None:
        self.path = Path(path)
        self._clock = clock if clock is not None else WallClock()
        self._flush_interval_ns = int(flush_interval_s * 1e9)
        self._rotate_bytes = rotate_bytes
        self._rotate_age_ns = int(rotate_age_s * 1e9) if rotate_age_s else None
        self._compress = compress
        self.gzip_rotated = gzip_rotated and not compress  # a gzip stream needs no second pass
        self._gzippers: list[threading.Thread] = []
        extras = {k: v for k, v in header.items() if k not in ("format", "version")}
        self._header = {
            "format": FORMAT,
            "version": VERSION,
            "venues": list(header.get("venues", [])),
            "symbols": list(header.get("symbols", [])),
            "started_ns": header.get("started_ns", self._clock.now_ns()),
            **extras,
        }
        self._pending: list[tuple[int, str, str, str]] = []
        self._fd: int | None = None
        self._zip = None
        self.part = 0
        self.parts: list[Path] = []
        self.records_written = 0
        self.bytes_written = 0  # bytes that reached the files, all parts, after compression
        self._part_bytes = 0
        self._part_started_ns = 0
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._open_part()
        self._last_flush_ns = self._clock.now_ns()

    def write(self, recv_ns: int, conn: str, kind: str, payload: str) -> None:
        """Queue one record; the queue goes to the file once flush_interval_s has passed."""
        self._pending.append((recv_ns, conn, kind, payload))
        if self._clock.now_ns() - self._last_flush_ns >= self._flush_interval_ns:
            self.flush()

    def flush(self) -> None:
        """Hand every queued record to the OS now, in one write."""
        if self._fd is None:
            raise ValueError("recorder is closed")
        self._write_pending()

    def close(self) -> None:
        """Flush and close; further calls do nothing."""
        if self._fd is None:
            return
        self._write_pending()
        self._close_part()
        deadline = time.monotonic() + GZIP_WAIT_S
        for thread in self._gzippers:
            thread.join(max(0.0, deadline - time.monotonic()))
        self._gzippers.clear()

    def files(self) -> list[Path]:
        """The session's parts as they are on disk now (plain or gzipped)."""
        return recording_parts(self.path)

    def _write_pending(self) -> None:
        pending = self._pending
        self._last_flush_ns = self._clock.now_ns()
        if not pending:
            return
        self._pending = []
        # Rotate when the next batch comes, so that no part is ever just a header.
        if self._part_bytes >= self._rotate_bytes or (
                self._rotate_age_ns is not None and self._last_flush_ns - self._part_started_ns >= self._rotate_age_ns):
            self._close_part()
            if self.gzip_rotated:
                self._start_gzip(self.parts[-1])
            self.part += 1
            self._open_part()
        self._write_bytes(_encode(pending))
        self.records_written += len(pending)

    def __enter__(self) -> Recorder:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _start_gzip(self, path: Path) -> None:
        def run() -> None:
            try:
                gzip_file(path)
            except OSError as exc:  # the plain part stays: nothing is lost
                log.warning("could not compress recording part %s: %s", path, exc)
        self._gzippers = [t for t in self._gzippers if t.is_alive()]
        thread = threading.Thread(target=run, name=f"gzip {path.name}", daemon=True)
        self._gzippers.append(thread)
        thread.start()

    def _open_part(self) -> None:
        path = part_path(self.path, self.part)
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        self.parts.append(path)
        self._part_bytes = 0
        self._part_started_ns = self._clock.now_ns()
        if self._compress:
            self._zip = zlib.compressobj(6, zlib.DEFLATED, 31)  # wbits 31: gzip container
        header = dict(self._header, part=self.part)
        self._write_bytes(orjson.dumps(header, option=_OPT_LINE))

    def _close_part(self) -> None:
        if self._zip is not None:
            self._write_raw(self._zip.flush(zlib.Z_FINISH))
            self._zip = None
        os.close(self._fd)
        self._fd = None

    def _write_bytes(self, data: bytes) -> None:
        if self._zip is not None:
            data = self._zip.compress(data) + self._zip.flush(zlib.Z_SYNC_FLUSH)
        self._write_raw(data)

    def _write_raw(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            written = os.write(self._fd, view)
            view = view[written:]
        self._part_bytes += len(data)
        self.bytes_written += len(data)


def _encode(records: list[tuple[int, str, str, str]]) -> bytes:
    dumps = orjson.dumps
    opt = _OPT_LINE
    try:
        return b"".join([dumps({"t": t, "c": c, "k": k, "p": p}, option=opt) for t, c, k, p in records])
    except TypeError:
        # A caller passed something that is not JSON text (bytes, a lone surrogate...): keep the rest.
        return b"".join(
            [dumps({"t": int(t), "c": str(c), "k": str(k), "p": _as_text(p)}, option=opt) for t, c, k, p in records]
        )


def _as_text(payload) -> str:
    if isinstance(payload, (bytes, bytearray)):
        return bytes(payload).decode("utf-8", "replace")
    if isinstance(payload, str):
        return payload.encode("utf-8", "replace").decode("utf-8")
    return str(payload)

