"""The ``clearterm`` command line: live, demo, sim, replay and bench.

Bad arguments and unreadable input give one line on stderr and exit status 2.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import re
import signal
import sys
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import orjson

# Nothing heavy at the top: ``clearterm demo`` starts its simulator child before importing the session
# (see main); each command imports what it needs.
if TYPE_CHECKING:
    from feeds.api import Feed
    from feeds.drivers.rest import RestResponse
    from tui.runtime.config import UISettings
    from tui.runtime.demo_sim import SimulatorProcess
    from tui.runtime.session import Session, SessionConfig

COMMANDS = ("live", "demo", "sim", "replay", "bench", "recordings", "collect", "attach", "serve", "web")
REALTIME_ENV_FLAG = "FLAG_REALTIME"
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
ENVIRONMENT_HELP = """\
environment:
  FLAG_TRADING_HALTED=1   start with trading halted (like --halted)
  FLAG_REALTIME=0         forbid connections to real exchanges: live refuses to start (exit 2);
                          demo, replay and sim still work. Unset or 1: allowed
  CLEARTERM_<KEY>=VALUE   any config key, e.g. CLEARTERM_SYMBOLS=BTCUSDT,ETHUSDT CLEARTERM_INTERVAL=5m

examples:
  clearterm demo
  clearterm --symbols BTCUSDT,ETHUSDT --interval 1m
  clearterm demo --headless --duration 5 --json
  clearterm recordings --prune-older-than 7d"""
DEMO_INTERVAL = "1s"


class UsageError(Exception):
    """A bad argument or unreadable input: reported as one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, not argparse's usage block
        raise UsageError(message)


def _csv_list(text: str) -> list[str]:
    items = [s.strip() for s in text.split(",") if s.strip()]
    if not items:
        raise argparse.ArgumentTypeError("expected a comma-separated list")
    return items


def _venue_url(text: str) -> tuple[str, str]:
    venue, sep, url = text.partition("=")
    if not sep or not venue or not url:
        raise argparse.ArgumentTypeError(f"expected VENUE=URL, got {text!r}")
    url = url.strip()
    parts = urlsplit(url)
    try:
        parts.port  # noqa: B018 - raises on a port outside 0-65535
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number (0-65535) in {url!r}") from None
    if parts.scheme not in ("ws", "wss", "http", "https") or not parts.hostname:
        raise argparse.ArgumentTypeError(f"expected a ws://, wss://, http:// or https:// URL, got {url!r}")
    return venue.strip().upper(), url


def _nats_url(text: str) -> str:
    parts = urlsplit(text.strip())
    try:
        parts.port  # noqa: B018 - raises on a port outside 0-65535
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number (0-65535) in {text!r}") from None
    if parts.scheme not in ("nats", "tls") or not parts.hostname:
        raise argparse.ArgumentTypeError(f"expected a nats://HOST:PORT URL, got {text!r}")
    return text.strip()


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be positive: {text!r}")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive: {text!r}")
    return value


def _export_path(text: str) -> Path:
    path = Path(text)
    if path.suffix.lower() == ".parquet":
        from tui.runtime.paper_export import parquet_available
        if not parquet_available():
            raise argparse.ArgumentTypeError(f"{text}: writing Parquet needs pyarrow (pip install pyarrow), "
                                             "or use .csv")
    return path


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"not a port number (0-65535): {text!r}")
    return value


_AGE_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_SIZE_UNITS = {"": 1, "B": 1, "K": 1024, "M": 1024 ** 2, "G": 1024 ** 3, "T": 1024 ** 4}


def _age(text: str) -> float:
    """``90m``, ``12h``, ``7d``, ``2w`` -> seconds."""
    number, unit = text.strip()[:-1], text.strip()[-1:].lower()
    try:
        value = float(number) * _AGE_UNITS[unit]
    except (KeyError, ValueError):
        raise argparse.ArgumentTypeError(f"expected an age such as 90m, 12h or 7d, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be positive: {text!r}")
    return value


def _size(text: str) -> int:
    """``500M``, ``2G``, ``2GB``, ``1048576`` -> bytes (powers of 1024)."""
    t = text.strip().upper().removesuffix("IB").removesuffix("B")
    unit = t[-1:] if t[-1:].isalpha() else ""
    try:
        value = float(t[: len(t) - len(unit)]) * _SIZE_UNITS[unit]
    except (KeyError, ValueError):
        raise argparse.ArgumentTypeError(f"expected a size such as 500M or 2G, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be positive: {text!r}")
    return int(value)


def _add_session_options(p: argparse._ActionsContainer, live: bool) -> None:  # a parser or a group
    from tui.runtime.session import DEFAULT_SYMBOLS
    p.add_argument("--venues", type=_csv_list, help="venues to show, e.g. binance,coinbase")
    p.add_argument("--symbols", type=_csv_list,
                   help=f"symbols, e.g. {','.join(DEFAULT_SYMBOLS)} (Binance style or BTC/USD)")
    p.add_argument("--interval", help="candle interval: 1s 1m 3m 5m 15m 30m 1h ... (live default 1m, demo 1s)")
    p.add_argument("--intervals", type=_csv_list, metavar="1m,5m,1h",
                   help="several timeframes: the shortest is subscribed, the others built from its bars; [ ] switch")
    if live:
        p.add_argument("--endpoint", type=_venue_url, action="append", default=[], metavar="VENUE=URL",
                       help="WebSocket base URL for a venue, e.g. binance=ws://127.0.0.1:9000")
        p.add_argument("--rest-endpoint", type=_venue_url, action="append", default=[], metavar="VENUE=URL",
                       help="REST base URL for a venue (default: the WebSocket host over http(s))")
        p.add_argument("--network", choices=("production", "testnet", "us", "tr"),
                       help="Binance network: production (data-stream.binance.vision), testnet (spot and futures), "
                            "binance.us or Binance TR")
    _add_run_options(p)
    p.add_argument("--config", type=Path, help="TOML configuration file")
    p.add_argument("--halted", action="store_true", help="start with trading halted")
    p.add_argument("--no-record", action="store_true", help="do not record this session")
    p.add_argument("--record", type=Path, metavar="PATH", help="record to this file")
    p.add_argument("--publish", type=_nats_url, metavar="nats://HOST:PORT",
                   help="also publish every recorded record to this NATS JetStream server")


def _add_run_options(p: argparse._ActionsContainer) -> None:
    from tui.runtime.config import COLOR_SYSTEMS, NOTIFY, THEMES
    p.add_argument("--headless", action="store_true", help="no TUI: run the same pipeline and exit")
    p.add_argument("--duration", type=_positive_float, metavar="S", help="stop after S seconds")
    p.add_argument("--json", action="store_true", help="print one JSON object of run statistics at the end")
    p.add_argument("--export-candles", type=Path, metavar="FILE.csv", help="write every closed candle at the end")
    p.add_argument("--export-fills", type=_export_path, metavar="FILE.csv",
                   help="write every paper fill at the end (FILE.parquet: Parquet, needs pyarrow)")
    p.add_argument("--export-equity", type=_export_path, metavar="FILE.csv",
                   help="write the paper equity curve at the end (FILE.parquet: Parquet, needs pyarrow)")
    p.add_argument("--no-mouse", action="store_true", help="do not capture the mouse (tmux, copy/paste)")
    p.add_argument("--theme", choices=THEMES, help="colour theme; ansi-dark/ansi-light use the terminal's palette")
    p.add_argument("--color", choices=COLOR_SYSTEMS,
                   help="colour system; OpenSSH drops COLORTERM, so say truecolor when the terminal has it")
    p.add_argument("--fps", type=_positive_int, help="cap frames per second (slow links)")
    p.add_argument("--notify", choices=NOTIFY, help="on an automatic halt: bell, osc9 (desktop), both, none")
    p.add_argument("--metrics-port", type=_port, metavar="PORT", help="serve Prometheus metrics on 127.0.0.1:PORT")
    p.add_argument("--alert", action="append", default=[], metavar="RULE",
                   help='alert rule, repeatable, e.g. "BTCUSDT price > 65000" (see README, Alerts)')
    p.add_argument("--alert-webhook", metavar="URL", help="POST each alert as JSON to this http(s) URL")
    p.add_argument("--alert-command", metavar="CMD", help="run this shell command per alert (CLEARTERM_ALERT_* set)")


def version() -> str:
    from importlib import metadata  # 40 ms of start-up: loaded only when --version asks
    try:
        return metadata.version("clearterm")
    except metadata.PackageNotFoundError:
        return "unknown"


class _VersionAction(argparse.Action):
    """argparse's "version" action, looking the version up only when the flag is given."""

    def __init__(self, option_strings: list[str], dest: str) -> None:
        super().__init__(option_strings, argparse.SUPPRESS, nargs=0, default=argparse.SUPPRESS,
                         help="show program's version number and exit")

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: object,
                 option_string: str | None = None) -> None:
        sys.stdout.write(f"clearterm {version()}\n")
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="clearterm", formatter_class=argparse.RawDescriptionHelpFormatter,
                     usage="clearterm [COMMAND] [OPTIONS]",
                     description="A terminal monitor for live crypto market data.\n\n"
                                 "With no command, clearterm runs live: `clearterm [OPTIONS]` is "
                                 "`clearterm live [OPTIONS]`,\nso the options of live below work without "
                                 "the word. `clearterm COMMAND --help` shows a command's options.",
                     epilog=ENVIRONMENT_HELP)
    parser.add_argument("--version", action=_VersionAction)
    # shown in the top-level help only: parse_args hands these to live
    _add_session_options(parser.add_argument_group("options of live (the default command)"), live=True)
    sub = parser.add_subparsers(dest="command", parser_class=_Parser, title="commands", prog="clearterm")
    _add_session_options(sub.add_parser("live", help="live feeds from the exchanges (the default)"), live=True)
    _add_session_options(sub.add_parser("demo", help="the app against the built-in simulator on 127.0.0.1"),
                         live=False)
    sim = sub.add_parser("sim", help="run the exchange simulator alone until interrupted")
    sim.add_argument("--port", type=_port, default=0, help="TCP port on 127.0.0.1 (default: a free one)")
    sim.add_argument("--seed", type=int, default=7, help="seed of the price process")
    replay = sub.add_parser("replay", help="replay recordings through the same pipeline")
    replay.add_argument("paths", nargs="+", metavar="PATH",
                        help="a clearterm recording (its rotated parts -001, -002... and .gz files come "
                             "with it), or a cryptofeed capture: a directory, or the prefix of its files (captures/EXCHANGE_ID); "
                             "or nats://HOST:PORT: what the bus holds")
    replay.add_argument("--from", dest="from_time", metavar="TIME",
                        help="with nats://: start at this time (2026-11-27T19:30:00Z, UTC) or this long ago (10m)")
    replay.add_argument("--speed", default="1", help="replay speed: a factor (0.01 ... 10000) or max")
    replay.add_argument("--format", choices=("auto", "clearterm", "cryptofeed"), default="auto",
                        help="the recording's format: clearterm (JSON Lines, gzip or not), cryptofeed (raw "
                             "capture), or auto: detected from each file's first line (default)")
    replay.add_argument("--config", type=Path, help="TOML configuration file (its [ui] and [keys] tables)")
    _add_run_options(replay)
    recordings = sub.add_parser("recordings", help="list recordings (path, size, span, venues) and prune them")
    recordings.add_argument("--dir", type=Path, metavar="DIR",
                            help="where recordings are (default: $XDG_DATA_HOME/clearterm/recordings)")
    recordings.add_argument("--prune-older-than", type=_age, metavar="AGE",
                            help="delete recordings that ended before AGE ago, e.g. 12h, 7d, 90m")
    recordings.add_argument("--max-total-size", type=_size, metavar="SIZE",
                            help="delete the oldest recordings until the rest fit in SIZE, e.g. 500M, 2G")
    recordings.add_argument("--dry-run", action="store_true", help="say what pruning would delete, delete nothing")
    collect = sub.add_parser("collect", help="a headless collector: live (or --demo) feeds published to NATS")
    _add_session_options(collect, live=True)
    collect.add_argument("--demo", action="store_true", help="collect from the built-in simulator")
    attach = sub.add_parser("attach", help="view what a collector publishes on a NATS JetStream server")
    attach.add_argument("url", type=_nats_url, metavar="nats://HOST:PORT")
    attach.add_argument("--venues", type=_csv_list, help="only these of the collector's venues")
    attach.add_argument("--symbols", type=_csv_list, help="the symbols to show (default: the collector's)")
    attach.add_argument("--since", type=_positive_float, metavar="S",
                        help="start S seconds back (default: the collector session's start)")
    attach.add_argument("--wait", type=_positive_float, default=5.0, metavar="S",
                        help="wait this long for a collector to publish (default 5)")
    attach.add_argument("--config", type=Path, help="TOML configuration file (its [ui] and [keys] tables)")
    _add_run_options(attach)
    serve = sub.add_parser("serve", help="serve recordings as the venues' own WebSocket protocols on 127.0.0.1")
    serve.add_argument("paths", nargs="+", type=Path, metavar="RECORDING")
    serve.add_argument("--format", choices=("auto", "clearterm", "cryptofeed"), default="auto",
                       help="the recording's format (default: detected)")
    serve.add_argument("--port", type=_port, default=0, help="TCP port on 127.0.0.1 (default: a free one)")
    serve.add_argument("--speed", default="1", help="pace: a factor of recorded time (0.01 ... 10000) or max")
    web = sub.add_parser("web", help="the app in a browser (textual-serve): demo, or the command after --")
    web.add_argument("--port", type=_port, default=8000, help="TCP port on 127.0.0.1 (default 8000)")
    web.add_argument("rest", nargs=argparse.REMAINDER, metavar="-- COMMAND FLAGS",
                     help="the app's command line, e.g. -- live --symbols BTCUSDT (default: demo)")
    bench = sub.add_parser("bench", help="run the benchmarks")
    bench.add_argument("--json", action="store_true", help="print one JSON object")
    bench.add_argument("--quick", action="store_true", help="smaller corpora, for a smoke run")
    return parser


def parse_args(argv: list[str]) -> argparse.Namespace:
    if not argv or argv[0] not in COMMANDS and argv[0] not in ("-h", "--help", "--version"):
        argv = ["live", *argv]
    return build_parser().parse_args(argv)


def session_config(args: argparse.Namespace) -> tuple[SessionConfig, UISettings]:
    """Defaults, then the config file, then CLEARTERM_* variables, then flags."""

    from feeds.drivers.recording import default_recording_path
    from feeds.intervals import INTERVALS
    from feeds.venues import DEMO_VENUES, VENUES
    from strategy.halt import halt_from_env
    from tui.runtime.config import ConfigError, UISettings, load, state_dir
    from tui.runtime.session import SessionConfig

    mode = args.command
    if mode == "collect":
        mode = "demo" if args.demo else "live"
        if not args.publish:
            raise UsageError("collect: --publish nats://HOST:PORT is required")
    cfg = SessionConfig(mode=mode, record_path=str(default_recording_path()),
                        dead_letter_path=str(state_dir() / "dead-letter.jsonl"))
    if mode == "demo":
        cfg.interval = DEMO_INTERVAL
        cfg.venues = list(DEMO_VENUES)
    ui = UISettings()
    try:
        load(cfg, ui, getattr(args, "config", None))
    except ConfigError as exc:
        raise UsageError(str(exc)) from None
    if args.venues:
        cfg.venues = [v.upper() for v in args.venues]
    if args.symbols:
        cfg.symbols = list(args.symbols)
    if args.interval:
        cfg.interval = args.interval
    if args.intervals:
        cfg.intervals = list(args.intervals)
    if cfg.intervals:
        for iv in cfg.intervals:
            if iv not in INTERVALS:
                raise UsageError(f"unknown interval {iv!r} in --intervals; use some of {' '.join(INTERVALS)}")
        if not args.interval:
            cfg.interval = min(cfg.intervals, key=INTERVALS.__getitem__)
        cfg.intervals = sorted(dict.fromkeys([cfg.interval, *cfg.intervals]), key=INTERVALS.__getitem__)
    if cfg.interval not in INTERVALS:  # the file and the environment were checked by load()
        raise UsageError(f"--interval: unknown interval {cfg.interval!r}; use one of {' '.join(INTERVALS)}")
    from feeds.core.resample import ResampleError, Resampler
    for iv in cfg.intervals:
        if iv != cfg.interval:
            try:
                Resampler(cfg.interval, iv)
            except ResampleError as exc:
                raise UsageError(f"--intervals: cannot build {iv} from {cfg.interval}: {exc}") from None
    for venue in cfg.venues:
        if venue not in VENUES:
            raise UsageError(f"unknown venue {venue!r}; known: {', '.join(v.lower() for v in VENUES)}")
    if mode == "live":
        if args.network:
            cfg.network = args.network
        for venue, url in args.endpoint:
            cfg.endpoints.setdefault(venue, []).append(url)
        for venue, url in args.rest_endpoint:
            cfg.rest_endpoints[venue] = url
        check_realtime_allowed(cfg, os.environ)
    apply_alert_flags(cfg, args)
    cfg.halted = cfg.halted or args.halted or halt_from_env(os.environ)
    cfg.publish_url = args.publish
    if args.no_record:
        cfg.record_path = None
    elif args.record:
        cfg.record_path = str(args.record)
    apply_ui_flags(ui, args)
    return cfg, ui


def apply_alert_flags(cfg, args: argparse.Namespace) -> None:
    """``--alert`` rules (added to the config's) and delivery flags, each rule checked here."""
    from feeds.venues import VENUES
    from strategy.alerts import AlertRuleError, parse_rule
    cfg.alerts = [*cfg.alerts, *args.alert]
    for rule in cfg.alerts:
        try:
            parse_rule(rule, tuple(VENUES))
        except AlertRuleError as exc:
            raise UsageError(str(exc)) from None
    if args.alert_webhook:
        cfg.alert_webhook = args.alert_webhook
    if cfg.alert_webhook and not cfg.alert_webhook.startswith(("http://", "https://")):
        raise UsageError(f"--alert-webhook: expected an http:// or https:// URL, got {cfg.alert_webhook!r}")
    if args.alert_command:
        cfg.alert_command = args.alert_command


def realtime_allowed(environ: Mapping[str, str]) -> bool:
    """FLAG_REALTIME: unset or 1 allows connections to real exchanges, 0 forbids them."""
    raw = environ.get(REALTIME_ENV_FLAG)
    if raw is None:
        return True
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on", ""):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise UsageError(f"environment variable {REALTIME_ENV_FLAG}: expected 0 or 1, got {raw!r}")


def real_hosts(cfg: SessionConfig) -> list[str]:
    """The hosts that are not this machine among the endpoints a live session would use."""
    from feeds.venues import VENUES
    hosts: list[str] = []
    for venue in cfg.venues:
        known = VENUES[venue].endpoints
        urls = list(cfg.endpoints.get(venue) or known.get(cfg.network) or known["production"])
        if venue in cfg.rest_endpoints:
            urls.append(cfg.rest_endpoints[venue])
        for url in urls:
            host = urlsplit(url).hostname or ""
            if host not in LOOPBACK_HOSTS and host not in hosts:
                hosts.append(host)
    return hosts


def check_realtime_allowed(cfg: SessionConfig, environ: Mapping[str, str]) -> None:
    if not realtime_allowed(environ):
        hosts = real_hosts(cfg)
        if hosts:
            raise UsageError(f"{REALTIME_ENV_FLAG}=0 forbids connections to real exchanges ({', '.join(hosts)}); "
                             f"use clearterm demo, or --endpoint on 127.0.0.1")


def check_symbols(cfg: SessionConfig) -> list[str]:
    """Refuse symbols a venue does not list (UsageError); returns warnings for listings not fetched.

    Demo: against what the simulator lists. Live: each venue's listing over REST, as the symbol picker does.
    """
    from feeds.api import Feed
    from feeds.sim.market import BASE_PRICES
    from feeds.symbols import SymbolMap
    from feeds.venues import DEMO_VENUES, VENUES
    from tui.runtime.runner import DEMO_QUOTES, simulator_lists

    feed = Feed(cfg.venues, cfg.symbols, cfg.interval, endpoints=dict(cfg.endpoints), network=cfg.network,
                rest_endpoints=dict(cfg.rest_endpoints), symbol_map=SymbolMap(cfg.quote_aliases), backfill=False)
    if cfg.mode == "demo":
        priced = VENUES[DEMO_VENUES[0]]  # the simulator prices its market in this venue's names
        for symbol in cfg.symbols:
            if not simulator_lists(priced.venue_symbol(feed.symbol_map, symbol)):
                venue = cfg.venues[0]
                shown = _shown_symbol(VENUES[venue].venue_symbol(feed.symbol_map, symbol), symbol)
                raise UsageError(f"{shown} is not listed on {venue} "
                                 f"(the demo lists {' '.join(BASE_PRICES)} against {' or '.join(DEMO_QUOTES)})")
        return []
    return _check_listings(feed)


def _shown_symbol(venue_symbol: str, typed: str) -> str:
    """The venue's name for a symbol, or what was typed when the venue has none ("FOOBAR", not "FOOBAR-")."""
    return typed.upper() if venue_symbol.endswith("-") else venue_symbol


LISTING_TIMEOUT_S = 5.0


def _fetch_all(urls: list[str], timeout: float) -> list[RestResponse | None]:
    """GET every URL at once; None for one with no answer in ``timeout`` (a name lookup can hang past
    urllib's timeout when offline: daemon threads, so a hung one never holds the program)."""
    from feeds.drivers import rest
    results: list[RestResponse | None] = [None] * len(urls)

    def fetch(i: int, url: str) -> None:
        results[i] = rest.get_blocking(url, timeout)

    threads = [threading.Thread(target=fetch, args=(i, url), daemon=True) for i, url in enumerate(urls)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + timeout + 0.5
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    return results


def _check_listings(feed: Feed) -> list[str]:
    from feeds.venues import VENUES

    checks = []
    for venue in feed.venues:
        for symbol in feed.symbols:
            vs = VENUES[venue].venue_symbol(feed.symbol_map, symbol)
            request = VENUES[venue].listing_request(vs)
            if request is not None:
                checks.append((venue, symbol, vs, feed.rest_base(venue) + request.path))
    answers = _fetch_all([url for *_, url in checks], LISTING_TIMEOUT_S)
    unlisted: dict[str, list[str]] = {}
    warnings: dict[str, str] = {}
    for (venue, symbol, vs, _), resp in zip(checks, answers):
        if resp is None:
            warnings.setdefault(venue, f"cannot fetch {venue}'s listing to check the symbols (no answer in "
                                       f"{LISTING_TIMEOUT_S:g} s); going on")
        elif resp.status in (400, 404):
            unlisted.setdefault(venue, []).append(_shown_symbol(vs, symbol))
        elif resp.status != 200:
            why = re.sub(r"^URLError: <urlopen error (.*)>$", r"\1", resp.error) or f"HTTP {resp.status}"
            warnings.setdefault(venue, f"cannot fetch {venue}'s listing to check the symbols ({why}); going on")
    if unlisted:
        venue, names = next(iter(unlisted.items()))
        raise UsageError(f"{', '.join(names)} {'is' if len(names) == 1 else 'are'} not listed on {venue}")
    return list(warnings.values())


def apply_ui_flags(ui, args: argparse.Namespace) -> None:
    if args.no_mouse:
        ui.mouse = False
    for name in ("theme", "color", "fps", "notify", "metrics_port"):
        value = getattr(args, name, None)
        if value is not None:
            setattr(ui, name, value)


async def run_headless(runner, duration: float | None) -> None:
    from tui.runtime.logsetup import setup_logging
    setup_logging()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    signals = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

    def on_signal() -> None:
        stop.set()
        for sig in signals:  # a second signal, while stopping, ends the process at once
            loop.remove_signal_handler(sig)
    for sig in signals:
        try:
            loop.add_signal_handler(sig, on_signal)
        except (NotImplementedError, RuntimeError):
            pass
    try:
        await runner.start()
    except OSError as exc:  # e.g. the metrics port is taken
        await runner.stop()
        raise UsageError(f"cannot start: {exc.strerror or exc}") from None
    try:
        await runner.run_for(duration, stop)
    finally:
        await runner.stop()


def finish(session, args) -> None:
    if args.export_candles:
        session.export_candles(str(args.export_candles))
    if args.export_fills or args.export_equity:
        from tui.runtime.paper_export import export_equity, export_fills
        for path, export in ((args.export_fills, export_fills), (args.export_equity, export_equity)):
            if path:
                try:
                    export(session.paper, path)
                except OSError as exc:
                    raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from None
    if args.json:
        sys.stdout.write(orjson.dumps(session.stats()).decode() + "\n")


def run_session(args: argparse.Namespace, early_sim: SimulatorProcess | None = None) -> int:
    from tui.runtime.runner import Runner
    cfg, ui = session_config(args)
    for warning in check_symbols(cfg):
        print(f"clearterm: warning: {warning}", file=sys.stderr)
    runner = Runner(cfg, sim_process=True)
    runner.metrics_port = ui.metrics_port
    if early_sim is not None and cfg.mode == "demo":
        early_sim.spec = runner._sim_spec()  # the child keeps what it built if this is what it guessed
        early_sim.launch()  # sends the spec now: a wrong guess is rebuilt while this process imports the app
        runner.sim = early_sim
    runner.launch_simulator()  # the demo's history builds in the child while this process imports the app
    if args.headless or args.command == "collect":
        asyncio.run(run_headless(runner, args.duration))
        say_if_silent(runner.session)
    else:
        run_app(runner, ui, args.duration)
    finish(runner.session, args)
    say_where_recorded(runner.session)
    return 0


def say_if_silent(session: Session) -> None:
    """One line on stderr when not one frame came in the whole run, with each venue's last failure."""
    if session.pipeline.messages:
        return
    summary = session.final_connections or session.connections_summary()
    causes = "; ".join(f"{venue}: {entry.get('last_error') or entry['state']}" for venue, entry in summary.items())
    seconds = (session.stopped_ns - session.started_ns) / 1e9
    print(f"clearterm: warning: no data received in {seconds:.1f} s ({causes or 'no venues'})", file=sys.stderr)


def say_where_recorded(session: Session) -> None:
    """One line on stderr: where the recording went (the first part; the others follow it)."""
    recorder = session.recorder
    if recorder is None:
        return
    from tui.runtime.recordings_cmd import human_size
    files = recorder.files()
    if not files:  # publishing only
        return
    size = sum(f.stat().st_size for f in files if f.exists())
    more = f", {len(files)} parts" if len(files) > 1 else ""
    try:
        print(f"clearterm: recorded to {files[0]} ({human_size(size)}{more})", file=sys.stderr)
    except OSError:  # the terminal is gone (SSH dropped): the recording is whole all the same
        pass


def check_port_free(port: int | None, flag: str) -> None:
    """Before the app owns the terminal: a port we are to listen on must be free (one line, exit 2)."""
    import socket
    if not port:
        return
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as exc:
            raise UsageError(f"{flag}: cannot listen on 127.0.0.1:{port}: {exc.strerror or exc}") from None


def run_app(runner, ui, duration: float | None) -> None:
    """The Textual app, with the terminal settings that must be in place before it starts."""
    check_port_free(runner.metrics_port, "--metrics-port")
    if ui.color != "auto":
        os.environ["TEXTUAL_COLOR_SYSTEM"] = ui.color
    if ui.fps:
        os.environ["TEXTUAL_FPS"] = str(ui.fps)
    from tui.app import ClearTermApp
    ClearTermApp(runner, settings=ui, duration=duration).run(mouse=ui.mouse)


def run_sim(args: argparse.Namespace) -> int:
    from feeds.sim.server import serve_forever
    try:
        asyncio.run(serve_forever(port=args.port, seed=args.seed))
    except KeyboardInterrupt:
        pass
    except OSError as exc:  # the port is taken, or not ours to bind
        raise UsageError(f"cannot listen on 127.0.0.1:{args.port}: {exc.strerror or exc}") from None
    return 0


def run_serve(args: argparse.Namespace) -> int:
    from feeds.drivers.replay import RecordingError
    from feeds.sim.replay_server import serve_recording
    from tui.runtime.replay_cmd import parse_speed
    speed = parse_speed(args.speed)
    try:
        asyncio.run(serve_recording([str(p) for p in args.paths], None if args.format == "auto" else args.format,
                                    args.port, speed))
    except KeyboardInterrupt:
        pass
    except RecordingError as exc:
        raise UsageError(str(exc)) from None
    except OSError as exc:
        raise UsageError(f"cannot listen on 127.0.0.1:{args.port}: {exc.strerror or exc}") from None
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    early_sim = None
    if argv[:1] == ["demo"] and not {"-h", "--help"} & set(argv):
        # before any heavy import: the child builds the likely simulator while this process imports the
        # session and the app (it gets the real spec later and rebuilds only if the guess was wrong)
        from tui.runtime.demo_sim import SimulatorProcess
        early_sim = SimulatorProcess.speculate()
    try:
        args = parse_args(argv)
        if args.command == "sim":
            return run_sim(args)
        if args.command == "bench":
            from tui.bench.bench import run_bench
            return run_bench(args)
        if args.command == "recordings":
            from tui.runtime.recordings_cmd import run_recordings
            return run_recordings(args)
        if args.command == "web":
            from tui.runtime.web import run_web
            return run_web(args)
        if args.command == "serve":
            return run_serve(args)
        if args.command == "attach":
            from tui.runtime.attach import run_attach
            return run_attach(args)
        if args.command == "replay":
            from tui.runtime.replay_cmd import run_replay
            return run_replay(args)
        return run_session(args, early_sim)
    except UsageError as exc:
        print(f"clearterm: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    finally:
        if early_sim is not None:
            early_sim.abandon()  # not taken up by a session (a bad argument...): the child ends by itself


if __name__ == "__main__":
    # run as -m, this file is __main__: go through the imported module so that there is one UsageError
    from tui.runtime.cli import main as imported_main
    sys.exit(imported_main())
