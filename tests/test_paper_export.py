"""``--export-fills`` / ``--export-equity`` through the command line on a replay, checked against the
``paper`` statistics of the same run; a Parquet name without pyarrow is a bad argument (exit 2)."""
from __future__ import annotations

import csv
import importlib.util
from pathlib import Path

import orjson
import pytest

from tui.runtime.cli import main

FIXTURE = Path(__file__).parent / "fixtures" / "app_session.jsonl.gz"
HAVE_PYARROW = importlib.util.find_spec("pyarrow") is not None


def test_fills_and_equity_csv_agree_with_the_statistics(tmp_path, capsys):
    fills, equity = tmp_path / "fills.csv", tmp_path / "equity.csv"
    assert main(["replay", str(FIXTURE), "--speed", "max", "--headless", "--json",
                 "--export-fills", str(fills), "--export-equity", str(equity)]) == 0
    paper = orjson.loads(capsys.readouterr().out)["paper"]
    with open(fills, newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["time", "time_ns", "venue", "symbol", "unified", "side", "size", "price", "fee",
                             "liquidity", "reason", "order_id", "position_after", "realised_pnl", "strategy"]
    assert len(rows) == paper["fills"] > 0
    assert sum(float(r["fee"]) for r in rows) == pytest.approx(paper["fees"], abs=1e-5)
    assert sum(float(r["realised_pnl"]) for r in rows) == pytest.approx(paper["realised_pnl"], abs=1e-5)
    assert [int(r["time_ns"]) for r in rows] == sorted(int(r["time_ns"]) for r in rows)
    assert rows[0]["time"].startswith("2026-01-01T12:") and rows[0]["time"].endswith("Z")
    with open(equity, newline="") as f:
        points = list(csv.DictReader(f))
    assert list(points[0]) == ["time", "time_ns", "equity", "realised_pnl", "unrealised_pnl", "fees", "drawdown"]
    assert float(points[-1]["fees"]) == pytest.approx(paper["fees"], abs=1e-5)
    assert max(float(p["drawdown"]) for p in points) <= paper["max_drawdown"] + 1e-6
    fill_times = {r["time_ns"] for r in rows}
    assert fill_times <= {p["time_ns"] for p in points}  # a point at every fill


@pytest.mark.skipif(HAVE_PYARROW, reason="pyarrow is installed: Parquet is written")
def test_parquet_without_pyarrow_is_a_bad_argument(tmp_path, capsys):
    assert main(["replay", str(FIXTURE), "--headless", "--export-fills", str(tmp_path / "f.parquet")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "needs pyarrow" in err


@pytest.mark.skipif(not HAVE_PYARROW, reason="needs pyarrow")
def test_parquet_fills(tmp_path, capsys):
    import pyarrow.parquet as pq
    path = tmp_path / "f.parquet"
    assert main(["replay", str(FIXTURE), "--speed", "max", "--headless", "--json", "--export-fills", str(path)]) == 0
    paper = orjson.loads(capsys.readouterr().out)["paper"]
    assert pq.read_table(path).num_rows == paper["fills"]


def test_an_unwritable_export_path_is_one_line_and_exit_2(tmp_path, capsys):
    target = tmp_path / "missing-dir" / "fills.csv"
    assert main(["replay", str(FIXTURE), "--speed", "max", "--headless", "--export-fills", str(target)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot write" in err


def test_paper_table_in_the_config_file_reaches_the_executor(tmp_path):
    from tui.runtime.cli import parse_args, session_config
    from tui.runtime.session import Session
    good = tmp_path / "good.toml"
    good.write_text("[paper]\nlatency_ms = 5\nmaker = true\nflatten_on_halt = true\n")
    cfg, _ = session_config(parse_args(["demo", "--config", str(good), "--no-record"]))
    paper = Session(cfg).paper
    assert (paper.latency_ns, paper.config.maker, paper.config.flatten_on_halt) == (5_000_000, True, True)
    bad = tmp_path / "bad.toml"
    bad.write_text("[paper]\nlatency = 5\n")
    assert main(["demo", "--config", str(bad), "--headless", "--no-record"]) == 2
