"""Small fault-injection state used by the simulator's venues and connections.

``FrameFaults`` lives on each connection and rewrites the frames its writer is about to send
(duplicate, reorder, truncate). ``Stalls`` holds per-symbol (or global) deadlines during which a venue
sends no market data. Both are plain objects: the Simulator's control methods set them, the venue's
step and the connection writer read them.
"""
from __future__ import annotations

import time

GARBAGE_FRAME = b"<<garbage>> this is not JSON {{{"


class FrameFaults:
    """Pending one-shot faults on one connection's outgoing frames."""

    __slots__ = ("duplicate", "reorder", "truncate", "held")

    def __init__(self) -> None:
        self.duplicate = 0  # the next N frames are each sent twice
        self.reorder = False  # the next two frames swap places
        self.truncate = 0  # the next N frames are cut in half
        self.held: bytes | None = None  # a frame waiting to be sent after the next one

    @property
    def active(self) -> bool:
        return bool(self.duplicate or self.reorder or self.truncate or self.held is not None)

    def apply(self, frames: list[bytes]) -> list[bytes]:
        out: list[bytes] = []
        for f in frames:
            if self.truncate:
                self.truncate -= 1
                f = f[: max(1, len(f) // 2)]
            if self.reorder:
                if self.held is None:
                    self.held = f
                    continue
                out.append(f)
                out.append(self.held)
                self.held = None
                self.reorder = False
                continue
            out.append(f)
            if self.duplicate:
                self.duplicate -= 1
                out.append(f)
        return out


class Stalls:
    """Deadlines (monotonic seconds) while data for a symbol, or for all symbols (key None), is withheld."""

    __slots__ = ("until",)

    def __init__(self) -> None:
        self.until: dict[str | None, float] = {}

    def add(self, symbol: str | None, seconds: float) -> None:
        self.until[symbol] = time.monotonic() + seconds

    def current(self) -> tuple[bool, frozenset[str]]:
        """(everything stalled, stalled symbols); forgets expired entries."""
        if not self.until:
            return False, frozenset()
        now = time.monotonic()
        for key in [k for k, t in self.until.items() if t <= now]:
            del self.until[key]
        return None in self.until, frozenset(k for k in self.until if k is not None)
