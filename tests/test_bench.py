"""The benchmarks: a --quick run in-process reports every figure with a value, a unit and a target.

No timing is asserted (the machine decides those); the run itself is the test that every benchmark
still works against the real pipeline, simulator, recorder and app. The run uses the smallest plan
(``TINY``) in place of --quick's: the contract (keys, units, targets, method strings) is the same and
the test does not measure speed. The corpus generator is checked for determinism and for frames that
the real codec and guard accept.
"""
import os
import statistics

import orjson
import pytest

from feeds.clock import ManualClock
from feeds.core.pipeline import Pipeline
from feeds.symbols import SymbolMap
from feeds.venues.binance import BinanceCodec
from tui.bench import bench
from tui.bench.corpus import bench_symbols, binance_corpus
from tui.runtime.cli import main

FIGURES = {
    "floor", "typed_floor", "ingest", "ingest_us_per_msg", "ingest_vs_floor", "ingest_vs_typed_floor", "record",
    "replay", "loopback_client", "loopback_receive_only", "loopback_ratio", "books", "latency_p50", "latency_p99",
    "latency_max",
    "processing_p99", "latency_rate", "ui_worst_stall", "ui_cpu", "rss", "rss_growth", "first_frame",
    "chart_redraw_ms", "latency_send_p50", "latency_send_p99", "latency_send_max", "latency_app_p50",
    "latency_app_p99", "latency_app_max",
}

# every section runs, each on the least work that still gives it samples (the sim child sends 10,000 msg/s)
TINY = bench.Plan(corpus=2_000, reps=1, flood=2_000, flood_reps=1, latency_s=0.5, ui_s=0.5, memory_s=0.5,
                  book_updates=2_000, book_reps=1, first_frame_reps=1, warm_up_s=0.2)


def test_quick_bench_reports_every_figure_with_unit_and_target(capsys, monkeypatch):
    monkeypatch.setattr(bench, "QUICK", TINY)
    code = main(["bench", "--json", "--quick"])
    out, err = capsys.readouterr()
    result = orjson.loads(out)
    assert result["errors"] == {}, result["errors"]
    assert code == 0, err
    assert result["quick"] is True
    assert set(result["figures"]) == FIGURES
    for name, fig in result["figures"].items():
        assert isinstance(fig["value"], (int, float)) and fig["value"] > 0, (name, fig)
        assert fig["unit"], name
        assert fig["target"] == "reference" or fig["target"].startswith((">= ", "<= ")), (name, fig["target"])
        assert fig["pass"] is None if fig["target"] == "reference" else isinstance(fig["pass"], bool), name
        assert fig["method"], name
    # the methods say what was measured: the plan's sizes, not fixed text
    assert f"{TINY.corpus} frames" in result["figures"]["ingest"]["method"]
    assert f"flood of {TINY.flood} " in result["figures"]["loopback_client"]["method"]
    assert f"updates={TINY.book_updates})" in result["figures"]["books"]["method"]
    assert f"{TINY.latency_s:g} s after {TINY.warm_up_s:g} s warm-up" in result["figures"]["latency_p99"]["method"]
    first = result["figures"]["first_frame"]  # the median of the runs, with their spread, not the best
    assert first["value"] == pytest.approx(statistics.median(first["runs"]), rel=0.01)
    assert first["spread"] == [min(first["runs"]), max(first["runs"])]
    assert ".pyc files compiled first" in first["method"]
    for name in ("ingest", "loopback_ratio", "latency_p99", "ui_worst_stall", "ui_cpu", "rss", "rss_growth",
                 "first_frame", "latency_send_p99", "latency_app_p99"):
        assert result["figures"][name]["target"] != "reference", name


def test_corpus_is_deterministic_and_mixed_as_asked():
    a = binance_corpus(3000, 5, mix=(0.5, 0.25, 0.25), seed=3)
    b = binance_corpus(3000, 5, mix=(0.5, 0.25, 0.25), seed=3)
    c = binance_corpus(3000, 5, mix=(0.5, 0.25, 0.25), seed=4)
    assert a.frames == b.frames and a.recv_ns == b.recv_ns
    assert a.frames != c.frames
    assert a.symbols == bench_symbols(5)
    assert abs(a.counts["aggTrade"] / 3000 - 0.5) < 0.05
    assert abs(a.counts["bookTicker"] / 3000 - 0.25) < 0.05
    assert abs(a.counts["kline"] / 3000 - 0.25) < 0.05
    assert a.counts["kline_closed"] > 0
    streams = {orjson.loads(f)["stream"].split("@", 1)[1] for f in a.frames}
    assert streams == {"aggTrade", "bookTicker", "kline_1s"}


def test_every_corpus_frame_passes_the_real_codec_and_guard():
    corpus = binance_corpus(10_000, 30, seed=1)
    clock = ManualClock(corpus.recv_ns[-1])
    p = Pipeline(clock, interval="1s")
    p.attach("BINANCE#1", "BINANCE", BinanceCodec(SymbolMap()))
    for raw, recv_ns in zip(corpus.frames, corpus.recv_ns):
        p.feed("BINANCE#1", raw, recv_ns)
    assert p.rejected == {}
    assert p.duplicates == 0 and p.total_gaps == 0
    assert p.events["trade"] == corpus.counts["aggTrade"]
    assert p.events["quote"] == corpus.counts["bookTicker"]
    assert p.events["candle"] == corpus.counts["kline"]
    assert p.events["candle_closed"] == corpus.counts["kline_closed"]


def test_bench_symbols_refuses_more_than_it_knows():
    assert len(set(bench_symbols(100))) == 100
    with pytest.raises(ValueError):
        bench_symbols(101)


def test_cryptofeed_comparison_capture_replays_with_every_trade_and_candle(tmp_path, capsys):
    """The comparison's capture, replayed by the real CLI in a child process, counts every frame it holds;
    without cryptofeed's venv the comparison says it skipped and still succeeds."""
    from tui.bench.cryptofeed_compare import build_capture
    from tui.bench.cryptofeed_compare import main as compare
    built = build_capture(tmp_path / "probe", 2000)
    assert built["aggTrade"] + built["kline"] == 2000 and built["bookTicker"] == 0
    assert compare(["--frames", "2000", "--reps", "1", "--dir", str(tmp_path / "cap"),
                    "--cryptofeed-python", str(tmp_path / "no-python")]) == 0
    out = capsys.readouterr().out
    assert f"{{'trades': {built['aggTrade']}, 'candles': {built['kline']}}}" in out
    assert "cryptofeed: skipped" in out


def test_send_stamps_join_every_frame_the_client_decided_on(tmp_path):
    """The simulator child's send stamps and the client's decision stamps name the same frames: every frame
    the client took in its window has a send time, and send -> decision is positive and no longer than the run."""
    import asyncio
    import time

    from tui.bench.bench import SimChild, _child_env, bench_latency

    sim = SimChild(_child_env(str(tmp_path)))
    try:
        sim.set_rate(2000)
        t0 = time.monotonic()
        res = asyncio.run(bench_latency(sim, 1.0, 0.3))
        run_ms = (time.monotonic() - t0) * 1e3
    finally:
        sim.close()
    send = res["send"]
    assert send["client_frames"] > 100, send
    assert send["matched"] == send["client_frames"], send
    assert 0 < send["p50"] <= send["p99"] <= send["max"] < run_ms, (send, run_ms)
    # what held the loop in that window: the live tick runs ten times a second, each shorter than the run
    count, p50, worst = res["pauses"]["ticks"]
    assert count >= 3 and 0 < p50 <= worst < run_ms, res["pauses"]
    # each tick is cut into slices of about 0.2 ms the loop reads frames between: none longer than its tick
    pieces, piece_p50, piece_worst = res["pauses"]["tick_slices"]
    assert pieces >= count and piece_p50 <= p50 and piece_worst <= worst, res["pauses"]


def test_child_env_puts_this_tree_on_the_path(tmp_path):
    """A bench child imports this very tree, not whatever clearterm the interpreter has installed: with
    site-packages off (-S, so no editable install to fall back on) and run from elsewhere, ``tui`` and
    ``feeds`` resolve to the tree the bench was started from."""
    import subprocess
    import sys
    from pathlib import Path

    root = Path(bench.__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, "-S", "-c", "import feeds, tui; print(tui.__file__); print(feeds.__file__)"],
                         env=bench._child_env(str(tmp_path)), cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == [str(root / "tui" / "__init__.py"), str(root / "feeds" / "__init__.py")]


def test_the_first_frame_is_measured_on_compiled_modules(tmp_path):
    """PYTHONDONTWRITEBYTECODE is set where the bench runs: without compiling first, every start of the demo
    compiled all of our modules, which an installed program (pip compiles them) never does."""
    for package in bench.PACKAGES:
        (tmp_path / package).mkdir()
        (tmp_path / package / "__init__.py").write_text("X = 1\n")
    (tmp_path / "tui" / "app.py").write_text("Y = 2\n")
    assert bench.compile_packages(tmp_path) == 4  # none compiled yet
    assert all(bench._compiled(p) for p in tmp_path.rglob("*.py"))
    assert bench.compile_packages(tmp_path) == 0  # nothing left to do
    source = tmp_path / "tui" / "app.py"
    source.write_text("Y = 3\n")
    os.utime(source, (source.stat().st_atime, source.stat().st_mtime + 10))  # edited since
    assert bench.compile_packages(tmp_path) == 1 and bench._compiled(source)
