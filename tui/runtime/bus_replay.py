"""``clearterm replay nats://HOST:PORT [--from TIME]``: what the bus holds, replayed like a recording.

The stream (merged across collectors, as a viewer merges it) is copied from a start time up to its
last message at the moment the command starts into a temporary clearterm recording, which the replay
plays: speed, pause, step and seek (the DVR) then work exactly as for a file, and a backward seek does
not go back to the server. Without ``--from`` the copy starts at the header a viewer would start at
(each venue's newest collector session, with its REST backfill).
"""
from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from datetime import UTC, datetime

import orjson

from feeds.drivers.bus import STREAM, BusReader, _connect, read_header
from feeds.drivers.recording import FORMAT

AGE_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
IDLE_S = 5.0  # no new message for this long: the copy ends with what arrived


def parse_from(text: str, now_ns: int | None = None) -> int:
    """``--from``: an ISO 8601 time (UTC when it names no zone) or an age such as 90s, 10m, 2h: ns since epoch."""
    now_ns = time.time_ns() if now_ns is None else now_ns
    text = text.strip()
    unit = text[-1:].lower()
    if unit in AGE_UNITS:
        try:
            age = float(text[:-1])
        except ValueError:
            age = -1.0
        if age > 0:
            return now_ns - int(age * AGE_UNITS[unit] * 1e9)
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--from: expected a time such as 2026-11-27T19:30:00Z or an age "
                                         f"such as 10m, got {text!r}") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return int(when.timestamp() * 1e9)


async def _last_seq(url: str) -> int:
    nc = await _connect(url, "clearterm replay")
    try:
        info = await nc.jetstream().stream_info(STREAM)
        return int(info.state.last_seq)
    finally:
        await nc.close()


async def copy_stream(url: str, path: str, from_ns: int | None = None) -> int:
    """Copy the stream into a clearterm recording at ``path``; returns the records written."""
    header, start_seq = await read_header(url)
    last = await _last_seq(url)
    reader = BusReader(url, start_seq=None if from_ns is not None else start_seq, start_ns=from_ns)
    written = 0
    with open(path, "wb") as out:
        out.write(orjson.dumps({**header, "format": FORMAT, "version": 1, "part": 0, "mode": "replay",
                                "source": url}) + b"\n")

        async def pump() -> None:
            nonlocal written
            async for _, rec in reader.records():
                out.write(orjson.dumps({"t": rec.recv_ns, "c": rec.conn, "k": rec.kind, "p": rec.payload}) + b"\n")
                written += 1

        task = asyncio.get_running_loop().create_task(pump())
        try:
            progress, seen = time.monotonic(), reader.next_seq
            while not (reader.next_seq is not None and reader.next_seq > last) and not task.done():
                await asyncio.sleep(0.05)
                if reader.next_seq != seen:
                    progress, seen = time.monotonic(), reader.next_seq
                elif time.monotonic() - progress > IDLE_S:
                    break  # nothing after --from, or the server went away: replay what arrived
        finally:
            task.cancel()
            await asyncio.wait({task})
            await reader.close()
        if task.done() and not task.cancelled() and task.exception() is not None:
            raise task.exception()  # type: ignore[misc]
    return written


def fetch_to_temporary(url: str, from_text: str | None) -> str:
    """The stream copied into a temporary recording (the caller deletes it); usage errors raised as such."""
    from tui.runtime.cli import UsageError
    try:
        from_ns = parse_from(from_text) if from_text else None
    except argparse.ArgumentTypeError as exc:
        raise UsageError(str(exc)) from None
    fd, path = tempfile.mkstemp(prefix="clearterm-bus-", suffix=".jsonl")
    os.close(fd)
    try:
        written = asyncio.run(copy_stream(url, path, from_ns))
    except LookupError as exc:
        os.unlink(path)
        raise UsageError(str(exc)) from None
    except Exception as exc:  # noqa: BLE001 - nats-py raises several kinds for an unreachable server
        os.unlink(path)
        raise UsageError(f"cannot reach the bus at {url}: {str(exc) or type(exc).__name__}") from None
    if not written:
        os.unlink(path)
        raise UsageError(f"the bus at {url} holds no records" + (f" after {from_text}" if from_text else ""))
    return path
