"""The terminal going away under a running app: the real app in a real pseudo-terminal whose master side
is closed (what sshd does when the connection drops and tmux does when a session or its server is
killed). The process must exit within TERMINAL_GONE_EXIT_S and leave its recording whole.

Two ways the pty closes: with the app as the terminal's session leader, the kernel also sends it SIGHUP;
with the app holding the terminal only as its stdin/stdout (a tmux server killed, a shell that does not
pass the hang-up on), nothing is signalled and only the dead terminal tells.
"""
from __future__ import annotations

import fcntl
import os
import struct
import subprocess
import sys
import termios
import threading
import time
from pathlib import Path

import orjson
import pytest

from tui.terminal import POLL_S, TERMINAL_GONE_EXIT_S, terminal_gone

ROOT = Path(__file__).resolve().parents[1]
START_TIMEOUT_S = 60.0  # a cold start of Python, Textual and the simulator on a loaded 2-core machine
# The app's own bound (TERMINAL_GONE_EXIT_S, from noticing to exiting) plus one poll of the terminal;
# the scheduler of a loaded 2-core machine gets 0.5 s more (noticing was seen to lag by 0.45 s).
EXIT_DEADLINE_S = TERMINAL_GONE_EXIT_S + POLL_S + 0.5

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux pseudo-terminals")


class PtyApp:
    """``clearterm demo`` on the slave side of a new pty; everything it draws is read from the master."""

    def __init__(self, tmp_path: Path, controlling: bool) -> None:
        self.recording = tmp_path / "rec.jsonl"
        self.master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 48, 160, 0, 0))
        env = {**os.environ, "TERM": "xterm-256color", "LANG": "C.UTF-8", "COLUMNS": "160", "LINES": "48"}

        def take_terminal() -> None:  # the child becomes the pty's session leader, as under sshd
            os.setsid()
            fcntl.ioctl(0, termios.TIOCSCTTY, 0)

        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tui.runtime.cli", "demo", "--record", str(self.recording)],
            stdin=slave, stdout=slave, stderr=slave, cwd=ROOT, env=env, close_fds=True,
            preexec_fn=take_terminal if controlling else None, start_new_session=not controlling)
        os.close(slave)
        self.screen = bytearray()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while True:  # drain the master, or the app would block writing to a full pty
            try:
                data = os.read(self.master, 65536)
            except OSError:
                return
            if not data:
                return
            self.screen += data

    def wait_for_screen(self, text: bytes, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.screen:
            assert self.proc.poll() is None, f"the app ended early: {bytes(self.screen[-2000:])!r}"
            assert time.monotonic() < deadline, f"no {text!r} on screen: {bytes(self.screen[-2000:])!r}"
            time.sleep(0.05)

    def wait_for_recorded_frames(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not self.recording.exists() or self.recording.read_bytes().count(b"\n") < 10:
            assert time.monotonic() < deadline, "nothing recorded"
            time.sleep(0.05)

    def close_terminal(self) -> float:
        os.close(self.master)
        self.closed_wall = time.strftime("%H:%M:%S", time.gmtime()) + f"{time.time() % 1:.3f}"[1:]
        return time.monotonic()

    def state(self) -> str:
        try:
            return Path(f"/proc/{self.proc.pid}/stat").read_text().split(")")[1].split()[0]
        except OSError:
            return "?"

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def app_log(tmp_path: Path) -> str:
    path = tmp_path / "xdg_state_home" / "clearterm" / "clearterm.log"
    lines = path.read_text().splitlines() if path.exists() else []
    return "\n".join(line for line in lines if "feeds.sim" not in line)


@pytest.mark.parametrize("controlling", [True, False], ids=["session-leader", "no-controlling-tty"])
def test_closing_the_pty_ends_the_app_and_leaves_the_recording_whole(tmp_path, controlling):
    app = PtyApp(tmp_path, controlling)
    try:
        app.wait_for_screen(b"subscribed", START_TIMEOUT_S)
        app.wait_for_recorded_frames(START_TIMEOUT_S)
        closed_at = app.close_terminal()
        try:
            app.proc.wait(timeout=EXIT_DEADLINE_S)
        except subprocess.TimeoutExpired:
            pytest.fail(f"still running {EXIT_DEADLINE_S} s after its terminal closed at "
                        f"{app.closed_wall} {controlling=} {app.state()}\n{app_log(tmp_path)}")
        took = time.monotonic() - closed_at
        assert took < EXIT_DEADLINE_S
    finally:
        app.kill()
    data = app.recording.read_bytes()
    assert data.endswith(b"\n")
    records = [orjson.loads(line) for line in data.splitlines()]  # every line whole JSON, the last too
    stops = [r for r in records if r.get("c") == "operator" and r.get("k") == "stop"]
    assert stops, app_log(tmp_path)  # the session stopped: the app's own way out, not the forced exit


def test_a_hung_up_terminal_is_noticed():
    master, slave = os.openpty()
    try:
        assert not terminal_gone(slave)
        os.close(master)  # what sshd does when the connection drops
        assert terminal_gone(slave)
    finally:
        os.close(slave)
    read_end, write_end = os.pipe()
    assert not terminal_gone(read_end)  # not a terminal at all is not a hang-up
    os.close(read_end)
    os.close(write_end)


def _children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def _alive(pid: int) -> bool:
    """Running, not merely a zombie waiting for whoever inherited it."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.parametrize("ending", ["pty-closed-session-leader", "pty-closed", "SIGHUP", "SIGTERM", "SIGKILL"])
def test_the_demo_simulator_process_ends_with_the_app(tmp_path, ending):
    """The demo's simulator runs in a child process; however the app ends (its terminal gone, a signal, killed
    outright as a crash would leave it), the simulator does not outlive it."""
    import signal
    app = PtyApp(tmp_path, controlling=ending == "pty-closed-session-leader")
    sims: list[int] = []
    try:
        app.wait_for_screen(b"subscribed", START_TIMEOUT_S)
        sims = [pid for pid in _children(app.proc.pid)
                if b"tui.runtime.demo_sim" in Path(f"/proc/{pid}/cmdline").read_bytes()]
        assert len(sims) == 1, _children(app.proc.pid)
        if ending.startswith("pty-closed"):
            app.close_terminal()
        else:
            app.proc.send_signal(getattr(signal, ending))
        app.proc.wait(timeout=EXIT_DEADLINE_S + 5)
        deadline = time.monotonic() + 5.0
        while _alive(sims[0]):
            assert time.monotonic() < deadline, f"the simulator (pid {sims[0]}) outlived the app ({ending})"
            time.sleep(0.05)
    finally:
        app.kill()
        for pid in sims:  # a failed run leaves no orphan behind either
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
