"""The command line: one-line errors with exit 2, and headless replay of the real captures."""

import orjson
import pytest

from capture_files import capture_dir
from tui.runtime.cli import main



def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("argv, needle", [
    (["--bogus"], "unrecognized arguments"),
    (["demo", "--duration", "-3"], "must be positive"),
    (["demo", "--interval", "7m"], "unknown interval"),
    (["--venues", "kraken", "--headless"], "unknown venue"),
    (["--endpoint", "nourl", "--headless"], "VENUE=URL"),
    (["replay", "/nonexistent/rec.jsonl"], "cannot read"),
    (["replay", "x", "--speed", "fast"], "--speed"),
])
def test_bad_arguments_give_one_line_and_exit_2(capsys, argv, needle):
    code, out, err = run(capsys, *argv)
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("clearterm: error:") and needle in err


def test_bad_config_key_is_named(capsys, tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text('symbols = ["BTCUSDT"]\ncolour = "red"\n')
    code, _, err = run(capsys, "demo", "--config", str(cfg), "--headless")
    assert code == 2 and "'colour'" in err and err.count("\n") == 1


def _replay(capsys, venue):
    code, out, err = run(capsys, "replay", str(capture_dir() / venue), "--format", "cryptofeed", "--headless",
                         "--speed", "max", "--json")
    assert code == 0, err
    return orjson.loads(out)


def test_replaying_the_binance_capture_gives_the_readme_counts(capsys):
    stats = _replay(capsys, "BINANCE")
    assert stats["mode"] == "replay"
    assert stats["events"]["trade"] == 2
    assert stats["events"]["quote"] == 84
    assert stats["events"]["candle"] == 2 and stats["events"]["candle_closed"] == 0
    assert stats["events"]["book"] == 176  # 4 snapshots + 172 diffs; 5 stale diffs skipped, not counted
    assert stats["rejected"]["total"] == 0
    assert len(stats["books"]) == 4 and all(b["state"] == "synced" for b in stats["books"].values())
    assert all(b["bid"][0] < b["ask"][0] for b in stats["books"].values())


def test_replaying_the_coinbase_capture_gives_the_readme_counts(capsys):
    stats = _replay(capsys, "COINBASE")
    assert stats["events"]["trade"] == 107  # 97 match + 10 last_match
    assert stats["events"]["quote"] == 107
    assert stats["events"]["ticker"] == 107 and stats["duplicates"] == 0  # 24 share a timestamp: none is a repeat
    assert stats["events"]["book"] == 9729  # 10 snapshots + 9,719 updates
    assert stats["rejected"]["total"] == 0
    assert len(stats["books"]) == 10 and all(b["state"] == "synced" for b in stats["books"].values())
