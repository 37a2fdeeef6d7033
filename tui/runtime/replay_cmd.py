"""``clearterm replay PATH...``: recordings back through the pipeline, in the app or headless."""
from __future__ import annotations

import asyncio
import gc

from feeds.drivers.replay import RecordingError


def parse_speed(text: str) -> float | None:
    from tui.runtime.cli import UsageError
    if text == "max":
        return None
    try:
        speed = float(text)
    except ValueError:
        raise UsageError(f"--speed: expected a factor such as 1, 10 or max, got {text!r}") from None
    if not 0.01 <= speed <= 10_000:
        raise UsageError(f"--speed: {text} is out of range (0.01 ... 10000, or max)")
    return speed


def run_replay(args) -> int:
    from tui.runtime.cli import UsageError
    from tui.runtime.session import SessionConfig
    speed = parse_speed(args.speed)
    fmt = None if args.format == "auto" else args.format
    from tui.runtime.cli import apply_alert_flags
    alerts = SessionConfig(alert_desktop=True)
    apply_alert_flags(alerts, args)
    options = {"alerts": alerts.alerts, "alert_webhook": alerts.alert_webhook, "alert_command": alerts.alert_command}
    paths = [str(p) for p in args.paths]
    bus_copy = None
    if any(p.startswith("nats://") for p in paths):
        if len(paths) != 1:
            raise UsageError("replay: a nats:// URL is replayed alone, without recordings")
        from tui.runtime.bus_replay import fetch_to_temporary
        from tui.runtime.cli import _nats_url
        try:
            url = _nats_url(paths[0])
        except Exception as exc:  # noqa: BLE001 - argparse's ArgumentTypeError: a bad URL
            raise UsageError(str(exc)) from None
        paths = [bus_copy := fetch_to_temporary(url, args.from_time)]
    elif args.from_time:
        raise UsageError("--from: only for nats:// (a recording's own time is sought with the DVR)")
    try:
        return _replay(args, paths, fmt, speed, options)
    finally:
        if bus_copy is not None:
            import os
            os.unlink(bus_copy)


def _replay(args, paths: list[str], fmt: str | None, speed: float | None, options: dict) -> int:
    from tui.runtime.cli import UsageError, apply_ui_flags, finish, run_app, run_headless
    from tui.runtime.config import ConfigError, UISettings, load
    from tui.runtime.replay_runner import ReplayRunner
    from tui.runtime.session import SessionConfig
    try:
        runner = ReplayRunner(paths, fmt, speed, overrides=options)
    except RecordingError as exc:
        raise UsageError(str(exc)) from None
    runner.metrics_port = args.metrics_port
    ui = UISettings()
    try:
        load(SessionConfig(), ui, args.config)  # only the [ui] and [keys] tables matter to a replay
    except ConfigError as exc:
        raise UsageError(str(exc)) from None
    if args.headless:
        # Fewer, larger young collections, as the app sets for itself: at 700 the records of each block read
        # were promoted through every generation and collected there (200k frames: 416 collections, 0.17 s
        # of CPU, three of them full); at 10 000 nearly everything dies young (1 collection, 3 ms).
        thresholds = gc.get_threshold()
        gc.set_threshold(10_000, 50, 50)
        try:
            asyncio.run(run_headless(runner, args.duration))
        finally:
            gc.set_threshold(*thresholds)
    else:
        apply_ui_flags(ui, args)
        run_app(runner, ui, args.duration)
    assert runner.report is not None, "set when the runner built its first session"
    for warning in runner.report.warnings:
        import sys
        print(f"clearterm: warning: {warning}", file=sys.stderr)
    finish(runner.session, args)
    return 0
