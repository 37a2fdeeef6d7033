"""``clearterm web`` in a real headless Chromium: the page loads, the app's prices arrive, a screenshot is taken.

The screenshot goes to the test's temporary folder; the tracked ``screenshots/web.png`` is rewritten only
on purpose: ``CLEARTERM_WEB_SCREENSHOT=screenshots/web.png pytest tests/test_web.py -k chromium``.

Chromium is driven over the DevTools protocol (a WebSocket, with the websockets package we already
use); the app's screen reaches the page as WebSocket frames, in which the test waits for a price.
"""
from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from websockets.asyncio.client import connect

from tui.runtime.web import app_command

NO_CHROMIUM = "chromium not installed (apt-get install chromium chromium-driver)"
TRACKED = Path(__file__).resolve().parent.parent / "screenshots" / "web.png"
PRICE = re.compile(rb"\d{1,3},?\d{3}\.\d{2}")  # e.g. 61,296.43 in the symbol list


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, proc: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            assert proc.poll() is None, f"exited with {proc.returncode}"
            assert time.monotonic() < deadline, f"nothing listened on {port} within {timeout} s"
            time.sleep(0.1)


def test_app_command_is_demo_by_default_and_takes_any_command_after_dashes():
    assert app_command([]).endswith("-m tui.runtime.cli demo")
    assert app_command(["--", "--symbols", "BTCUSDT"]).endswith("demo --symbols BTCUSDT")
    assert app_command(["--", "attach", "nats://127.0.0.1:4222"]).endswith("attach nats://127.0.0.1:4222")


def test_web_refuses_to_serve_itself():
    proc = subprocess.run([sys.executable, "-m", "tui.runtime.cli", "web", "--", "web"], capture_output=True,
                          text=True, timeout=30)
    assert proc.returncode == 2 and "cannot serve 'web'" in proc.stderr


async def test_the_app_in_headless_chromium_shows_prices(tmp_path):
    tracked_before = TRACKED.stat().st_mtime_ns if TRACKED.exists() else None
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip(NO_CHROMIUM)
    port, devtools = free_port(), free_port()
    web = subprocess.Popen([sys.executable, "-m", "tui.runtime.cli", "web", "--port", str(port), "--",
                            "--no-record"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    browser = None
    try:
        wait_for_port(port, web, 60)
        browser = subprocess.Popen([chromium, "--headless", "--no-sandbox", "--disable-gpu",
                                    "--disable-background-networking", "--disable-component-update",
                                    "--disable-sync", "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}",
                                    f"--remote-debugging-port={devtools}", "--remote-debugging-address=127.0.0.1",
                                    "--window-size=1280,800", "about:blank"],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for_port(devtools, browser, 60)
        targets = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{devtools}/json", timeout=10).read())
        page = next(t for t in targets if t.get("type") == "page")
        async with connect(page["webSocketDebuggerUrl"], max_size=2**26) as cdp:
            ids = iter(range(1, 10**6))

            async def call(method: str, **params) -> int:
                n = next(ids)
                await cdp.send(json.dumps({"id": n, "method": method, "params": params}))
                return n

            await call("Network.enable")
            await call("Page.enable")
            await call("Page.navigate", url=f"http://127.0.0.1:{port}/")
            seen = b""
            deadline = time.monotonic() + 90
            while not PRICE.search(seen):  # the app's screen, as the page receives it
                assert time.monotonic() < deadline, "no price reached the page within 90 s"
                msg = json.loads(await asyncio.wait_for(cdp.recv(), deadline - time.monotonic()))
                if msg.get("method") == "Network.webSocketFrameReceived":
                    frame = msg["params"]["response"]
                    data = frame["payloadData"]
                    seen = (seen + (base64.b64decode(data) if frame.get("opcode") == 2 else data.encode()))[-200_000:]
            await asyncio.sleep(2)  # let the page draw what it received
            shot = await call("Page.captureScreenshot", format="png")
            while True:
                msg = json.loads(await asyncio.wait_for(cdp.recv(), 30))
                if msg.get("id") == shot:
                    break
            png = base64.b64decode(msg["result"]["data"])
            assert png.startswith(b"\x89PNG") and len(png) > 10_000  # a drawn page, not a blank one
            (tmp_path / "web.png").write_bytes(png)
            if os.environ.get("CLEARTERM_WEB_SCREENSHOT"):  # the deliberate command (see the docstring)
                Path(os.environ["CLEARTERM_WEB_SCREENSHOT"]).write_bytes(png)
    finally:
        for proc in (browser, web):
            if proc is not None and proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
    if not os.environ.get("CLEARTERM_WEB_SCREENSHOT"):  # a test run leaves the tracked screenshot alone
        assert (TRACKED.stat().st_mtime_ns if TRACKED.exists() else None) == tracked_before
