"""Recorder: round trips through the real reader, batching by the injected clock, rotation, gzip, SIGKILL."""
from __future__ import annotations

import gzip
import random
import signal
import subprocess
import sys
import tempfile
import time
import zlib
from datetime import datetime, timezone
from pathlib import Path

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from feeds.clock import ManualClock
from feeds.drivers.recording import Record, Recorder, default_recording_path, part_path, recording_parts
from feeds.drivers.replay import read_clearterm

TRICKY_PAYLOADS = [
    '{"e":"trade","s":"BTCUSDT","p":"65000.10"}',
    'caf\u00e9 \u2713 \U0001f680 \u4e2d\u6587',
    'she said "hi" and \\ left',
    '{"msg":"line1\\nline2","path":"C:\\\\x","q":"\\"quoted\\""}',  # escapes inside JSON strings
    "a raw\nnewline, a raw\ttab, a raw\r return, and \x00 nul",
    "",
    " leading and trailing spaces ",
]


def _records(n: int = 50) -> list[Record]:
    return [
        Record(1_700_000_000_000_000_000 + i * 1_000_003, f"BINANCE#{i % 3}", "recv", TRICKY_PAYLOADS[i % len(TRICKY_PAYLOADS)])
        for i in range(n)
    ]


def _write_all(path: Path, records: list[Record], **kwargs) -> Recorder:
    rec = Recorder(path, {"venues": ["BINANCE"], "symbols": ["BTCUSDT"]}, clock=ManualClock(5), **kwargs)
    for r in records:
        rec.write(*r)
    rec.close()
    return rec


def test_round_trip_is_byte_exact(tmp_path):
    path = tmp_path / "s.jsonl"
    records = _records() + [
        Record(1, "COINBASE#2", "open", "wss://ws-feed.exchange.coinbase.com"),
        Record(2, "COINBASE#2", "close", '{"code":1006,"reason":""}'),
        Record(3, "OPERATOR", "halt", '{"cause":"key h"}'),
        Record(4, "OPERATOR", "a-kind-added-later", '{"x":1}'),
    ]
    _write_all(path, records)
    header, stream = read_clearterm(path)
    got = list(stream)
    assert got == records
    assert all(type(r) is Record for r in got)
    assert [r.payload.encode() for r in got] == [r.payload.encode() for r in records]
    assert stream.report.records == len(records)
    assert stream.report.skipped_lines == 0 and stream.report.warnings == []
    # one line per record plus the header: escaping kept raw newlines out of the file's structure
    assert path.read_bytes().count(b"\n") == len(records) + 1


def test_header_fields(tmp_path):
    path = tmp_path / "s.jsonl"
    rec = Recorder(path, {"venues": ["BINANCE", "COINBASE"], "symbols": ["BTCUSDT"], "mode": "live"}, clock=ManualClock(42))
    rec.close()
    first = orjson.loads(path.read_bytes().split(b"\n")[0])
    assert first == {
        "format": "clearterm-recording",
        "version": 1,
        "venues": ["BINANCE", "COINBASE"],
        "symbols": ["BTCUSDT"],
        "started_ns": 42,
        "mode": "live",
        "part": 0,
    }
    header, stream = read_clearterm(path)
    assert header == first
    assert list(stream) == []


def test_writes_are_batched_until_the_clock_says_flush(tmp_path):
    path = tmp_path / "s.jsonl"
    clock = ManualClock(1_000)
    rec = Recorder(path, {}, flush_interval_s=0.1, clock=clock)

    def lines() -> int:
        return path.read_bytes().count(b"\n")

    assert lines() == 1  # the header goes out at once
    for i in range(3):
        rec.write(i, "BINANCE#1", "recv", "x")
    clock.advance(0.05)
    rec.write(3, "BINANCE#1", "recv", "x")
    assert lines() == 1
    clock.advance(0.05)
    rec.write(4, "BINANCE#1", "recv", "x")  # 100 ms since the last flush: this write flushes all five
    assert lines() == 6
    rec.write(5, "BINANCE#1", "recv", "x")
    assert lines() == 6
    rec.flush()
    assert lines() == 7
    assert rec.records_written == 6
    rec.close()
    rec.close()  # twice is harmless
    with pytest.raises(ValueError):
        rec.flush()


@pytest.mark.parametrize("compress", [False, True])
def test_rotation_gives_parts_each_readable_and_all_records_once_in_order(tmp_path, compress):
    path = tmp_path / ("s.jsonl.gz" if compress else "s.jsonl")
    records = [Record(i, "BINANCE#1", "recv", f'{{"i":{i},"pad":"{"z" * 80}"}}') for i in range(200)]
    rec = _write_all(path, records, flush_interval_s=0, rotate_bytes=300 if compress else 2_000)
    parts = recording_parts(path)
    assert len(parts) >= 4
    assert parts == rec.parts
    assert parts[1] == tmp_path / ("s-001.jsonl.gz" if compress else "s-001.jsonl")
    seen = []
    for n, part in enumerate(parts):
        header, stream = read_clearterm(part)
        assert header["part"] == n and header["format"] == "clearterm-recording"
        part_records = list(stream)
        assert part_records and stream.report.warnings == []
        seen.extend(part_records)
    assert seen == records
    shuffled = parts[:]
    random.Random(7).shuffle(shuffled)
    header, stream = read_clearterm(shuffled)
    assert header["part"] == 0
    assert list(stream) == records
    assert stream.report.records == len(records)


def test_part_names():
    assert part_path("/r/session-20260101-120000.jsonl", 0) == Path("/r/session-20260101-120000.jsonl")
    assert part_path("/r/session-20260101-120000.jsonl", 12) == Path("/r/session-20260101-120000-012.jsonl")
    assert part_path("/r/x.jsonl.gz", 1) == Path("/r/x-001.jsonl.gz")
    assert part_path("/r/capture", 2) == Path("/r/capture-002")


def test_gzip_round_trip_is_a_standard_gzip_file(tmp_path):
    path = tmp_path / "s.jsonl.gz"
    records = _records(300)
    clock = ManualClock(0)
    rec = Recorder(path, {"venues": ["BINANCE"]}, compress=True, clock=clock)
    for r in records:
        rec.write(*r)
        clock.advance(0.03)
    rec.close()
    header, stream = read_clearterm(path)
    assert header["venues"] == ["BINANCE"]
    assert list(stream) == records
    assert stream.report.warnings == []
    with gzip.open(path, "rb") as f:  # the standard library agrees it is a complete gzip file
        assert len(f.read().splitlines()) == len(records) + 1


def test_gzip_cut_anywhere_reads_a_prefix_without_error(tmp_path):
    path = tmp_path / "s.jsonl.gz"
    records = [Record(i, "COINBASE#1", "recv", f'{{"i":{i},"s":"\u00e9\\"{"q" * (i % 50)}"}}') for i in range(400)]
    clock = ManualClock(0)
    rec = Recorder(path, {}, compress=True, clock=clock, flush_interval_s=0.1)
    for r in records:
        rec.write(*r)
        clock.advance(0.01)  # a sync-flushed block every 10 records
    rec.flush()
    data = path.read_bytes()  # no close: like a killed process, the gzip trailer is missing
    rec.close()
    cut_path = tmp_path / "cut.jsonl.gz"
    best = 0
    for cut in sorted(random.Random(3).sample(range(20, len(data)), 40)) + [len(data)]:
        cut_path.write_bytes(data[:cut])
        _, stream = read_clearterm(cut_path)
        got = list(stream)
        assert got == records[: len(got)]
        assert stream.report.skipped_lines <= 1
        assert len(got) >= best
        best = len(got)
    assert best == len(records)


def test_a_line_cut_in_the_middle_is_skipped_with_a_warning(tmp_path):
    path = tmp_path / "s.jsonl"
    records = _records(10)
    _write_all(path, records)
    data = path.read_bytes()
    last_line_start = data.rstrip(b"\n").rfind(b"\n") + 1
    for cut in range(last_line_start + 1, len(data) - 1):
        path.write_bytes(data[:cut])
        header, stream = read_clearterm(path)
        got = list(stream)
        assert got == records[:9]
        assert stream.report.records == 9
        assert stream.report.skipped_lines == 1
        assert len(stream.report.warnings) == 1 and "truncated last line" in stream.report.warnings[0]
    path.write_bytes(data[:-1])  # only the newline lost: the record is complete and kept
    _, stream = read_clearterm(path)
    assert list(stream) == records and stream.report.skipped_lines == 0


def test_appending_a_second_session_to_a_file_keeps_both(tmp_path):
    path = tmp_path / "s.jsonl"
    _write_all(path, _records(5))
    _write_all(path, [Record(2_000_000_000_000_000_000, "COINBASE#1", "recv", "later")])
    _, stream = read_clearterm(path)
    assert [r.payload for r in stream][-1] == "later"
    assert stream.report.records == 6
    assert any("another header" in w for w in stream.report.warnings)


def test_non_text_payload_does_not_lose_the_batch(tmp_path):
    path = tmp_path / "s.jsonl"
    _write_all(path, [Record(1, "B#1", "recv", "ok"), Record(2, "B#1", "recv", b"bytes \xff"), Record(3, "B#1", "recv", "ok2")])
    _, stream = read_clearterm(path)
    assert [r.payload for r in stream] == ["ok", "bytes \ufffd", "ok2"]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(min_value=0, max_value=2**63 - 1),
            st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=12),
            st.sampled_from(["open", "send", "recv", "close", "rest", "halt", "resume", "key", "toggle", "note"]),
            st.text(st.characters(blacklist_categories=("Cs",)), max_size=200),
        ),
        max_size=30,
    )
)
def test_any_text_round_trips(rows):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "h.jsonl"
        records = [Record(*row) for row in rows]
        _write_all(path, records)
        _, stream = read_clearterm(path)
        assert list(stream) == records


def test_default_recording_path(monkeypatch, tmp_path):
    now = datetime(2026, 11, 21, 10, 0, 5, tzinfo=timezone.utc)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert default_recording_path(now) == tmp_path / "clearterm" / "recordings" / "session-20261121-100005.jsonl"
    monkeypatch.setenv("XDG_DATA_HOME", "relative/ignored")
    expected = Path.home() / ".local" / "share" / "clearterm" / "recordings" / "session-20261121-100005.jsonl"
    assert default_recording_path(now) == expected
    monkeypatch.delenv("XDG_DATA_HOME")
    assert default_recording_path(now) == expected
    assert default_recording_path().name.startswith("session-")


def test_recorder_creates_the_directory(tmp_path):
    path = tmp_path / "a" / "b" / "s.jsonl"
    Recorder(path, {}).close()
    assert path.exists()


KILL_SEED = 20261127
WRITER = r"""
import sys, time
from feeds.drivers.recording import Recorder
path, compress = sys.argv[1], sys.argv[2] == "1"
rec = Recorder(path, {"venues": ["BINANCE"], "symbols": ["BTCUSDT"]}, flush_interval_s=0.1, compress=compress)
i = 0
while True:
    rec.write(time.time_ns(), "BINANCE#1", "recv", '{"i":%d,"s":"caf\u00e9 \\"q\\" \\\\ %s"}' % (i, "x" * (i % 700)))
    i += 1
"""


def _wait_until(predicate, deadline_s: float, proc) -> None:
    deadline = time.monotonic() + deadline_s
    while not predicate():
        assert proc.poll() is None, proc.stderr.read().decode()
        assert time.monotonic() < deadline, "writer did not get far enough in time"
        time.sleep(0.002)  # a short poll on a condition, bounded by the deadline


@pytest.mark.parametrize("compress", [False, True])
def test_sigkill_mid_recording_loses_at_most_a_partial_line(tmp_path, compress):
    path = tmp_path / ("k.jsonl.gz" if compress else "k.jsonl")
    # kill once this many lines have been flushed: a seeded moment, the same on every run
    target = random.Random(f"{KILL_SEED}:{compress}").randint(2_000, 60_000)
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(path), "1" if compress else "0"], stderr=subprocess.PIPE)
    try:
        seen = {"offset": 0, "lines": 0}
        unzip = zlib.decompressobj(31)

        def enough_lines() -> bool:
            if not path.exists():
                return False
            with open(path, "rb") as f:
                f.seek(seen["offset"])
                chunk = f.read()
            seen["offset"] += len(chunk)
            seen["lines"] += (unzip.decompress(chunk) if compress else chunk).count(b"\n")
            return seen["lines"] >= target

        _wait_until(enough_lines, 15, proc)
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(10) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stderr.close()

    header, stream = read_clearterm(path)
    got = list(stream)
    report = stream.report
    assert header["venues"] == ["BINANCE"]
    assert [orjson.loads(r.payload)["i"] for r in got] == list(range(len(got)))  # nothing lost in between
    assert all(r.payload.endswith("x" * (i % 700) + '"}') for i, r in enumerate(got))
    assert all(a.recv_ns <= b.recv_ns for a, b in zip(got, got[1:]))
    assert report.records == len(got)
    # Everything on disk is readable: every complete line (all but the header) comes back; only a partial
    # last line may be lost (for gzip: what the killed process had not sync-flushed is not on disk).
    data = zlib.decompressobj(31).decompress(path.read_bytes()) if compress else path.read_bytes()
    complete_lines = data.count(b"\n")
    assert len(got) == complete_lines - 1 >= target - 1
    if data.endswith(b"\n"):
        assert report.skipped_lines == 0 and report.warnings == []
    else:
        assert report.skipped_lines == 1 and "truncated last line" in report.warnings[0]



def test_a_part_rotates_when_it_is_an_hour_old_even_when_small(tmp_path):
    path = tmp_path / "s.jsonl"
    clock = ManualClock(0)
    rec = Recorder(path, {"venues": ["BINANCE"]}, clock=clock, flush_interval_s=0)
    records = []
    for minute in range(150):  # two and a half hours of one small record a minute
        clock.advance(60)
        records.append(Record(clock.now_ns(), "BINANCE#1", "recv", f'{{"m":{minute}}}'))
        rec.write(*records[-1])
    rec.close()
    parts = recording_parts(path)
    assert [p.name for p in parts] == ["s.jsonl", "s-001.jsonl", "s-002.jsonl"]
    assert all(p.stat().st_size < 10_000 for p in parts)  # far below the size cap: age did it
    header, stream = read_clearterm(parts)
    assert list(stream) == records


def test_the_default_caps_rotate_by_size_and_age():
    from feeds.drivers.recording import ROTATE_AGE_S, ROTATE_BYTES
    rec = Recorder.__init__.__defaults__
    assert ROTATE_BYTES in rec and ROTATE_AGE_S in rec
    assert ROTATE_BYTES <= 64 * 1024 * 1024 and ROTATE_AGE_S <= 3600


def test_rotated_parts_are_gzipped_and_replay_reads_the_whole_set(tmp_path):
    from feeds.drivers.replay import read_recordings
    path = tmp_path / "s.jsonl"
    records = [Record(i, "BINANCE#1", "recv", f'{{"i":{i},"pad":"{"z" * 80}"}}') for i in range(400)]
    rec = _write_all(path, records, flush_interval_s=0, rotate_bytes=4_000, gzip_rotated=True)
    files = rec.files()
    assert len(files) >= 4
    assert all(f.name.endswith(".jsonl.gz") for f in files[:-1])  # closed by rotation: compressed
    assert files[-1].name.endswith(".jsonl")  # the part open at the end is left plain
    assert not path.exists() and files[0] == tmp_path / "s.jsonl.gz"
    assert not list(tmp_path.glob("*.tmp"))
    for name in (path, files[0]):  # the name printed at the start, or the file as it is now
        header, stream = read_recordings([name])
        assert list(stream) == records and stream.report.warnings == []
    assert sum(f.stat().st_size for f in files) < 400 * 100 / 3  # compression did happen


def test_a_set_with_a_part_still_plain_in_the_middle_reads_in_order(tmp_path):
    """A crash between rotation and compression leaves a plain part among gzipped ones."""
    from feeds.drivers.recording import gzip_file
    path = tmp_path / "s.jsonl"
    records = [Record(i, "BINANCE#1", "recv", f'{{"i":{i},"pad":"{"z" * 80}"}}') for i in range(200)]
    rec = _write_all(path, records, flush_interval_s=0, rotate_bytes=3_000)
    gzip_file(rec.parts[0])
    gzip_file(rec.parts[2])
    header, stream = read_clearterm(recording_parts(tmp_path / "s.jsonl.gz"))
    assert list(stream) == records
