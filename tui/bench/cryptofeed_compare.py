"""clearterm's headless replay vs cryptofeed's own ``playback()`` of the same Binance capture, whole process.

    python -m tui.bench.cryptofeed_compare [--frames 200000] [--dir DIR] [--cryptofeed-python PATH] [--reps 3]

Builds a capture in cryptofeed's raw-data format (``BINANCE.0`` with the shared capture's exchangeInfo and
the configuration, ``BINANCE.ws.1.0`` with the frames; format: ../shared/captures/README.md): ``frames``
combined-stream frames, 90 % aggTrade and 10 % kline_1m over 4 symbols, from ``tui.bench.corpus``. Then times
``cryptofeed.raw_data_collection.playback("BINANCE", files)`` in a Python that has cryptofeed 2.4.1 (a
separate venv: cryptofeed is not a dependency) and ``clearterm replay --format cryptofeed DIR --speed max
--headless --json`` as whole processes (start to exit), ``reps`` runs each taken in turns (a load that
comes and goes on a shared machine hits both alike), and checks that both count the same trades and candles.
Without such a Python it builds the capture, times clearterm and says it skipped.

Both start from cached bytecode: pip compiled cryptofeed's when it installed it, and clearterm's packages
are compiled here first (``--no-compile``: not; then clearterm also compiles its ~30k lines at start-up
whenever PYTHONDONTWRITEBYTECODE is set, as it is in CI).
"""
from __future__ import annotations

import argparse
import compileall
import gzip
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson

from feeds.venues import CRYPTOFEED_IDS
from feeds.venues.binance import BINANCE
from tui.bench.corpus import binance_corpus

CF_ID = next(cf for cf, (venue, network) in CRYPTOFEED_IDS.items() if venue == BINANCE.name and network == "production")
# line 1 of the real capture in tests/captures: a real exchangeInfo answer
REAL_CAPTURE = Path(__file__).resolve().parents[2] / "tests" / "captures" / f"{CF_ID}.0.gz"
SYMBOLS = ["BTCUSDT", "ETHUSDT", "BNBUSDT", "XRPUSDT"]  # listed in that 2021 exchangeInfo
CF_SYMBOLS = ["BTC-USDT", "ETH-USDT", "BNB-USDT", "XRP-USDT"]
DEFAULT_CF_PYTHON = "/work/cf-venv/bin/python"

# Run in the cryptofeed venv: playback() returns its counts of callbacks by data type.
_CF_SCRIPT = """
import sys, json, glob
from cryptofeed.raw_data_collection import playback
files = sorted(glob.glob(sys.argv[1] + "/" + sys.argv[2] + ".*"))
print(json.dumps(playback(sys.argv[2], files)))
"""


def build_capture(directory: Path, frames: int = 200_000, seed: int = 11) -> dict[str, int]:
    """Write ``BINANCE.0`` and ``BINANCE.ws.1.0`` into ``directory``; returns the corpus's frame counts."""
    directory.mkdir(parents=True, exist_ok=True)
    corpus = binance_corpus(frames, SYMBOLS, mix=(0.9, 0.0, 0.1), rate=10_000.0, interval="1m", seed=seed)
    streams = [f"{s.lower()}@{kind}" for s in SYMBOLS for kind in ("aggTrade", "kline_1m")]
    url = "wss://stream.binance.com:9443/stream?streams=" + "/".join(streams)
    first = corpus.recv_ns[0]
    info = gzip.decompress(REAL_CAPTURE.read_bytes()).split(b"\n", 1)[0] if REAL_CAPTURE.exists() else b""
    with open(directory / f"{CF_ID}.0", "wb") as f:
        if info:  # "<url> -> <ts>: <body>", re-timed to just before the frames (a 5-year jump is no test)
            url_part, _, rest = info.partition(b" -> ")
            body = rest.partition(b": ")[2]
            f.write(url_part + f" -> {(first - 2_000_000) / 1e9:.6f}: ".encode() + body + b"\n")
        f.write(b"configuration: " + orjson.dumps({"trades": CF_SYMBOLS, "candles": CF_SYMBOLS}) + b"\n")
    with open(directory / f"{CF_ID}.ws.1.0", "w", encoding="utf-8") as f:
        f.write(f"{url} <-> {(first - 1_000_000) / 1e9:.6f}\n")
        f.writelines(f"{ns // 1000 / 1e6:.6f}: {frame}\n" for frame, ns in zip(corpus.frames, corpus.recv_ns))
    return corpus.counts


def _cpu_children() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _timed(argv: list[str], env: dict[str, str] | None = None) -> tuple[tuple[float, float], bytes]:
    """((wall s, CPU s), stdout) of one whole process. On a shared machine the CPU time is the steadier."""
    cpu0, t0 = _cpu_children(), time.perf_counter()
    done = subprocess.run(argv, capture_output=True, env=env, check=False)
    elapsed = time.perf_counter() - t0, _cpu_children() - cpu0
    if done.returncode != 0:
        raise RuntimeError(f"{argv[:3]} exited {done.returncode}: {done.stderr.decode()[-2000:]}")
    return elapsed, done.stdout


def time_clearterm(directory: Path) -> tuple[tuple[float, float], dict[str, int]]:
    argv = [sys.executable, "-m", "tui.runtime.cli", "replay", "--format", "cryptofeed", str(directory),
            "--speed", "max", "--headless", "--json"]
    elapsed, out = _timed(argv, {**os.environ, "XDG_CONFIG_HOME": str(directory / "config")})
    stats = orjson.loads(out.splitlines()[-1])
    events = stats.get("events", stats)
    return elapsed, {"trades": int(events["trade"]), "candles": int(events["candle"])}


def time_cryptofeed(directory: Path, python: str) -> tuple[tuple[float, float], dict[str, int]]:
    elapsed, out = _timed([python, "-c", _CF_SCRIPT, str(directory), CF_ID])
    counts = orjson.loads(out.splitlines()[-1])["callbacks"]  # {"messages_processed": n, "callbacks": {...}}
    return elapsed, {"trades": int(counts.get("trades", 0)), "candles": int(counts.get("candles", 0))}


def compile_packages() -> None:
    """clearterm's packages to bytecode, as an install does (the __pycache__ directories are not versioned)."""
    root = Path(__file__).resolve().parents[2]
    for package in ("feeds", "strategy", "tui"):
        compileall.compile_dir(root / package, quiet=1)


def _report(what: str, runs: list[tuple[tuple[float, float], dict[str, int]]]) -> tuple[tuple[float, float], dict[str, int]]:
    """Print the best and the median wall and CPU times of the runs; returns the medians with the last
    run's counts."""
    walls, cpus = [t[0] for t, _ in runs], [t[1] for t, _ in runs]
    median = (statistics.median(walls), statistics.median(cpus))
    listed = ", ".join(f"{wall:.2f}/{cpu:.2f}" for wall, cpu in zip(walls, cpus))
    print(f"{what}: median wall {median[0]:.2f} s, CPU {median[1]:.2f} s; best {min(walls):.2f} / {min(cpus):.2f} s "
          f"({len(runs)} runs, wall/CPU: {listed}), {runs[-1][1]}", flush=True)
    return median, runs[-1][1]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--frames", type=int, default=200_000)
    ap.add_argument("--dir", type=Path, help="where to build the capture (default: a temporary directory)")
    ap.add_argument("--cryptofeed-python", default=DEFAULT_CF_PYTHON)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--no-compile", action="store_true", help="time clearterm without compiling its bytecode first")
    args = ap.parse_args(argv)
    if not args.no_compile:
        compile_packages()
    with tempfile.TemporaryDirectory() as tmp:
        directory = args.dir or Path(tmp)
        built = build_capture(directory, args.frames)
        print(f"capture: {args.frames} frames in {directory}: {built}", flush=True)
        compare = Path(args.cryptofeed_python).exists()
        ours, theirs = [], []
        for _ in range(args.reps):  # in turns
            ours.append(time_clearterm(directory))
            if compare:
                theirs.append(time_cryptofeed(directory, args.cryptofeed_python))
        ct_s, ct_counts = _report("clearterm replay --speed max --headless", ours)
        if not compare:
            print(f"cryptofeed: skipped ({args.cryptofeed_python} not found; install cryptofeed==2.4.1 in a "
                  f"separate venv)")
            return 0
        cf_s, cf_counts = _report("cryptofeed playback()", theirs)
        print(f"clearterm is {cf_s[0] / ct_s[0]:.2f}x as fast by median wall time, {cf_s[1] / ct_s[1]:.2f}x by "
              f"median CPU time; counts {'match' if cf_counts == ct_counts else 'DIFFER'}")
        return 0 if cf_counts == ct_counts else 1


if __name__ == "__main__":
    raise SystemExit(main())
