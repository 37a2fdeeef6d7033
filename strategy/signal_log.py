"""The signal log: the most recent risk decisions (bounded) and running counts by status."""
from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from strategy.risk import Decision


class SignalLog:
    def __init__(self, maxlen: int = 500) -> None:
        self.entries: deque[Decision] = deque(maxlen=maxlen)
        # Same keys as "signals" in the --json statistics object; counts are never trimmed.
        self.counts = {"total": 0, "approved": 0, "suppressed": 0, "rejected": 0}

    def add(self, decision: Decision) -> None:
        self.entries.append(decision)
        counts = self.counts
        counts["total"] += 1
        counts[decision.status.lower()] += 1

    def recent(self, n: int) -> list[Decision]:
        """The last n decisions, newest first."""
        entries = self.entries
        return [entries[-i] for i in range(1, min(n, len(entries)) + 1)]

    def __len__(self) -> int:
        return len(self.entries)

    def __iter__(self) -> Iterator[Decision]:
        return iter(self.entries)
