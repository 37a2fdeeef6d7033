"""A running clearterm session: connections -> pipeline -> strategy, with recording and statistics.

The same object backs the Textual app and ``--headless``; the app only reads it on a timer.
"""
from __future__ import annotations

import csv
import logging
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import orjson

from feeds.api import Feed
from feeds.clock import WallClock
from feeds.core.arbitrage import ArbitrageDetector, SpikeDetector
from feeds.core.feed_core import Happening, HappeningLog
from feeds.core.resample import Resampler
from feeds.core.watchdog import OK, STALE, ZOMBIE, StreamHealth
from feeds.drivers.connection import ReconnectPolicy
from feeds.events import Candle
from feeds.symbols import SymbolMap
from feeds.venues import DEFAULT_VENUES
from strategy.alerts import Alert, AlertEngine, MarketSample, Observation
from strategy.halt import ClockSkewMonitor, ReconnectStormDetector, TradingHalt
from strategy.paper import PaperConfig, PaperExecutor
from strategy.risk import APPROVED, RiskConfig, RiskEngine
from strategy.scalper import ScalperParams, ScalpStrategy
from strategy.signal_log import SignalLog
from tui.runtime.decimals import column_decimals, fixed
from tui.runtime.paper_market import BookTouch, venue_fees_bps

if TYPE_CHECKING:
    from feeds.drivers.bus import BusPublisher, BusReader, RecordTee
    from feeds.drivers.recording import Recorder

log = logging.getLogger("clearterm.session")
DEFAULT_SYMBOLS = ("BTCUSDT", "ETHUSDT", "SOLUSDT")


@dataclass
class SessionConfig:
    mode: str = "live"  # live | demo | replay
    venues: list[str] = field(default_factory=lambda: list(DEFAULT_VENUES))
    symbols: list[str] = field(default_factory=lambda: list(DEFAULT_SYMBOLS))
    interval: str = "1m"
    network: str = "production"
    endpoints: dict[str, list[str]] = field(default_factory=dict)  # venue -> WebSocket bases
    rest_endpoints: dict[str, str] = field(default_factory=dict)
    record_path: str | None = None  # None: no recording
    halted: bool = False
    stale_after_s: float = 5.0
    stale_reconnect_s: float | None = 30.0  # reconnect a connection that stayed stale this long
    startup_bars: int = 200  # closed bars fetched when a connection first subscribes (0: none)
    reconnect_limit: int | None = None  # reconnect attempts before giving up (None: forever)
    dead_letter_path: str | None = None  # every rejected frame with its reason (None: not kept on disk)
    quote_aliases: dict[str, str] | None = None  # quotes shown as another (USDT -> USD); None: the default
    strategy: dict = field(default_factory=dict)
    risk: dict = field(default_factory=dict)
    paper: dict = field(default_factory=dict)  # PaperConfig settings
    intervals: list[str] = field(default_factory=list)  # every timeframe shown; the others built from ``interval``
    alerts: list[str] = field(default_factory=list)  # alert rules (strategy/alerts.py), already checked
    alert_webhook: str | None = None  # http(s) URL: one POST per alert
    alert_command: str | None = None  # shell command run per alert, the alert in CLEARTERM_ALERT_*
    alert_desktop: bool = True  # notify-send, where it exists
    publish_url: str | None = None  # nats://HOST:PORT: publish every recorded record to this bus


def iso_utc(ns: int) -> str:
    return datetime.fromtimestamp(ns / 1e9, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Session:
    def __init__(self, config: SessionConfig, clock=None) -> None:
        self.config = config
        self.clock = clock or WallClock()
        self.feed = Feed(config.venues, config.symbols, config.interval, endpoints=config.endpoints,
                         network=config.network, clock=self.clock, rest_endpoints=config.rest_endpoints,
                         policy=ReconnectPolicy(max_attempts=config.reconnect_limit),
                         startup_bars=config.startup_bars, dead_letter_path=config.dead_letter_path,
                         stale_after_s=config.stale_after_s, stale_reconnect_s=config.stale_reconnect_s,
                         symbol_map=SymbolMap(config.quote_aliases))
        self.pipeline = self.feed.pipeline
        self.connections = self.feed.connections
        self.recorder: Recorder | RecordTee | None = None
        self.bus: BusPublisher | BusReader | None = None  # a BusPublisher (--publish) or, attached, the BusReader: has stats()
        self.halt = TradingHalt(self.clock, halted=config.halted, cause="started halted" if config.halted else "")
        self.strategy = ScalpStrategy(ScalperParams.from_dict(config.strategy))
        self.risk = RiskEngine(RiskConfig.from_dict(config.risk))
        self.signal_log = SignalLog()
        self.paper = PaperExecutor(self.risk, self.halt, BookTouch(self.feed.books, self.pipeline.state),
                                   PaperConfig.from_dict(config.paper),
                                   **venue_fees_bps(config.venues))
        self.pipeline.event_listeners.append(self.paper.on_event)
        self.hidden: set[str] = set()  # symbols the operator hid from view
        self.started_ns = 0
        self.stopped_ns = 0
        self.pipeline.closed_candle_listeners.append(self._on_closed_candle)
        self.halt.listeners.append(self._on_halt_record)
        self.watchdog = self.feed.core.watchdog
        self.feed.listeners.append(self._on_happening)
        self.feed.tick_listeners.append(self._live_tick)
        self.stream_events: list = []  # health changes of streams, newest last (bounded)
        self.final_connections: dict | None = None
        self.final_resilience: dict | None = None
        self.core = self.feed.core  # the one owner of market state, books, aggregates and happenings
        self.aggregator = self.core.aggregator
        self.arbitrage = ArbitrageDetector()
        self.spikes = SpikeDetector()
        self.market_log: deque[tuple[int, str]] = deque(maxlen=500)  # arbitrage and spike lines
        self.storm = ReconnectStormDetector()  # automatic halts besides stale streams
        self.skew: dict[str, ClockSkewMonitor] = {}
        self.core.clock_listeners.append(self._observe_clock)
        from feeds.venues import VENUES
        from tui.runtime.alert_delivery import AlertDispatcher
        self.alerts = AlertEngine(unify=self.unify, known_venues=tuple(VENUES))
        for rule in config.alerts:  # checked by the CLI and config already; a repeated rule counts once
            error = self.add_alert(rule, record=False)
            if error is not None:
                log.warning("alert rule skipped: %s", error)
        self.dispatcher = AlertDispatcher(config.alert_webhook, config.alert_command, config.alert_desktop)
        self.alert_listeners: list = []  # called with each Alert, fired here or replayed
        self.resamplers: dict[tuple[str, str, str], Resampler] = {}  # (venue, symbol, interval) -> builder
        self._resample_again: set[tuple[str, str, str]] = set()  # base bars landed out of order: rebuild

    # -- symbols ------------------------------------------------------------------------------
    @property
    def symbol_map(self):
        return self.feed.symbol_map

    def venue_symbols(self, venue: str) -> list[str]:
        return self.feed.venue_symbols(venue)

    async def add_symbol(self, text: str) -> str | None:
        """Subscribe to a symbol on the running connections; None, or a one-line reason why not."""
        error = await self.feed.add_symbol(text)
        if error is None:
            self.config.symbols = list(self.feed.symbols)
            self.record_operator("add_symbol", {"symbol": text.strip().upper()})
        return error

    async def remove_symbol(self, text: str) -> str | None:
        error = await self.feed.remove_symbol(text)
        if error is None:
            self.config.symbols = list(self.feed.symbols)
            self.record_operator("remove_symbol", {"symbol": text.strip().upper()})
        return error

    def toggle_symbol(self, symbol: str) -> bool:
        """Hide or show a symbol; returns True when it is now visible."""
        visible = symbol in self.hidden
        if visible:
            self.hidden.discard(symbol)
        else:
            self.hidden.add(symbol)
        self.record_operator("toggle", {"symbol": symbol, "visible": visible})
        return visible

    def unify(self, symbol: str) -> str:
        """A symbol as typed (BTCUSDT, BTC-USD, BTC/USD) -> its unified name."""
        return symbol if "/" in symbol else self.symbol_map.unified("", symbol)

    def add_alert(self, text: str, record: bool = True) -> str | None:
        """Add an alert rule; None, or a one-line reason why not."""
        from strategy.alerts import AlertRuleError
        try:
            rule = self.alerts.add(text)
        except AlertRuleError as exc:
            return str(exc)
        if record:
            self.record_operator("alert_rule_add", {"rule": rule.text})
        return None

    def remove_alert(self, text: str) -> str | None:
        rule = self.alerts.remove(text)
        if rule is None:
            return f"no alert rule {text.strip()!r}"
        self.record_operator("alert_rule_remove", {"rule": rule.text})
        return None

    def deliver_alert(self, alert: Alert, replayed: bool = False) -> None:
        """Keep, record and send one alert (``replayed``: read from a recording, already counted nowhere)."""
        if replayed:
            self.alerts.record(alert)
        self.market_log.append((alert.at_ns, f"ALERT {alert.detail}"))
        if self.recorder is not None:
            self.recorder.write(alert.at_ns, "operator", "alert", orjson.dumps(alert.to_json()).decode())
        self.dispatcher.submit(alert)
        for fn in self.alert_listeners:
            fn(alert)

    def _check_alerts(self, now_ns: int) -> None:
        if not self.alerts.rules:
            return
        samples = []
        arb: dict[str, tuple[float, str]] = {}
        for agg in self.aggregates.values():
            for v in agg.venues:
                st = self.pipeline.state.symbols.get((v.venue, v.symbol))
                funding = st.mark.funding_rate if st is not None and st.mark is not None else None
                samples.append(MarketSample(v.venue, v.symbol, agg.unified, v.last, v.bid, v.ask, v.stale, funding))
            if sum(1 for v in agg.venues if not v.stale and v.bid is not None and v.ask is not None) >= 2:
                found = self.arbitrage.opportunities(agg)
                best = max(found.items(), key=lambda kv: kv[1][3], default=None)
                arb[agg.unified] = (best[1][3], f"{best[0][0]}>{best[0][1]}") if best else (0.0, "none")
        skew = {v: m.median_ms for v, m in self.skew.items() if m.median_ms is not None}
        last = self.halt.history[-1].cause if self.halt.history else ""
        obs = Observation(now_ns, samples, arb, [(k[0], k[1]) for k in self.watchdog.unhealthy()],
                          self.pipeline.total_gaps, skew, self.halt.halted, last)
        for alert in self.alerts.evaluate(obs):
            self.deliver_alert(alert)

    def record_operator(self, kind: str, payload: dict) -> None:
        if self.recorder is not None:
            self.recorder.write(self.clock.now_ns(), "operator", kind, orjson.dumps(payload).decode())

    # -- lifecycle ----------------------------------------------------------------------------
    async def start(self) -> None:
        self.started_ns = self.clock.now_ns()
        header = {"mode": self.config.mode, "venues": self.config.venues, "symbols": self.config.symbols,
                  "interval": self.config.interval, "settings": self.replay_settings()}
        if self.config.record_path:
            from feeds.drivers.recording import Recorder
            self.recorder = self.feed.recorder = Recorder(self.config.record_path, header=header,
                                                          gzip_rotated=True)
        if self.config.publish_url:  # the bus gets every record the recording gets
            from feeds.drivers.bus import BusPublisher, RecordTee
            publisher = self.bus = BusPublisher(self.config.publish_url, dict(header, started_ns=self.started_ns))
            self.recorder = self.feed.recorder = RecordTee(self.recorder, publisher)
            await publisher.start()
        if self.recorder is not None:
            for record in self.halt.history:  # e.g. "started halted", made before the recorder existed
                self._on_halt_record(record)
            if self.alerts.rules:
                self.record_operator("alert_rules", {"rules": [r.text for r in self.alerts.rules]})
        await self.feed.start()

    def replay_settings(self) -> dict:
        """The settings a replay needs to compute what this session computed (the recording's header)."""
        cfg = self.config
        return {"stale_after_s": cfg.stale_after_s, "strategy": dict(cfg.strategy), "risk": dict(cfg.risk),
                "paper": dict(cfg.paper), "quote_aliases": cfg.quote_aliases, "intervals": list(cfg.intervals)}

    def _live_tick(self, now_ns: int) -> Iterator[None]:
        """The Feed's tick (it has already done the pipeline's part), in slices the live loop reads frames between."""
        yield from self.check_slices(now_ns)
        if self.recorder is not None:
            self.recorder.flush()  # at least every 100 ms even when no frame arrives

    async def stop(self) -> None:
        self.final_connections = self.connections_summary()  # the states while running, not "stopped"
        self.final_resilience = self.feed.resilience_stats()  # the same moment: one truth in stats()
        self.record_operator("stop", {"connections": self.final_connections})
        await self.feed.stop()
        await self.dispatcher.stop()
        self.stopped_ns = self.clock.now_ns()
        if self.recorder is not None:
            self.recorder.close()
        if self.bus is not None and hasattr(self.bus, "stop"):
            await self.bus.stop()

    # -- health -------------------------------------------------------------------------------
    def tick(self, now_ns: int) -> None:
        """The periodic work on the session's clock, for replay's recorded time (live: the Feed ticks)."""
        self.feed.core.tick(now_ns)
        self.check(now_ns)

    def check(self, now_ns: int) -> None:
        """Arbitrage and spike lines from the aggregates, then alerts, ten times a second of the session's
        clock (the feed core's tick, just before, recomputed them, ran the watchdog and reported its
        happenings)."""
        for _ in self.check_slices(now_ns):
            pass

    def check_slices(self, now_ns: int, per_slice: int = 10) -> Iterator[None]:
        """``check``, yielding after every ``per_slice`` unified symbols and before the alerts."""
        log = self.market_log
        for n, agg in enumerate(list(self.aggregates.values()), 1):
            if not n % per_slice:
                yield
            for ev in self.arbitrage.update(agg, now_ns):
                log.append((now_ns, ev.describe()))
            for view in agg.venues:
                if view.price is not None and not view.stale:
                    spike = self.spikes.update(view.venue, agg.unified, view.price, now_ns)
                    if spike is not None:
                        log.append((now_ns, spike.describe()))
        if self.resamplers:
            self._forming_higher_bars()
        if self.strategy.behind:
            self._warm_strategy()
        yield
        self._check_alerts(now_ns)  # after the core's watchdog and halts, so this tick's stale streams and halts count

    @property
    def aggregates(self) -> dict:
        """Unified symbol -> Aggregate, as of the feed core's last tick."""
        return self.core.aggregates

    @property
    def happenings(self) -> HappeningLog:
        return self.core.happenings

    def _on_happening(self, h: Happening) -> None:
        """The automatic halts and log lines the feed core's happenings call for."""
        if h.kind in (STALE, ZOMBIE, "fresh"):
            kind, _, detail = h.detail.partition(": ")
            self.stream_events.append((h.at_ns, StreamHealth(h.venue, h.symbol, kind, h.kind if h.kind != "fresh"
                                                             else OK, detail)))
            del self.stream_events[:-200]
            if h.kind != "fresh":
                self.halt.halt(f"stale feed {h.venue} {h.symbol}", by="auto")
        elif h.kind == "reconnect" and self.storm.record(h.at_ns):
            self.halt.halt(f"reconnect storm: more than {self.storm.max_reconnects} reconnects in "
                           f"{self.storm.window_ns // 1_000_000_000} s", by="auto")
        elif h.kind == "candle_mismatch":
            self.market_log.append((h.at_ns, f"{h.venue} {h.symbol} {h.detail}"))

    def _observe_clock(self, venue: str, exch_ns: int, recv_ns: int) -> None:
        monitor = self.skew.get(venue) or self.skew.setdefault(venue, ClockSkewMonitor())
        if monitor.observe(exch_ns, recv_ns):
            cause = f"clock skew {venue}: {monitor.median_ms:+.0f} ms from the exchange"
            self.core.happened("skew", venue, "", cause, at_ns=recv_ns)
            self.halt.halt(cause, by="auto")

    # -- listeners ----------------------------------------------------------------------------
    def _on_closed_candle(self, candle: Candle) -> None:
        if candle.interval == self.config.interval:
            self._resample(candle)
        signal = self.strategy.on_candle(candle, self.clock.now_ns())
        if signal is not None:
            decision = self.risk.evaluate(signal, self.halt.halted)
            self.signal_log.add(decision)
            if decision.status == APPROVED:
                self.paper.submit(decision)

    def _warm_strategy(self) -> None:
        """Series whose backfill landed behind live bars: indicators rebuilt from every closed bar held
        (once per tick, however many bars the REST answer held)."""
        symbols = self.pipeline.state.symbols
        for key in list(self.strategy.behind):
            venue, symbol, interval = key
            st = symbols.get((venue, symbol))
            series = st.candles.get(interval) if st is not None else None
            self.strategy.warm(key, series.bars if series is not None else ())

    def _resample(self, candle: Candle) -> None:
        """The higher timeframes from each closed base bar (backfilled ones included, so they fill at start)."""
        for target in self.config.intervals:
            if target == candle.interval:
                continue
            key = (candle.venue, candle.symbol, target)
            builder = self.resamplers.get(key) or self.resamplers.setdefault(key, Resampler(candle.interval, target))
            late = builder.late
            bars = builder.add(candle)
            if builder.late != late:
                self._resample_again.add(key)
            if bars:
                series = self.pipeline.state.get(candle.venue, candle.symbol, candle.unified).series(target)
                for bar in bars:
                    series.apply(bar)

    def _forming_higher_bars(self) -> None:
        symbols = self.pipeline.state.symbols
        for venue, symbol, target in self._resample_again:  # once per tick, not per late bar
            st = symbols.get((venue, symbol))
            base = st.candles.get(self.config.interval) if st is not None else None
            if st is None or base is None:
                continue
            builder = self.resamplers[(venue, symbol, target)] = Resampler(self.config.interval, target)
            series = st.series(target)
            for bar in base.bars:  # bars already built are duplicates there; the missing ones go in
                for built in builder.add(bar):
                    series.apply(built)
        self._resample_again.clear()
        for (venue, symbol, target), builder in self.resamplers.items():
            st = symbols.get((venue, symbol))
            if st is None:
                continue
            base = st.candles.get(self.config.interval)
            forming = builder.forming(base.forming if base is not None else None)
            series = st.series(target)
            if forming is not None and forming != series.forming and forming.open_ns > series.last_closed_open_ns:
                series.forming = forming
                series.version += 1

    def _on_halt_record(self, record) -> None:
        self.core.happened(record.action, "", "", f"by {record.by}: {record.cause}", at_ns=record.at_ns)
        log.warning("trading %s by %s: %s", "halted" if record.action == "halt" else "resumed", record.by,
                    record.cause)
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
            "paper": self.paper.stats(),
            "latency_ms": {v: t.latency.summary() for v, t in sorted(p.telemetry.items())},
            "connections": self.final_connections or self.connections_summary(),
            "books": self.feed.books.stats(),
            "candle_checks": {venue: {"compared": c.compared, "mismatches": c.mismatch_count}
                              for venue, c in sorted(self.pipeline.candle_checks.items())},
            "resilience": self.final_resilience or self.feed.resilience_stats(),
            "aggregate": self.aggregator.stats(self.pipeline.state, end),
            "alerts": self.alerts.stats(self.dispatcher.stats()),
            **({"bus": self.bus.stats()} if self.bus is not None else {}),
        }

    def connections_summary(self) -> dict:
        """Per venue: the busiest connection's state and URL, messages and reconnects summed."""
        out: dict[str, dict] = {}
        now = self.clock.now_ns()
        for conn in sorted(self.connections.values(), key=lambda c: c.messages, reverse=True):
            entry = out.get(conn.venue)
            if entry is None:
                next_ns = getattr(conn, "next_attempt_ns", 0)
                down = conn.state in ("connecting", "reconnecting", "disconnected", "failed")
                out[conn.venue] = {"state": conn.state, "messages": conn.messages,
                                   "reconnects": conn.reconnects, "url": conn.url,
                                   # why it is down now (a blip it recovered from is in reconnects)
                                   "last_error": (getattr(conn, "last_error", "") or None) if down else None,
                                   "next_attempt_in_s": round(max(0, next_ns - now) / 1e9, 1) if next_ns else None}
            else:
                entry["messages"] += conn.messages
                entry["reconnects"] += conn.reconnects
        return out

    def closed_candles(self) -> list[Candle]:
        out: list[Candle] = []
        for _key, st in sorted(self.pipeline.state.symbols.items()):
            for _interval, series in sorted(st.candles.items()):
                out.extend(series.closed_bars())
        return out

    def export_candles(self, path: str) -> int:
        rows = self.closed_candles()
        with open(path, "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f, lineterminator="\n")
            w.writerow(["venue", "symbol", "interval", "open_time", "open", "high", "low", "close", "volume",
                        "trades", "source"])
            places = _export_precision(rows)  # the venue's precision per symbol, without float noise
            for c in rows:
                price, size = places[c.venue, c.symbol]
                w.writerow([c.venue, c.symbol, c.interval, iso_utc(c.open_ns), fixed(c.open, price),
                            fixed(c.high, price), fixed(c.low, price), fixed(c.close, price), fixed(c.volume, size),
                            c.trades, c.source])
        return len(rows)


def _export_precision(rows: list[Candle]) -> dict[tuple[str, str], tuple[int, int]]:
    """(venue, symbol) -> decimal places of its prices and of its volumes, as the venue gave them."""
    groups: dict[tuple[str, str], list[Candle]] = {}
    for c in rows:
        groups.setdefault((c.venue, c.symbol), []).append(c)
    return {key: (column_decimals(v for c in cs for v in (c.open, c.high, c.low, c.close)),
                  column_decimals(c.volume for c in cs)) for key, cs in groups.items()}
