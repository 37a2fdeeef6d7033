"""Waiting in tests over loopback: poll a condition until it holds, with a deadline; never a fixed sleep."""
from __future__ import annotations

import asyncio
import time
import unicodedata
from collections.abc import Callable

from textual import events
from textual.keys import REPLACED_KEYS, _character_to_key, _get_unicode_name_from_key
from textual.pilot import Pilot


async def wait_for(cond: Callable[[], object], timeout: float = 10.0, step: float = 0.02) -> bool:
    """Poll ``cond`` until it holds or ``timeout`` seconds pass; returns whether it held, for the test to assert."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        await asyncio.sleep(step)
    return bool(cond())


async def until(predicate: Callable[[], object], timeout: float = 20.0, what: str = "the condition") -> None:
    """Wait for ``predicate``; fail the test, naming ``what``, if it does not hold within ``timeout`` seconds."""
    assert await wait_for(predicate, timeout), f"timed out after {timeout:g}s waiting for {what}"


async def press(pilot: Pilot[object], *keys: str) -> None:
    """Press ``keys`` as ``pilot.press`` does (the same Key events, through the app's queue, in order), but after
    each key wait until the app, the screen and its widgets have handled it, not until the process looks idle.

    Textual's pilot waits, twice per key, for a 20 ms slice that uses under 1 ms of CPU (at most 1 s): with a
    simulator or a replay running in the test's process that never comes, so every key cost about 2 s.
    """
    app = pilot.app
    for key in keys:
        if len(key) == 1 and not key.isalnum():
            key = _character_to_key(key)
        try:
            char: str | None = unicodedata.lookup(_get_unicode_name_from_key(REPLACED_KEYS.get(key, key)))
        except KeyError:
            char = key if len(key) == 1 else None
        event = events.Key(key, char)
        event.set_sender(app)
        await app._post_message(event)
        # the app handles the key (a binding runs, or it goes on to the focused widget's queue), then the widget
        for _ in range(2):
            await pilot._wait_for_screen()
        await app._animator.wait_until_complete()
