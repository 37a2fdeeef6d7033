"""``clearterm web``: the app in a browser, through textual-serve (one app process per browser tab).

``clearterm web [--port P] [-- COMMAND FLAGS...]`` serves ``clearterm demo`` by default; anything after
``--`` is the command line of the app to serve (``-- live --symbols BTCUSDT``, ``-- attach nats://...``),
and flags alone (``-- --symbols BTCUSDT``) go to demo. It listens on 127.0.0.1 only.
"""
from __future__ import annotations

import shlex
import sys


def app_command(rest: list[str]) -> str:
    """The shell command textual-serve runs per browser session."""
    from tui.runtime.cli import COMMANDS
    args = list(rest)
    if args and args[0] == "--":
        args = args[1:]
    if not args or args[0] not in COMMANDS:
        args = ["demo", *args]
    return shlex.join([sys.executable, "-m", "tui.runtime.cli", *args])


def run_web(args) -> int:
    from tui.runtime.cli import COMMANDS, UsageError
    try:
        from textual_serve.server import Server
    except ImportError:
        raise UsageError("clearterm web needs textual-serve: pip install 'clearterm[web]'") from None
    command = app_command(args.rest)
    served = shlex.split(command)[3]
    if served in ("web", "serve", "sim", "bench", "recordings", "collect") or served not in COMMANDS:
        raise UsageError(f"web: cannot serve {served!r}; serve an app command such as demo, live, replay or attach")
    print(f"clearterm: serving `{' '.join(shlex.split(command)[3:])}` on http://127.0.0.1:{args.port}", flush=True)
    Server(command, host="127.0.0.1", port=args.port, title="clearterm").serve()
    return 0
