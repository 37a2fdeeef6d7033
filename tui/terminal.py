"""The terminal under the app: the locale check, alert sequences, and what happens when it goes away.

When the pty closes (an SSH session drops, a tmux session or server is killed) writes and reads on it
fail with EIO. Textual's writer thread dies on the first failed write, and the UI thread then blocks
forever on its full queue: the process lingered for minutes. ``terminal_driver_class`` drops output to a
dead terminal instead, and ``TerminalWatch`` notices the terminal gone (SIGHUP, EIO on the terminal, a
failed read or write), lets the app stop and close its recording, and ends the process if that takes
longer than ``TERMINAL_GONE_EXIT_S``.
"""
from __future__ import annotations

import asyncio
import atexit
import errno
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable
from typing import TextIO

try:
    import termios
except ImportError:  # Windows: no termios, and no SSH hang-ups of this kind
    termios = None  # type: ignore[assignment]

from tui.widgets.safe_text import clean

log = logging.getLogger("clearterm.terminal")

TERMINAL_GONE_EXIT_S = 1.5  # from noticing the terminal gone to the process ending, at the latest
POLL_S = 0.1  # how often the terminal is checked for a hang-up
EXIT_TERMINAL_GONE = 129  # 128 + SIGHUP, as a shell reports a process ended by a hang-up


def locale_is_utf8(environ=os.environ) -> tuple[bool, str]:
    """(True, value) when the effective LC_ALL / LC_CTYPE / LANG names UTF-8; an unset locale is not."""
    for name in ("LC_ALL", "LC_CTYPE", "LANG"):
        value = environ.get(name)
        if value:
            lowered = value.lower()
            return ("utf-8" in lowered or "utf8" in lowered), value
    return False, ""


def terminal_gone(fd: int) -> bool:
    """True when ``fd`` is a terminal that hung up (EIO); its reads would only return EOF, forever."""
    if termios is None:
        return False
    try:
        termios.tcgetattr(fd)
    except termios.error as exc:
        return exc.args[0] == errno.EIO
    except OSError as exc:
        return exc.errno == errno.EIO
    return False


def alert_sequence(notify: str, cause: str, what: str = "HALTED") -> str:
    """What to write to the terminal on an automatic halt or an alert: BEL and/or an OSC 9 notification."""
    out = ""
    if notify in ("osc9", "both"):
        out += f"\x1b]9;clearterm: {what} — {clean(cause)}\x07"
    if notify in ("bell", "both"):
        out += "\x07"
    return out


class TerminalWatch:
    """Notices the terminal going away and makes sure the process then ends within ``exit_after_s``.

    Three things tell: SIGHUP (the app leads the terminal's session), the terminal answering EIO (polled
    in a thread, so that a stuck event loop is noticed too), and the driver failing to read or write it.
    ``on_gone`` runs once on the event loop and should stop the app quickly; if the process still runs
    ``exit_after_s`` later, ``last_words`` runs in the watch's thread and the process exits with 129.
    """

    def __init__(self, on_gone: Callable[[], object], last_words: Callable[[], None] = lambda: None,
                 exit_after_s: float = TERMINAL_GONE_EXIT_S, poll_s: float = POLL_S) -> None:
        self._on_gone = on_gone
        self._last_words = last_words
        self._exit_after_s = exit_after_s
        self._poll_s = poll_s
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._hard_exit = False
        self.signal_installed = False
        self.noticed = False

    def start(self, fd: int | None, hard_exit: bool) -> None:
        """Watch from the running loop; ``fd`` is the terminal to poll (None: none); ``hard_exit`` arms
        the deadline (never in tests that run the app inside the test process)."""
        self._loop = asyncio.get_running_loop()
        self._hard_exit = hard_exit
        try:
            self._loop.add_signal_handler(signal.SIGHUP, self.gone)
            self.signal_installed = True
        except (AttributeError, NotImplementedError, RuntimeError, ValueError):  # no SIGHUP, not main thread
            pass
        if fd is not None and os.isatty(fd):
            threading.Thread(target=self._poll, args=(fd,), name="terminal-watch", daemon=True).start()

    def stop(self) -> None:
        """The app is ending by itself: no more polling or signal handling (a deadline already armed
        stays armed)."""
        self._stopped.set()
        if self.signal_installed and self._loop is not None:
            self.signal_installed = False
            try:
                self._loop.remove_signal_handler(signal.SIGHUP)
            except (NotImplementedError, RuntimeError, ValueError):
                pass

    def gone(self) -> None:
        """The terminal is gone (callable from any thread, any number of times)."""
        with self._lock:
            if self.noticed:
                return
            self.noticed = True
        log.warning("the terminal is gone: exiting")
        if self._hard_exit:
            deadline = threading.Timer(self._exit_after_s, self._exit_now)
            deadline.daemon = True
            deadline.start()
            # Once the app has stopped and the command has finished (exports written), skip the
            # interpreter's teardown of a large heap: it took most of a second on a loaded machine.
            atexit.register(self._exit_at_once)
        loop = self._loop
        if loop is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(self._on_gone)
            except RuntimeError:  # the loop closed in between: the app is ending anyway
                pass

    def _poll(self, fd: int) -> None:
        while not self._stopped.wait(self._poll_s):
            if terminal_gone(fd):
                self.gone()
                return

    def _exit_at_once(self) -> None:
        for handler in logging.getLogger().handlers:
            try:
                handler.flush()
            except Exception:
                pass
        os._exit(EXIT_TERMINAL_GONE)

    def _exit_now(self) -> None:
        log.error("still running %.1f s after the terminal went away: forcing the exit", self._exit_after_s)
        try:
            self._last_words()
        except Exception:
            log.exception("closing before the forced exit failed")
        os._exit(EXIT_TERMINAL_GONE)


class SafeOutput:
    """The driver's output file: a write to a terminal that is gone is dropped and reported, not raised
    (raising kills Textual's writer thread, after which the UI thread blocks forever on its full queue)."""

    def __init__(self, file: TextIO, on_gone: Callable[[], None]) -> None:
        self._file = file
        self._on_gone = on_gone
        self.broken = False

    def write(self, text: str) -> int:
        if not self.broken:
            try:
                self._file.write(text)
            except OSError:
                self._broke()
        return len(text)

    def flush(self) -> None:
        if not self.broken:
            try:
                self._file.flush()
            except OSError:
                self._broke()

    def fileno(self) -> int:
        return self._file.fileno()

    def isatty(self) -> bool:
        return self._file.isatty()

    def _broke(self) -> None:
        self.broken = True
        self._on_gone()


def terminal_driver_class() -> type | None:
    """Textual's Linux driver made safe against a vanished terminal; None (Textual's choice) elsewhere, and
    where a host chose the driver (textual-serve sets TEXTUAL_DRIVER to its web driver for `clearterm web`)."""
    if termios is None or sys.platform == "win32" or os.environ.get("TEXTUAL_DRIVER"):
        return None
    from textual.drivers.linux_driver import LinuxDriver

    class SafeLinuxDriver(LinuxDriver):
        def __init__(self, app, **kwargs) -> None:
            self._suspended = False
            super().__init__(app, **kwargs)
            if self._file is not None:  # sys.__stderr__ is None only without a console (pythonw)
                # Textual annotates _file as the TextIOWrapper it took; it only writes, flushes and asks fileno
                self._file = SafeOutput(self._file, self._terminal_gone)  # type: ignore[assignment]

        def _sigtstp_application(self, *args) -> None:
            self._suspended = True
            super()._sigtstp_application(*args)

        def _sigcont_application(self, *args) -> None:
            # The kernel sends SIGCONT with the SIGHUP of a hang-up; Textual would then start a second
            # writer and input thread on the dead terminal. Resume only what ctrl+z suspended.
            if self._suspended:
                self._suspended = False
                super()._sigcont_application(*args)

        def run_input_thread(self) -> None:
            try:
                super().run_input_thread()
            except OSError:  # EIO: the terminal hung up; reported instead of a panic that writes to it
                self._terminal_gone()

        def _terminal_gone(self) -> None:
            watch = getattr(self._app, "terminal_watch", None)
            if watch is not None:
                watch.gone()

    return SafeLinuxDriver
