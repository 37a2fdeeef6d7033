"""Why a connection is down, said everywhere the operator looks: kept on the connection (refused, HTTP
451, TLS, closed with a code, DNS) with the time of the next try, on the badge with a countdown, in the
log file, in the headless JSON, and on stderr when a headless run got no data at all. Only 127.0.0.1."""
from __future__ import annotations

import contextlib
import http.server
import random
import socket
import threading
import time

import orjson
import pytest
import waiting
from websockets.asyncio.server import serve

from feeds.drivers.connection import Connection, ReconnectPolicy, failure_cause
from tui.runtime.cli import main


async def wait_for(cond, timeout: float = 5.0) -> bool:
    return await waiting.wait_for(cond, timeout)


def dead_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Answer451(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # what a WebSocket client expects in the answer

    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        self.send_response(451, "Unavailable For Legal Reasons")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


@contextlib.contextmanager
def http_451_server():
    """A tiny HTTP server on 127.0.0.1 answering every request, WebSocket upgrades included, with 451."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Answer451)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


async def _cause_of(url: str) -> Connection:
    conn = Connection("BINANCE#1", "BINANCE", [url], lambda *a: None,
                      policy=ReconnectPolicy(initial_s=5.0, cap_s=5.0, open_timeout_s=2.0, rng=random.Random(3)))
    conn.start()
    assert await wait_for(lambda: conn.next_attempt_ns != 0)
    await conn.stop()
    return conn


async def test_nothing_listening_is_refused_with_the_next_try_scheduled():
    before = time.time_ns()
    conn = Connection("BINANCE#1", "BINANCE", [f"ws://127.0.0.1:{dead_port()}"], lambda *a: None,
                      policy=ReconnectPolicy(initial_s=5.0, cap_s=5.0, rng=random.Random(3)))
    conn.start()
    try:
        assert await wait_for(lambda: conn.next_attempt_ns != 0)
        assert conn.last_error == "connection refused" and conn.last_error_ns >= before
        assert time.time_ns() < conn.next_attempt_ns <= time.time_ns() + 5 * 10**9
    finally:
        await conn.stop()


async def test_http_451_is_named():
    with http_451_server() as port:
        conn = await _cause_of(f"ws://127.0.0.1:{port}/ws")
    assert conn.last_error == "HTTP 451"


async def test_tls_failure_is_named():
    with http_451_server() as port:  # wss:// to a server speaking plain HTTP: the TLS handshake fails
        conn = await _cause_of(f"wss://127.0.0.1:{port}/ws")
    assert conn.last_error.startswith("TLS failure")


async def test_a_server_closing_the_connection_gives_its_code():
    async def close_at_once(ws) -> None:
        await ws.close(1008, "too many requests")
    async with serve(close_at_once, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        conn = await _cause_of(f"ws://127.0.0.1:{port}/ws")
    assert conn.last_error == "closed with code 1008: too many requests"


def test_dns_failure_is_named():
    assert failure_cause(socket.gaierror(socket.EAI_NONAME, "Name or service not known")) == \
        "DNS failure: Name or service not known"


def test_headless_json_log_and_stderr_say_why_there_is_no_data(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    with http_451_server() as port:
        code = main(["live", "--endpoint", f"binance=ws://127.0.0.1:{port}", "--symbols", "BTCUSDT",
                     "--headless", "--no-record", "--duration", "1.5", "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    stats = orjson.loads(out)
    binance = stats["connections"]["BINANCE"]
    assert binance["last_error"] == "HTTP 451"
    assert binance["state"] in ("reconnecting", "disconnected")
    assert binance["next_attempt_in_s"] is None or 0 <= binance["next_attempt_in_s"] <= 60
    # one truth: the per-connection view agrees with the per-venue one
    assert stats["resilience"]["connections"]["BINANCE#1"]["state"] == binance["state"]
    assert "clearterm: warning: no data received in 1.5 s (BINANCE: HTTP 451)" in err
    assert "cannot fetch BINANCE's listing" in err and "HTTP 451" in err  # the REST check said so too
    log = (tmp_path / "clearterm" / "clearterm.log").read_text()
    assert "BINANCE#1: HTTP 451; next try in" in log


def test_headless_with_data_says_nothing_about_silence(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    # the demo serves Binance first and the other venues once their history is built (about a second later,
    # more on a loaded machine): the run lasts long enough for every connection to subscribe
    code = main(["demo", "--headless", "--no-record", "--duration", "3", "--json"])
    out, err = capsys.readouterr()
    assert code == 0 and "no data" not in err
    stats = orjson.loads(out)
    assert stats["connections"]["BINANCE"]["last_error"] is None
    for name, conn in stats["resilience"]["connections"].items():
        assert conn["state"] == stats["connections"][name.split("#")[0]]["state"] == "subscribed"


@pytest.mark.parametrize("size", [(80, 24), (160, 48)])  # whole at 80 columns: nothing elided
async def test_the_badge_shows_the_cause_and_counts_down_to_the_next_try(size):
    from tui.app import ClearTermApp
    from tui.runtime.runner import Runner
    from tui.runtime.session import SessionConfig
    cfg = SessionConfig(mode="live", venues=["BINANCE"], symbols=["BTCUSDT"], interval="1s", record_path=None,
                        endpoints={"BINANCE": [f"ws://127.0.0.1:{dead_port()}"]}, startup_bars=0)
    app = ClearTermApp(Runner(cfg))
    async with app.run_test(size=size) as pilot:
        badge = app.query_one("#badge-binance")
        conn = next(iter(app.session.connections.values()))
        conn.policy.initial_s = conn.policy.cap_s = 30.0  # a long wait: the countdown is visible
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and ", retry" not in str(badge.render()):
            await pilot.pause(0.05)
        text = str(badge.render())
        assert text.startswith("BINANCE refused, retry ") and text.endswith("s")
        first = int(text.rsplit(" ", 1)[1].rstrip("s"))
        assert 0 <= first <= 30
        assert badge.tooltip == "connection refused"
        assert badge.content_region.width >= len(text)  # whole on screen, not cut to an ellipsis
        if first >= 2:
            while time.monotonic() < deadline + 5 and str(badge.render()) == text:
                await pilot.pause(0.05)
            assert int(str(badge.render()).rsplit(" ", 1)[1].rstrip("s")) < first  # it counts down


async def test_a_name_that_does_not_resolve_is_a_dns_failure(monkeypatch):
    """No real resolver is asked: the stdlib's lookup fails for a .test name (RFC 6761), as offline."""
    real = socket.getaddrinfo

    def offline(host, *args, **kwargs):
        if isinstance(host, str) and host.endswith(".test"):
            raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", offline)
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    conn = await _cause_of("ws://exchange.test:9443/ws")
    assert conn.last_error == "DNS failure: Temporary failure in name resolution"
