"""The command line: one-line errors with exit 2, and headless replay of the real captures."""
import asyncio
import contextlib
import csv
import re
import socket
import threading
from pathlib import Path

import orjson
import pytest

from tui.runtime.cli import UsageError, check_realtime_allowed, check_symbols, main, realtime_allowed
from tui.runtime.decimals import decimals, fixed
from tui.runtime.session import SessionConfig

from capture_files import capture_dir

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "app_session.jsonl.gz"


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("argv, needle", [
    (["--bogus"], "unrecognized arguments"),
    (["demo", "--duration", "-3"], "must be positive"),
    (["demo", "--interval", "7m"], "unknown interval"),
    (["--venues", "kraken", "--headless"], "unknown venue"),
    (["--endpoint", "nourl", "--headless"], "VENUE=URL"),
    (["replay", "/nonexistent/rec.jsonl"], "cannot read"),
    (["replay", "x", "--speed", "fast"], "--speed"),
])
def test_bad_arguments_give_one_line_and_exit_2(capsys, argv, needle):
    code, out, err = run(capsys, *argv)
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("clearterm: error:") and needle in err


def test_bad_config_key_is_named(capsys, tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text('symbols = ["BTCUSDT"]\ncolour = "red"\n')
    code, _, err = run(capsys, "demo", "--config", str(cfg), "--headless")
    assert code == 2 and "'colour'" in err and err.count("\n") == 1


def _replay(capsys, venue):
    code, out, err = run(capsys, "replay", str(capture_dir() / venue), "--format", "cryptofeed", "--headless",
                         "--speed", "max", "--json")
    assert code == 0, err
    return orjson.loads(out)


def test_replaying_the_binance_capture_gives_the_readme_counts(capsys):
    stats = _replay(capsys, "BINANCE")
    assert stats["mode"] == "replay"
    assert stats["events"]["trade"] == 2
    assert stats["events"]["quote"] == 84
    assert stats["events"]["candle"] == 2 and stats["events"]["candle_closed"] == 0
    assert stats["events"]["book"] == 176  # 4 snapshots + 172 diffs; 5 stale diffs skipped, not counted
    assert stats["rejected"]["total"] == 0
    assert len(stats["books"]) == 4 and all(b["state"] == "synced" for b in stats["books"].values())
    assert all(b["bid"][0] < b["ask"][0] for b in stats["books"].values())


def test_replaying_the_coinbase_capture_gives_the_readme_counts(capsys):
    stats = _replay(capsys, "COINBASE")
    assert stats["events"]["trade"] == 107  # 97 match + 10 last_match
    assert stats["events"]["quote"] == 107
    assert stats["events"]["ticker"] == 107 and stats["duplicates"] == 0  # 24 share a timestamp: none is a repeat
    assert stats["events"]["book"] == 9729  # 10 snapshots + 9,719 updates
    assert stats["rejected"]["total"] == 0
    assert len(stats["books"]) == 10 and all(b["state"] == "synced" for b in stats["books"].values())


@pytest.mark.parametrize("argv, needle", [
    (["sim", "--port", "99999"], "not a port number"),
    (["sim", "--port", "-5"], "not a port number"),
    (["sim", "--port", "http"], "not a port number"),
    (["demo", "--metrics-port", "70000"], "not a port number"),
    (["--endpoint", "binance=ws://127.0.0.1:99999", "--headless"], "not a port number"),
    (["--endpoint", "binance=127.0.0.1:9000", "--headless"], "ws://"),
    (["recordings", "--prune-older-than", "soon"], "an age such as"),
    (["recordings", "--max-total-size", "lots"], "a size such as"),
])
def test_port_and_other_bad_arguments_give_one_line_and_exit_2(capsys, argv, needle):
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("clearterm: error:") and needle in err


def test_sim_on_a_busy_port_says_so_in_one_line(capsys):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        code, out, err = run(capsys, "sim", "--port", str(port))
    assert code == 2
    assert err.count("\n") == 1 and f"cannot listen on 127.0.0.1:{port}" in err and "in use" in err


def test_interval_from_the_environment_names_the_variable(capsys, monkeypatch):
    monkeypatch.setenv("CLEARTERM_INTERVAL", "9x")
    code, _, err = run(capsys, "demo", "--headless", "--no-record")
    assert code == 2 and err.count("\n") == 1
    assert "CLEARTERM_INTERVAL" in err and "'9x'" in err


def _help(capsys, *argv) -> str:
    with pytest.MonkeyPatch.context() as env, pytest.raises(SystemExit) as exit_:
        env.setenv("COLUMNS", "300")  # argparse wraps to the terminal: one line per option here
        main(list(argv))
    assert exit_.value.code == 0
    return capsys.readouterr().out


def test_top_level_help_lists_the_global_flags_and_the_environment(capsys):
    out = _help(capsys, "--help")
    for flag in ("--symbols", "--venues", "--interval", "--endpoint", "--headless", "--json", "--config",
                 "--no-record", "--version", "recordings", "FLAG_REALTIME=0", "FLAG_TRADING_HALTED"):
        assert flag in out, flag


def test_version(capsys):
    assert re.fullmatch(r"clearterm \d+\.\d+\.\d+\S*\n", _help(capsys, "--version"))


def test_replay_help_documents_path_format_and_config(capsys):
    out = _help(capsys, "replay", "--help")
    assert "usage: clearterm replay" in out
    assert "rotated parts" in out and "cryptofeed capture" in out  # PATH
    assert "detected from each file" in out  # --format
    assert "--config" in out


def test_replay_takes_a_config_file(capsys, tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text('[ui]\ncolour = "red"\n')
    code, _, err = run(capsys, "replay", str(FIXTURE), "--headless", "--speed", "max", "--config", str(cfg))
    assert code == 2 and "'ui.colour'" in err and err.count("\n") == 1


def test_flag_realtime_0_forbids_live_but_not_demo(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("FLAG_REALTIME", "0")
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    code, out, err = run(capsys, "--headless", "--duration", "1", "--no-record")
    assert code == 2 and out == "" and err.count("\n") == 1
    assert "FLAG_REALTIME=0" in err and "binance" in err
    code, out, err = run(capsys, "demo", "--headless", "--duration", "1", "--no-record", "--json")
    assert code == 0, err
    assert orjson.loads(out)["mode"] == "demo"


@pytest.mark.parametrize("value, allowed", [(None, True), ("1", True), ("0", False), (" 0 ", False)])
def test_flag_realtime_values(value, allowed):
    env = {} if value is None else {"FLAG_REALTIME": value}
    assert realtime_allowed(env) is allowed


def test_flag_realtime_allows_loopback_endpoints_and_rejects_nonsense():
    cfg = SessionConfig(venues=["BINANCE"], endpoints={"BINANCE": ["ws://127.0.0.1:9"]})
    check_realtime_allowed(cfg, {"FLAG_REALTIME": "0"})  # a local endpoint is not a real exchange
    with pytest.raises(UsageError, match="FLAG_REALTIME"):
        check_realtime_allowed(cfg, {"FLAG_REALTIME": "maybe"})


@contextlib.contextmanager
def simulator_in_a_thread(**kwargs):
    """The simulator on 127.0.0.1 in its own event loop, for commands that run their own (main())."""
    from feeds.sim.server import Simulator
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    sim = Simulator(port=0, intervals=("1s", "1m"), **kwargs)
    asyncio.run_coroutine_threadsafe(sim.start(), loop).result(10)
    try:
        yield sim
    finally:
        asyncio.run_coroutine_threadsafe(sim.stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)


def test_demo_refuses_a_symbol_the_simulator_does_not_list(capsys):
    code, out, err = run(capsys, "demo", "--symbols", "FOOBAR,ETHUSDT", "--headless", "--no-record")
    assert code == 2 and out == "" and err.count("\n") == 1
    assert err.startswith("clearterm: error: FOOBAR is not listed on BINANCE")


async def test_the_demo_simulator_does_not_invent_symbols():
    from feeds.drivers import rest
    from tui.runtime.runner import Runner
    runner = Runner(SessionConfig(mode="demo", venues=["BINANCE"], symbols=["FOOBAR", "LTCUSDT"], interval="1s",
                                  record_path=None, startup_bars=0))
    await runner.start()
    try:
        assert "FOOBAR" not in runner.sim.symbols and "LTCUSDT" in runner.sim.symbols
        base = runner.sim.rest_url("BINANCE")
        assert (await rest.get(base + "/api/v3/exchangeInfo?symbol=FOOBAR")).status == 400
        assert (await rest.get(base + "/api/v3/exchangeInfo?symbol=LTCUSDT")).status == 200
    finally:
        await runner.stop()


def test_live_refuses_symbols_the_venue_does_not_list(capsys):
    with simulator_in_a_thread(symbols=("BTCUSDT", "ETHUSDT"), venues=("BINANCE", "COINBASE")) as sim:
        code, out, err = run(capsys, "live", "--endpoint", f"binance={sim.ws_url('BINANCE')}",
                             "--endpoint", f"coinbase={sim.ws_url('COINBASE')}", "--venues", "binance,coinbase",
                             "--symbols", "BTCUSDT,FOOBAR,XYZUSDT", "--headless", "--no-record", "--duration", "5")
    assert code == 2 and out == "" and err.count("\n") == 1
    assert err == "clearterm: error: FOOBAR, XYZUSDT are not listed on BINANCE\n"


def test_live_goes_on_when_the_listing_cannot_be_fetched(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    with simulator_in_a_thread(symbols=("BTCUSDT",), venues=("BINANCE",)) as sim:
        with socket.socket() as s:  # a port with nothing listening: the REST listing is refused
            s.bind(("127.0.0.1", 0))
            dead = s.getsockname()[1]
        code, out, err = run(capsys, "live", "--endpoint", f"binance={sim.ws_url('BINANCE')}",
                             "--rest-endpoint", f"binance=http://127.0.0.1:{dead}", "--symbols", "BTCUSDT",
                             "--headless", "--no-record", "--duration", "1.5", "--json")
    assert code == 0, err
    assert "warning: cannot fetch BINANCE's listing" in err and "refused" in err
    assert orjson.loads(out)["messages"] > 0  # it went on


def test_candle_csv_has_the_venues_precision_not_float_noise(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    out_csv = tmp_path / "c.csv"
    code, _, err = run(capsys, "demo", "--headless", "--no-record", "--duration", "2.5", "--export-candles", str(out_csv))
    assert code == 0, err
    rows = list(csv.DictReader(out_csv.open()))
    assert {r["venue"] for r in rows} == {"BINANCE", "COINBASE", "BINANCE_FUTURES"}
    places: dict[tuple[str, str], set[int]] = {}
    for r in rows:
        for column in ("open", "high", "low", "close"):
            places.setdefault((r["venue"], r["symbol"]), set()).add(len(r[column].partition(".")[2]))
        assert len(r["volume"].partition(".")[2]) <= 8  # the simulator's strings have 8 decimals at most
    assert places[("BINANCE", "BTCUSDT")] == {2}  # one precision per symbol: the tick of 0.01
    assert places[("COINBASE", "BTC-USD")] == {2}
    assert places[("BINANCE_FUTURES", "BTCUSDT")] == {2}  # bars built from the perpetual's trades
    coinbase_volumes = [r["volume"] for r in rows if r["venue"] == "COINBASE"]  # sums of trade sizes
    assert coinbase_volumes and not any(re.search(r"\d{9,}", v.partition(".")[2]) for v in coinbase_volumes)


@pytest.mark.parametrize("value, places, text", [
    (185.17800000000005, 3, "185.178"), (0.7049199999999998, 5, "0.70492"), (61313.0, 0, "61313"),
    (0.00001234, 8, "0.00001234"), (2940.57, 2, "2940.57"),
])
def test_decimals_ignore_float_noise(value, places, text):
    assert decimals(value) == places and fixed(value, places) == text


def test_a_busy_metrics_port_is_refused_before_the_app_takes_the_terminal(capsys):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        code, out, err = run(capsys, "demo", "--no-record", "--metrics-port", str(port))
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and f"--metrics-port: cannot listen on 127.0.0.1:{port}" in err


def test_a_listing_check_that_hangs_offline_gives_up_in_time_and_goes_on(monkeypatch):
    """Offline, a name lookup can hang past urllib's timeout: the check waits its limit, warns, goes on."""
    import time

    import tui.runtime.cli as cli
    release = threading.Event()
    real = socket.getaddrinfo

    def hanging(host, *args, **kwargs):
        if isinstance(host, str) and host.endswith(".test"):
            release.wait()  # a resolver that does not answer (released at the end of the test)
            raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", hanging)
    monkeypatch.setattr(cli, "LISTING_TIMEOUT_S", 0.5)
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    cfg = SessionConfig(mode="live", venues=["BINANCE"], symbols=["BTCUSDT", "ETHUSDT"],
                        rest_endpoints={"BINANCE": "http://exchange.test:9"})
    t0 = time.monotonic()
    try:
        warnings = check_symbols(cfg)
    finally:
        release.set()
    assert time.monotonic() - t0 < 3.0
    assert warnings == ["cannot fetch BINANCE's listing to check the symbols (no answer in 0.5 s); going on"]
