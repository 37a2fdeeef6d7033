"""Waiting in tests over loopback: poll a condition until it holds, with a deadline; never a fixed sleep."""
from __future__ import annotations

import asyncio
import time
from collections.abc import Callable


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
