"""Layout planning for the main and depth views, as plain functions of sizes and symbol lists: which
tables exist and in what order, their digit keys, and how many grid columns the width allows."""
from __future__ import annotations

TABLE_COLUMNS = ((180, 3), (120, 2), (0, 1))  # terminal width -> candle table grid columns
DEPTH_COLUMNS = ((150, 2), (0, 1))  # terminal width -> depth ladders side by side
TABLE_MIN_HEIGHT = 8  # below this the table grid scrolls instead of squeezing

Plan = list[tuple[str, str, str]]  # (venue, venue symbol, group) in display order


def table_plan(configured: Plan, extra: list[tuple[str, str]], venues: list[str]) -> Plan:
    """The configured tables, then one for each (venue, symbol) seen in the data only, grouped by symbol
    in configuration order and by venue within a group."""
    plan = list(configured)
    plan.extend((v, s, s) for v, s in dict.fromkeys(extra))
    groups = list(dict.fromkeys(g for _, _, g in plan))
    order = list(dict.fromkeys([*venues, *(v for v, _, _ in plan)]))
    return sorted(plan, key=lambda p: (groups.index(p[2]), order.index(p[0]), p[1]))


def assign_digits(groups: list[str], digits: dict[str, int]) -> dict[str, int]:
    """Digit keys 1-9 for ``groups``: a group keeps the digit it had, a new one takes the lowest free one
    (0: none left), so removing a symbol never renumbers the others."""
    kept = {g: d for g, d in digits.items() if g in groups}
    free = [d for d in range(1, 10) if d not in kept.values()]
    for group in groups:
        if group not in kept:
            kept[group] = free.pop(0) if free else 0
    return kept


def table_grid(width: int, shown: int, venues: int, box_height: int) -> tuple[int, bool]:
    """(columns, squeeze) for ``shown`` candle tables: squeeze shares the height, else rows of
    TABLE_MIN_HEIGHT scroll. With several venues a row holds whole symbols (its venues side by side)."""
    shown = shown or 1
    columns = next(c for w, c in TABLE_COLUMNS if width >= w)
    if 1 < venues < columns:
        columns -= columns % venues
    columns = min(columns, shown)
    rows = -(-shown // columns)
    return columns, box_height == 0 or box_height // rows >= TABLE_MIN_HEIGHT


def depth_columns(width: int, books: int) -> int:
    return min(next(c for w, c in DEPTH_COLUMNS if width >= w), max(1, books))
