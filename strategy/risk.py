"""The risk engine: turns a Signal into a sized Decision (APPROVED, REJECTED or SUPPRESSED). Paper only.

Sizing: size = equity * risk_per_trade / stop_distance, so hitting the stop loses risk_per_trade of
equity; if size * price exceeds max_position_notional the size is scaled down to that cap.

Checks, first failure wins: a usable price and stop distance; the day's realized paper loss has not
reached daily_loss_limit (days are UTC, from the signal's decision time); notional >= min_notional;
the unified symbol's net paper exposure stays within max_symbol_exposure; the venue symbol's position
stays within max_position; all positions together stay within max_total_notional.

Positions, per venue symbol a signed notional: a signal on the position's side adds to it, a signal
against it reverses it (the paper executor closes the position and opens the new side in one order),
so an APPROVED long of notional N makes a short position +N and a long one L + N. The approval
reserves that position at once; the paper executor replaces it with the actual position after every
fill (``set_position``), so stops and take-profits free the room again. Exposure per unified symbol
("BTC/USD", so the same asset on two venues shares one limit) is the sum of its venues' positions.
``flatten(symbol)`` resets a unified symbol's positions to zero.

The limits also bite after the fact: the paper executor halts trading when a position, the gross
notional or the day's loss (realised and unrealised, fees included) breaks them as prices move.

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
    # hard limits, checked again as prices move (a breach halts): above the soft max_symbol_exposure, so a
    # position opened at the soft limit does not halt trading on its first tick up
    max_position: float = 12_000.0  # notional of one venue symbol's paper position
    max_total_notional: float = 36_000.0  # gross notional of all paper positions

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
        # venue symbol -> (unified symbol, signed paper position notional, approved orders included)
        self.positions: dict[tuple[str, str], tuple[str, float]] = {}
        self._day = -1  # UTC day number of the realized P&L below
        self._day_pnl = 0.0

    @property
    def exposure(self) -> dict[str, float]:
        """Unified symbol -> signed net paper notional over its venues (symbols with none left out)."""
        out: dict[str, float] = {}
        for unified, notional in self.positions.values():
            out[unified] = out.get(unified, 0.0) + notional
        return {k: v for k, v in out.items() if v}

    def set_position(self, venue: str, symbol: str, unified: str, notional: float) -> None:
        """The paper executor's actual position after a fill (signed notional)."""
        self.positions[(venue, symbol)] = (unified, notional)

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
        """Reset one unified symbol's paper positions (every venue's) to zero."""
        for key in [k for k, (unified, _) in self.positions.items() if unified == symbol]:
            del self.positions[key]

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
        unified = signal.unified or f"{signal.venue}:{signal.symbol}"
        key = (signal.venue, signal.symbol)
        held = self.positions.get(key, ("", 0.0))[1]
        signed = notional if signal.side == "long" else -notional
        position = held + signed if held * signed >= 0.0 else signed  # against the position: it reverses
        others = [(u, n) for k, (u, n) in self.positions.items() if k != key]
        after = position + sum(n for u, n in others if u == unified)
        if abs(after) > cfg.max_symbol_exposure:
            return Decision(signal, REJECTED, size, notional,
                            f"{unified} exposure would be {after:.2f}, limit {cfg.max_symbol_exposure:.2f}")
        if abs(position) > cfg.max_position:
            return Decision(signal, REJECTED, size, notional,
                            f"{signal.venue} {signal.symbol} position would be {position:.2f}, "
                            f"limit max_position {cfg.max_position:.2f}")
        gross = abs(position) + sum(abs(n) for _, n in others)
        if gross > cfg.max_total_notional:
            return Decision(signal, REJECTED, size, notional,
                            f"gross notional would be {gross:.2f}, limit max_total_notional "
                            f"{cfg.max_total_notional:.2f}")
        if halted:
            return Decision(signal, SUPPRESSED, size, notional, f"trading halted; would be: {sizing}")
        self.positions[key] = (unified, position)
        return Decision(signal, APPROVED, size, notional, sizing)
