"""The real exchange captures the tests read, kept compressed in ``tests/captures/`` (public sample data).

``capture_dir()`` unpacks them once per test run into a temporary folder with their original names,
so tests read them exactly as cryptofeed wrote them. A missing file fails the test that needs it.
"""
from __future__ import annotations

import atexit
import functools
import gzip
import shutil
import tempfile
from pathlib import Path

PACKED = Path(__file__).resolve().parent / "captures"
NAMES = ("BINANCE.0", "BINANCE.http.0.0", "BINANCE.ws.1.0", "COINBASE.0", "COINBASE.ws.28.0")


@functools.cache
def capture_dir() -> Path:
    """A folder holding every capture under its original name."""
    out = Path(tempfile.mkdtemp(prefix="clearterm-captures-"))
    atexit.register(shutil.rmtree, out, True)
    for name in NAMES:
        with gzip.open(PACKED / f"{name}.gz", "rb") as src, open(out / name, "wb") as dst:
            shutil.copyfileobj(src, dst)
    return out
