"""`clearterm recordings`: listing (path, size, span, venues) and pruning whole rotated sets; where a
session's recording went; the simulator's server chatter kept out of the user's log."""
from __future__ import annotations

import os
import time
from pathlib import Path

from feeds.clock import ManualClock
from feeds.drivers.recording import Recorder
from tui.runtime.cli import main

HOUR_NS = 3600 * 10**9


def make_recording(directory: Path, name: str, start_ns: int, minutes: int, venues: list[str],
                   rotate_bytes: int = 10**9, age_s: float | None = None) -> list[Path]:
    clock = ManualClock(start_ns)
    rec = Recorder(directory / name, {"venues": venues, "symbols": ["BTCUSDT"]}, clock=clock,
                   flush_interval_s=0, rotate_bytes=rotate_bytes, gzip_rotated=True)
    for i in range(minutes):
        clock.advance(60)
        rec.write(clock.now_ns(), f"{venues[0]}#1", "recv", f'{{"i":{i},"pad":"{"x" * 200}"}}')
    rec.close()
    files = rec.files()
    if age_s is not None:
        when = time.time() - age_s
        for f in files:
            os.utime(f, (when, when))
    return files


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_listing_shows_path_size_span_and_venues_of_each_set(capsys, tmp_path):
    old = make_recording(tmp_path, "session-a.jsonl", 1_700_000_000 * 10**9, 90, ["BINANCE", "COINBASE"],
                         rotate_bytes=5_000)
    make_recording(tmp_path, "session-b.jsonl", 1_700_100_000 * 10**9, 5, ["BINANCE"])
    (tmp_path / "notes.txt").write_text("not a recording")
    code, out, err = run(capsys, "recordings", "--dir", str(tmp_path))
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert lines[0].split() == ["path", "size", "parts", "start", "(UTC)", "span", "venues"]
    a = next(line for line in lines if "session-a" in line)
    assert str(old[0]) in a and f"{len(old)}" in a.split() and "1h30m" in a and "BINANCE,COINBASE" in a
    b = next(line for line in lines if "session-b" in line)
    assert "5m00s" in b and b.endswith("BINANCE") and "2023-11-16 02:00:00" in b
    assert len(old) > 2 and not any("session-a-0" in line for line in lines)  # one line per set
    assert lines[-1].startswith("2 recordings")


def test_prune_older_than_deletes_whole_old_sets_only(capsys, tmp_path):
    now_ns = time.time_ns()
    old = make_recording(tmp_path, "old.jsonl", now_ns - 72 * HOUR_NS, 60, ["BINANCE"], rotate_bytes=5_000,
                         age_s=70 * 3600)
    new = make_recording(tmp_path, "new.jsonl", now_ns - 2 * HOUR_NS, 60, ["BINANCE"], age_s=3600)
    code, out, _ = run(capsys, "recordings", "--dir", str(tmp_path), "--prune-older-than", "1d")
    assert code == 0
    assert f"deleted {old[0]}" in out
    assert not any(f.exists() for f in old) and all(f.exists() for f in new)
    assert "1 recording," in out.splitlines()[-1]


def test_max_total_size_deletes_the_oldest_first_and_dry_run_deletes_nothing(capsys, tmp_path):
    now_ns = time.time_ns()
    sets = [make_recording(tmp_path, f"s{i}.jsonl", now_ns - (10 - i) * HOUR_NS, 60, ["BINANCE"],
                           age_s=(9 - i) * 3600 + 600) for i in range(3)]
    one = sum(f.stat().st_size for f in sets[2])
    code, out, _ = run(capsys, "recordings", "--dir", str(tmp_path), "--max-total-size", str(one + 10), "--dry-run")
    assert code == 0 and out.count("would delete") == 2
    assert all(f.exists() for s in sets for f in s)
    code, out, _ = run(capsys, "recordings", "--dir", str(tmp_path), "--max-total-size", str(one + 10))
    assert not any(f.exists() for f in sets[0] + sets[1]) and all(f.exists() for f in sets[2])


def test_a_recording_being_written_is_never_pruned(capsys, tmp_path):
    live = make_recording(tmp_path, "live.jsonl", time.time_ns() - 48 * HOUR_NS, 5, ["BINANCE"])  # mtime now
    code, out, _ = run(capsys, "recordings", "--dir", str(tmp_path), "--prune-older-than", "1h",
                       "--max-total-size", "1")
    assert code == 0 and "deleted" not in out and live[0].exists()


def test_a_session_says_where_its_recording_went_and_keeps_sim_chatter_out_of_the_log(capsys, tmp_path,
                                                                                      monkeypatch):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    record = tmp_path / "rec.jsonl"
    code, out, err = run(capsys, "demo", "--headless", "--duration", "1.5", "--record", str(record))
    assert code == 0, err
    line = next(x for x in err.splitlines() if "recorded to" in x)
    assert line.startswith(f"clearterm: recorded to {record} (")
    assert record.stat().st_size > 1000
    log = (tmp_path / "state" / "clearterm" / "clearterm.log")
    text = log.read_text() if log.exists() else ""
    assert "HTTP response sent" not in text and "connection open" not in text


def test_pruning_clears_the_debris_of_a_compression_cut_short_and_listing_alone_does_not(capsys, tmp_path):
    files = make_recording(tmp_path, "s.jsonl", time.time_ns() - HOUR_NS, 30, ["BINANCE"], age_s=3000)
    debris = tmp_path / "s-001.jsonl.gz.tmp"
    debris.write_bytes(b"\x1f\x8b half a gzip stream")
    os.utime(debris, (time.time() - 3000, time.time() - 3000))
    run(capsys, "recordings", "--dir", str(tmp_path))
    assert debris.exists()
    code, out, _ = run(capsys, "recordings", "--dir", str(tmp_path), "--prune-older-than", "30d")
    assert code == 0 and not debris.exists() and all(f.exists() for f in files)
    assert "1 recording," in out.splitlines()[-1]


async def test_a_sessions_recording_gzips_its_rotated_parts(tmp_path):
    from tui.runtime.session import Session, SessionConfig
    session = Session(SessionConfig(mode="live", venues=[], record_path=str(tmp_path / "s.jsonl")))
    await session.start()
    try:
        rec = session.recorder
        assert rec.gzip_rotated is True  # and the default caps (tested in test_recording.py)
    finally:
        await session.stop()
