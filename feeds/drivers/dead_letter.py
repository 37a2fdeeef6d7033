"""The dead-letter file: every rejected frame with its reason, as JSON Lines, bounded in size."""
from __future__ import annotations

import os

import orjson

from feeds.events import Rejected


class DeadLetterFile:
    """Rejected frames as JSON Lines, one object a line; rotates to ``<path>.1`` at ``max_bytes``."""

    def __init__(self, path: str, max_bytes: int = 16 * 1024 * 1024) -> None:
        self.path = str(path)
        self.max_bytes = max_bytes
        self.written = 0  # lines written this session
        self.rotations = 0
        self.overflow = 0  # lines not written: more than max_bytes arrived between two flushes
        self._pending: list[bytes] = []
        os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
        self._size = os.path.getsize(self.path) if os.path.exists(self.path) else 0

    def add(self, conn: str, ev: Rejected) -> None:
        self._pending.append(orjson.dumps({
            "recv_ns": ev.recv_ns, "conn": conn, "venue": ev.venue, "symbol": ev.symbol, "reason": ev.reason,
            "detail": ev.detail, "raw": ev.raw}) + b"\n")

    def flush(self) -> None:
        if not self._pending:
            return
        lines, self._pending = self._pending, []
        size = sum(map(len, lines))
        if self._size and self._size + size > self.max_bytes:
            os.replace(self.path, self.path + ".1")  # keep one old file: at most twice max_bytes on disk
            self._size = 0
            self.rotations += 1
        while size > self.max_bytes:  # a burst bigger than the file: keep its first lines
            size -= len(lines.pop())
            self.overflow += 1
        with open(self.path, "ab") as f:
            f.write(b"".join(lines))
        self._size += size
        self.written += len(lines)
