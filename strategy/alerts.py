"""Operator alerts: rules parsed from one line of text, evaluated on market observations. Pure.

A rule fires when its condition becomes true (the first evaluation included) and re-arms only after it
has been false; price rules re-arm only once the price is back past the level by ``hysteresis``, so one
crossing gives one alert. The caller builds an ``Observation`` from its state on its own clock and
delivers the returned ``Alert`` records; nothing here does I/O.

Rules (keywords in any case; ``VENUE:`` narrows a rule to one venue, otherwise the symbol is watched on
every venue that lists it, as one condition):

    [VENUE:]SYMBOL price > 65000          price above (>, >=) or below (<, <=) a level
    [VENUE:]SYMBOL move > 2% in 5m        absolute move within a window (s, m, h)
    [VENUE:]SYMBOL spread > 10 bps        a venue's own bid/ask spread
    [VENUE:]SYMBOL funding > 0.05%        a perpetual's funding rate per period (< -0.01% for negative)
    SYMBOL arb > 5 bps                    cross-venue arbitrage, net of taker fees
    [VENUE:][SYMBOL] stale                a stream stopped (or its exchange time stopped)
    gap                                   a sequence or bar gap was seen
    [VENUE] skew > 500 ms                 exchange clock vs ours (median)
    halt                                  trading halted, by anyone
"""
from __future__ import annotations

import re
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime
from typing import NamedTuple

HYSTERESIS = 0.0005  # 5 bps: a price rule re-arms once the price is this far back past its level
MOVE_SAMPLE_NS = 1_000_000_000  # move rules keep one price a second per stream
MAX_WINDOW_S = 86_400
KINDS = ("price", "move", "spread", "arb", "stale", "gap", "skew", "halt", "funding")
_UNITS = {"s": 1, "m": 60, "h": 3600}


class AlertRuleError(ValueError):
    """A rule that cannot be understood, said in one line naming the problem."""


class AlertRule(NamedTuple):
    text: str  # as the operator wrote it (normalised spacing)
    kind: str  # one of KINDS
    venue: str  # "" for every venue
    symbol: str  # as written, upper case; "" for rules not about one symbol
    op: str  # ">" ">=" "<" "<=" ("" for stale, gap and halt)
    threshold: float
    window_ns: int = 0  # move rules

    def holds(self, value: float) -> bool:
        t = self.threshold
        return {">": value > t, ">=": value >= t, "<": value < t, "<=": value <= t}.get(self.op, value > 0)

    def rearms(self, value: float, hysteresis: float) -> bool:
        """False again, and for prices back past the level by the hysteresis band."""
        if self.kind != "price":
            return not self.holds(value)
        band = abs(self.threshold) * hysteresis
        return value < self.threshold - band if self.op in (">", ">=") else value > self.threshold + band


class Alert(NamedTuple):
    rule: str
    kind: str
    venue: str  # the venue that made it true ("" when not about one venue)
    symbol: str  # the rule's symbol as written ("" when none)
    venue_symbol: str  # that venue's own name for it
    value: float
    threshold: float
    at_ns: int  # when it fired, on the session's clock (recorded time in replay)
    detail: str  # one line for the log

    def to_json(self) -> dict[str, object]:
        return {"rule": self.rule, "kind": self.kind, "venue": self.venue, "symbol": self.symbol,
                "venue_symbol": self.venue_symbol, "value": self.value, "threshold": self.threshold,
                "at": iso_utc(self.at_ns), "at_ns": self.at_ns, "detail": self.detail}

    @classmethod
    def from_json(cls, data: dict[str, object]) -> Alert:
        """The recorded form back (replay); raises ValueError on a record that is not one."""
        try:
            return cls(str(data["rule"]), str(data["kind"]), str(data.get("venue", "")),
                       str(data.get("symbol", "")), str(data.get("venue_symbol", "")),
                       float(data["value"]), float(data["threshold"]),  # type: ignore[arg-type]
                       int(data["at_ns"]), str(data.get("detail", "")))  # type: ignore[call-overload]
        except (KeyError, TypeError) as exc:
            raise ValueError(f"not an alert record: {exc}") from None


class MarketSample(NamedTuple):
    """One venue's view of one symbol at an evaluation."""

    venue: str
    symbol: str  # the venue's own
    unified: str
    last: float | None
    bid: float | None
    ask: float | None
    stale: bool
    funding: float | None = None  # a perpetual's funding rate per period, a fraction; None elsewhere


class Observation(NamedTuple):
    now_ns: int
    samples: list[MarketSample]
    arb_bps: dict[str, tuple[float, str]]  # unified -> (best net bps, "BUY>SELL"); absent: fewer than 2 quotes
    stale_streams: list[tuple[str, str]]  # (venue, venue symbol)
    gaps: int  # gaps seen so far (a running count)
    skew_ms: dict[str, float]  # venue -> median exchange-minus-local clock, ms
    halted: bool
    halt_cause: str = ""


def iso_utc(ns: int) -> str:
    return datetime.fromtimestamp(ns / 1e9, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")[:-4] + "Z"


_TOKEN = re.compile(r"[<>]=?|[^\s<>]+")


def _number(text: str, what: str, rule: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise AlertRuleError(f"alert {rule!r}: {what} must be a number, got {text!r}") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise AlertRuleError(f"alert {rule!r}: {what} must be a finite number, got {text!r}")
    return value


def _strip_unit(tokens: list[str], units: tuple[str, ...]) -> list[str]:
    """``10bps`` / ``10 bps`` / ``2%`` -> the number alone."""
    out = list(tokens)
    if len(out) >= 2 and out[-1].lower() in units:
        out.pop()
    elif out:
        for unit in units:
            if out[-1].lower().endswith(unit) and len(out[-1]) > len(unit):
                out[-1] = out[-1][: -len(unit)]
                break
    return out


def parse_rule(text: str, known_venues: tuple[str, ...] | None = None) -> AlertRule:
    """One rule from its text; raises ``AlertRuleError`` naming what is wrong."""
    tokens = _TOKEN.findall(text.strip())
    rule = " ".join(tokens)
    if not tokens:
        raise AlertRuleError("alert rule is empty")
    lowered = [t.lower() for t in tokens]
    kind_at = next((i for i, t in enumerate(lowered) if t in KINDS), None)
    if kind_at is None:
        raise AlertRuleError(f"alert {rule!r}: no condition; expected one of {', '.join(KINDS)}")
    kind = lowered[kind_at]
    subject, rest = tokens[:kind_at], tokens[kind_at + 1:]
    if len(subject) > 1:
        raise AlertRuleError(f"alert {rule!r}: expected [VENUE:]SYMBOL before {kind!r}, got {' '.join(subject)!r}")
    venue, symbol = "", ""
    if subject:
        head, sep, tail = subject[0].partition(":")
        if sep:
            venue, symbol = head.upper(), tail.upper()
        elif kind == "skew":
            venue = head.upper()
        else:
            symbol = head.upper()
    if venue and known_venues is not None and venue not in known_venues:
        raise AlertRuleError(f"alert {rule!r}: unknown venue {venue!r}; known: {', '.join(known_venues)}")
    if kind in ("price", "move", "spread", "arb", "funding") and not symbol:
        raise AlertRuleError(f"alert {rule!r}: a {kind} rule needs a symbol, e.g. 'BTCUSDT {kind} > ...'")
    if kind in ("gap", "halt") and (venue or symbol):
        raise AlertRuleError(f"alert {rule!r}: a {kind} rule takes no symbol or venue")
    if kind == "arb" and venue:
        raise AlertRuleError(f"alert {rule!r}: an arb rule is across venues; name no venue")
    if kind in ("stale", "gap", "halt"):
        if rest:
            raise AlertRuleError(f"alert {rule!r}: unexpected {' '.join(rest)!r} after {kind!r}")
        return AlertRule(rule, kind, venue, symbol, "", 0.0)
    if not rest or rest[0] not in (">", ">=", "<", "<="):
        raise AlertRuleError(f"alert {rule!r}: expected >, >=, < or <= after {kind!r}")
    op, args = rest[0], rest[1:]
    window_ns = 0
    if kind == "move":
        if op not in (">", ">="):
            raise AlertRuleError(f"alert {rule!r}: a move rule is 'move > N% in WINDOW'")
        lowered_args = [a.lower() for a in args]
        if "in" not in lowered_args:
            raise AlertRuleError(f"alert {rule!r}: a move rule needs a window, e.g. 'move > 2% in 5m'")
        at = lowered_args.index("in")
        window = "".join(args[at + 1:]).lower()
        match = re.fullmatch(r"(\d+(?:\.\d+)?)([smh])", window)
        if not match:
            raise AlertRuleError(f"alert {rule!r}: window must be like 30s, 5m or 1h, got {window!r}")
        seconds = float(match.group(1)) * _UNITS[match.group(2)]
        if not 0 < seconds <= MAX_WINDOW_S:
            raise AlertRuleError(f"alert {rule!r}: window must be from 1 s to 24 h")
        window_ns = int(seconds * 1e9)
        args = _strip_unit(args[:at], ("%",))
    elif kind in ("spread", "arb"):
        args = _strip_unit(args, ("bps",))
    elif kind == "funding":
        args = _strip_unit(args, ("%",))
    elif kind == "skew":
        args = _strip_unit(args, ("ms",))
    if len(args) != 1:
        raise AlertRuleError(f"alert {rule!r}: expected one number after {op!r}")
    threshold = _number(args[0], "the level", rule)
    if kind == "price" and threshold <= 0 and op in ("<", "<="):
        raise AlertRuleError(f"alert {rule!r}: a price is never below {args[0]}")
    return AlertRule(rule, kind, venue, symbol, op, threshold, window_ns)


class _Armed:
    __slots__ = ("armed",)

    def __init__(self) -> None:
        self.armed = True


class AlertEngine:
    """Holds the rules and their armed state; ``evaluate`` returns the alerts that fire now."""

    def __init__(self, unify: Callable[[str], str] | None = None, hysteresis: float = HYSTERESIS,
                 known_venues: tuple[str, ...] | None = None, keep: int = 500) -> None:
        self.unify = unify or (lambda s: s)
        self.hysteresis = hysteresis
        self.known_venues = known_venues
        self.rules: list[AlertRule] = []
        self._state: dict[str, _Armed] = {}
        self._unified: dict[str, str] = {}
        self._prices: dict[tuple[str, str], deque[tuple[int, float]]] = {}
        self._gaps_seen: int | None = None
        self.history: deque[Alert] = deque(maxlen=keep)
        self.fired = 0
        self.by_rule: dict[str, int] = {}

    # -- rules ----------------------------------------------------------------------------------
    def add(self, text: str) -> AlertRule:
        rule = parse_rule(text, self.known_venues)
        if any(r.text.lower() == rule.text.lower() for r in self.rules):
            raise AlertRuleError(f"alert {rule.text!r} exists already")
        self.rules.append(rule)
        self._state[rule.text] = _Armed()
        if rule.symbol:
            self._unified[rule.symbol] = self.unify(rule.symbol)
        return rule

    def remove(self, text: str) -> AlertRule | None:
        wanted = " ".join(_TOKEN.findall(text.strip())).lower()
        for rule in self.rules:
            if rule.text.lower() == wanted:
                self.rules.remove(rule)
                self._state.pop(rule.text, None)
                return rule
        return None

    # -- evaluation -----------------------------------------------------------------------------
    def evaluate(self, obs: Observation) -> list[Alert]:
        if any(r.kind == "move" for r in self.rules):
            self._sample_prices(obs)
        new_gaps = 0 if self._gaps_seen is None else obs.gaps - self._gaps_seen
        self._gaps_seen = obs.gaps
        fired: list[Alert] = []
        for rule in self.rules:
            found = self._value(rule, obs, new_gaps)
            if found is None:
                continue  # nothing known yet: neither fires nor re-arms
            value, venue, venue_symbol, detail = found
            state = self._state[rule.text]
            if state.armed and rule.holds(value):
                state.armed = False
                alert = Alert(rule.text, rule.kind, venue, rule.symbol, venue_symbol, value, rule.threshold,
                              obs.now_ns, detail)
                self.record(alert)
                fired.append(alert)
            elif not state.armed and rule.rearms(value, self.hysteresis):
                state.armed = True
        return fired

    def record(self, alert: Alert) -> None:
        """Count and keep an alert (one fired here, or one replayed from a recording)."""
        self.history.append(alert)
        self.fired += 1
        self.by_rule[alert.rule] = self.by_rule.get(alert.rule, 0) + 1

    def _matches(self, rule: AlertRule, s: MarketSample) -> bool:
        if rule.venue and s.venue != rule.venue:
            return False
        return not rule.symbol or s.symbol == rule.symbol or s.unified == self._unified.get(rule.symbol)

    def _value(self, rule: AlertRule, obs: Observation,
               new_gaps: int) -> tuple[float, str, str, str] | None:
        """(value, venue, venue symbol, detail) of a rule now; None when nothing is known."""
        kind = rule.kind
        if kind in ("price", "spread", "move", "funding"):
            best: tuple[float, str, str] | None = None
            for s in obs.samples:
                if s.stale or not self._matches(rule, s):
                    continue
                value = self._sample_value(rule, s, obs.now_ns)
                if value is None:
                    continue
                # one condition across venues: the venue furthest towards the condition speaks for it
                if best is None or (value < best[0] if rule.op in ("<", "<=") else value > best[0]):
                    best = (value, s.venue, s.symbol)
            if best is None:
                return None
            value, venue, symbol = best
            unit = {"price": "", "spread": " bps", "move": "%", "funding": "%"}[kind]
            return value, venue, symbol, f"{venue} {symbol} {kind} {value:.10g}{unit} {rule.op} {rule.threshold:g}{unit}"
        if kind == "arb":
            arb = obs.arb_bps.get(self._unified.get(rule.symbol, rule.symbol))
            if arb is None:
                return None
            return arb[0], "", "", f"arb {rule.symbol} {arb[1]} net {arb[0]:.2f} bps {rule.op} {rule.threshold:g} bps"
        if kind == "stale":
            streams = [f"{v} {s}" for v, s in obs.stale_streams
                       if (not rule.venue or v == rule.venue)
                       and (not rule.symbol or s == rule.symbol
                            or self._unified.get(rule.symbol) in {m.unified for m in obs.samples
                                                                   if m.venue == v and m.symbol == s})]
            venue = streams[0].split(" ")[0] if streams else ""
            return float(len(streams)), venue, "", "stale: " + ", ".join(streams)
        if kind == "gap":
            return float(max(new_gaps, 0)), "", "", f"{new_gaps} new gap(s), {obs.gaps} in all"
        if kind == "skew":
            skews = [(abs(ms), v, ms) for v, ms in sorted(obs.skew_ms.items()) if not rule.venue or v == rule.venue]
            if not skews:
                return None
            size, venue, ms = max(skews)
            return size, venue, "", f"clock skew {venue} {ms:+.0f} ms {rule.op} {rule.threshold:g} ms"
        return (1.0 if obs.halted else 0.0), "", "", f"halted: {obs.halt_cause}" if obs.halted else "trading"

    def _sample_value(self, rule: AlertRule, s: MarketSample, now_ns: int) -> float | None:
        if rule.kind == "funding":
            return None if s.funding is None else s.funding * 100  # percent per period, as the rule is written
        if rule.kind == "price":
            return s.last if s.last is not None else (
                (s.bid + s.ask) / 2 if s.bid is not None and s.ask is not None else None)
        if rule.kind == "spread":
            if s.bid is None or s.ask is None or s.bid <= 0 or s.ask <= 0:
                return None
            return (s.ask - s.bid) / ((s.ask + s.bid) / 2) * 1e4
        prices = self._prices.get((s.venue, s.symbol))
        if not prices or s.last is None:
            return None
        start = now_ns - rule.window_ns
        base = next((p for t, p in prices if t >= start), None)
        return None if not base else abs(s.last - base) / base * 100

    def _sample_prices(self, obs: Observation) -> None:
        oldest = obs.now_ns - max(r.window_ns for r in self.rules if r.kind == "move") - MOVE_SAMPLE_NS
        for s in obs.samples:
            if s.last is None or s.stale:
                continue
            prices = self._prices.setdefault((s.venue, s.symbol), deque())
            if not prices or obs.now_ns - prices[-1][0] >= MOVE_SAMPLE_NS:
                prices.append((obs.now_ns, s.last))
            while prices and prices[0][0] < oldest:
                prices.popleft()

    def stats(self, deliveries: dict[str, dict[str, int]] | None = None) -> dict[str, object]:
        return {"rules": [r.text for r in self.rules], "fired": self.fired, "by_rule": dict(self.by_rule),
                "recent": [a.to_json() for a in list(self.history)[-50:]], "deliveries": deliveries or {}}
