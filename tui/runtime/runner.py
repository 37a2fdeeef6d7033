"""Starts and stops what a mode needs around a Session: the simulator for the demo, nothing for live.

Both the Textual app and ``--headless`` go through a Runner, so they run the very same pipeline.
"""
from __future__ import annotations

import asyncio
import gc
from typing import TYPE_CHECKING

from feeds.venues import DEMO_VENUES, VENUES
from tui.runtime.session import Session, SessionConfig

if TYPE_CHECKING:
    from feeds.sim.server import Simulator
    from tui.runtime.demo_sim import SimulatorProcess

DEMO_SEED = 7
DEMO_HISTORY_S = 40  # the simulator's past: backfill fills the tables and warms the strategy (0.2 s to build)
DEMO_MORE_SYMBOLS = ("BNBUSDT", "XRPUSDT", "ADAUSDT", "DOGEUSDT")  # listed by the simulator, to add live
DEMO_QUOTES = ("USDT", "USDC", "FDUSD")


def simulator_lists(binance_symbol: str) -> bool:
    """Whether the demo's simulator lists a (Binance-style) symbol: a coin it prices, against a dollar."""
    from feeds.sim.market import BASE_PRICES, split_symbol
    base, quote = split_symbol(binance_symbol)
    return base in BASE_PRICES and quote in DEMO_QUOTES


async def start_metrics(runner, port: int | None):
    """The /metrics server for a runner, or None; it reads ``runner.session`` (replay may swap it)."""
    if port is None:
        return None
    from tui.runtime.metrics import start_metrics_server
    return await start_metrics_server(lambda: runner.session, port)


def freeze_startup_objects() -> None:
    """GC settings of a running session (headless and app): everything built so far (modules, the session's
    state, the simulator's history) lives as long as the run, so it leaves the collector's sight, and a full
    collection scans only what came later. Measured on a warm headless session at 30 symbols: a full
    collection 32-42 ms of CPU before, 0.13 ms after; each one held every frame behind it (latency tail)."""
    gc.freeze()


class RunnerBase:
    """What every runner (live and demo, replay, a bus viewer) shares: the end of its /metrics server, and a
    run that lasts ``duration_s`` (None: forever) or until ``stop_event`` is set."""

    metrics = None

    async def stop_metrics(self) -> None:
        if self.metrics is not None:
            await self.metrics.stop()
            self.metrics = None

    async def run_for(self, duration_s: float | None, stop_event: asyncio.Event | None = None) -> None:
        stop_event = stop_event or asyncio.Event()
        try:
            await asyncio.wait_for(stop_event.wait(), timeout=duration_s)
        except TimeoutError:
            pass


class Runner(RunnerBase):
    """``sim_process``: the demo's simulator runs in a child process (the command line's demo), not on this
    event loop (tests reach into the in-process one: ``runner.sim.stall(...)``)."""

    def __init__(self, config: SessionConfig, sim_seed: int = DEMO_SEED, sim_options: dict | None = None,
                 sim_process: bool = False) -> None:
        self.config = config
        self.session = Session(config)
        self.sim: Simulator | SimulatorProcess | None = None
        self.sim_seed = sim_seed
        self.sim_options = sim_options or {}
        self.sim_process = sim_process
        self.started = False
        self.metrics_port: int | None = None
        self.metrics = None

    def _sim_spec(self) -> dict:
        # only what it lists: a symbol it does not know is refused, never invented
        wanted = [s for s in self.session.venue_symbols(DEMO_VENUES[0]) if simulator_lists(s)]
        # only the venues the session reads (e.g. COINBASE_L3 reads the COINBASE simulator) and the one the
        # others follow: a session on Binance alone spent most of its simulator's CPU on Coinbase's level 3
        served = dict.fromkeys((DEMO_VENUES[0], *(VENUES[v].simulated_by or v for v in self.config.venues)))
        return {"symbols": list(dict.fromkeys((*wanted, *DEMO_MORE_SYMBOLS))), "seed": self.sim_seed, "port": 0,
                "intervals": [self.config.interval], "venues": list(served),
                "history_s": DEMO_HISTORY_S, **self.sim_options}

    def launch_simulator(self) -> None:
        """Start the demo's simulator child now (before the app imports Textual); ``start`` waits for it."""
        if self.config.mode == "demo" and self.sim_process and self.sim is None:
            from tui.runtime.demo_sim import SimulatorProcess
            self.sim = SimulatorProcess(self._sim_spec())
            self.sim.launch()

    async def start(self) -> None:
        self.metrics = await start_metrics(self, self.metrics_port)
        if self.config.mode == "demo":
            if self.sim_process:
                from tui.runtime.demo_sim import SimulatorProcess
                self.launch_simulator()
                assert isinstance(self.sim, SimulatorProcess)  # launched just now
                sim: Simulator | SimulatorProcess = await self.sim.ready()
            else:
                from feeds.sim.server import Simulator
                spec = self._sim_spec()
                sim = self.sim = Simulator(**{**spec, "symbols": tuple(spec["symbols"]),
                                              "intervals": tuple(spec["intervals"]),
                                              "venues": tuple(spec["venues"])})
                await self.sim.start()
            for venue in self.config.venues:
                served = VENUES[venue].simulated_by or venue  # e.g. COINBASE_L3: the COINBASE simulator
                self.config.endpoints[venue] = [sim.ws_url(served)]
                self.config.rest_endpoints[venue] = sim.rest_url(served)
        await self.session.start()
        self.started = True
        freeze_startup_objects()

    async def stop(self) -> None:
        if self.started:
            await self.session.stop()
            gc.unfreeze()  # what this runner built can be collected again (a test process runs many)
        if self.sim is not None:
            await self.sim.stop()
            self.sim = None
        await self.stop_metrics()
