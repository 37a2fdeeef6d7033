"""The command palette's entries (ctrl+p): every action of the app's bindings with its key, then the
symbols' show/hide keys. Actions that only act on a replay are offered only while one is on screen."""
from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from functools import partial

from textual.actions import parse as parse_action
from textual.app import SystemCommand
from textual.binding import Binding

from tui.widgets.safe_text import clean


def action_commands(bindings: Iterable[object], keymap: Mapping[str, str], run_action: Callable[[str], object],
                    replay_shown: bool, replay_only: frozenset[str],
                    digits: dict[str, int]) -> Iterator[SystemCommand]:
    """``bindings`` as palette commands (one per action, keys as remapped); ``digits``: group -> key."""
    seen = {"quit"}  # Textual's own palette has it
    for b in bindings:
        if not isinstance(b, Binding) or b.action in seen or b.action.startswith("toggle_symbol"):
            continue
        _, name, _ = parse_action(b.action)
        if name in replay_only and not replay_shown:
            continue
        seen.add(b.action)
        keys = keymap.get(b.id, b.key_display or b.key) if b.id else b.key
        yield SystemCommand(b.tooltip or b.description, f"key: {keys}", partial(run_action, b.action))
    for n, group in sorted((d, g) for g, d in digits.items() if d):
        yield SystemCommand(f"Show/hide symbol {n}: {clean(group)}", f"key: {n}",
                            partial(run_action, f"toggle_symbol({n})"), discover=False)


# What the help explains besides the keys: (what you see, what it means).
LEGEND = (
    ("tab, shift+tab", ("Next / previous candle table or log; then ↑ ↓ PgUp PgDn scroll it (when the "
                        "tables do not all fit, the table grid scrolls)")),
    ("≈", "Approximate: a USDT pair shown as USD (1 USDT taken as 1 USD)"),
    ("›", "The forming bar (not closed yet), on top of a candle table"),
    ("badge green", "Connection subscribed, data flowing"),
    ("badge yellow", "Starting, connecting or reconnecting"),
    ("badge red", "Stale (no data in time), failed or disconnected"),
    ("…", "A value or line cut by the edge: widen the terminal to read it whole"),
)
