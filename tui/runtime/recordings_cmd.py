"""``clearterm recordings``: the recordings on disk (path, size, span, venues), and pruning them.

A recording is a session's first part and its rotated parts (``x.jsonl``, ``x-001.jsonl.gz``...);
sizes, spans and deletions always take the whole set.
"""
from __future__ import annotations

import argparse
import re
import time
import zlib
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import BinaryIO

import orjson

from feeds.drivers.recording import FORMAT, recording_parts

_LATER_PART = re.compile(r"-\d{3}\.jsonl(\.gz)?$")
_FIRST_PART = re.compile(r"\.jsonl(\.gz)?$")
IN_USE_S = 60.0  # a recording written to this recently may belong to a running session: never pruned
_TAIL_BYTES = 256 * 1024


@dataclass
class RecordingInfo:
    path: Path  # the first part, as it is on disk
    parts: list[Path]
    size: int  # bytes on disk, all parts
    start_ns: int
    end_ns: int
    venues: list[str]
    modified: float  # the newest part's mtime (seconds since the epoch)


def default_dir() -> Path:
    from feeds.drivers.recording import default_recording_path
    return default_recording_path().parent


def find_recordings(directory: Path) -> list[RecordingInfo]:
    """Every clearterm recording in ``directory``, oldest first."""
    out = []
    for path in sorted(directory.iterdir()) if directory.is_dir() else ():
        if not path.is_file() or not _FIRST_PART.search(path.name) or _LATER_PART.search(path.name):
            continue
        if path.name.endswith(".jsonl.gz") and path.with_name(path.name[:-3]).exists():
            continue  # being compressed: the plain file stands for it
        info = describe(path)
        if info is not None:
            out.append(info)
    out.sort(key=lambda r: (r.end_ns, str(r.path)))
    return out


def describe(path: Path) -> RecordingInfo | None:
    """Size, span and venues of the recording starting at ``path``; None when it is not one."""
    parts = recording_parts(path)
    try:
        stats = [p.stat() for p in parts]
        header = _first_line(parts[0])
    except OSError:
        return None
    if header.get("format") != FORMAT:
        return None
    start = int(header.get("started_ns") or 0)
    end = _last_time(parts[-1]) or start
    return RecordingInfo(parts[0], parts, sum(s.st_size for s in stats), start, max(start, end),
                         [str(v) for v in header.get("venues") or []], max(s.st_mtime for s in stats))


def _lines_head(path: Path) -> bytes:
    with open(path, "rb") as f:
        head = f.read(64 * 1024)
    if head[:2] == b"\x1f\x8b":
        head = zlib.decompressobj(31).decompress(head, 64 * 1024)
    return head


def _first_line(path: Path) -> dict:
    try:
        value = orjson.loads(_lines_head(path).split(b"\n", 1)[0])
    except (orjson.JSONDecodeError, zlib.error):
        return {}
    return value if isinstance(value, dict) else {}


def _last_time(path: Path) -> int:
    """The receive time of the last whole record of a part (gzipped parts are read through)."""
    with open(path, "rb") as f:
        if f.read(2) == b"\x1f\x8b":
            f.seek(0)
            tail = _gzip_tail(f)
        else:
            f.seek(0, 2)
            f.seek(max(0, f.tell() - _TAIL_BYTES))
            tail = f.read()
    for line in reversed(tail.split(b"\n")):
        try:
            record = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue
        if isinstance(record, dict) and isinstance(record.get("t"), int):
            return record["t"]
    return 0


def _gzip_tail(f: BinaryIO) -> bytes:
    inflate = zlib.decompressobj(31)
    tail = b""
    try:
        while chunk := f.read(1024 * 1024):
            tail = (tail + inflate.decompress(chunk))[-_TAIL_BYTES:]
    except zlib.error:
        pass  # a part cut by a crash: what came before is still good
    return tail


def human_size(n: float) -> str:
    for unit in ("B", "K", "M", "G"):
        if n < 1024 or unit == "G":
            return f"{n:.0f}{unit}" if unit == "B" else f"{n:.1f}{unit}"
        n /= 1024
    return f"{n:.1f}G"


def human_span(seconds: float) -> str:
    seconds = int(seconds)
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def _utc(ns: int) -> str:
    return datetime.fromtimestamp(ns / 1e9, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def to_prune(recordings: list[RecordingInfo], older_than_s: float | None, max_total: int | None,
             now: float) -> list[RecordingInfo]:
    """Which recordings pruning deletes: ended before ``older_than_s`` ago, then the oldest until the
    rest fit in ``max_total`` bytes. One written to in the last minute (maybe running) is kept."""
    doomed: list[RecordingInfo] = []
    kept = [r for r in recordings if now - r.modified < IN_USE_S]
    candidates = [r for r in recordings if r not in kept]  # oldest first
    if older_than_s is not None:
        cutoff_ns = (now - older_than_s) * 1e9
        doomed = [r for r in candidates if r.end_ns < cutoff_ns]
    if max_total is not None:
        left = [r for r in candidates if r not in doomed]
        total = sum(r.size for r in left) + sum(r.size for r in kept)
        for r in left:
            if total <= max_total:
                break
            doomed.append(r)
            total -= r.size
    return doomed


def run_recordings(args: argparse.Namespace) -> int:
    directory = args.dir or default_dir()
    recordings = find_recordings(directory)
    doomed = to_prune(recordings, args.prune_older_than, args.max_total_size, time.time())
    pruning = args.prune_older_than is not None or args.max_total_size is not None
    for debris in directory.glob("*.gz.tmp") if pruning and directory.is_dir() else ():  # compressions cut short
        if time.time() - debris.stat().st_mtime > IN_USE_S and not args.dry_run:
            debris.unlink(missing_ok=True)
    for r in doomed:
        verb = "would delete" if args.dry_run else "deleted"
        if not args.dry_run:
            for part in r.parts:
                part.unlink(missing_ok=True)
        print(f"{verb} {r.path} ({len(r.parts)} part{'s' * (len(r.parts) != 1)}, {human_size(r.size)})")
    shown = recordings if args.dry_run else [r for r in recordings if r not in doomed]
    if not shown:
        print(f"no recordings in {directory}")
        return 0
    width = max(len(str(r.path)) for r in shown)
    print(f"{'path':<{width}}  {'size':>7}  {'parts':>5}  {'start (UTC)':<19}  {'span':>7}  venues")
    for r in shown:
        print(f"{str(r.path):<{width}}  {human_size(r.size):>7}  {len(r.parts):>5}  {_utc(r.start_ns)}  "
              f"{human_span((r.end_ns - r.start_ns) / 1e9):>7}  {','.join(r.venues)}")
    print(f"{len(shown)} recording{'s' * (len(shown) != 1)}, {human_size(sum(r.size for r in shown))} in {directory}")
    return 0
