"""A running clearterm session: connections -> pipeline -> strategy, with recording and statistics.

The same object backs the Textual app and ``--headless``; the app only reads it on a timer.
"""
from __future__ import annotations

import asyncio
import csv
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone

import orjson

from feeds.clock import WallClock
from feeds.connection import Connection, StateChange
from feeds.events import Candle, Control
from feeds.pipeline import Pipeline
from feeds.symbols import SymbolMap
from feeds.venues import VENUES
from strategy.halt import TradingHalt
from strategy.risk import RiskConfig, RiskEngine
from strategy.scalper import ScalperParams, ScalpStrategy
from strategy.signal_log import SignalLog

DEFAULT_SYMBOLS = ("BTCUSDT", "ETHUSDT", "SOLUSDT")


@dataclass
class SessionConfig:
    mode: str = "live"  # live | demo | replay
    venues: list[str] = field(default_factory=lambda: ["BINANCE"])
    symbols: list[str] = field(default_factory=lambda: list(DEFAULT_SYMBOLS))
    interval: str = "1m"
    network: str = "production"
    endpoints: dict[str, list[str]] = field(default_factory=dict)  # venue -> WebSocket bases
    rest_endpoints: dict[str, str] = field(default_factory=dict)
    record_path: str | None = None  # None: no recording
    halted: bool = False
    stale_after_s: float = 5.0
    strategy: dict = field(default_factory=dict)
    risk: dict = field(default_factory=dict)


def iso_utc(ns: int) -> str:
    return datetime.fromtimestamp(ns / 1e9, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class Session:
    def __init__(self, config: SessionConfig, clock=None) -> None:
        self.config = config
        self.clock = clock or WallClock()
        self.symbol_map = SymbolMap()
        self.pipeline = Pipeline(self.clock, interval=config.interval)
        self.connections: dict[str, Connection] = {}
        self.recorder = None
        self.halt = TradingHalt(self.clock, halted=config.halted, cause="started halted" if config.halted else "")
        self.strategy = ScalpStrategy(ScalperParams.from_dict(config.strategy))
        self.risk = RiskEngine(RiskConfig.from_dict(config.risk))
        self.signal_log = SignalLog()
        self.hidden: set[str] = set()  # symbols the operator hid from view
        self.started_ns = 0
        self.stopped_ns = 0
        self.pipeline.closed_candle_listeners.append(self._on_closed_candle)
        self.pipeline.control_listeners.append(self._on_control)
        self.halt.listeners.append(self._on_halt_record)

    # -- symbols ------------------------------------------------------------------------------
    def venue_symbols(self, venue: str) -> list[str]:
        v = VENUES[venue]
        return [v.venue_symbol(self.symbol_map, s) for s in self.config.symbols]

    def toggle_symbol(self, symbol: str) -> bool:
        """Hide or show a symbol; returns True when it is now visible."""
        if symbol in self.hidden:
            self.hidden.discard(symbol)
            visible = True
        else:
            self.hidden.add(symbol)
            visible = False
        if self.recorder is not None:
            self.recorder.write(self.clock.now_ns(), "operator", "toggle",
                                f'{{"symbol":"{symbol}","visible":{str(visible).lower()}}}')
        return visible

    # -- lifecycle ----------------------------------------------------------------------------
    def endpoints_for(self, venue: str) -> list[str]:
        return self.config.endpoints.get(venue) or VENUES[venue].endpoints[self.config.network]

    async def start(self) -> None:
        self.started_ns = self.clock.now_ns()
        if self.config.record_path:
            from feeds.recording import Recorder
            self.recorder = Recorder(self.config.record_path, header={
                "mode": self.config.mode, "venues": self.config.venues, "symbols": self.config.symbols,
                "interval": self.config.interval})
        for venue in self.config.venues:
            v = VENUES[venue]
            name = f"{venue}#1"
            syms = self.venue_symbols(venue)
            interval = self.config.interval
            urls = [v.connect_url(base, syms, interval) for base in self.endpoints_for(venue)]
            conn = Connection(name, venue, urls, self.pipeline.feed,
                              subscribe_frames=lambda v=v, syms=syms: v.subscribe_frames(syms, interval),
                              recorder=self.recorder, subscribed_on_open=v.subscribed_on_open,
                              on_state=self._on_state)
            self.pipeline.attach(name, venue, v.make_codec(self.symbol_map))
            self.connections[name] = conn
            conn.start()

    async def stop(self) -> None:
        await asyncio.gather(*(c.stop() for c in self.connections.values()), return_exceptions=True)
        self.stopped_ns = self.clock.now_ns()
        if self.recorder is not None:
            self.recorder.close()

    async def wait_connected(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.connections and all(c.state == "subscribed" for c in self.connections.values()):
                return True
            await asyncio.sleep(0.02)
        return False

    # -- listeners ----------------------------------------------------------------------------
    def _on_closed_candle(self, candle: Candle) -> None:
        signal = self.strategy.on_candle(candle, self.clock.now_ns())
        if signal is not None:
            self.signal_log.add(self.risk.evaluate(signal, self.halt.halted))

    def _on_control(self, conn_name: str, ev: Control) -> None:
        conn = self.connections.get(conn_name)
        if conn is None:
            return
        if ev.what == "response":
            conn.mark_subscribed()

    def _on_state(self, conn: Connection, change: StateChange) -> None:
        pass

    def _on_halt_record(self, record) -> None:
        if self.recorder is not None:
            self.recorder.write(record.at_ns, "operator", record.action, orjson.dumps(record.to_json()).decode())

    # -- output -------------------------------------------------------------------------------
    def stats(self) -> dict:
        p = self.pipeline
        end = self.stopped_ns or self.clock.now_ns()
        return {
            "mode": self.config.mode,
            "duration_s": round((end - self.started_ns) / 1e9, 3) if self.started_ns else 0.0,
            "messages": p.messages,
            "events": dict(p.events),
            "rejected": p.rejected_summary(),
            "duplicates": p.duplicates,
            "gaps": p.total_gaps,
            "backfilled_candles": p.backfilled_candles,
            "reconnects": sum(c.reconnects for c in self.connections.values()),
            "halted": self.halt.halted,
            "halts": [r.to_json() for r in self.halt.history if r.action == "halt"],
            "signals": dict(self.signal_log.counts),
            "latency_ms": {v: t.latency.summary() for v, t in sorted(p.telemetry.items())},
            "connections": {c.venue: {"state": c.state, "messages": c.messages, "reconnects": c.reconnects,
                                      "url": c.url} for c in self.connections.values()},
            "books": {},
            "aggregate": {},
        }

    def closed_candles(self) -> list[Candle]:
        out = []
        for (venue, symbol), st in sorted(self.pipeline.state.symbols.items()):
            for interval, series in sorted(st.candles.items()):
                out.extend(series.closed_bars())
        return out

    def export_candles(self, path: str) -> int:
        rows = self.closed_candles()
        with open(path, "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f, lineterminator="\n")
            w.writerow(["venue", "symbol", "interval", "open_time", "open", "high", "low", "close", "volume",
                        "trades", "source"])
            for c in rows:
                w.writerow([c.venue, c.symbol, c.interval, iso_utc(c.open_ns), repr(c.open), repr(c.high),
                            repr(c.low), repr(c.close), repr(c.volume), c.trades, c.source])
        return len(rows)
