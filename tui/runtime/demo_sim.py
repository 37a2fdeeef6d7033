"""The demo's simulator in a child process: its start-up history and its market run on the other core,
started before the app imports Textual, instead of on the UI's event loop.

Lifetime: the child reads its stdin, a pipe only this process holds. End of file (``stop``, this process
exiting, crashing or being killed) stops the child, so it never outlives the app. It runs in its own session:
the terminal's signals (SIGHUP when the pty closes, Ctrl-C in ``--headless``) reach only the app, which
then stops it. Port: the child binds port 0 itself and reports what it got, so there is nothing to race for.

Start-up: ``clearterm demo`` launches the child first thing, before this process imports the session, with
the spec of a plain demo as a guess (``LIKELY_SPEC``); the child builds that simulator's history at once, while
this process imports: Binance's first, which is served at once, then the other venues' (served as each is built;
a request to one still building waits for it, so a backfill always finds the whole history). The real spec (the Simulator's arguments as JSON, one line on the child's stdin) follows
when the session is configured: the child keeps what it built when the guess was right, else builds the spec.

Run as ``python -m tui.runtime.demo_sim [GUESS]``; the child prints one JSON line
``{"port": P, "urls": {VENUE: [ws_url, rest_url]}}`` once the simulator of the spec is built and listens.
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


# The spec a plain ``clearterm demo`` (no config file, no flags) asks for; a test holds it equal to
# Runner._sim_spec() of that session. Any other spec costs one more history build in the child.
# "venues": None is the demo's venues, named by the child (the registry is not imported here yet).
LIKELY_SPEC: dict[str, Any] = {
    "symbols": ["BTCUSDT", "ETHUSDT", "SOLUSDT", "BNBUSDT", "XRPUSDT", "ADAUSDT", "DOGEUSDT"], "seed": 7,
    "port": 0, "intervals": ["1s"], "venues": None, "history_s": 40}


def with_venues(spec: dict[str, Any]) -> dict[str, Any]:
    """``spec`` with the demo's venues when it names none."""
    if spec.get("venues") is not None:
        return spec
    from feeds.venues import DEMO_VENUES
    return dict(spec, venues=list(DEMO_VENUES))


class SimulatorProcess:
    """The parent's handle: ``launch`` at once, ``await ready()`` for the URLs, ``await stop()``.

    ``speculate()`` launches before the spec is known (``spec`` is set later, and sent by ``launch``)."""

    def __init__(self, spec: dict[str, Any] | None) -> None:
        self.spec = spec
        self.proc: subprocess.Popen[bytes] | None = None
        self.urls: dict[str, list[str]] = {}
        self.port = 0
        self._spec_sent = False
        self.stderr_tail = b""

    @classmethod
    def speculate(cls, guess: dict[str, Any] = LIKELY_SPEC) -> SimulatorProcess:
        sim = cls(None)
        sim._start(guess)
        return sim

    def _start(self, guess: dict[str, Any] | None) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tui.runtime.demo_sim", *([orjson.dumps(guess).decode()] if guess else [])],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, close_fds=True,
            start_new_session=True)

    def launch(self) -> None:
        if self.proc is None:
            self._start(self.spec)
        if self.spec is not None and not self._spec_sent and self.proc is not None and self.proc.stdin is not None:
            self._spec_sent = True
            try:
                self.proc.stdin.write(orjson.dumps(self.spec) + b"\n")
                self.proc.stdin.flush()
            except OSError:  # the child is gone: ready() says why
                pass

    def abandon(self) -> None:
        """Not needed after all: the child ends at the end of its stdin (nobody waits for it)."""
        proc, self.proc = self.proc, None
        if proc is not None:
            for pipe in (proc.stdin, proc.stdout, proc.stderr):
                if pipe is not None:
                    pipe.close()

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
            why = self.stderr_tail.decode(errors="replace").strip().splitlines()
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
        if proc.stderr is not None:
            self.stderr_tail = proc.stderr.read()[-4096:]  # why it stopped, if it did not start
        for pipe in (proc.stdout, proc.stderr):
            if pipe is not None:
                pipe.close()


def _simulator_args(spec: dict[str, Any]) -> dict[str, Any]:
    return {k: tuple(v) if k in ("symbols", "intervals", "venues") and v is not None else v for k, v in spec.items()}


async def serve_until_eof(guess: dict[str, Any] | None) -> None:
    from feeds.sim.server import Simulator
    if guess is not None:
        guess = with_venues(guess)
    loop = asyncio.get_running_loop()
    stdin = sys.stdin.buffer
    # a thread reads the spec (a pipe only the parent holds), from before the guess is built
    spec_line = loop.run_in_executor(None, stdin.readline)
    # Binance is served as soon as its history is built (the first price shown is Binance's); the venues that
    # follow it build theirs after it, in slices on this loop, and are served once built
    sim = await Simulator(**_simulator_args(guess)).start(followers_later=True) if guess is not None else None
    line = await spec_line
    if not line:  # the parent went away, or did not need a simulator after all
        if sim is not None:
            await sim.stop()
        return
    spec = orjson.loads(line)
    if sim is None or spec != guess:
        if sim is not None:
            await sim.stop()
        sim = await Simulator(**_simulator_args(spec)).start(followers_later=True)  # a request waits for its venue's history
    parent_gone = loop.run_in_executor(None, _read_to_eof)
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
    asyncio.run(serve_until_eof(orjson.loads(argv[0]) if argv else None))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
