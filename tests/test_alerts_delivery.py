"""Alerts end to end: the demo over loopback POSTs to a real HTTP server, replay fires the same alerts,
deliveries time out, retry and count failures, the shell command gets the alert, bad rules exit 2."""
import http.server
import threading
import time

import orjson
import pytest

from feeds.venues import DEMO_VENUES
from strategy.alerts import Alert
from tui.runtime.alert_delivery import AlertDispatcher
from tui.runtime.cli import main


class Hook:
    """A real HTTP server on 127.0.0.1 that keeps every POST body; ``status`` None never answers."""

    def __init__(self, status: int | None = 204) -> None:
        bodies = self.bodies = []
        self.release = threading.Event()
        release = self.release

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                bodies.append(self.rfile.read(int(self.headers["Content-Length"])))
                if status is None:
                    release.wait(5)
                    return
                self.send_response(status)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hook():
    h = Hook()
    yield h
    h.close()


def test_demo_alert_makes_one_post_and_replay_fires_the_same_alert(capsys, tmp_path, hook):
    rec = tmp_path / "session.jsonl"
    code = main(["demo", "--headless", "--duration", "8", "--json", "--record", str(rec),
                 "--alert", "BTCUSDT price > 1", "--alert-webhook", hook.url])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert len(hook.bodies) == 1  # true all run long: one crossing (the first evaluation), one POST
    body = orjson.loads(hook.bodies[0])
    assert body["symbol"] == "BTCUSDT" and body["rule"] == "BTCUSDT price > 1" and body["threshold"] == 1.0
    assert body["venue"] in DEMO_VENUES and body["value"] > 1000  # the simulator's BTC price, spot or perpetual
    assert body["at"].endswith("Z") and body["at_ns"] <= body["sent_at_ns"]
    live = orjson.loads(out)["alerts"]
    assert live["fired"] == 1 and live["deliveries"]["webhook"] == {"sent": 1, "failed": 0, "retries": 0}
    assert live["recent"] == [{k: v for k, v in body.items() if k != "sent_at_ns"}]

    code = main(["replay", str(rec), "--speed", "max", "--headless", "--json", "--alert-webhook", hook.url])
    out, err = capsys.readouterr()
    assert code == 0, err
    replayed = orjson.loads(out)["alerts"]
    assert replayed["recent"] == live["recent"]  # same alert, same recorded time and value
    assert len(hook.bodies) == 2 and orjson.loads(hook.bodies[1])["at_ns"] == body["at_ns"]


def _alert(at_ns=1) -> Alert:
    return Alert("BTCUSDT price > 1", "price", "BINANCE", "BTCUSDT", "BTCUSDT", 2.0, 1.0, at_ns, "detail")


async def test_a_webhook_that_never_answers_times_out_retries_and_counts_a_failure():
    silent = Hook(status=None)
    try:
        sender = AlertDispatcher(webhook=silent.url, timeout_s=0.3, retries=1)
        started = time.monotonic()
        sender.submit(_alert())
        assert time.monotonic() - started < 0.05  # submitting never waits for the network
        await sender.stop(drain_s=10)
        assert sender.stats()["webhook"] == {"sent": 0, "failed": 1, "retries": 1}
        assert len(silent.bodies) == 2
    finally:
        silent.close()


async def test_a_webhook_answering_500_is_retried_a_bounded_number_of_times():
    failing = Hook(status=500)
    try:
        sender = AlertDispatcher(webhook=failing.url, timeout_s=2, retries=2)
        sender.submit(_alert(1))
        sender.submit(_alert(2))
        await sender.stop(drain_s=20)
        assert sender.stats()["webhook"] == {"sent": 0, "failed": 2, "retries": 4}
        assert len(failing.bodies) == 6
    finally:
        failing.close()


async def test_the_shell_command_gets_the_alert_in_its_environment(tmp_path):
    out = tmp_path / "alert.txt"
    sender = AlertDispatcher(command=f'printf "%s|%s|%s" "$CLEARTERM_ALERT_SYMBOL" "$CLEARTERM_ALERT_VALUE" '
                                     f'"$CLEARTERM_ALERT_RULE" > {out}')
    sender.submit(_alert())
    await sender.stop(drain_s=10)
    assert out.read_text() == "BTCUSDT|2.0|BTCUSDT price > 1"
    assert sender.stats()["command"]["sent"] == 1

    failing = AlertDispatcher(command="exit 3", retries=0)
    failing.submit(_alert())
    await failing.stop(drain_s=10)
    assert failing.stats()["command"] == {"sent": 0, "failed": 1, "retries": 0}


@pytest.mark.parametrize("argv, says", [
    (["demo", "--alert", "BTCUSDT price >>"], "alert 'BTCUSDT price >"),
    (["demo", "--alert", "BTCUSDT price > 1", "--alert-webhook", "ftp://x"], "--alert-webhook"),
    (["live", "--alert", "ETHUSDT spread > wide"], "must be a number"),
])
def test_a_bad_alert_argument_is_one_line_and_exit_2(capsys, argv, says):
    assert main([*argv, "--headless", "--duration", "1", "--no-record"]) == 2
    err = capsys.readouterr().err
    assert says in err and err.count("\n") == 1


def test_alert_rules_from_the_config_file(capsys, tmp_path):
    config = tmp_path / "c.toml"
    config.write_text('alerts = ["BTCUSDT price > 1", "halt"]\n')
    code = main(["demo", "--headless", "--duration", "2", "--json", "--no-record", "--config", str(config),
                 "--alert", "ETHUSDT price > 1", "--alert", "HALT"])  # the config's "halt" again: kept once
    out, err = capsys.readouterr()
    assert code == 0, err
    stats = orjson.loads(out)["alerts"]
    assert stats["rules"] == ["BTCUSDT price > 1", "halt", "ETHUSDT price > 1"]
    assert stats["by_rule"] == {"BTCUSDT price > 1": 1, "ETHUSDT price > 1": 1}
    config.write_text('alerts = ["BTCUSDT price > x"]\n')
    assert main(["demo", "--headless", "--config", str(config), "--no-record"]) == 2
    assert "config key 'alerts'" in capsys.readouterr().err
