"""Prometheus metrics: a collector that reads a Session at scrape time, and a tiny /metrics server.

Pull only: nothing runs per message. ``SessionMetrics.collect()`` reads the pipeline's counters, the
connections, the halt and the signal log when Prometheus scrapes, on the app's own event loop (the
server is an asyncio server in the same loop, so a scrape never reads state another thread is writing).

Latencies are exposed as histograms, not summaries: Prometheus can aggregate histogram buckets and take
``histogram_quantile`` over any ``rate()`` window, while a summary's precomputed whole-run quantiles
can be neither aggregated nor windowed. The buckets are folded from LatencyStats' 5 %-wide log
buckets into fixed ``le`` bounds; a LatencyStats bucket straddling a bound counts at the next bound,
so the figures err at most one 5 % bucket on the slow side.
"""
from __future__ import annotations

import asyncio
from bisect import bisect_right
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry

from feeds.core.feed_core import CONNECTING, DISCONNECTED, FAILED, RECONNECTING, STALE, SUBSCRIBED
from feeds.core.latency import BUCKET_EDGES_MS, LatencyStats
from feeds.core.perp import perp_figures
from strategy.halt import BY_VALUES

if TYPE_CHECKING:
    from tui.runtime.session import Session

SessionGetter = Callable[[], "Session | None"]  # None while no session runs

CONNECTION_STATES = (DISCONNECTED, CONNECTING, SUBSCRIBED, STALE, RECONNECTING, FAILED)
SIGNAL_STATUSES = ("approved", "suppressed", "rejected")  # "total" is their sum: not a status
LATENCY_BOUNDS_MS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500,
                     1000, 2500, 5000, 10000)

# For each bound: how many leading LatencyStats buckets lie wholly at or below it.
_BOUND_CUTS = [(repr(float(b)), bisect_right(BUCKET_EDGES_MS, b)) for b in LATENCY_BOUNDS_MS]


def histogram_buckets(stats: LatencyStats) -> tuple[list[tuple[str, float]], float]:
    """LatencyStats -> cumulative Prometheus buckets (ending with +Inf) and the sum in ms."""
    counts = stats.counts
    buckets = [(le, float(sum(counts[:cut]))) for le, cut in _BOUND_CUTS]
    buckets.append(("+Inf", float(stats.n)))
    return buckets, float(stats.total_ms)


class SessionMetrics(Collector):
    """Reads ``session_getter()`` at each scrape (replay may swap sessions); owns its own registry."""

    def __init__(self, session_getter: SessionGetter) -> None:
        self.session_getter = session_getter
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(self)

    def exposition(self) -> bytes:
        """The text exposition format of every metric, as served on /metrics."""
        return generate_latest(self.registry)

    def collect(self) -> Iterator[Metric]:
        session = self.session_getter()
        yield GaugeMetricFamily("clearterm_up", "1 while a session is running and readable, else 0",
                                value=0 if session is None else 1)
        if session is None:
            return
        p = session.pipeline
        now_ns = session.clock.now_ns()

        messages = CounterMetricFamily("clearterm_messages", "Raw frames received or replayed",
                                       labels=["venue"])
        for venue, tel in sorted(p.telemetry.items()):
            messages.add_metric([venue], tel.messages)
        yield messages

        events = CounterMetricFamily("clearterm_events", "Accepted events by kind (design.md counting rules)",
                                     labels=["kind"])
        for kind, n in p.events.items():
            events.add_metric([kind], n)
        yield events

        rejected = CounterMetricFamily("clearterm_rejected", "Rejected frames or events by reason",
                                       labels=["reason"])
        for reason, n in sorted(p.rejected.items()):
            rejected.add_metric([reason], n)
        yield rejected

        yield CounterMetricFamily("clearterm_duplicates", "Duplicate events dropped", value=p.duplicates)
        yield CounterMetricFamily("clearterm_gaps", "Sequence or trade-id gaps seen", value=p.total_gaps)
        yield CounterMetricFamily("clearterm_backfilled_candles", "Closed candles fetched by REST backfill",
                                  value=p.backfilled_candles)

        connections = session.connections_summary()
        reconnects = CounterMetricFamily("clearterm_reconnects", "Reconnects per venue", labels=["venue"])
        states = GaugeMetricFamily("clearterm_connection_state",
                                   "1 for the venue's current connection state, 0 for the others",
                                   labels=["venue", "state"])
        for venue, conn in sorted(connections.items()):
            reconnects.add_metric([venue], conn["reconnects"])
            current = conn["state"]
            for state in CONNECTION_STATES if current in CONNECTION_STATES else (*CONNECTION_STATES, current):
                states.add_metric([venue, state], 1 if state == current else 0)
        yield reconnects
        yield states

        silence = GaugeMetricFamily("clearterm_seconds_since_last_message",
                                    "Seconds since the stream's last accepted event (or since it was "
                                    "expected, if none came), on the session clock", labels=["venue", "symbol"])
        last_ns = {key: st.last_recv_ns for key, st in p.state.symbols.items() if st.last_recv_ns}
        for (venue, symbol, _kind), stream in p.watchdog.streams.items():
            last_ns.setdefault((venue, symbol), stream.recv_ns)
        for (venue, symbol), recv_ns in sorted(last_ns.items()):
            silence.add_metric([venue, symbol], max(0, now_ns - recv_ns) / 1e9)
        yield silence

        latency = HistogramMetricFamily("clearterm_latency_ms", "Exchange event time to processed, ms",
                                        labels=["venue"])
        lag = HistogramMetricFamily("clearterm_processing_lag_ms", "Local receive to processed, ms",
                                    labels=["venue"])
        for venue, tel in sorted(p.telemetry.items()):
            latency.add_metric([venue], *histogram_buckets(tel.latency))
            lag.add_metric([venue], *histogram_buckets(tel.processing))
        yield latency
        yield lag

        halt = session.halt
        yield GaugeMetricFamily("clearterm_halted", "1 while trading is halted", value=1 if halt.halted else 0)
        halts = CounterMetricFamily("clearterm_halts", "Trading halts by who set them", labels=["by"])
        by_count = dict.fromkeys(BY_VALUES, 0)
        for record in halt.history:
            if record.action == "halt":
                by_count[record.by] = by_count.get(record.by, 0) + 1
        for by, n in by_count.items():
            halts.add_metric([by], n)
        yield halts

        signals = CounterMetricFamily("clearterm_signals", "Strategy signals by risk decision",
                                      labels=["status"])
        counts = session.signal_log.counts
        for status in SIGNAL_STATUSES:
            signals.add_metric([status], counts.get(status, 0))
        yield signals
        yield from perp_metrics(session.pipeline.state, session.clock.now_ns())


def perp_metrics(state, now_ns: int):
    """Funding rate, basis to spot and liquidated notional of every perpetual in ``state``."""
    funding = GaugeMetricFamily("clearterm_funding_rate", "Funding rate per period, a fraction",
                                labels=["venue", "symbol"])
    basis = GaugeMetricFamily("clearterm_basis_bps", "Perpetual mid minus spot mid, in bps of spot",
                              labels=["venue", "symbol"])
    for row in perp_figures(state, now_ns):
        funding.add_metric([row.venue, row.symbol], row.funding_rate)
        if row.basis_bps is not None:
            basis.add_metric([row.venue, row.symbol], row.basis_bps)
    yield funding
    yield basis
    notional = CounterMetricFamily("clearterm_liquidation_notional",
                                   "Notional (price x size) of the liquidations held in the log, by side",
                                   labels=["venue", "symbol", "side"])
    sums: dict[tuple[str, str, str], float] = {}
    for liq in state.liquidations:
        key = (liq.venue, liq.symbol, liq.side)
        sums[key] = sums.get(key, 0.0) + liq.price * liq.size
    for key, value in sorted(sums.items()):
        notional.add_metric(list(key), value)
    yield notional


REQUEST_TIMEOUT_S = 10.0  # a client that has not sent its request head by then is dropped
MAX_HEADER_LINES = 100
_REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed",
            500: "Internal Server Error"}


class MetricsServer:
    """GET /metrics over HTTP/1.0 (one request per connection), on the running event loop."""

    def __init__(self, metrics: SessionMetrics) -> None:
        self.metrics = metrics
        self.scrapes = 0
        self._server: asyncio.Server | None = None
        self._clients: dict[asyncio.StreamWriter, asyncio.Task[None]] = {}  # open connections and their handlers

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("metrics server is not started")
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    async def start(self, host: str, port: int) -> None:
        self._server = await asyncio.start_server(self._handle, host, port, limit=8192)

    async def stop(self) -> None:
        if self._server is None:
            return
        self._server.close()
        handlers = list(self._clients.values())
        for writer in self._clients:
            writer.transport.abort()  # a pending read sees EOF; cancelling the handler would log an error
        await asyncio.gather(*handlers, return_exceptions=True)
        await self._server.wait_closed()
        self._server = None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None  # start_server runs every handler as a task
        self._clients[writer] = task
        try:
            status, body, extra = await self._respond(reader)
            if status:
                head = [f"HTTP/1.0 {status} {_REASONS[status]}", f"Content-Length: {len(body)}",
                        "Connection: close", *extra]
                if status != 200:
                    head.append("Content-Type: text/plain; charset=utf-8")
                writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)
                await writer.drain()
        except (ConnectionError, OSError, TimeoutError, asyncio.IncompleteReadError, ValueError):
            pass  # the client went away, stalled or sent an over-long line: nothing to answer
        finally:
            del self._clients[writer]
            writer.close()
            try:
                await writer.wait_closed()
            except (ConnectionError, OSError):
                pass

    async def _respond(self, reader: asyncio.StreamReader) -> tuple[int, bytes, list[str]]:
        """(status, body, extra headers); status 0 when the client closed before a request line."""
        async with asyncio.timeout(REQUEST_TIMEOUT_S):
            line = await reader.readline()
            for _ in range(MAX_HEADER_LINES):
                header = await reader.readline()
                if header in (b"\r\n", b"\n", b""):
                    break
        if not line.strip():
            return 0, b"", []
        parts = line.decode("latin-1").split()
        if len(parts) != 3 or not parts[2].startswith("HTTP/"):
            return 400, b"bad request\n", []
        method, target = parts[0], parts[1]
        if target.partition("?")[0] != "/metrics":
            return 404, b"not found: try /metrics\n", []
        if method != "GET":
            return 405, b"method not allowed\n", ["Allow: GET"]
        try:
            body = self.metrics.exposition()
        except Exception as exc:  # noqa: BLE001 - a failed scrape must not take the app down
            return 500, f"scrape failed: {type(exc).__name__}: {exc}\n".encode(), []
        self.scrapes += 1
        return 200, body, [f"Content-Type: {CONTENT_TYPE_LATEST}"]


async def start_metrics_server(session_getter: SessionGetter, port: int,
                               host: str = "127.0.0.1") -> MetricsServer:
    """Serve /metrics for ``session_getter()`` on ``host:port`` (0: a free port; see ``.port``)."""
    server = MetricsServer(SessionMetrics(session_getter))
    await server.start(host, port)
    return server
