"""Minimal REST GET for backfill and snapshots: stdlib urllib run in a thread, so the loop never blocks."""
from __future__ import annotations

import asyncio
import urllib.error
import urllib.request
from typing import NamedTuple
from urllib.parse import urlsplit

_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback never goes via a proxy
_DEFAULT = urllib.request.build_opener()


class RestResponse(NamedTuple):
    url: str
    status: int  # 0 when no HTTP answer came (refused, timed out)
    body: bytes
    error: str = ""


def get_blocking(url: str, timeout: float = 10.0) -> RestResponse:
    host = urlsplit(url).hostname or ""
    opener = _DIRECT if host in ("127.0.0.1", "localhost", "::1") else _DEFAULT
    try:
        with opener.open(urllib.request.Request(url, headers={"User-Agent": "clearterm"}), timeout=timeout) as r:
            return RestResponse(url, r.status, r.read(8 * 1024 * 1024))
    except urllib.error.HTTPError as exc:
        return RestResponse(url, exc.code, exc.read(65536), f"HTTP {exc.code}")
    except (OSError, ValueError) as exc:
        return RestResponse(url, 0, b"", f"{type(exc).__name__}: {exc}"[:200])


async def get(url: str, timeout: float = 10.0) -> RestResponse:
    return await asyncio.to_thread(get_blocking, url, timeout)
