"""The demo end to end, headless: simulator on loopback -> client -> pipeline -> statistics and export."""
import csv

import orjson

from tui.runtime.cli import main


def test_headless_demo_prints_the_statistics_object(capsys, tmp_path):
    export = tmp_path / "candles.csv"
    code = main(["demo", "--headless", "--duration", "3", "--json", "--no-record", "--export-candles", str(export)])
    out, err = capsys.readouterr()
    assert code == 0, err
    stats = orjson.loads(out)
    assert stats["mode"] == "demo"
    assert stats["messages"] > 0
    for kind in ("trade", "candle", "quote"):
        assert stats["events"][kind] > 0, kind
    assert stats["rejected"]["total"] == 0
    assert {v: c["state"] for v, c in stats["connections"].items()} == {
        "BINANCE": "subscribed", "COINBASE": "subscribed", "BINANCE_FUTURES": "subscribed"}
    assert set(stats) >= {"duration_s", "duplicates", "gaps", "backfilled_candles", "reconnects", "halted",
                          "halts", "signals", "latency_ms", "books", "aggregate"}
    rows = list(csv.reader(export.open()))
    assert rows[0] == ["venue", "symbol", "interval", "open_time", "open", "high", "low", "close", "volume",
                       "trades", "source"]
    assert len(rows) - 1 == stats["events"]["candle_closed"]
    assert {(r[0], r[1]) for r in rows[1:]} <= {(v, s) for v in ("BINANCE", "COINBASE", "BINANCE_FUTURES") for s in
                                                 ("BTCUSDT", "ETHUSDT", "SOLUSDT", "BTC-USD", "ETH-USD", "SOL-USD")}
    assert all(r[3].endswith("Z") and r[10] in ("live", "backfill") for r in rows[1:])
    # the aggregate: one entry per unified symbol, best bid the highest venue bid, best ask the lowest ask
    # perpetuals are their own unified symbols, never mixed into the spot figures
    assert set(stats["aggregate"]) == {"BTC/USD", "ETH/USD", "SOL/USD", "BTC/USD:PERP", "ETH/USD:PERP", "SOL/USD:PERP"}
    for unified, agg in stats["aggregate"].items():
        venues = agg["venues"]
        expected = {"BINANCE_FUTURES"} if unified.endswith(":PERP") else {"BINANCE", "COINBASE"}
        assert set(venues) == expected and agg["stale_venues"] == []
        assert agg["best_bid"] == max(v["bid"] for v in venues.values())
        assert agg["best_ask"] == min(v["ask"] for v in venues.values())
        assert venues[agg["best_bid_venue"]]["bid"] == agg["best_bid"]


def _halted_run(capsys, *extra):
    code = main(["demo", "--headless", "--duration", "1", "--json", "--no-record", *extra])
    out, err = capsys.readouterr()
    assert code == 0, err
    return orjson.loads(out)


def test_halted_flag_starts_halted(capsys):
    stats = _halted_run(capsys, "--halted")
    assert stats["halted"] is True
    assert stats["halts"] and stats["halts"][0]["by"] == "operator"


def test_environment_flag_starts_halted(capsys, monkeypatch):
    monkeypatch.setenv("FLAG_TRADING_HALTED", "1")
    assert _halted_run(capsys)["halted"] is True
    monkeypatch.setenv("FLAG_TRADING_HALTED", "0")
    assert _halted_run(capsys)["halted"] is False


def test_metrics_port_in_use_is_one_line_and_exit_2(capsys):
    import socket
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        code = main(["demo", "--headless", "--duration", "1", "--no-record", "--metrics-port",
                     str(busy.getsockname()[1])])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("clearterm: error: cannot start") and err.count("\n") == 1


def test_the_simulator_child_guesses_the_plain_demo(monkeypatch, tmp_path):
    """``clearterm demo`` starts its simulator child before it knows the session's spec, with a guess: the
    guess must be what a plain demo asks for, or every start builds the simulator's history twice."""
    from tui.runtime.cli import parse_args, session_config
    from tui.runtime.demo_sim import LIKELY_SPEC, with_venues
    from tui.runtime.runner import Runner
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))  # no config file of the operator's
    for name in [k for k in __import__("os").environ if k.startswith("CLEARTERM_")]:
        monkeypatch.delenv(name)
    cfg, _ = session_config(parse_args(["demo"]))
    assert orjson.loads(orjson.dumps(Runner(cfg, sim_process=True)._sim_spec())) == with_venues(LIKELY_SPEC)


async def test_a_wrong_guess_still_serves_the_asked_simulator():
    """The child built the guessed simulator; the spec that comes differs (other symbols): it serves the spec."""
    from feeds.drivers import rest
    from feeds.venues import DEMO_VENUES
    from tui.runtime.demo_sim import LIKELY_SPEC, SimulatorProcess
    sim = SimulatorProcess.speculate()
    sim.spec = dict(LIKELY_SPEC, symbols=["LTCUSDT"], venues=[DEMO_VENUES[0]], history_s=2)
    try:
        await sim.ready()
        base = sim.rest_url("BINANCE")
        assert (await rest.get(base + "/api/v3/exchangeInfo?symbol=LTCUSDT")).status == 200
        assert (await rest.get(base + "/api/v3/exchangeInfo?symbol=BTCUSDT")).status == 400  # the guess's
        assert list(sim.urls) == ["BINANCE"]
    finally:
        await sim.stop()


async def test_the_demo_child_serves_each_venue_whole_however_early_it_answers():
    """The child answers once Binance's history is built; the other venues build theirs after: a request to one
    made at once waits for it, and finds the whole 40 s of start-up history."""
    from feeds.drivers import rest
    from tui.runtime.demo_sim import LIKELY_SPEC, SimulatorProcess
    sim = SimulatorProcess(dict(LIKELY_SPEC))
    try:
        await sim.ready()
        coinbase = await rest.get(sim.rest_url("COINBASE") + "/products/BTC-USD/candles?granularity=1")
        perp = await rest.get(sim.rest_url("BINANCE_FUTURES") + "/fapi/v1/depth?symbol=BTCUSDT&limit=1000")
        spot = await rest.get(sim.rest_url("BINANCE") + "/api/v3/klines?symbol=BTCUSDT&interval=1s&limit=1000")
        assert coinbase.status == perp.status == spot.status == 200
        assert len(orjson.loads(coinbase.body)) >= 38  # a second without a trade has no candle
        assert len(orjson.loads(spot.body)) >= 41  # 40 s and the forming bar
        depth = orjson.loads(perp.body)
        assert len(depth["bids"]) == len(depth["asks"]) == 200
    finally:
        await sim.stop()
