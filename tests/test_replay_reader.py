"""Readers: cryptofeed captures (real files and hand-written ones), bad content, merging, format detection."""
from __future__ import annotations

import random
from collections import Counter
from itertools import chain

import orjson
import pytest

from feeds.clock import ManualClock
from feeds.drivers.recording import Record, Recorder
from feeds.drivers.replay import (
    ReadReport,
    RecordingError,
    batches_of,
    detect_format,
    merge,
    merge_batches,
    read_clearterm,
    read_cryptofeed,
    read_recordings,
)


def _ordered(records: list[Record]) -> bool:
    return all(a.recv_ns <= b.recv_ns for a, b in zip(records, records[1:]))


def _stream_kind(payload: str) -> str:
    return orjson.loads(payload)["stream"].split("@", 1)[1]


def test_binance_capture(captures):
    header, stream = read_cryptofeed(captures, "BINANCE")
    records = list(stream)
    by = Counter((r.conn, r.kind) for r in records)
    assert by == {
        ("BINANCE#ws1", "recv"): 265,
        ("BINANCE#ws1", "open"): 1,
        ("BINANCE#http0", "rest"): 4,
        ("BINANCE#main", "rest"): 1,
        ("BINANCE#main", "note"): 1,
    }
    recv = [r for r in records if r.kind == "recv"]
    assert Counter(_stream_kind(r.payload) for r in recv) == {
        "depth@100ms": 177, "bookTicker": 84, "aggTrade": 2, "kline_1m": 2,
    }
    depth = [orjson.loads(r.payload) for r in records if r.conn == "BINANCE#http0"]
    assert all("/api/v3/depth?symbol=" in d["url"] and d["status"] == 200 for d in depth)
    assert all("lastUpdateId" in orjson.loads(d["body"]) for d in depth)
    info = orjson.loads(next(r.payload for r in records if r.conn == "BINANCE#main" and r.kind == "rest"))
    assert info["url"].endswith("/api/v3/exchangeInfo")
    assert "symbols" in orjson.loads(info["body"])
    assert _ordered(records)
    assert header["venues"] == ["BINANCE"]
    assert header["symbols"] == ["NKN-USDT", "BLZ-ETH", "LRC-BTC", "RUNE-EUR"]
    assert set(header["configuration"]["BINANCE"]) == {"trades", "l2_book", "candles", "ticker"}
    assert stream.report.records == len(records) and stream.report.skipped_lines == 0
    assert stream.report.warnings == []


def test_coinbase_capture(captures):
    header, stream = read_cryptofeed(captures, "COINBASE")
    records = list(stream)
    ws = [r for r in records if r.conn == "COINBASE#ws28"]
    assert Counter(r.kind for r in ws) == {"open": 1, "send": 3, "recv": 9946}
    assert ws[0] == Record(1618677816843429800, "COINBASE#ws28", "open", "wss://ws-feed.pro.coinbase.com")
    assert all(orjson.loads(r.payload)["type"] == "subscribe" for r in ws if r.kind == "send")
    types = Counter(orjson.loads(r.payload)["type"] for r in ws if r.kind == "recv")
    assert types == {"snapshot": 10, "l2update": 9719, "ticker": 107, "match": 97, "last_match": 10, "subscriptions": 3}
    assert _ordered(records)
    assert "SKL-USD" in header["symbols"]


def test_payloads_are_the_exact_text_after_the_first_colon_space(captures):
    lines = (captures / "COINBASE.ws.28.0").read_text().splitlines()
    expected = [line.split(": ", 1)[1] for line in lines if line[:1].isdigit()]
    _, stream = read_cryptofeed([captures / "COINBASE.ws.28.0"])
    assert [r.payload for r in stream if r.kind == "recv"] == expected


def test_receive_times_are_exact_nanoseconds(captures):
    _, stream = read_cryptofeed(captures / "BINANCE.ws.1.0")
    first_frame = next(r for r in stream if r.kind == "recv")
    assert first_frame.recv_ns == 1633998512063356900  # "1633998512.0633569"; float math gives ...356928


def test_prefix_directory_and_file_list_agree(captures):
    _, by_prefix = read_cryptofeed(captures / "BINANCE")
    _, by_dir = read_cryptofeed(str(captures), venue="binance")
    names = ["BINANCE.ws.1.0", "BINANCE.0", "BINANCE.http.0.0"]
    _, by_list = read_cryptofeed([captures / n for n in names])
    a = list(by_prefix)
    assert a == list(by_dir) == list(by_list)


def test_whole_directory_merges_both_venues_in_time_order(captures):
    header, stream = read_cryptofeed(captures)
    records = list(stream)
    assert header["venues"] == ["BINANCE", "COINBASE"]
    assert len(records) == 272 + 9952
    assert _ordered(records)


HAND_WRITTEN = (
    "https://api.example.com/info -> 100.5: {\"ok\": true, \"note\": \"a: b\"}\n"
    "configuration: {\"trades\": [\"BTC-USD\"]}\n"
    "\n"
    "wss://ws.example.com/stream?x=1 <-> 101\n"
    "wss://ws.example.com/stream?x=1 <- 101.000000001: {\"op\": \"subscribe\"}\n"
    "101.0000000015: {\"rounded\": \"half up\"}\n"
    "1.01e2: {\"exponent\": 1}\n"
    "102.25: payload: with: colons\n"
    "notatime: {}\n"
    "\n"
    "wss://ws.example.com/stream?x=1 ?? 103\n"
    "103.5: \n"
    "104.0: {\"cut\": tr"
)


def test_hand_written_capture(tmp_path):
    path = tmp_path / "TESTX.ws.7.0"
    path.write_text(HAND_WRITTEN)
    main = tmp_path / "TESTX.0"
    main.write_text(HAND_WRITTEN.split("\n\n")[0] + "\n")
    header, stream = read_cryptofeed([path])
    records = list(stream)
    conn = "TESTX#ws7"
    assert records == [
        Record(100_500_000_000, conn, "rest", orjson.dumps(
            {"url": "https://api.example.com/info", "status": 200, "body": "{\"ok\": true, \"note\": \"a: b\"}"}).decode()),
        Record(100_500_000_000, conn, "note", '{"configuration":{"trades": ["BTC-USD"]}}'),
        Record(101_000_000_000, conn, "open", "wss://ws.example.com/stream?x=1"),
        Record(101_000_000_001, conn, "send", '{"op": "subscribe"}'),
        Record(101_000_000_002, conn, "recv", '{"rounded": "half up"}'),
        Record(101_000_000_000, conn, "recv", '{"exponent": 1}'),
        Record(102_250_000_000, conn, "recv", "payload: with: colons"),
        Record(103_500_000_000, conn, "recv", ""),
    ]
    report = stream.report
    assert report.skipped_lines == 3
    assert "TESTX.ws.7.0:9" in report.warnings[0] and "TESTX.ws.7.0:11" in report.warnings[1]
    assert "truncated" in report.warnings[2]
    assert orjson.loads(records[1].payload) == {"configuration": {"trades": ["BTC-USD"]}}
    header, _ = read_cryptofeed(tmp_path, "TESTX")  # the main file's configuration reaches the header
    assert header["symbols"] == ["BTC-USD"]
    assert header["configuration"] == {"TESTX": {"trades": ["BTC-USD"]}}


def test_clearterm_bad_lines_are_skipped_not_raised(tmp_path):
    path = tmp_path / "s.jsonl"
    good = [Record(i, "BINANCE#1", "recv", f"p{i}") for i in range(4)]
    rec = Recorder(path, {"venues": ["BINANCE"]}, clock=ManualClock(0))
    for r in good:
        rec.write(*r)
    rec.close()
    lines = path.read_bytes().split(b"\n")
    bad = [
        b"{not json",
        b"",
        b"   ",
        b'{"t":"5","c":"BINANCE#1","k":"recv","p":"t is a string"}',
        b'{"t":5,"c":"BINANCE#1","k":"recv","p":{"not":"text"}}',
        b'{"t":5,"c":"BINANCE#1","k":"recv"}',
        b"[1,2,3]",
        b"42",
        b"\xff\xfe garbage bytes",
    ]
    path.write_bytes(b"\n".join(lines[:3] + bad + lines[3:]))
    header, stream = read_clearterm(path)
    assert list(stream) == good
    assert stream.report.records == 4
    assert stream.report.skipped_lines == 7  # blank lines are not counted as skipped
    assert len(stream.report.warnings) == 7
    assert all("not a valid record" in w for w in stream.report.warnings)


def test_warnings_are_capped(tmp_path):
    path = tmp_path / "s.jsonl"
    Recorder(path, {}).close()
    with open(path, "ab") as f:
        f.write(b"junk\n" * 500)
    _, stream = read_clearterm(path)
    assert list(stream) == []
    assert stream.report.skipped_lines == 500
    assert len(stream.report.warnings) == 101
    assert stream.report.warnings[99].startswith("s.jsonl:101:")
    assert stream.report.warnings[-1] == "... and 400 more warnings"


def test_headerless_and_empty_files(tmp_path):
    headerless = tmp_path / "h.jsonl"
    headerless.write_bytes(b'{"t":1,"c":"X#1","k":"recv","p":"a"}\n{"t":2,"c":"X#1","k":"recv","p":"b"}\n')
    header, stream = read_clearterm(headerless)
    assert header == {} and [r.payload for r in stream] == ["a", "b"]
    assert "no header" in stream.report.warnings[0]
    empty = tmp_path / "e.jsonl"
    empty.write_bytes(b"")
    header, stream = read_clearterm(empty)
    assert header == {} and list(stream) == [] and "empty" in stream.report.warnings[0]


def test_unreadable_inputs_raise_recording_error(tmp_path, captures):
    missing = tmp_path / "nope.jsonl"
    with pytest.raises(RecordingError, match="nope.jsonl"):
        read_clearterm(missing)
    with pytest.raises(RecordingError, match="directory"):
        read_clearterm(tmp_path)
    with pytest.raises(RecordingError, match="not a clearterm recording"):
        read_clearterm(captures / "BINANCE.ws.1.0")
    with pytest.raises(RecordingError):
        read_cryptofeed(tmp_path / "NOVENUE")
    with pytest.raises(RecordingError):
        read_cryptofeed(tmp_path)  # a directory with no captures
    with pytest.raises(RecordingError):
        read_cryptofeed([tmp_path / "BINANCE.ws.1.0"])
    with pytest.raises(RecordingError):
        detect_format(missing)
    with pytest.raises(RecordingError):
        read_recordings([missing])
    good = tmp_path / "good.jsonl"
    Recorder(good, {}).close()
    with pytest.raises(RecordingError):  # one bad path among good ones still fails
        read_clearterm([good, missing])


def test_merge_is_by_time_and_stable():
    a = [Record(1, "A#1", "recv", "a1"), Record(3, "A#1", "recv", "a3"), Record(3, "A#1", "recv", "a3b")]
    b = [Record(0, "B#1", "recv", "b0"), Record(3, "B#1", "recv", "b3"), Record(9, "B#1", "recv", "b9")]
    got = [r.payload for r in merge(iter(a), iter(b))]
    assert got == ["b0", "a1", "a3", "a3b", "b3", "b9"]
    assert [r.payload for r in merge(a)] == ["a1", "a3", "a3b"]


def test_merge_of_batches_is_merge_record_for_record():
    """Ties, times going backwards within a source (a lying clock), empty batches, one source running out."""
    rng = random.Random(7)
    for trial in range(200):
        sources = [[Record(rng.choice((rng.randrange(50), rng.randrange(1000))), f"S#{s}", "recv", f"{s}.{i}")
                    for i in range(rng.randrange(0, 40))] for s in range(rng.randrange(1, 5))]
        for records in sources:
            if trial % 2:
                records.sort()
        expected = list(merge(*(iter(r) for r in sources)))
        sized = [batches_of(r, rng.randrange(1, 9)) for r in sources]
        with_empty = [chain([[]], b) for b in sized]
        assert list(chain.from_iterable(merge_batches(*with_empty))) == expected, trial


def test_cryptofeed_lines_read_the_same_whatever_the_block_size(tmp_path, captures, monkeypatch):
    """Lines cut across blocks, a line longer than a block, a line that is not UTF-8 in the middle."""
    path = tmp_path / "TESTX.ws.7.0"
    path.write_bytes(HAND_WRITTEN.replace("notatime: {}", "103.25: {\"a\": \"\xff\"}").encode()
                     .replace(b"\xc3\xbf", b"\xff"))  # the payload's byte is not UTF-8 in the file
    files = [[path], [captures / "BINANCE.ws.1.0"], captures]
    whole = []
    for source in files:
        _, stream = read_cryptofeed(source)
        whole.append((list(stream), stream.report.skipped_lines, stream.report.warnings))
    assert "TESTX.ws.7.0:9: not UTF-8, skipped" in whole[0][2]
    assert whole[0][1] == 3 and len(whole[1][0]) > 200
    for size in (1, 7, 64, 300, 4096):
        monkeypatch.setattr("feeds.drivers.replay._CHUNK", size)
        # every capture at the larger sizes; the tiniest only on the small files (a byte at a time through
        # megabytes of Coinbase took two minutes and proves nothing more)
        for source, (records, skipped, warnings) in list(zip(files, whole))[:2 if size < 64 else 3]:
            _, stream = read_cryptofeed(source)
            assert list(stream) == records, size
            assert (stream.report.skipped_lines, stream.report.warnings) == (skipped, warnings)


def test_two_sessions_interleave_by_time(tmp_path):
    one, two = tmp_path / "one.jsonl", tmp_path / "two.jsonl"
    for path, start, conn in ((one, 0, "BINANCE#1"), (two, 1, "COINBASE#1")):
        rec = Recorder(path, {"venues": [conn.split("#")[0]], "started_ns": start}, clock=ManualClock(0))
        for t in range(start, 10, 2):
            rec.write(t, conn, "recv", str(t))
        rec.close()
    header, stream = read_clearterm([two, one])
    assert [r.recv_ns for r in stream] == list(range(10))
    assert header["venues"] == ["BINANCE", "COINBASE"]


def test_detect_format(tmp_path, captures):
    plain, packed = tmp_path / "a.jsonl", tmp_path / "b.jsonl.gz"
    Recorder(plain, {}).close()
    Recorder(packed, {}, compress=True).close()
    assert detect_format(plain) == "clearterm"
    assert detect_format(packed) == "clearterm"
    assert detect_format(captures) == "cryptofeed"
    assert detect_format(captures / "BINANCE") == "cryptofeed"
    assert detect_format(captures / "COINBASE.ws.28.0") == "cryptofeed"
    assert detect_format(captures / "BINANCE.0") == "cryptofeed"
    renamed = tmp_path / "capture.txt"
    renamed.write_bytes((captures / "COINBASE.ws.28.0").read_bytes()[:5000])
    assert detect_format(renamed) == "cryptofeed"
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"hello world\n")
    with pytest.raises(RecordingError):
        detect_format(junk)


def test_read_recordings_brings_rotated_parts_and_mixes_formats(tmp_path, captures):
    path = tmp_path / "s.jsonl"
    rec = Recorder(path, {"venues": ["BINANCE"]}, clock=ManualClock(0), flush_interval_s=0, rotate_bytes=200)
    t0 = 1633998512_000_000_000
    for i in range(30):
        rec.write(t0 + i * 100_000_000, "BINANCE#1", "recv", f'{{"i":{i}}}')
    rec.close()
    assert len(rec.parts) > 3
    header, stream = read_recordings([path, rec.parts[1]])  # part 1 given twice: read once
    ours = list(stream)
    assert [orjson.loads(r.payload)["i"] for r in ours] == list(range(30))
    header, stream = read_recordings([path, captures / "BINANCE"])
    mixed = list(stream)
    assert len(mixed) == 30 + 272
    assert _ordered(mixed)
    assert header["format"] == "mixed" and header["venues"] == ["BINANCE"]
    assert stream.report.records == 30 + 272
    with pytest.raises(RecordingError):
        read_recordings([path], fmt="csv")


def test_record_stream_supports_next_and_a_shared_report(tmp_path):
    path = tmp_path / "s.jsonl"
    rec = Recorder(path, {}, clock=ManualClock(0))
    rec.write(1, "X#1", "recv", "a")
    rec.write(2, "X#1", "recv", "b")
    rec.close()
    report = ReadReport()
    _, stream = read_clearterm(path, report=report)
    assert next(stream).payload == "a"
    stream.close()
    assert report.records == 1


def test_a_block_of_frames_is_read_in_bulk_exactly_as_line_by_line():
    """The bulk reader (one pass in C per step over a block of frame lines) gives the Records the line-by-line
    reader gives, for every way a time can be written; a block with a line it does not take goes line by line."""
    from feeds.drivers.replay import _cryptofeed_block, _cryptofeed_frames

    conn = "TESTX#ws7"
    rng = random.Random(7)
    good = [f"{rng.randrange(1_000_000_000, 9_999_999_999)}.{rng.randrange(10 ** 9):09d}"[:rng.randrange(11, 21)]
            for _ in range(300)]  # 10 digits of seconds, a dot, 0 to 9 digits of fraction
    odd = ["1767225600", "1767225600.1234567895", "-767225600.5", "0767225600.5", "176722560.5", "1767225600.1,2",
           "1767225600.1e5", "1767225600. 5", "+767225600.5", "1767225600.5.", "", "1767225600.五", "x"]

    def block(stamps: list[str]) -> list[str]:
        return [f'{s}: {{"n": {i}, "note": "a: b"}}' if s != "x" else "x" for i, s in enumerate(stamps)]

    def by_line(lines: list[str]) -> list[Record]:
        return _cryptofeed_block(lines, 0, "TESTX.ws.7.0", conn, 0, ReadReport(), all(map(str.isascii, lines)))[0]

    lines = block(good)
    assert _cryptofeed_frames(lines, conn) == by_line(lines)
    assert {len(s) for s in good} == set(range(11, 21))  # every length of fraction was met
    assert by_line(block(["1633998512.0633569"]))[0].recv_ns == 1633998512063356900
    for stamp in odd:
        lines = block([*good[:5], stamp, *good[5:10]])
        assert _cryptofeed_frames(lines, conn) is None, stamp  # read line by line, as before
