"""Configuration: file, then CLEARTERM_* environment, then flags; bad values name their key."""
import argparse

import pytest

from tui.runtime.cli import UsageError, parse_args, session_config
from tui.runtime.config import default_config_path


def configure(*argv):
    return session_config(parse_args(list(argv)))


def write_default_config(text: str):
    path = default_config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_defaults_without_any_config():
    cfg, ui = configure("demo")
    assert cfg.symbols == ["BTCUSDT", "ETHUSDT", "SOLUSDT"] and cfg.interval == "1s"
    assert cfg.record_path and cfg.record_path.endswith(".jsonl")
    assert ui.theme == "textual-dark" and ui.mouse is True


def test_file_then_environment_then_flags(monkeypatch):
    write_default_config('symbols = ["BTCUSDT"]\ninterval = "5m"\nstale_after_s = 9\n'
                         '[ui]\ntheme = "ansi-dark"\nfps = 20\n[keys]\nhalt = "f12"\n'
                         '[strategy]\nfast_ema = 5\n')
    cfg, ui = configure("live")
    assert cfg.symbols == ["BTCUSDT"] and cfg.interval == "5m" and cfg.stale_after_s == 9.0
    assert ui.theme == "ansi-dark" and ui.fps == 20 and ui.keys == {"halt": "f12"}
    assert cfg.strategy == {"fast_ema": 5}
    monkeypatch.setenv("CLEARTERM_INTERVAL", "15m")
    monkeypatch.setenv("CLEARTERM_THEME", "ansi-light")
    monkeypatch.setenv("CLEARTERM_HALTED", "true")
    cfg, ui = configure("live")
    assert cfg.interval == "15m" and ui.theme == "ansi-light" and cfg.halted is True
    cfg, ui = configure("live", "--interval", "1h", "--theme", "textual-light", "--no-mouse")
    assert cfg.interval == "1h" and ui.theme == "textual-light" and ui.mouse is False


def test_record_false_in_the_file_switches_recording_off():
    write_default_config("record = false\n")
    assert configure("demo")[0].record_path is None


@pytest.mark.parametrize("text, key", [
    ('interval = 5', "'interval'"),
    ('[ui]\ntheme = "neon"', "'ui.theme'"),
    ('[ui]\nfps = -1', "'ui.fps'"),
    ('[risk]\nequity = "lots"', "'risk'"),
    ('[strategy]\nslow = 3', "'strategy'"),
    ('stale_after_s = 0', "'stale_after_s'"),
    ('venues = []', "'venues'"),
    ('wat = 1', "'wat'"),
])
def test_bad_config_values_name_the_key(text, key):
    write_default_config(text)
    with pytest.raises(UsageError) as err:
        configure("demo")
    assert key in str(err.value) and "\n" not in str(err.value)


def test_bad_environment_value_names_the_variable(monkeypatch):
    monkeypatch.setenv("CLEARTERM_STALE_AFTER_S", "soon")
    with pytest.raises(UsageError) as err:
        configure("demo")
    assert "CLEARTERM_STALE_AFTER_S" in str(err.value)


def test_unreadable_explicit_config_is_an_error(tmp_path):
    with pytest.raises(UsageError):
        configure("demo", "--config", str(tmp_path / "missing.toml"))
    bad = tmp_path / "bad.toml"
    bad.write_text("this is = = not toml")
    with pytest.raises(UsageError) as err:
        configure("demo", "--config", str(bad))
    assert "not valid TOML" in str(err.value)


def test_help_explains_every_option(capsys):
    with pytest.raises(SystemExit):
        parse_args(["live", "--help"])
    text = capsys.readouterr().out
    for option in ("--venues", "--symbols", "--interval", "--endpoint", "--config", "--halted", "--no-record",
                   "--headless", "--duration", "--json", "--export-candles", "--theme", "--color", "--no-mouse",
                   "--metrics-port"):
        assert option in text
    assert isinstance(parse_args(["demo"]), argparse.Namespace)


def test_quote_aliases_choose_whether_usdt_counts_as_usd():
    from tui.runtime.session import Session
    write_default_config("quote_aliases = {}\n")
    cfg, _ = configure("demo")
    session = Session(cfg)
    assert session.venue_symbols("COINBASE") == ["BTC-USDT", "ETH-USDT", "SOL-USDT"]
    assert session.symbol_map.unified("BINANCE", "BTCUSDT") == "BTC/USDT"
    write_default_config('quote_aliases = {USDT = "USD"}\n')
    session = Session(configure("demo")[0])
    assert session.venue_symbols("COINBASE") == ["BTC-USD", "ETH-USD", "SOL-USD"]
    assert session.symbol_map.is_approximate("BTCUSDT")
