"""Cross-checks of two books of one market: a level-3 book against the level-2 book of the same product.

The level-3 book is kept by sequence numbers, so a lost message is seen; Coinbase's ``level2_batch`` has
none, so a lost batch leaves its book silently wrong. Both are read on the feed's tick: their top levels
must be the same. The level-2 feed batches its changes (50 ms) and travels on its own connection, so the
two disagree now and then for a moment; only a disagreement that lasts ``persist_s`` on every tick counts
as a mismatch, once per episode, and the level-2 book is then resynced. Pure: the caller gives the time.
"""
from __future__ import annotations

from feeds.core.book import OrderBook

TOP_LEVELS = 5
PERSIST_S = 5.0


def top_difference(l3: OrderBook, l2: OrderBook, levels: int = TOP_LEVELS) -> str:
    """The first difference between the top ``levels`` of two books, in words; "" when they agree."""
    for side, a, b in zip(("bid", "ask"), l3.top(levels), l2.top(levels), strict=True):
        for i, (mine, theirs) in enumerate(zip(a, b, strict=False)):
            if mine != theirs:
                return f"{side} level {i + 1}: {mine[1]:g} @ {mine[0]:g} (level 3) vs {theirs[1]:g} @ {theirs[0]:g}"
        if len(a) != len(b) and min(len(a), len(b)) < levels:
            return f"{side}s: {len(a)} levels (level 3) vs {len(b)}"
    return ""


class BookCheck:
    """Disagreement episodes of pairs of books, by the time the current one began."""

    def __init__(self, persist_s: float = PERSIST_S) -> None:
        self.persist_ns = int(persist_s * 1e9)
        self.mismatches = 0
        self._since: dict[object, int] = {}  # pair -> ns the current disagreement began
        self._reported: set[object] = set()

    def compare(self, pair: object, l3: OrderBook, l2: OrderBook, now_ns: int) -> str:
        """The difference when this pair has disagreed for ``persist_s`` (reported once per episode); else ""."""
        difference = top_difference(l3, l2)
        if not difference:
            self._since.pop(pair, None)
            self._reported.discard(pair)
            return ""
        since = self._since.setdefault(pair, now_ns)
        if now_ns - since < self.persist_ns or pair in self._reported:
            return ""
        self._reported.add(pair)
        self.mismatches += 1
        return difference

    def forget(self, pair: object) -> None:
        """One of the books is not synced: no episode runs."""
        self._since.pop(pair, None)
        self._reported.discard(pair)
