"""A recording with one record stamped years before the rest (a lying clock) replays at once, to the same candles."""
import subprocess
import sys

import orjson

from tui.runtime.cli import main

FIVE_YEARS_NS = 5 * 365 * 86_400 * 10**9


def test_a_record_stamped_years_early_does_not_tick_through_the_years(capsys, tmp_path):
    rec, lie = tmp_path / "s.jsonl", tmp_path / "lie.jsonl"
    assert main(["demo", "--headless", "--duration", "2", "--record", str(rec)]) == 0
    capsys.readouterr()
    lines = rec.read_bytes().splitlines(keepends=True)
    first = orjson.loads(lines[1])  # the first record after the header: a connection opening
    first["t"] -= FIVE_YEARS_NS
    lie.write_bytes(b"".join([lines[0], orjson.dumps(first) + b"\n", *lines[2:]]))
    csvs = []
    for path in (rec, lie):
        csv = tmp_path / f"{path.stem}.csv"
        # a subprocess, so that the old behaviour (10^9 ticks of 100 ms) fails by its timeout, not by hanging
        done = subprocess.run([sys.executable, "-m", "tui.runtime.cli", "replay", str(path), "--headless",
                               "--speed", "max", "--export-candles", str(csv)], capture_output=True, timeout=60)
        assert done.returncode == 0, done.stderr
        csvs.append(csv.read_bytes())
    assert csvs[0].count(b"\n") > 1 and csvs[0] == csvs[1]
