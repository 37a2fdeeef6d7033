"""The ``clearterm`` command line: live, demo, sim, replay and bench.

Bad arguments and unreadable input give one line on stderr and exit status 2.
"""
from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from pathlib import Path

import orjson

from tui.runtime.config import COLOR_SYSTEMS, NOTIFY, THEMES, UISettings
from tui.runtime.session import DEFAULT_SYMBOLS, SessionConfig

COMMANDS = ("live", "demo", "sim", "replay", "bench")
DEMO_INTERVAL = "1s"
DEMO_VENUES = ("BINANCE", "COINBASE")  # the simulator serves both, moving together with a small basis  # the demo's bars close every second so that candles visibly fill in at once


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
    return venue.strip().upper(), url.strip()


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


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"not a port number (0-65535): {text!r}")
    return value


def _add_session_options(p: argparse.ArgumentParser, live: bool) -> None:
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
        p.add_argument("--network", choices=("production", "testnet", "us"),
                       help="Binance network: production (data-stream.binance.vision), testnet, or binance.us")
    _add_run_options(p)
    p.add_argument("--config", type=Path, help="TOML configuration file")
    p.add_argument("--halted", action="store_true", help="start with trading halted")
    p.add_argument("--no-record", action="store_true", help="do not record this session")
    p.add_argument("--record", type=Path, metavar="PATH", help="record to this file")


def _add_run_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--headless", action="store_true", help="no TUI: run the same pipeline and exit")
    p.add_argument("--duration", type=_positive_float, metavar="S", help="stop after S seconds")
    p.add_argument("--json", action="store_true", help="print one JSON object of run statistics at the end")
    p.add_argument("--export-candles", type=Path, metavar="FILE.csv", help="write every closed candle at the end")
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


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="clearterm", description="A terminal monitor for live crypto market data.",
                     epilog="Examples: clearterm demo | clearterm --symbols BTCUSDT,ETHUSDT --interval 1m | "
                            "clearterm demo --headless --duration 5 --json")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)
    _add_session_options(sub.add_parser("live", help="live feeds from the exchanges (the default)"), live=True)
    _add_session_options(sub.add_parser("demo", help="the app against the built-in simulator on 127.0.0.1"),
                         live=False)
    sim = sub.add_parser("sim", help="run the exchange simulator alone until interrupted")
    sim.add_argument("--port", type=int, default=0, help="TCP port on 127.0.0.1 (default: a free one)")
    sim.add_argument("--seed", type=int, default=7, help="seed of the price process")
    replay = sub.add_parser("replay", help="replay recordings through the same pipeline")
    replay.add_argument("paths", nargs="+", type=Path, metavar="PATH")
    replay.add_argument("--speed", default="1", help="replay speed: a factor (0.25 ... 100) or max")
    replay.add_argument("--format", choices=("auto", "clearterm", "cryptofeed"), default="auto")
    _add_run_options(replay)
    bench = sub.add_parser("bench", help="run the benchmarks")
    bench.add_argument("--json", action="store_true", help="print one JSON object")
    bench.add_argument("--quick", action="store_true", help="smaller corpora, for a smoke run")
    return parser


def parse_args(argv: list[str]) -> argparse.Namespace:
    if not argv or argv[0] not in COMMANDS and argv[0] not in ("-h", "--help"):
        argv = ["live", *argv]
    return build_parser().parse_args(argv)


def session_config(args: argparse.Namespace) -> tuple[SessionConfig, UISettings]:
    """Defaults, then the config file, then CLEARTERM_* variables, then flags."""
    import os

    from feeds.venues.binance import INTERVALS
    from feeds.drivers.recording import default_recording_path
    from feeds.venues import VENUES
    from strategy.halt import halt_from_env
    from tui.runtime.config import ConfigError, load, state_dir

    mode = args.command
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
    if cfg.interval not in INTERVALS:
        raise UsageError(f"unknown interval {cfg.interval!r}; use one of {' '.join(INTERVALS)}")
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
    apply_alert_flags(cfg, args)
    cfg.halted = cfg.halted or args.halted or halt_from_env(os.environ)
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
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        try:
            loop.add_signal_handler(sig, stop.set)
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
    if args.json:
        sys.stdout.write(orjson.dumps(session.stats()).decode() + "\n")


def run_session(args: argparse.Namespace) -> int:
    from tui.runtime.runner import Runner
    cfg, ui = session_config(args)
    runner = Runner(cfg)
    runner.metrics_port = ui.metrics_port
    if args.headless:
        asyncio.run(run_headless(runner, args.duration))
    else:
        run_app(runner, ui, args.duration)
    finish(runner.session, args)
    return 0


def run_app(runner, ui, duration: float | None) -> None:
    """The Textual app, with the terminal settings that must be in place before it starts."""
    import os
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
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        args = parse_args(argv)
        if args.command == "sim":
            return run_sim(args)
        if args.command == "bench":
            from tui.bench.bench import run_bench
            return run_bench(args)
        if args.command == "replay":
            from tui.runtime.replay_cmd import run_replay
            return run_replay(args)
        return run_session(args)
    except UsageError as exc:
        print(f"clearterm: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
