"""The demo's simulator in a child process: its start-up history and its market run on the other core,
started before the app imports Textual, instead of on the UI's event loop.

Lifetime: the child reads its stdin, a pipe only this process holds. End of file (``stop``, this process
exiting, crashing or being killed) stops the child, so it never outlives the app. It runs in its own session:
the terminal's signals (SIGHUP when the pty closes, Ctrl-C in ``--headless``) reach only the app, which
then stops it. Port: the child binds port 0 itself and reports what it got, so there is nothing to race for.

Run as ``python -m tui.runtime.demo_sim SPEC`` (SPEC: the Simulator's arguments as JSON); the child prints
one JSON line ``{"port": P, "urls": {VENUE: [ws_url, rest_url]}}`` once its history is built and it listens.
"""
from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from typing import Any

import orjson

READY_TIMEOUT_S = 30.0  # a cold start on a loaded 2-core machine
STOP_TIMEOUT_S = 3.0


class SimulatorStartError(OSError):
    """The child exited, or said nothing, before it listened."""


class SimulatorProcess:
    """The parent's handle: ``launch`` at once, ``await ready()`` for the URLs, ``await stop()``."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        self.proc: subprocess.Popen[bytes] | None = None
        self.urls: dict[str, list[str]] = {}
        self.port = 0

    def launch(self) -> None:
        if self.proc is None:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "tui.runtime.demo_sim", orjson.dumps(self.spec).decode()],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, close_fds=True,
                start_new_session=True)

    async def ready(self, timeout: float = READY_TIMEOUT_S) -> SimulatorProcess:
        self.launch()
        proc = self.proc
        assert proc is not None and proc.stdout is not None  # launched with stdout=PIPE
        if self.urls:
            return self
        loop = asyncio.get_running_loop()
        try:
            line = await asyncio.wait_for(loop.run_in_executor(None, proc.stdout.readline), timeout)
        except TimeoutError:
            line = b""
        try:
            reply = orjson.loads(line)
            self.port, self.urls = int(reply["port"]), reply["urls"]
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            await self.stop()
            why = (proc.stderr.read() if proc.stderr else b"").decode(errors="replace").strip().splitlines()
            raise SimulatorStartError(f"the demo simulator did not start (exit status {proc.returncode}"
                                      + (f": {why[-1]}" if why else "") + ")") from None
        return self

    def ws_url(self, venue: str) -> str:
        return self.urls[venue.upper()][0]

    def rest_url(self, venue: str) -> str:
        return self.urls[venue.upper()][1]

    async def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.stdin is not None:
            proc.stdin.close()  # end of file: the child stops
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(None, proc.wait, STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            await loop.run_in_executor(None, proc.wait)
        for pipe in (proc.stdout, proc.stderr):
            if pipe is not None:
                pipe.close()


async def serve_until_eof(spec: dict[str, Any]) -> None:
    from feeds.sim.server import Simulator
    sim = Simulator(**spec)
    # a thread waits for the end of stdin (a pipe only the parent holds), from before the history is built
    parent_gone = asyncio.get_running_loop().run_in_executor(None, _read_to_eof)
    await sim.start()  # its history first: the app's backfill finds it whole
    urls = {name: [sim.ws_url(name), sim.rest_url(name)] for name in sim.venues}
    os.write(1, orjson.dumps({"port": sim.port, "urls": urls}) + b"\n")
    try:
        await parent_gone
    finally:
        await sim.stop()


def _read_to_eof() -> None:
    try:
        while os.read(0, 4096):
            pass
    except OSError:  # stdin closed under us: the same as its end
        pass


def main(argv: list[str]) -> int:
    from tui.runtime.logsetup import setup_logging
    setup_logging()
    spec = orjson.loads(argv[0])
    for key in ("symbols", "intervals", "venues"):
        if spec.get(key) is not None:
            spec[key] = tuple(spec[key])
    asyncio.run(serve_until_eof(spec))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
