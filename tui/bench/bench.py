"""``clearterm bench [--json] [--quick]``: how fast clearterm is, measured on this machine.

Every figure comes with its unit, its target, pass/miss, and a sentence on how it was measured.
The corpora are generated deterministically (tui/bench/corpus.py): Binance combined-stream frames,
60% aggTrade, 30% bookTicker, 10% kline (1s bars) over 30 symbols, 10k frames per exchange second.

1. floor      bare ``orjson.loads`` over the corpus (untyped dicts), and ``typed_floor``: the codec's typed
              msgspec decoders alone (no event built), the ceiling ingest is compared with.
2. ingest     the real pipeline (codec -> guard -> state -> strategy listeners) of a real Session, fed
              from memory, with ``Session.tick`` (aggregator, arbitrage, watchdog) every 100 ms of
              corpus time, as in live and replay.
3. replay     the corpus written with the Recorder, then read with ``read_recordings`` and applied
              with ``ReplayDriver``, ticking on recorded time like ``ReplayRunner``.
4. loopback   the simulator floods a real client (Session -> Feed -> Connection -> pipeline) over
              127.0.0.1, next to a receive-only websockets client flooded the same way; ratio.
5. latency    a simulator in a child process sends live data at a fixed 10k msg/s; the pipeline's
              telemetry gives exchange time (``E``) -> processed. Also, without E's 1 ms resolution:
              the simulator child notes each frame's ``time.monotonic_ns()`` as it writes it (a side
              table, never in the frame), the client notes when the pipeline is done with it (strategy
              decision included); the two joined by frame give send -> decision, headless here and
              with the app attached in the UI run (frames wait behind drawing there).
6. UI         the app, in a pseudo-terminal in a child process, connected to that simulator: the worst
              lateness of a 50 ms asyncio timer and the process's CPU share.
7. memory     a child process holding 100 symbols x 2 venues x 500 candles, then under the same flood.
8. books      ``feeds.core.book.bench_book_updates`` on a 5,000-level book.
9. first frame ``clearterm demo`` in a pseudo-terminal: process start -> first frame showing a price.

Throughput figures take the best of a few repetitions (``--quick``: one, on smaller corpora).
Child processes (simulator, app, memory) are started with ``python -m tui.bench.bench <role>``.
"""
from __future__ import annotations

import argparse
import asyncio
import gc
import os
import platform
import re
import select
import statistics
import subprocess
import sys
import tempfile
import time
import zlib
from collections.abc import Callable, Coroutine, Iterator
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import orjson

from feeds.venues.binance import BINANCE  # the venue whose frames the corpus holds
from feeds.venues.coinbase import COINBASE

if TYPE_CHECKING:
    from websockets.asyncio.client import ClientConnection

    from feeds.clock import ManualClock
    from feeds.sim.server import Simulator
    from tui.bench.corpus import Corpus
    from tui.runtime.session import Session, SessionConfig

Json = dict[str, Any]  # a JSON object: the report, its figures, a child's result

VENUE = BINANCE.name
CONN = f"{VENUE}#1"
SYMBOLS = 30
LIVE_RATE = 10_000  # msg/s for the latency, UI and memory runs
SIM_TICK_HZ = 1000  # the child simulator steps every ms, so E is set within a ms of sending
SEED = 7


class Plan(NamedTuple):
    corpus: int  # frames in the in-memory corpus
    reps: int  # repetitions of floor / ingest / replay
    flood: int  # frames per loopback flood
    flood_reps: int
    latency_s: float
    ui_s: float
    memory_s: float
    book_updates: int
    book_reps: int
    first_frame_reps: int
    warm_up_s: float  # live runs start measuring this long after subscribing


FULL = Plan(200_000, 3, 100_000, 3, 10.0, 10.0, 60.0, 100_000, 3, 3, 1.0)
QUICK = Plan(20_000, 1, 20_000, 1, 1.5, 1.5, 3.0, 20_000, 1, 1, 0.5)


class BenchError(Exception):
    """A benchmark could not run to the end (reported, and the others still run)."""


# -- figures ------------------------------------------------------------------------------------

class Report:
    def __init__(self) -> None:
        self.figures: dict[str, Json] = {}
        self.errors: dict[str, str] = {}
        self.seconds: dict[str, float] = {}  # wall time of each section

    def add(self, name: str, value: float, unit: str, target: tuple[str, float] | None, method: str,
            **details: object) -> None:
        """``target`` is (">=" | "<=", bound), or None for a reference figure with no target."""
        if target is None:
            target_text, ok = "reference", None
        else:
            op, bound = target
            target_text = f"{op} {bound:g}"
            ok = value >= bound if op == ">=" else value <= bound
        self.figures[name] = {"value": _round(value), "unit": unit, "target": target_text, "pass": ok,
                              "method": method, **details}


def _round(x: float) -> float:
    """Three significant digits at least, never rounded to zero."""
    if x == 0 or x != x:
        return x
    digits = max(0, 3 - int(f"{abs(x):e}".split("e")[1]) - 1)
    return round(x, digits)


# -- in-memory benchmarks -----------------------------------------------------------------------

def _best(fn: Callable[[], float], reps: int) -> tuple[float, list[float]]:
    runs = []
    for _ in range(reps):
        gc.collect()
        runs.append(fn())
    return max(runs), [_round(r) for r in runs]


def bench_floor(corpus: Corpus) -> float:
    loads = orjson.loads
    frames = corpus.frames
    t0 = time.perf_counter()
    for raw in frames:
        loads(raw)
    return len(frames) / (time.perf_counter() - t0)


def bench_typed_floor(corpus: Corpus) -> float:
    """The wrapper and each payload decoded into its typed form, as the codec does, with no event built."""
    from feeds.venues.binance import typed_decode_only
    decode = typed_decode_only()
    frames = corpus.frames
    t0 = time.perf_counter()
    for raw in frames:
        decode(raw)
    return len(frames) / (time.perf_counter() - t0)


def _chunks(corpus: Corpus) -> list[tuple[list[str], list[int]]]:
    """The corpus cut at every 100 ms of its time: the session ticks between chunks."""
    every = max(1, int(corpus.rate * 0.1))
    f, r = corpus.frames, corpus.recv_ns
    return [(f[i:i + every], r[i:i + every]) for i in range(0, len(f), every)]


def _replay_session(corpus: Corpus) -> tuple[Session, ManualClock]:
    from feeds.clock import ManualClock
    from tui.runtime.session import Session, SessionConfig
    clock = ManualClock(corpus.recv_ns[0])
    cfg = SessionConfig(mode="replay", symbols=list(corpus.symbols), interval=corpus.interval, record_path=None)
    return Session(cfg, clock=clock), clock


def bench_ingest(corpus: Corpus) -> tuple[float, Session]:
    """Frames per second through a Session's pipeline, from memory; returns (rate, session)."""
    session, clock = _replay_session(corpus)
    p = session.pipeline
    session.feed.prepare_venue(VENUE)
    from feeds.venues import VENUES
    p.attach(CONN, VENUE, VENUES[VENUE].make_codec(session.feed.symbol_map))
    chunks = _chunks(corpus)
    feed, tick, set_clock = p.feed, session.tick, clock.set
    conn = CONN
    t0 = time.perf_counter()
    for frames, recvs in chunks:
        for raw, recv_ns in zip(frames, recvs):
            feed(conn, raw, recv_ns)
        now = recvs[-1]
        set_clock(now)
        tick(now)
    elapsed = time.perf_counter() - t0
    return len(corpus.frames) / elapsed, session


def write_recording(corpus: Corpus, path: Path) -> float:
    """Write the corpus as a clearterm recording; returns records written per second."""
    from feeds.drivers.recording import Recorder
    from feeds.venues import VENUES
    url = VENUES[VENUE].connect_url("wss://data-stream.binance.vision", corpus.symbols, corpus.interval)
    frames, recvs = corpus.frames, corpus.recv_ns
    t0 = time.perf_counter()
    with Recorder(path, header={"mode": "live", "venues": [VENUE], "symbols": list(corpus.symbols),
                                "interval": corpus.interval, "started_ns": recvs[0]}) as rec:
        rec.write(recvs[0] - 1_000_000, CONN, "open", url)
        write = rec.write
        for raw, recv_ns in zip(frames, recvs):
            write(recv_ns, CONN, "recv", raw)
    return len(frames) / (time.perf_counter() - t0)


def bench_replay(corpus: Corpus, path: Path) -> float:
    """Records per second: read the recording and apply it, with the session ticking on recorded time."""
    from feeds.drivers.replay import read_recordings
    from feeds.drivers.replay_source import ReplayDriver
    session, clock = _replay_session(corpus)
    t0 = time.perf_counter()
    _, stream = read_recordings([path])
    apply = ReplayDriver(session.feed, clock).apply
    tick = session.tick
    tick_ns = 100_000_000
    next_tick = 0
    n = 0
    for rec in stream:
        if rec.recv_ns >= next_tick:
            if next_tick:
                tick(rec.recv_ns)
            next_tick = rec.recv_ns + tick_ns
        apply(rec)
        n += 1
    elapsed = time.perf_counter() - t0
    stream.close()
    if session.pipeline.messages != len(corpus.frames):
        raise BenchError(f"replay applied {session.pipeline.messages} frames of {len(corpus.frames)}")
    return n / elapsed


def bench_books(plan: Plan) -> tuple[float, list[float]]:
    from feeds.core.book import bench_book_updates
    return _best(lambda: bench_book_updates(levels=5000, updates=plan.book_updates), plan.book_reps)


# -- loopback -----------------------------------------------------------------------------------

def bench_chart(reps: int = 50) -> float:
    """Best time (ms) to redraw the candlestick chart at 160x48 from 500 bars: what CandleChart does when
    its data changes (every cell rebuilt into strips; an unchanged chart costs nothing)."""
    from msgspec.structs import replace
    from rich.style import Style
    from textual.strip import Strip

    from feeds.events import Candle
    from tui.widgets.candle_chart import STYLE_NAMES, ChartInput, ChartStyles, chart_lines
    minute = 60_000_000_000
    t0 = 1_795_000_000 // 60 * 60 * 1_000_000_000
    bars, price = [], 60_000.0
    for i in range(500):
        o, c = price, price + (17.0 if i * 7919 % 13 < 6 else -15.0)
        bars.append(Candle(VENUE, "BTCUSDT", "BTC/USD", 0, 0, "1m", t0 + i * minute, o, max(o, c) + 4,
                           min(o, c) - 4, c, 1.0 + i % 7, 10, True, "backfill" if i < 300 else "live"))
        price = c
    data = ChartInput(bars[:-1], replace(bars[-1], closed=False), "1m", minute, f"{VENUE} BTCUSDT",
                      [t0 + 480 * minute], [(t0 + 470 * minute, "long")])
    styles = ChartStyles(*(Style(color=f"color({n})") for n, _ in enumerate(STYLE_NAMES, 1)))
    best = float("inf")
    for _ in range(reps):
        t = time.perf_counter()
        lines, _ = chart_lines(data, 160, 48, 0, styles)
        [Strip(line, 160) for line in lines]
        best = min(best, time.perf_counter() - t)
    return best * 1e3


async def _until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise BenchError(f"timed out after {timeout:g}s waiting for {what}")
        await asyncio.sleep(0.01)


async def _rate_of(count_now: Callable[[], int], total: int, timeout: float) -> float:
    """Frames per second between 5% and 95% of ``total`` frames counted (sampled every 5 ms).

    Leaving out the ends skips the simulator's pre-generation (it runs on this loop before the
    first frame is sent) and the last partial sample.
    """
    base = count_now()
    samples: list[tuple[float, int]] = []
    deadline = time.perf_counter() + timeout
    while True:
        now = time.perf_counter()
        done = count_now() - base
        samples.append((now, done))
        if done >= total:
            break
        if now > deadline:
            raise BenchError(f"flood not received in {timeout:g}s ({done} of {total} frames)")
        await asyncio.sleep(0.005)
    lo = next(s for s in samples if s[1] >= 0.05 * total)
    hi = next(s for s in samples if s[1] >= 0.95 * total)
    if hi[0] <= lo[0]:
        raise BenchError("flood too short to time: raise the frame count")
    return (hi[1] - lo[1]) / (hi[0] - lo[0])


def _live_config(symbols: list[str], ws_url: str, rest_url: str) -> SessionConfig:
    from tui.runtime.session import SessionConfig
    return SessionConfig(mode="live", symbols=list(symbols), interval="1s", endpoints={VENUE: [ws_url]},
                         rest_endpoints={VENUE: rest_url}, record_path=None)


def _subscribed(session: Session) -> bool:
    conns = session.connections
    return bool(conns) and all(c.state == "subscribed" for c in conns.values())


def _books_synced(session: Session) -> bool:
    stats = session.feed.books.stats()
    return len(stats) >= len(session.config.symbols) and all(b.get("state") == "synced" for b in stats.values())


async def _flood_client(sim: Simulator, symbols: list[str], count: int) -> tuple[float, dict[str, int]]:
    from tui.runtime.session import Session
    session = Session(_live_config(symbols, sim.ws_url(), sim.rest_url()))
    venue = sim.venue(VENUE)
    await session.start()
    try:
        await _until(lambda: _subscribed(session) and len(venue.conns) == 1, 10, "the client to subscribe")
        try:
            await _until(lambda: _books_synced(session), 5, "book snapshots")
        except BenchError:
            pass  # books that are not synced yet only make the client's work lighter
        p = session.pipeline
        before = dict(p.events)
        task = sim.flood(count)
        rate = await _rate_of(lambda: p.messages, count, 60)
        await task
        mix = {k: p.events[k] - before[k] for k in before}
        return rate, mix
    finally:
        await session.stop()


async def _flood_receive_only(sim: Simulator, symbols: list[str], count: int) -> float:
    from websockets.asyncio.client import connect

    from feeds.drivers.connection import MAX_FRAME_BYTES
    from feeds.sim.binance import BinanceConn
    from feeds.venues import VENUES
    url = VENUES[VENUE].connect_url(sim.ws_url(), symbols, "1s")
    venue = sim.venue(VENUE)
    received = [0]

    async def read(ws: ClientConnection) -> None:
        async for _ in ws:
            received[0] += 1

    # The same options as feeds.drivers.connection.Connection.
    async with connect(url, max_size=MAX_FRAME_BYTES, open_timeout=10, ping_interval=20, ping_timeout=20,
                       close_timeout=2, max_queue=None, proxy=None) as ws:
        reader = asyncio.get_running_loop().create_task(read(ws))
        try:
            await _until(lambda: len(venue.conns) == 1 and all(isinstance(c, BinanceConn) and c.streams for c in venue.conns), 10,
                         "the receive-only client to subscribe")
            task = sim.flood(count)
            rate = await _rate_of(lambda: received[0], count, 60)
            await task
            return rate
        finally:
            reader.cancel()


async def bench_loopback(plan: Plan) -> Json:
    from feeds.sim.server import Simulator
    from tui.bench.corpus import bench_symbols
    symbols = bench_symbols(SYMBOLS)
    client: list[float] = []
    receive_only: list[float] = []
    mix: dict[str, int] = {}
    async with Simulator(symbols=symbols, seed=SEED, port=0, intervals=("1s",)) as sim:
        venue = sim.venue(VENUE)
        for _ in range(plan.flood_reps):
            await _until(lambda: not venue.conns, 10, "the previous connection to close")
            rate, mix = await _flood_client(sim, symbols, plan.flood)
            client.append(rate)
            await _until(lambda: not venue.conns, 10, "the previous connection to close")
            receive_only.append(await _flood_receive_only(sim, symbols, plan.flood))
    return {"client": client, "receive_only": receive_only, "mix": mix}


# -- send stamps: send -> decision latency across two processes (bench only) -------------------

def frame_key(frame: bytes) -> int:
    """A frame's identity on both sides of the socket (the frames carry trade and update ids)."""
    return zlib.crc32(frame) | len(frame) << 32


SendFrames = Callable[[Any, list[bytes]], Coroutine[Any, Any, None]]


class SendStamps:
    """In the simulator child: the monotonic time each frame was written to a socket, by frame key."""

    def __init__(self) -> None:
        self.sent: dict[int, int] = {}
        self.on = False

    def wrap(self, send_frames: SendFrames) -> SendFrames:
        async def stamped(ws: Any, frames: list[bytes]) -> None:
            if self.on:
                now, sent = time.monotonic_ns(), self.sent
                for f in frames:
                    sent[frame_key(f)] = now
            await send_frames(ws, frames)
        return stamped

    def dump(self, path: str) -> None:
        """Write the stamps (keys, times) to ``path``, then forget them and stop stamping."""
        self.on = False
        Path(path).write_bytes(orjson.dumps({"keys": list(self.sent), "ns": list(self.sent.values())}))
        self.sent = {}


class DecisionStamps:
    """In the client: when the pipeline was done with each frame (listeners, so strategy decisions,
    included), from ``start()`` until ``stop()``. Wraps the session's ``pipeline.feed`` before it starts.
    Frames and times go to two lists: a (frame, time) tuple per frame was 10 k objects a second for the
    collector, whose pauses the latency run then measured as the client's."""

    def __init__(self, session: Session) -> None:
        self.frames: list[str | bytes] = []
        self.times: list[int] = []
        self.on = False
        feed, frames, times, clock = session.pipeline.feed, self.frames, self.times, time.monotonic_ns

        def timed(conn: str, raw: str | bytes, recv_ns: int) -> None:
            feed(conn, raw, recv_ns)
            if self.on:
                frames.append(raw)
                times.append(clock())

        session.pipeline.feed = timed  # type: ignore[method-assign]  # the connection reads it at connect

    def keyed(self) -> list[tuple[int, int]]:
        return [(frame_key(raw.encode() if isinstance(raw, str) else raw), ns) for raw, ns in zip(self.frames, self.times)]


class Pauses:
    """What held the client's loop during the latency window, for the tail's causes: each garbage collection
    (by generation) and each live tick (the feed core's periodic work, in slices the loop reads frames between),
    in ms of wall time."""

    def __init__(self, session: Session) -> None:
        self.gc: list[tuple[int, float]] = []
        self.ticks: list[float] = []  # a tick's work: the sum of its slices
        self.slices: list[float] = []  # each stretch of tick work the loop ran without reading a frame
        self._gc_start = 0
        tick_slices, ticks, slices, clock = session.feed.tick_slices, self.ticks, self.slices, time.perf_counter_ns

        def timed(now_ns: int) -> Iterator[None]:
            work = tick_slices(now_ns)
            total = 0
            more = True
            while more:
                t0 = clock()
                more = next(work, False) is None
                took = clock() - t0
                total += took
                slices.append(took / 1e6)
                if more:
                    yield
            ticks.append(total / 1e6)

        session.feed.tick_slices = timed  # type: ignore[method-assign]  # the tick loop looks it up each time

    def _on_gc(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._gc_start = time.perf_counter_ns()
        else:
            self.gc.append((info["generation"], (time.perf_counter_ns() - self._gc_start) / 1e6))

    def start(self) -> None:
        self.gc.clear()
        self.ticks.clear()
        self.slices.clear()
        gc.callbacks.append(self._on_gc)

    def stop(self) -> Json:
        gc.callbacks.remove(self._on_gc)
        out: Json = {f"gc{g}": [len(d), _round(max(d))] for g in range(3) if (d := [ms for gen, ms in self.gc if gen == g])}
        for name, times in (("ticks", self.ticks), ("tick_slices", self.slices)):
            if times:
                t = sorted(times)
                out[name] = [len(t), _round(t[len(t) // 2]), _round(t[-1])]
        return out  # {"gc0": [count, max ms], ..., "ticks": [count, p50 ms, max ms], "tick_slices": [the same]}


def send_to_decision(sent: Json, done: list[tuple[int, int]]) -> Json:
    """Join the simulator's send stamps with the client's decision stamps: percentiles in ms."""
    by_key = dict(zip(sent["keys"], sent["ns"]))
    ms = sorted((ns - by_key[k]) / 1e6 for k, ns in done if k in by_key)
    if not ms:
        raise BenchError(f"no frame matched between the simulator's {len(by_key)} send stamps and the "
                         f"client's {len(done)} decisions")
    return {"p50": ms[len(ms) // 2], "p99": ms[min(len(ms) - 1, int(len(ms) * 0.99))], "max": ms[-1],
            "matched": len(ms), "client_frames": len(done)}


# -- child processes ----------------------------------------------------------------------------

def _child_env(config_home: str, terminal: bool = False) -> dict[str, str]:
    """The bench's environment minus the operator's clearterm settings; the same code on sys.path."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CLEARTERM_", "TEXTUAL_"))}
    env["XDG_CONFIG_HOME"] = config_home
    root = str(Path(__file__).resolve().parents[2])  # the repository root, which holds the tui package
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    if terminal:
        env["TERM"] = "xterm-256color"
        env["COLORTERM"] = "truecolor"
    return env


class SimChild:
    """The simulator in its own process (so its CPU is not the client's): ``rate`` sets live msg/s."""

    def __init__(self, env: dict[str, str]) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "tui.bench.bench", "sim-child", str(SYMBOLS)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
        assert self.proc.stdout is not None  # Popen(stdout=PIPE)
        line = self.proc.stdout.readline().split()
        if len(line) != 2 or line[0] != "port":
            self.close()
            raise BenchError("the simulator child did not start")
        self.port = int(line[1])
        self.ws_url = f"ws://127.0.0.1:{self.port}"
        self.rest_url = f"http://127.0.0.1:{self.port}"

    def set_rate(self, msgs_per_s: float) -> None:
        assert self.proc.stdin is not None  # Popen(stdin=PIPE)
        self.proc.stdin.write(f"rate {msgs_per_s}\n")
        self.proc.stdin.flush()

    def flood(self, count: int) -> None:
        self._command(f"flood {count}")

    def stamps_on(self) -> None:
        self._command("stamps on")

    def stamps(self) -> Json:
        """Stop stamping; the send stamps taken since ``stamps_on`` (then forgotten by the child)."""
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "sent.json"
            self._command(f"stamps dump {path}")
            assert self.proc.stdout is not None  # Popen(stdout=PIPE)
            if self.proc.stdout.readline().strip() != "dumped":
                raise BenchError("the simulator child wrote no send stamps")
            result: Json = orjson.loads(path.read_bytes())
            return result

    def _command(self, line: str) -> None:
        assert self.proc.stdin is not None  # Popen(stdin=PIPE)
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def close(self) -> None:
        if self.proc.stdin and not self.proc.stdin.closed:
            self.proc.stdin.close()  # end of input: the child stops
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


async def _sim_child(n_symbols: int) -> None:
    import feeds.sim.server
    from feeds.sim.server import Simulator
    from tui.bench.corpus import bench_symbols
    stamps = SendStamps()
    feeds.sim.server.send_frames = stamps.wrap(feeds.sim.server.send_frames)  # type: ignore[assignment]  # looked up per batch
    # only the venue the clients read: the others' simulation (Coinbase's order-by-order book) would load this core
    async with Simulator(symbols=bench_symbols(n_symbols), seed=SEED, port=0, intervals=("1s",),
                         tick_hz=SIM_TICK_HZ, venues=(VENUE,)) as sim:
        # Its start-up objects out of the collector: a full collection here was 32-39 ms of CPU (0.3 ms frozen),
        # after which it sends what piled up as one burst, and the client's last frames of it wait their turn.
        gc.freeze()
        print(f"port {sim.port}", flush=True)
        loop = asyncio.get_running_loop()
        while True:
            line = await loop.run_in_executor(None, sys.stdin.readline)
            if not line:
                break
            words = line.split()
            if words[:1] == ["rate"]:
                # Each trade arrival sends an aggTrade and (nearly always) a bookTicker frame.
                sim.set_trades_per_second(float(words[1]) / (2 * n_symbols))
            elif words[:1] == ["flood"]:  # every connected client: N pre-generated frames, as fast as possible
                sim.flood(int(words[1]))
            elif words[:2] == ["stamps", "on"]:
                stamps.sent, stamps.on = {}, True
            elif words[:2] == ["stamps", "dump"]:
                stamps.dump(words[2])
                print("dumped", flush=True)


async def bench_latency(sim: SimChild, seconds: float, warm_up_s: float) -> Json:
    from tui.bench.corpus import bench_symbols
    from tui.runtime.runner import Runner
    runner = Runner(_live_config(bench_symbols(SYMBOLS), sim.ws_url, sim.rest_url))  # as --headless runs it
    session = runner.session
    decisions = DecisionStamps(session)
    pauses = Pauses(session)
    sim.stamps_on()  # from the start: a frame the client takes in its window was sent after this
    await runner.start()
    try:
        await _until(lambda: _subscribed(session), 10, "the client to subscribe")
        await asyncio.sleep(warm_up_s)  # book snapshots, first bars
        tel = session.pipeline.telemetry[VENUE]
        tel.latency.reset()  # in place: each connection's route holds the appends of these two
        tel.processing.reset()
        decisions.on = True
        pauses.start()
        m0, t0 = session.pipeline.messages, time.perf_counter()
        await asyncio.sleep(seconds)
        rate = (session.pipeline.messages - m0) / (time.perf_counter() - t0)
        decisions.on = False
        return {"rate": rate, "exchange": tel.latency.summary(), "processing": tel.processing.summary(),
                "send": send_to_decision(sim.stamps(), decisions.keyed()), "pauses": pauses.stop()}
    finally:
        await runner.stop()


# -- pseudo-terminal children -------------------------------------------------------------------

_ANSI = re.compile(rb"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]|\x1b[()][0-9A-Za-z]")


def run_in_pty(argv: list[str], env: dict[str, str], size: tuple[int, int], timeout: float,
               marker: re.Pattern[bytes] | None = None) -> tuple[float | None, float | None, int]:
    """Run ``argv`` on a pseudo-terminal of ``size`` (columns, rows), reading everything it draws.

    Returns (seconds to the first output, seconds to the first ``marker`` in the text without escape
    sequences, exit status). Once the marker is seen the program gets ``q``; it is terminated if it
    is still running at ``timeout`` (or 5 s after the ``q``).
    """
    import fcntl
    import pty
    import struct
    import termios
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", size[1], size[0], 0, 0))
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env=env, close_fds=True,
                            start_new_session=True)
    os.close(slave)
    first_output = found = None
    text = b""
    deadline = t0 + timeout
    try:
        while time.perf_counter() < deadline:
            ready, _, _ = select.select([master], [], [], 0.02)
            if not ready:
                if proc.poll() is not None:
                    break
                continue
            try:
                data = os.read(master, 1 << 16)
            except OSError:  # the child closed the terminal
                break
            if not data:
                break
            now = time.perf_counter() - t0
            if first_output is None:
                first_output = now
            if marker is not None and found is None:
                text = (text + _ANSI.sub(b"", data))[-(1 << 16):]
                if marker.search(text):
                    found = now
                    os.write(master, b"q")
                    deadline = min(deadline, time.perf_counter() + 5)
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        os.close(master)
    return first_output, found, proc.returncode


_PRICE_AFTER_BTC = re.compile(rb"BTCUSDT[^\r\n\d]{0,40}\d+\.\d+")
PACKAGES = ("feeds", "strategy", "tui")  # ours, below the repository root


def compile_packages(root: Path) -> int:
    """Compile our modules whose .pyc is missing or older than the source, as ``pip install`` compiles them: the
    first frame is an installed program's, not a source checkout's under PYTHONDONTWRITEBYTECODE (which compiles
    every module of ours at each start). Returns how many modules it compiled."""
    import compileall
    stale = sum(not _compiled(source) for package in PACKAGES for source in (root / package).rglob("*.py"))
    if stale:
        for package in PACKAGES:
            compileall.compile_dir(root / package, quiet=2)
    return stale


def _compiled(source: Path) -> bool:
    """Is there a .pyc of ``source`` that an import would use (its header holds the source's mtime)?"""
    import importlib.util
    try:
        header = Path(importlib.util.cache_from_source(str(source))).read_bytes()[:16]
    except OSError:
        return False
    return len(header) == 16 and int.from_bytes(header[8:12], "little") == int(source.stat().st_mtime) & 0xFFFFFFFF


def bench_first_frame(env: dict[str, str], reps: int) -> tuple[list[float], list[float]]:
    """Seconds from starting ``python -m tui.runtime.cli demo`` to its first frame, and to the first with a price
    (compile_packages first)."""
    frames: list[float] = []
    data: list[float] = []
    for _ in range(reps):
        first, found, _ = run_in_pty([sys.executable, "-m", "tui.runtime.cli", "demo", "--no-record"], env,
                                     (160, 48), 20.0, _PRICE_AFTER_BTC)
        if found is None or first is None:  # found implies first: the price came in some output
            raise BenchError("the demo drew no BTCUSDT price within 20 s")
        frames.append(first)
        data.append(found)
    return frames, data


def bench_ui(sim: SimChild, env: dict[str, str], seconds: float, warm_up_s: float) -> Json:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "ui.json"
        argv = [sys.executable, "-m", "tui.bench.bench", "ui-child", sim.ws_url, sim.rest_url, str(seconds),
                str(warm_up_s), str(out)]
        sim.stamps_on()  # the child keeps only the frames of its measured window
        _, _, status = run_in_pty(argv, env, (160, 48), seconds + 30.0)
        sent = sim.stamps()
        if not out.exists():
            raise BenchError(f"the app child wrote no result (exit status {status})")
        result: Json = orjson.loads(out.read_bytes())
        if "decisions" in result:
            result["send"] = send_to_decision(sent, [tuple(d) for d in result.pop("decisions")])
        return result


async def _ui_child(ws_url: str, rest_url: str, seconds: float, warm_up_s: float, out: str) -> None:
    """The app on this terminal, fed by the simulator; measures its own stalls and CPU."""
    from tui.app import ClearTermApp
    from tui.bench.corpus import bench_symbols
    from tui.runtime.runner import Runner
    runner = Runner(_live_config(bench_symbols(SYMBOLS), ws_url, rest_url))
    decisions = DecisionStamps(runner.session)
    app = ClearTermApp(runner)
    result: Json = {}

    async def probe() -> None:
        try:
            await _until(lambda: runner.started and _subscribed(runner.session), 15, "the app to subscribe")
            await asyncio.sleep(warm_up_s)  # tables fill, first bars close
            loop = asyncio.get_running_loop()
            worst = worst_cpu = total = 0.0
            ticks = 0
            m0 = runner.session.pipeline.messages
            decisions.on = True
            wall0, cpu0 = time.perf_counter(), time.process_time()
            end = loop.time() + seconds
            while loop.time() < end:
                before, cpu_before = loop.time(), time.process_time()
                await asyncio.sleep(0.05)
                late = loop.time() - before - 0.05
                if late > worst:
                    # CPU this process used meanwhile: near 50 ms + late means our own work held the
                    # loop; much less means the machine did not give us the CPU
                    worst, worst_cpu = late, time.process_time() - cpu_before
                total += late
                ticks += 1
            wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
            decisions.on = False
            result["decisions"] = decisions.keyed()
            result.update(worst_ms=worst * 1e3, worst_cpu_ms=worst_cpu * 1e3, mean_ms=total / ticks * 1e3,
                          cpu_percent=cpu / wall * 100,
                          rate=(runner.session.pipeline.messages - m0) / wall, seconds=wall,
                          size=list(app.size))
        except Exception as exc:  # noqa: BLE001 - reported to the parent
            result["error"] = f"{type(exc).__name__}: {exc}"
        finally:
            Path(out).write_bytes(orjson.dumps(result))
            app.exit()

    task = asyncio.get_running_loop().create_task(probe())
    await app.run_async(mouse=False)
    task.cancel()


# -- memory -------------------------------------------------------------------------------------

def _rss_mb() -> float:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6
    except OSError:
        import resource
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3  # peak, in KB on Linux


def fill_state(session: Session, symbols: int = 100, bars: int = 500, interval: str = "1s") -> int:
    """Closed candles for ``symbols`` x (Binance, Coinbase) x ``bars`` into the session's pipeline."""
    from feeds.events import Candle
    from feeds.intervals import INTERVALS
    from tui.bench.corpus import BASE_PRICES, bench_symbols
    step = INTERVALS[interval] * 1_000_000
    now = time.time_ns()
    first = (now - now % step) - (bars + 1) * step
    smap = session.feed.symbol_map
    applied = 0
    for name in bench_symbols(symbols):
        unified = smap.unified(VENUE, name)
        price = BASE_PRICES[name[:-4]]
        for venue, vsym in ((VENUE, name), (COINBASE.name, COINBASE.venue_symbol(smap, unified))):
            events = []
            for i in range(bars):
                open_ns = first + i * step
                p = price * (1.0 + 0.001 * ((i * 7919) % 13 - 6))
                events.append(Candle(venue, vsym, unified, open_ns + step - 1, open_ns + step, interval, open_ns,
                                     p, p * 1.001, p * 0.999, p, 1.5, 12, True, "backfill"))
            session.pipeline.apply_all(events)
            applied += len(events)
    return applied


async def _memory_child(ws_url: str, rest_url: str, seconds: float, warm_up_s: float) -> Json:
    import tui.app  # noqa: F401 - the app's process has Textual loaded: count it
    from tui.bench.corpus import bench_symbols
    from tui.runtime.session import Session
    gc.collect()
    rss_imports = _rss_mb()
    session = Session(_live_config(bench_symbols(SYMBOLS), ws_url, rest_url))
    candles = fill_state(session)
    gc.collect()
    rss_state = _rss_mb()
    await session.start()
    try:
        await _until(lambda: _subscribed(session), 10, "the client to subscribe")
        await asyncio.sleep(warm_up_s)
        rss_start = _rss_mb()
        samples = [rss_start]
        m0, t0 = session.pipeline.messages, time.perf_counter()
        end = t0 + seconds
        while time.perf_counter() < end:
            await asyncio.sleep(min(0.5, max(0.0, end - time.perf_counter())))
            samples.append(_rss_mb())
        rate = (session.pipeline.messages - m0) / (time.perf_counter() - t0)
    finally:
        await session.stop()
    return {"rss_imports_mb": rss_imports, "rss_state_mb": rss_state, "rss_start_mb": rss_start,
            "rss_end_mb": samples[-1], "rss_max_mb": max(samples), "candles": candles,
            "symbols_in_state": len(session.pipeline.state.symbols), "rate": rate, "seconds": seconds}


def bench_memory(sim: SimChild, env: dict[str, str], seconds: float, warm_up_s: float) -> Json:
    argv = [sys.executable, "-m", "tui.bench.bench", "memory-child", sim.ws_url, sim.rest_url, str(seconds),
            str(warm_up_s)]
    proc = subprocess.run(argv, env=env, capture_output=True, timeout=seconds + 60)
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        tail = proc.stderr.decode(errors="replace").strip().splitlines()[-1:] or [""]
        raise BenchError(f"the memory child failed (exit status {proc.returncode}): {tail[0]}")
    result: Json = orjson.loads(lines[-1])
    return result


# -- the run ------------------------------------------------------------------------------------

def _progress(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


def _section(report: Report, name: str, fn: Callable[[], None]) -> None:
    _progress(name)
    t0 = time.perf_counter()
    try:
        fn()
    except Exception as exc:  # noqa: BLE001 - one broken benchmark must not hide the others
        report.errors[name] = f"{type(exc).__name__}: {exc}"
        _progress(f"{name} failed: {report.errors[name]}")
    report.seconds[name] = round(time.perf_counter() - t0, 2)


def run_all(plan: Plan, quick: bool) -> Json:
    from tui.bench.corpus import binance_corpus
    started = time.perf_counter()
    load_before = os.getloadavg()
    report = Report()
    state: dict[str, Any] = {}  # what one section leaves for the next: the corpus, the floor figure
    reps_text = f"best of {plan.reps}" if plan.reps > 1 else "one run"

    def corpus_section() -> None:
        t0 = time.perf_counter()
        state["corpus"] = binance_corpus(plan.corpus, SYMBOLS, rate=LIVE_RATE, seed=SEED)
        state["corpus_s"] = time.perf_counter() - t0

    _section(report, "corpus", corpus_section)
    corpus: Corpus | None = state.get("corpus")
    describe = ""
    if corpus is not None:
        describe = (f"{len(corpus.frames)} frames, {len(corpus.symbols)} symbols, aggTrade/bookTicker/kline "
                    f"{corpus.counts['aggTrade']}/{corpus.counts['bookTicker']}/{corpus.counts['kline']}")

        # The sections take the corpus as an argument (not a closure), so that dropping it below frees it.
        def floor_section(corpus: Corpus) -> None:
            best, runs = _best(lambda: bench_floor(corpus), plan.reps)
            state["floor"] = best
            report.add("floor", best, "msg/s", None, f"orjson.loads over the corpus ({describe}), {reps_text}",
                       runs=runs)
            best, runs = _best(lambda: bench_typed_floor(corpus), plan.reps)
            state["typed_floor"] = best
            report.add("typed_floor", best, "msg/s", None,
                       f"the codec's typed msgspec decoders alone over the corpus (wrapper + payload struct, no "
                       f"event built), {reps_text}", runs=runs)

        def ingest_section(corpus: Corpus) -> None:
            sessions: list[Session] = []

            def once() -> float:
                rate, session = bench_ingest(corpus)
                sessions[:] = [session]
                return rate

            best, runs = _best(once, plan.reps)
            p = sessions[0].pipeline
            refused = sum(p.rejected.values()) + p.duplicates
            if refused:  # the corpus must time the normal path, not the rejection path
                raise BenchError(f"the pipeline refused {refused} corpus frames: {p.rejected_summary()}")
            report.add("ingest", best, "msg/s", (">=", 450_000),
                       f"Session pipeline fed from memory with Session.tick every 100 ms of corpus time "
                       f"({describe}), {reps_text}", runs=runs, events=dict(p.events))
            report.add("ingest_us_per_msg", 1e6 / best, "us/msg", ("<=", 2.22),
                       "the inverse of ingest")
            if "floor" in state:
                report.add("ingest_vs_floor", best / state["floor"], "x", (">=", 0.4), "ingest / floor")
            if "typed_floor" in state:
                report.add("ingest_vs_typed_floor", best / state["typed_floor"], "x", (">=", 0.5),
                           "ingest / typed_floor: the share of the fastest typed decode the whole pipeline keeps")

        def replay_section(corpus: Corpus) -> None:
            with tempfile.TemporaryDirectory() as tmp:
                path = Path(tmp) / "bench.jsonl"
                written = write_recording(corpus, path)
                size_mb = path.stat().st_size / 1e6
                best, runs = _best(lambda: bench_replay(corpus, path), plan.reps)
            report.add("record", written, "msg/s", None,
                       f"Recorder.write of every frame plus its flushes, {size_mb:.1f} MB file")
            report.add("replay", best, "msg/s", None,
                       f"read_recordings + ReplayDriver.apply, Session.tick every 100 ms of recorded time, "
                       f"{reps_text}", runs=runs)

        _section(report, "floor", partial(floor_section, corpus))
        _section(report, "ingest", partial(ingest_section, corpus))
        _section(report, "replay", partial(replay_section, corpus))
        state.pop("corpus")
        corpus = None
        gc.collect()

    def loopback_section() -> None:
        res = asyncio.run(bench_loopback(plan))
        client, only = max(res["client"]), max(res["receive_only"])
        how = (f"simulator flood of {plan.flood} pre-generated frames over 127.0.0.1 in this process, "
               f"rate between 5% and 95% received, best of {plan.flood_reps}")
        report.add("loopback_client", client, "msg/s", None,
                   f"Session (live) with {SYMBOLS} symbols on aggTrade/kline/bookTicker/ticker/depth; {how}",
                   runs=[_round(r) for r in res["client"]], mix=res["mix"])
        report.add("loopback_receive_only", only, "msg/s", None,
                   f"websockets client that only counts frames, same URL and options; {how}",
                   runs=[_round(r) for r in res["receive_only"]])
        report.add("loopback_ratio", client / only, "x", (">=", 0.85), "loopback_client / loopback_receive_only")

    def books_section() -> None:
        best, runs = bench_books(plan)
        report.add("books", best, "updates/s", None,
                   f"feeds.core.book.bench_book_updates(levels=5000, updates={plan.book_updates}), "
                   f"best of {plan.book_reps}", runs=runs)

    def chart_section() -> None:
        report.add("chart_redraw_ms", bench_chart(), "ms", ("<=", 2.0),
                   "candlestick chart (tui/widgets/candle_chart.py) rebuilt at 160x48 from 500 1m bars, "
                   "chart_lines + Strips, best of 50")

    _section(report, "loopback", loopback_section)
    _section(report, "books", books_section)
    _section(report, "chart", chart_section)

    with tempfile.TemporaryDirectory() as config_home:
        env = _child_env(config_home)
        term_env = _child_env(config_home, terminal=True)
        sim = None

        def start_sim() -> None:
            nonlocal sim
            sim = SimChild(env)
            sim.set_rate(LIVE_RATE)

        def latency_section(sim: SimChild) -> None:
            res = asyncio.run(bench_latency(sim, plan.latency_s, plan.warm_up_s))
            ex, pr = res["exchange"], res["processing"]
            how = (f"simulator child process, live data at a fixed rate (measured {res['rate']:.0f} msg/s, "
                   f"{SYMBOLS} symbols), {plan.latency_s:g} s after {plan.warm_up_s:g} s warm-up; Binance E has "
                   f"1 ms resolution (the simulator floors it to the ms and has no real microsecond times), so "
                   f"these include 0-1 ms of quantization")
            report.add("latency_p50", ex["p50"], "ms", None, "exchange time -> processed, " + how,
                       samples=ex["samples"])
            report.add("latency_p99", ex["p99"], "ms", ("<=", 1.0), "exchange time -> processed, " + how)
            report.add("latency_max", ex["max"], "ms", None, "exchange time -> processed, " + how)
            report.add("processing_p99", pr["p99"], "ms", None,
                       "receive -> processed (ns clock: frame handed over by websockets -> pipeline done), "
                       f"same run; p50 {pr['p50']} ms, max {pr['max']} ms")
            report.add("latency_rate", res["rate"], "msg/s", None, "the rate the latency was measured at")
            send = res["send"]
            how_send = (f"simulator child's time.monotonic_ns() as it writes the frame -> this process's "
                        f"time.monotonic_ns() when the pipeline (strategy included) is done with it, joined by "
                        f"frame ({send['matched']} of {send['client_frames']} frames matched), headless Runner; "
                        f"same run as latency_p99; what held the loop meanwhile ([count, max ms] per GC generation, "
                        f"ticks and tick slices [count, p50, max ms]): {res['pauses']}")
            report.add("latency_send_p50", send["p50"], "ms", None, how_send)
            report.add("latency_send_p99", send["p99"], "ms", ("<=", 1.0), how_send, pauses=res["pauses"])
            report.add("latency_send_max", send["max"], "ms", None, how_send)

        def ui_section(sim: SimChild) -> None:
            res = bench_ui(sim, term_env, plan.ui_s, plan.warm_up_s)
            if "error" in res:
                raise BenchError(res["error"])
            how = (f"ClearTermApp in a {res['size'][0]}x{res['size'][1]} pseudo-terminal (child process, real "
                   f"driver), {SYMBOLS} symbols at {res['rate']:.0f} msg/s from the simulator child, "
                   f"{res['seconds']:.1f} s after {plan.warm_up_s:g} s warm-up")
            report.add("ui_worst_stall", res["worst_ms"], "ms", ("<=", 50.0),
                       f"worst lateness of a 50 ms asyncio.sleep loop on the app's loop (the process used "
                       f"{res['worst_cpu_ms']:.0f} ms of CPU in that {50 + res['worst_ms']:.0f} ms: far less means "
                       f"it waited for a CPU); mean lateness {res['mean_ms']:.2f} ms; " + how,
                       cpu_in_worst_ms=_round(res["worst_cpu_ms"]))
            report.add("ui_cpu", res["cpu_percent"], "%", ("<=", 25.0),
                       "process CPU time / wall time of the app process (pipeline included); " + how)
            send = res.get("send")
            if send is not None:
                how_send = (f"simulator child's time.monotonic_ns() as it writes the frame -> the app process's "
                            f"when its pipeline is done with it ({send['matched']} of {send['client_frames']} "
                            f"frames matched): what an operator waits, frames queued behind drawing; " + how)
                report.add("latency_app_p50", send["p50"], "ms", None, how_send)
                report.add("latency_app_p99", send["p99"], "ms", ("<=", 10.0), how_send)
                report.add("latency_app_max", send["max"], "ms", None, how_send)

        def memory_section(sim: SimChild) -> None:
            res = bench_memory(sim, env, plan.memory_s, plan.warm_up_s)
            how = (f"child process with Textual imported; {res['candles']} candles in "
                   f"{res['symbols_in_state']} (venue, symbol) states; flood: live data at {res['rate']:.0f} "
                   f"msg/s for {res['seconds']:g} s" + (" (shortened by --quick)" if quick else ""))
            report.add("rss", res["rss_max_mb"], "MB", ("<=", 100.0), "largest RSS during the flood; " + how,
                       imports_mb=_round(res["rss_imports_mb"]), with_state_mb=_round(res["rss_state_mb"]))
            report.add("rss_growth", res["rss_end_mb"] / res["rss_start_mb"], "x", ("<=", 1.05),
                       f"RSS at the end / at the start of the flood ({res['rss_start_mb']:.1f} -> "
                       f"{res['rss_end_mb']:.1f} MB); " + how)

        def first_frame_section() -> None:
            compiled = compile_packages(Path(__file__).resolve().parents[2])
            frames, data = bench_first_frame(term_env, plan.first_frame_reps)
            runs = "runs " + ", ".join(f"{d:.2f}" for d in data)
            # the median, as a user meets it, with the spread: a best-of hides a slow start
            report.add("first_frame", statistics.median(data), "s", ("<=", 1.0),
                       f"`python -m tui.runtime.cli demo --no-record` in a 160x48 pseudo-terminal: process start -> "
                       f"first output showing a BTCUSDT price (simulator start, connect, first data, render "
                       f"included); median of {len(data)} ({runs}; spread {min(data):.2f}-{max(data):.2f} s); "
                       f"first frame of any content median {statistics.median(frames):.2f} s; our packages' "
                       f".pyc files compiled first when missing or stale, as pip install compiles them "
                       f"({compiled} compiled this time)",
                       runs=[_round(d) for d in data], spread=[_round(min(data)), _round(max(data))])

        _section(report, "simulator child", start_sim)
        if sim is not None:
            started_sim: SimChild = sim
            try:
                _section(report, "latency", lambda: latency_section(started_sim))
                _section(report, "ui", lambda: ui_section(started_sim))
                _section(report, "memory", lambda: memory_section(started_sim))
            finally:
                sim.close()
        _section(report, "first frame", first_frame_section)

    return {
        "benchmark": "clearterm",
        "quick": quick,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
                    "load_before": [round(x, 2) for x in load_before],
                    "load_after": [round(x, 2) for x in os.getloadavg()], "versions": _versions()},
        "elapsed_s": round(time.perf_counter() - started, 1),
        "figures": report.figures,
        "errors": report.errors,
        "section_s": report.seconds,
    }


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version
    out: dict[str, str] = {}
    for name in ("orjson", "msgspec", "websockets", "picows", "textual"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "?"
    return out


def format_table(result: Json) -> str:
    rows = [("figure", "value", "unit", "target", "result")]
    for name, f in result["figures"].items():
        verdict = "-" if f["pass"] is None else "pass" if f["pass"] else "MISS"
        value = f["value"]
        rows.append((name, f"{value:,.0f}" if value >= 1000 else f"{value:g}", f["unit"], f["target"], verdict))
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    lines = ["  ".join(c.rjust(w) if i == 1 else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths))).rstrip()
             for r in rows]
    m = result["machine"]
    lines.append("")
    lines.append(f"{m['cpus']} CPUs, Python {m['python']}, load {m['load_before'][0]} -> {m['load_after'][0]}, "
                 f"{result['elapsed_s']} s" + (" (--quick)" if result["quick"] else ""))
    for name, f in result["figures"].items():
        lines.append(f"  {name}: {f['method']}")
    for name, err in result["errors"].items():
        lines.append(f"  FAILED {name}: {err}")
    return "\n".join(lines)


def run_bench(args: argparse.Namespace) -> int:
    """The ``clearterm bench`` command: 0 when every benchmark ran (targets met or not), 1 otherwise."""
    quick = bool(getattr(args, "quick", False))
    result = run_all(QUICK if quick else FULL, quick)
    if getattr(args, "json", False):
        sys.stdout.write(orjson.dumps(result).decode() + "\n")
    else:
        print(format_table(result))
    return 1 if result["errors"] else 0


def _child_main(argv: list[str]) -> int:
    role = argv[0] if argv else ""
    if role == "sim-child":
        asyncio.run(_sim_child(int(argv[1])))
        return 0
    if role == "ui-child":
        asyncio.run(_ui_child(argv[1], argv[2], float(argv[3]), float(argv[4]), argv[5]))
        return 0
    if role == "memory-child":
        result = asyncio.run(_memory_child(argv[1], argv[2], float(argv[3]), float(argv[4])))
        sys.stdout.write(orjson.dumps(result).decode() + "\n")
        return 0
    print(f"usage: python -m tui.bench.bench sim-child|ui-child|memory-child ... (got {role!r})", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(_child_main(sys.argv[1:]))
