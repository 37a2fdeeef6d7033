"""Python logging for the app: to ``$XDG_STATE_HOME/clearterm/clearterm.log``, never onto the screen.

While the Textual app owns the terminal, anything written to stderr would tear the display, and with no
handler at all Python's last-resort handler prints warnings there. ``setup_logging`` installs one rotating
file handler on the root logger, removes handlers that write to the terminal, and routes ``warnings``
into the log. Calling it again (another app in the same process) replaces its own handler.
"""
from __future__ import annotations

import logging
import logging.handlers
import os
import sys
from pathlib import Path

MAX_BYTES = 5 * 1024 * 1024
BACKUPS = 3
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def log_path(environ=os.environ) -> Path:
    """$XDG_STATE_HOME/clearterm/clearterm.log (``~/.local/state`` when unset or relative)."""
    base = environ.get("XDG_STATE_HOME") or ""
    root = Path(base) if base and os.path.isabs(base) else Path.home() / ".local" / "state"
    return root / "clearterm" / "clearterm.log"


class _ClearTermFileHandler(logging.handlers.RotatingFileHandler):
    """Marks the handler this module installed, so a second call can replace it."""


def setup_logging(path: Path | None = None, level: int = logging.INFO) -> Path | None:
    """Log to ``path`` (default: ``log_path()``); returns the path, or None when it cannot be opened."""
    path = Path(path) if path is not None else log_path()
    root = logging.getLogger()
    for handler in list(root.handlers):
        if isinstance(handler, _ClearTermFileHandler) or (
                type(handler) is logging.StreamHandler and handler.stream in (sys.stderr, sys.stdout,
                                                                             sys.__stderr__, sys.__stdout__)):
            root.removeHandler(handler)
            if isinstance(handler, _ClearTermFileHandler):
                handler.close()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handler = _ClearTermFileHandler(path, maxBytes=MAX_BYTES, backupCount=BACKUPS, encoding="utf-8")
    except OSError:
        root.addHandler(logging.NullHandler())  # no file: still nothing on the screen
        return None
    handler.setFormatter(logging.Formatter(FORMAT))
    root.addHandler(handler)
    if root.level == logging.NOTSET or root.level > level:
        root.setLevel(level)
    logging.captureWarnings(True)
    logging.getLogger("websockets").setLevel(logging.WARNING)  # per-connection chatter, not news
    return path
