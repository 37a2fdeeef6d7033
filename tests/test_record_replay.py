"""A recorded demo session replays through the same pipeline to the same candles and statistics."""
import orjson

from tui.runtime.cli import main

TIMING_KEYS = {"mode", "duration_s", "latency_ms", "resilience"}  # resilience: live machinery, not data


def without_timing(stats: dict) -> dict:
    out = {k: v for k, v in stats.items() if k not in TIMING_KEYS}
    for agg in out["aggregate"].values():
        for venue in agg["venues"].values():
            venue.pop("age_ms")  # how old the data was when the run stopped: a timing field
    return out


def run_json(capsys, *argv) -> dict:
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert code == 0, err
    return orjson.loads(out)


def test_replay_of_a_recorded_demo_gives_the_same_candles_and_statistics(capsys, tmp_path):
    rec, live_csv, replay_csv = tmp_path / "s.jsonl", tmp_path / "live.csv", tmp_path / "replay.csv"
    live = run_json(capsys, "demo", "--headless", "--duration", "4", "--json", "--record", str(rec),
                    "--export-candles", str(live_csv))
    replay = run_json(capsys, "replay", str(rec), "--headless", "--speed", "max", "--json",
                      "--export-candles", str(replay_csv))
    assert live["events"]["candle_closed"] > 0
    assert live_csv.read_bytes() == replay_csv.read_bytes()
    assert live["aggregate"] and without_timing(live) == without_timing(replay)
    assert replay["mode"] == "replay"


def test_replay_of_a_file_cut_mid_line_warns_and_keeps_the_rest(capsys, tmp_path):
    rec = tmp_path / "s.jsonl"
    run_json(capsys, "demo", "--headless", "--duration", "2", "--json", "--record", str(rec))
    data = rec.read_bytes()
    rec.write_bytes(data[: len(data) - 7])  # as if killed in the middle of the last line
    code = main(["replay", str(rec), "--headless", "--speed", "max", "--json"])
    out, err = capsys.readouterr()
    assert code == 0
    assert "warning" in err and "line" in err
    assert orjson.loads(out)["messages"] > 0
