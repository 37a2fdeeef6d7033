"""The risk engine: turns a Signal into a sized Decision (APPROVED, REJECTED or SUPPRESSED). Paper only.

Sizing: size = equity * risk_per_trade / stop_distance, so hitting the stop loses risk_per_trade of
equity; if size * price exceeds max_position_notional the size is scaled down to that cap.

Checks, first failure wins: a usable price and stop distance; the day's realized paper loss has not
reached daily_loss_limit (days are UTC, from the signal's decision time); notional >= min_notional;
the symbol's net paper exposure stays within max_symbol_exposure.

Paper exposure, kept deliberately simple: per unified symbol ("BTC/USD", so the same asset on two
venues shares one limit) a signed net notional; an APPROVED long adds +notional, an APPROVED short
adds -notional, and the absolute value after the trade is checked against the cap. Nothing ever
closes a paper position by itself; ``flatten(symbol)`` resets it to zero.

While trading is halted a signal that would be approved is SUPPRESSED instead (with the size it would
have had) and changes no exposure; one that fails a check is still REJECTED, with its reason.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any, NamedTuple

from strategy.scalper import Signal

NS_PER_DAY = 86_400 * 1_000_000_000

APPROVED = "APPROVED"
REJECTED = "REJECTED"
SUPPRESSED = "SUPPRESSED"


@dataclass(frozen=True)
class RiskConfig:
    equity: float = 10_000.0
    risk_per_trade: float = 0.005  # fraction of equity lost if the stop is hit
    max_position_notional: float = 5_000.0
    max_symbol_exposure: float = 10_000.0
    daily_loss_limit: float = 300.0
    min_notional: float = 10.0

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ValueError(f"{f.name}: expected a finite number, got {value!r}")
            if f.name == "min_notional" and value < 0.0:
                raise ValueError(f"min_notional: must be >= 0, got {value!r}")
            if f.name != "min_notional" and value <= 0.0:
                raise ValueError(f"{f.name}: must be > 0, got {value!r}")
            object.__setattr__(self, f.name, float(value))
        if self.risk_per_trade >= 1.0:
            raise ValueError(f"risk_per_trade: a fraction of equity below 1 is expected, got {self.risk_per_trade!r}")

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RiskConfig:
        """Build from a config section; unknown keys and bad values raise ValueError naming the key."""
        known = {f.name for f in fields(cls)}
        for key in d:
            if key not in known:
                raise ValueError(f"{key}: unknown risk setting (known: {', '.join(sorted(known))})")
        return cls(**d)


class Decision(NamedTuple):
    signal: Signal
    status: str  # APPROVED, REJECTED or SUPPRESSED
    size: float
    notional: float
    reason: str


class RiskEngine:
    def __init__(self, config: RiskConfig | None = None) -> None:
        self.config = config or RiskConfig()
        self.exposure: dict[str, float] = {}  # unified symbol -> signed net paper notional
        self._day = -1  # UTC day number of the realized P&L below
        self._day_pnl = 0.0

    def record_pnl(self, amount: float, now_ns: int) -> None:
        """Add realized paper P&L (negative for a loss); the total resets at each UTC midnight.

        P&L stamped on a day before the current one is history and does not count toward today.
        """
        day = now_ns // NS_PER_DAY
        if day > self._day:
            self._day, self._day_pnl = day, 0.0
        if day == self._day:
            self._day_pnl += amount

    def daily_pnl(self, now_ns: int) -> float:
        """Realized paper P&L of the UTC day containing now_ns."""
        return self._day_pnl if now_ns // NS_PER_DAY == self._day else 0.0

    def flatten(self, symbol: str) -> None:
        """Reset one unified symbol's paper exposure to zero."""
        self.exposure.pop(symbol, None)

    def evaluate(self, signal: Signal, halted: bool) -> Decision:
        cfg = self.config
        price, stop = signal.price, signal.stop_distance
        if not (math.isfinite(price) and price > 0.0):
            return Decision(signal, REJECTED, 0.0, 0.0, f"bad price {price!r}")
        if not (math.isfinite(stop) and stop > 0.0):
            return Decision(signal, REJECTED, 0.0, 0.0, f"bad stop distance {stop!r}")

        risk = cfg.equity * cfg.risk_per_trade
        size = risk / stop
        notional = size * price
        sizing = f"risk {risk:.2f} / stop {stop:g} = size {size:.6g}, notional {notional:.2f}"
        if notional > cfg.max_position_notional:
            size = cfg.max_position_notional / price
            sizing += f"; capped to max_position_notional {cfg.max_position_notional:.2f} (size {size:.6g})"
            notional = cfg.max_position_notional

        loss = -self.daily_pnl(signal.decided_ns)
        if loss >= cfg.daily_loss_limit:
            return Decision(signal, REJECTED, size, notional,
                            f"daily loss limit: lost {loss:.2f} today, limit {cfg.daily_loss_limit:.2f}")
        if notional < cfg.min_notional:
            return Decision(signal, REJECTED, size, notional,
                            f"notional {notional:.2f} below min_notional {cfg.min_notional:.2f}")
        key = signal.unified or f"{signal.venue}:{signal.symbol}"
        current = self.exposure.get(key, 0.0)
        after = current + (notional if signal.side == "long" else -notional)
        if abs(after) > cfg.max_symbol_exposure:
            return Decision(signal, REJECTED, size, notional,
                            f"{key} exposure would be {after:.2f}, limit {cfg.max_symbol_exposure:.2f}")
        if halted:
            return Decision(signal, SUPPRESSED, size, notional, f"trading halted; would be: {sizing}")
        self.exposure[key] = after
        return Decision(signal, APPROVED, size, notional, sizing)
