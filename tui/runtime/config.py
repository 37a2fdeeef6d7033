"""Configuration: a TOML file, then ``CLEARTERM_*`` environment variables, then flags (the CLI applies those).

The file is ``$XDG_CONFIG_HOME/clearterm/config.toml`` unless ``--config`` names another. Every key,
its default and an example are in the README. A bad key or value gives one line naming it.
"""
from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from strategy.paper import PaperConfig
from strategy.risk import RiskConfig
from strategy.scalper import ScalperParams


class ConfigError(ValueError):
    """A configuration problem, said in one line that names the key."""


THEMES = ("textual-dark", "textual-light", "ansi-dark", "ansi-light")
COLOR_SYSTEMS = ("auto", "256", "truecolor", "standard")
NOTIFY = ("bell", "osc9", "both", "none")
NETWORKS = ("production", "testnet", "us", "tr")  # a venue without the network chosen uses production


@dataclass
class UISettings:
    """How the app looks and reacts; from the ``[ui]`` and ``[keys]`` tables, env and flags."""

    theme: str = "textual-dark"
    color: str = "auto"  # Textual's colour system: auto, 256, truecolor, standard
    mouse: bool = True
    fps: int | None = None  # cap on frames per second over slow links (TEXTUAL_FPS)
    refresh_hz: float = 10.0  # how often widgets copy state from the pipeline
    notify: str = "bell"  # on an automatic halt: terminal bell, OSC 9 desktop notification, both, none
    keys: dict[str, str] = field(default_factory=dict)  # binding id -> keys, e.g. {"halt": "h,f12"}
    metrics_port: int | None = None
    watchlists: dict[str, list[str]] = field(default_factory=dict)  # name -> symbols; key w cycles them
    liquidation_highlight: float = 50_000.0  # liquidations of at least this notional stand out in their log


def state_dir() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or ""
    return (Path(base) if base and Path(base).is_absolute() else Path.home() / ".local" / "state") / "clearterm"


def default_config_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or ""
    root = Path(base) if base and Path(base).is_absolute() else Path.home() / ".config"
    return root / "clearterm" / "config.toml"


def load(cfg, ui: UISettings, path: Path | None, environ=os.environ) -> None:
    """Apply the config file (``path``, or the default one if it exists), then the environment."""
    explicit = path is not None
    path = Path(path) if path is not None else default_config_path()
    if explicit or path.is_file():
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(f"cannot read config file {path}: {exc.strerror or exc}") from None
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
        apply_config(cfg, ui, data)
    apply_environment(cfg, ui, environ)


ENV_KEYS = ("venues", "symbols", "interval", "network", "halted", "stale_after_s", "stale_reconnect_s",
            "startup_bars", "reconnect_limit", "dead_letter", "record", "theme", "color", "mouse", "fps",
            "refresh_hz", "notify", "metrics_port", "liquidation_highlight")


def apply_environment(cfg, ui: UISettings, environ) -> None:
    """``CLEARTERM_SYMBOLS=BTCUSDT,ETHUSDT``, ``CLEARTERM_HALTED=true``, ``CLEARTERM_FPS=15``..."""
    for key in ENV_KEYS:
        raw = environ.get(f"CLEARTERM_{key.upper()}")
        if raw is None:
            continue
        try:
            value = tomllib.loads(f"v = {raw}")["v"]  # numbers and booleans as TOML reads them
        except tomllib.TOMLDecodeError:
            value = raw
        data = {key: value} if key not in UI_KEYS else {"ui": {key: value}}
        try:
            apply_config(cfg, ui, data)
        except ConfigError as exc:
            raise ConfigError(f"environment variable CLEARTERM_{key.upper()}: {str(exc).split(': ', 1)[-1]}") from None


UI_KEYS = ("theme", "color", "mouse", "fps", "refresh_hz", "notify", "metrics_port", "liquidation_highlight")


def _fail(key: str, what: str, value) -> ConfigError:
    return ConfigError(f"config key {key!r}: expected {what}, got {value!r}")


def _expect(key: str, value, kind, what: str):
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise _fail(key, what, value)
    return value


def _choice(key: str, value, choices) -> str:
    if value not in choices:
        raise _fail(key, " or ".join(choices), value)
    return value


def _positive(key: str, value, kind=(int, float)):
    _expect(key, value, kind, "a positive number")
    if value <= 0:
        raise _fail(key, "a positive number", value)
    return value


def _str_list(key: str, value) -> list[str]:
    if isinstance(value, str):
        value = [s.strip() for s in value.split(",") if s.strip()]
    _expect(key, value, list, "a list of strings")
    for item in value:
        _expect(key, item, str, "a list of strings")
    if not value:
        raise _fail(key, "a non-empty list", value)
    return list(value)


def apply_config(cfg, ui: UISettings, data: dict) -> None:
    for key, value in data.items():
        if key == "venues":
            cfg.venues = [v.upper() for v in _str_list(key, value)]
        elif key == "symbols":
            cfg.symbols = _str_list(key, value)
        elif key == "interval":
            from feeds.intervals import INTERVALS
            cfg.interval = _choice(key, _expect(key, value, str, 'an interval such as "1m"'), tuple(INTERVALS))
        elif key == "network":
            cfg.network = _choice(key, value, NETWORKS)
        elif key == "halted":
            cfg.halted = _expect(key, value, bool, "true or false")
        elif key == "record":
            if not _expect(key, value, bool, "true or false"):
                cfg.record_path = None
        elif key == "stale_after_s":
            cfg.stale_after_s = float(_positive(key, value))
        elif key == "stale_reconnect_s":
            cfg.stale_reconnect_s = float(_positive(key, value))
        elif key == "startup_bars":
            cfg.startup_bars = _expect(key, value, int, "a whole number of bars (0: none)")
            if not 0 <= value <= 1000:
                raise _fail(key, "a whole number of bars from 0 to 1000", value)
        elif key == "reconnect_limit":
            cfg.reconnect_limit = int(_positive(key, value, int))
        elif key == "dead_letter":
            if not _expect(key, value, bool, "true or false"):
                cfg.dead_letter_path = None
        elif key == "endpoints":
            _expect(key, value, dict, "a table of VENUE = URL")
            for venue, urls in value.items():
                cfg.endpoints[venue.upper()] = _str_list(f"endpoints.{venue}", urls)
        elif key == "rest_endpoints":
            _expect(key, value, dict, "a table of VENUE = URL")
            for venue, url in value.items():
                cfg.rest_endpoints[venue.upper()] = _expect(f"rest_endpoints.{venue}", url, str, "a URL")
        elif key == "quote_aliases":
            _expect(key, value, dict, 'a table such as {USDT = "USD"}')
            for quote, shown in value.items():
                _expect(f"quote_aliases.{quote}", shown, str, "a currency code")
            cfg.quote_aliases = {q.upper(): v.upper() for q, v in value.items()}
        elif key == "strategy":
            _check_table(key, value, ScalperParams.from_dict)
            cfg.strategy = dict(value)
        elif key == "risk":
            _check_table(key, value, RiskConfig.from_dict)
            cfg.risk = dict(value)
        elif key == "paper":
            _check_table(key, value, PaperConfig.from_dict)
            cfg.paper = dict(value)
        elif key == "watchlists":
            _expect(key, value, dict, 'a table of NAME = ["SYMBOL", ...]')
            ui.watchlists = {str(name): [x.upper() for x in _str_list(f"watchlists.{name}", symbols)]
                             for name, symbols in value.items()}
        elif key == "intervals":
            cfg.intervals = _str_list(key, value)
        elif key == "alerts":
            cfg.alerts = _str_list(key, value) if value != [] else []
            _check_alerts(cfg.alerts)
        elif key == "alert_webhook":
            cfg.alert_webhook = _expect(key, value, str, "an http(s) URL")
            if not value.startswith(("http://", "https://")):
                raise _fail(key, "an http(s) URL", value)
        elif key == "alert_command":
            cfg.alert_command = _expect(key, value, str, "a shell command")
        elif key == "alert_desktop":
            cfg.alert_desktop = _expect(key, value, bool, "true or false")
        elif key == "ui":
            _expect(key, value, dict, "a table")
            _apply_ui(ui, value)
        elif key == "keys":
            _expect(key, value, dict, "a table of action id = keys")
            for action, keys in value.items():
                ui.keys[action] = ",".join(_str_list(f"keys.{action}", keys))
        else:
            raise ConfigError(f"unknown config key {key!r}")


def _apply_ui(ui: UISettings, table: dict) -> None:
    for key, value in table.items():
        name = f"ui.{key}"
        if key == "theme":
            ui.theme = _choice(name, value, THEMES)
        elif key == "color":
            ui.color = _choice(name, str(value), COLOR_SYSTEMS)
        elif key == "mouse":
            ui.mouse = _expect(name, value, bool, "true or false")
        elif key == "fps":
            ui.fps = int(_positive(name, value, int))
        elif key == "refresh_hz":
            ui.refresh_hz = float(_positive(name, value))
        elif key == "notify":
            ui.notify = _choice(name, value, NOTIFY)
        elif key == "liquidation_highlight":
            ui.liquidation_highlight = float(_positive(name, value))
        elif key == "metrics_port":
            port = _expect(name, value, int, "a TCP port")
            if not 0 <= port <= 65535:
                raise _fail(name, "a TCP port (0-65535)", value)
            ui.metrics_port = port
        else:
            raise ConfigError(f"unknown config key {name!r}")


def _check_alerts(rules: list[str]) -> None:
    from feeds.venues import VENUES
    from strategy.alerts import AlertRuleError, parse_rule
    for rule in rules:
        try:
            parse_rule(rule, tuple(VENUES))
        except AlertRuleError as exc:
            raise ConfigError(f"config key 'alerts': {exc}") from None


def _check_table(key: str, value, parse) -> None:
    _expect(key, value, dict, "a table")
    try:
        parse(value)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"config key {key!r}: {exc}") from None
