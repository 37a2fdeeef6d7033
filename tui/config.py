"""The TOML configuration file: each key overrides a default; a bad key or value names itself."""
from __future__ import annotations

import tomllib
from pathlib import Path

from strategy.risk import RiskConfig
from strategy.scalper import ScalperParams


class ConfigError(ValueError):
    """A configuration problem, said in one line that names the key."""


def _expect(key: str, value, kind, what: str):
    if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
        raise ConfigError(f"config key {key!r}: expected {what}, got {value!r}")
    return value


def _str_list(key: str, value) -> list[str]:
    if isinstance(value, str):
        value = [s.strip() for s in value.split(",") if s.strip()]
    _expect(key, value, list, "a list of strings")
    for item in value:
        _expect(key, item, str, "a list of strings")
    return list(value)


def apply_config_file(cfg, path: Path) -> None:
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror or exc}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
    apply_config(cfg, data)


def apply_config(cfg, data: dict) -> None:
    for key, value in data.items():
        if key == "venues":
            cfg.venues = [v.upper() for v in _str_list(key, value)]
        elif key == "symbols":
            cfg.symbols = _str_list(key, value)
        elif key == "interval":
            cfg.interval = _expect(key, value, str, "an interval such as \"1m\"")
        elif key == "network":
            if value not in ("production", "testnet", "us"):
                raise ConfigError(f"config key 'network': expected production, testnet or us, got {value!r}")
            cfg.network = value
        elif key == "halted":
            cfg.halted = _expect(key, value, bool, "true or false")
        elif key == "stale_after_s":
            value = _expect(key, value, (int, float), "a number of seconds")
            if value <= 0:
                raise ConfigError(f"config key 'stale_after_s': must be positive, got {value!r}")
            cfg.stale_after_s = float(value)
        elif key == "endpoints":
            _expect(key, value, dict, "a table of VENUE = URL")
            for venue, urls in value.items():
                cfg.endpoints[venue.upper()] = _str_list(f"endpoints.{venue}", urls)
        elif key == "strategy":
            _check_table(key, value, ScalperParams.from_dict)
            cfg.strategy = dict(value)
        elif key == "risk":
            _check_table(key, value, RiskConfig.from_dict)
            cfg.risk = dict(value)
        else:
            raise ConfigError(f"unknown config key {key!r}")


def _check_table(key: str, value, parse) -> None:
    _expect(key, value, dict, "a table")
    try:
        parse(value)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"config key {key!r}: {exc}") from None
