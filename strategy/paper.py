"""The paper executor: every approved signal filled on paper against the market as it was. Sans-I/O.

It never sends an order anywhere. It is fed the pipeline's accepted events (``on_event``) and the risk
engine's approved decisions (``submit``); its time is the events' receive time, so a replay of a
recording gives the same fills, positions and P&L as the session that recorded it.

Fill model (see the README's "Paper trading" section for the assumptions):

- An order reaches the venue ``latency_ms`` after the signal's bar was received, and is handled at the
  first event of its venue and symbol at or after that time, against the book as it is then.
- Taker (the default): a buy walks the asks, a sell the bids, of the venue's synced local book (the
  whole size at the last visible level if the book is thinner than the order); without a synced book
  the whole size fills at the best bid/ask of the latest quote. The average price then moves
  ``slippage_bps`` against the order, and the venue's taker fee is charged on the notional.
- Maker (``maker=True``): an entry rests at the touch (a buy at the best bid, a sell at the best ask)
  and fills whole at its price, with the maker fee, only when a trade prints through it (strictly below
  a buy, strictly above a sell); it is cancelled after ``maker_timeout_s``. Exits are always taker.
- One position per venue and symbol. A signal against the position closes it and opens the new side in
  one order; a signal on the same side adds to it. Stop-loss and take-profit are set from the fill
  price and the signal's distances; they trigger when a trade of the venue prints at or through them
  (as a venue's stop orders trigger on the last price) and exit as taker orders with the same latency.
- Halted: approved decisions no longer come (the risk engine suppresses them) and an entry still in
  flight when the halt lands is cancelled; positions keep their stops unless ``flatten_on_halt``.
- Marks are the mid of the touch. Every fill and every mark change re-checks the risk limits (max
  position, max gross notional, max loss of the UTC day): a breach halts trading with its own cause.
"""
from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any, NamedTuple, Protocol, cast

from feeds.events import BookDelta, BookSnapshot, Quote, Trade
from strategy.halt import HaltRecord, TradingHalt, risk_limit_cause
from strategy.risk import APPROVED, NS_PER_DAY, Decision, RiskEngine

Levels = Sequence[tuple[float, float]]
NS_PER_S = 1_000_000_000
STRATEGY = "ema_rsi_scalper"
MAX_FILLS_KEPT = 100_000  # fills and equity points kept for the view and the export (counts are never trimmed)


class BookSource(Protocol):
    """The venue's synced local book and latest quote, read when an order is handled (the session adapts
    its order books and market state)."""

    def touch(self, venue: str, symbol: str) -> tuple[float, float] | None:
        """(best bid, best ask) of a synced, uncrossed book, or None."""
        ...

    def depth(self, venue: str, symbol: str, levels: int) -> tuple[Levels, Levels] | None:
        """(bids, asks), best first, of a synced book, or None."""
        ...

    def quote(self, venue: str, symbol: str) -> tuple[float, float] | None:
        """(bid, ask) of the latest accepted quote, or None."""
        ...


@dataclass(frozen=True)
class PaperConfig:
    latency_ms: float = 50.0  # signal (its bar's receive time) -> the order reaches the venue
    slippage_bps: float = 1.0  # taker fills: the average price moves this much against the order
    maker: bool = False  # entries rest at the touch and fill only when the market trades through them
    maker_timeout_s: float = 10.0  # a resting maker entry is cancelled after this long
    flatten_on_halt: bool = False  # a halt closes every position (else positions keep their stops)
    book_levels: int = 50  # levels of the local book a taker order may walk
    equity_step_s: float = 1.0  # the equity curve takes a point at most this often (and at every fill)

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in ("maker", "flatten_on_halt"):
                if not isinstance(value, bool):
                    raise ValueError(f"{f.name}: expected true or false, got {value!r}")
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ValueError(f"{f.name}: expected a finite number, got {value!r}")
            if value < 0 or (value == 0 and f.name in ("maker_timeout_s", "book_levels", "equity_step_s")):
                raise ValueError(f"{f.name}: must be {'>= 0' if f.name in ('latency_ms', 'slippage_bps') else '> 0'}"
                                 f", got {value!r}")
        object.__setattr__(self, "book_levels", int(self.book_levels))

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> PaperConfig:
        """Build from a config section; unknown keys and bad values raise ValueError naming the key."""
        known = {f.name for f in fields(cls)}
        for key in d:
            if key not in known:
                raise ValueError(f"{key}: unknown paper setting (known: {', '.join(sorted(known))})")
        return cls(**d)


class Fill(NamedTuple):
    at_ns: int
    venue: str
    symbol: str
    unified: str
    side: str  # "buy" or "sell"
    size: float
    price: float  # average fill price, slippage included
    fee: float
    liquidity: str  # "taker" or "maker"
    reason: str  # "entry", "reverse", "add", "stop", "take", "flatten"
    order_id: int
    position_after: float  # signed size
    realised_pnl: float  # P&L this fill realised (before fees)
    strategy: str


class EquityPoint(NamedTuple):
    at_ns: int
    equity: float
    realised_pnl: float
    unrealised_pnl: float
    fees: float
    drawdown: float


class _Order:
    __slots__ = ("order_id", "venue", "symbol", "unified", "side", "size", "reason", "active_ns", "expires_ns",
                 "limit", "stop_distance", "take_distance", "maker", "strategy")

    def __init__(self, order_id: int, venue: str, symbol: str, unified: str, side: str, size: float, reason: str,
                 active_ns: int, stop_distance: float = 0.0, take_distance: float = 0.0, maker: bool = False,
                 strategy: str = "") -> None:
        self.order_id = order_id
        self.venue = venue
        self.symbol = symbol
        self.unified = unified
        self.side = side  # "buy" or "sell"
        self.size = size  # for an entry: the new size; an exit closes whatever the position is
        self.reason = reason  # "signal", "stop", "take", "flatten"
        self.active_ns = active_ns
        self.expires_ns = 0
        self.limit = 0.0  # a maker entry's resting price, once it rests
        self.stop_distance = stop_distance
        self.take_distance = take_distance
        self.maker = maker
        self.strategy = strategy  # "" for exits: they belong to the position's strategy


class Position:
    """One venue symbol's paper position; sizes signed (long > 0), money in the quote currency."""

    __slots__ = ("venue", "symbol", "unified", "size", "avg_price", "realised_pnl", "fees", "mark", "stop",
                 "take", "exiting", "trade_pnl", "trade_fees", "strategy")

    def __init__(self, venue: str, symbol: str, unified: str) -> None:
        self.venue = venue
        self.symbol = symbol
        self.unified = unified
        self.size = 0.0
        self.avg_price = 0.0
        self.realised_pnl = 0.0
        self.fees = 0.0
        self.mark = 0.0  # mid of the touch; 0 before any price
        self.stop = 0.0
        self.take = 0.0
        self.exiting = False  # an exit order is in flight: stops do not fire twice
        self.trade_pnl = 0.0  # the open round trip: realised so far and fees so far
        self.trade_fees = 0.0
        self.strategy = STRATEGY  # the strategy whose signal opened the round trip

    @property
    def unrealised_pnl(self) -> float:
        return (self.mark - self.avg_price) * self.size if self.size and self.mark else 0.0

    @property
    def exposure(self) -> float:
        """Signed notional at the mark (at the average price before any mark)."""
        return self.size * (self.mark or self.avg_price)

    def to_json(self) -> dict[str, Any]:
        return {"venue": self.venue, "symbol": self.symbol, "unified": self.unified, "position": _r(self.size, 10),
                "avg_price": _r(self.avg_price, 8), "mark": _r(self.mark, 8),
                "realised_pnl": _r(self.realised_pnl), "unrealised_pnl": _r(self.unrealised_pnl),
                "fees": _r(self.fees), "exposure": _r(self.exposure), "stop": _r(self.stop, 8),
                "take": _r(self.take, 8)}


def _r(x: float, digits: int = 6) -> float:
    """Rounded for the statistics object (+0.0 for -0.0, so equal books print equal bytes)."""
    return round(x, digits) + 0.0


def walk(levels: Levels, size: float) -> float:
    """Average price of ``size`` taken from ``levels`` (best first); beyond the last level, at its price."""
    left = size
    cost = 0.0
    price = 0.0
    for price, available in levels:
        take = available if available < left else left
        cost += take * price
        left -= take
        if left <= 0.0:
            return cost / size
    return (cost + left * price) / size if price else 0.0


class PaperExecutor:
    def __init__(self, risk: RiskEngine, halt: TradingHalt, books: BookSource,
                 config: PaperConfig | None = None, taker_fee_bps: Mapping[str, float] | None = None,
                 maker_fee_bps: Mapping[str, float] | None = None, default_fee_bps: float = 10.0) -> None:
        """``taker_fee_bps`` / ``maker_fee_bps``: per venue (the session passes the venues' fees)."""
        self.config = config or PaperConfig()
        self.risk = risk
        self.halt = halt
        self.books = books
        self.taker_fee_bps = dict(taker_fee_bps or {})
        self.maker_fee_bps = dict(maker_fee_bps or self.taker_fee_bps)
        self.default_fee_bps = default_fee_bps
        self.latency_ns = int(self.config.latency_ms * 1_000_000)
        self.positions: dict[tuple[str, str], Position] = {}
        self.orders: dict[tuple[str, str], list[_Order]] = {}  # in flight or resting, per venue symbol
        self.fills: deque[Fill] = deque(maxlen=MAX_FILLS_KEPT)
        self.equity_curve: deque[EquityPoint] = deque(maxlen=MAX_FILLS_KEPT)
        self.fill_count = 0
        self.counts = {"submitted": 0, "filled": 0, "cancelled": 0, "expired": 0}
        self.realised_pnl = 0.0
        self.fees = 0.0
        self.peak_equity = risk.config.equity
        self.max_drawdown = 0.0
        self.trades: dict[str, list[float]] = {}  # strategy -> net P&L of each closed round trip
        self.breaches: list[str] = []  # causes of the halts the risk limits caused
        self._next_id = 0
        self._next_point_ns = 0
        self._day = -1
        self._day_start_equity = risk.config.equity
        self._last_equity = risk.config.equity
        # venue symbol -> the venues where it has an order or a position: on_event's filter, no key built per event
        self._listening: dict[str, set[str]] = {}
        halt.listeners.append(self._on_halt)

    # -- inputs -------------------------------------------------------------------------------------
    def submit(self, decision: Decision, strategy: str = STRATEGY) -> None:
        """An approved decision becomes an order that reaches the venue after the configured latency."""
        if decision.status != APPROVED or not decision.size > 0.0:
            return
        s = decision.signal
        self._next_id += 1
        order = _Order(self._next_id, s.venue, s.symbol, s.unified, "buy" if s.side == "long" else "sell",
                       decision.size, "signal", s.recv_ns + self.latency_ns, s.stop_distance, s.take_distance,
                       self.config.maker, strategy)
        self._add_order(order)

    def on_event(self, ev: object) -> None:
        """A pipeline listener for every accepted event; work is done only for venue symbols it trades."""
        venues = self._listening.get(ev.symbol)  # type: ignore[attr-defined]
        if venues is None or ev.venue not in venues:  # type: ignore[attr-defined]
            return  # the common case, kept to one lookup
        key = (ev.venue, ev.symbol)  # type: ignore[attr-defined]
        t = type(ev)
        if t is not Trade and t is not Quote and t is not BookDelta and t is not BookSnapshot:
            return
        now = ev.recv_ns  # type: ignore[attr-defined]
        trade = cast(Trade, ev) if t is Trade else None
        orders = self.orders.get(key)
        if orders:
            self._work_orders(key, orders, trade, now)
        pos = self.positions.get(key)
        if pos is not None:
            self._mark(pos, now, trade.price if trade is not None else 0.0)

    def _on_halt(self, record: HaltRecord) -> None:
        if record.action != "halt":
            return
        for key, orders in list(self.orders.items()):
            for order in [o for o in orders if o.reason == "signal"]:
                orders.remove(order)  # in flight or resting: no new paper orders while halted
                self.counts["cancelled"] += 1
            self._forget_if_idle(key)
        if self.config.flatten_on_halt:
            for pos in self.positions.values():
                if pos.size and not pos.exiting:
                    self._exit(pos, "flatten", record.at_ns)

    # -- orders -------------------------------------------------------------------------------------
    def _add_order(self, order: _Order) -> None:
        key = (order.venue, order.symbol)
        self.orders.setdefault(key, []).append(order)
        self._listening.setdefault(order.symbol, set()).add(order.venue)
        self.counts["submitted"] += 1

    def _exit(self, pos: Position, reason: str, now: int) -> None:
        pos.exiting = True
        self._next_id += 1
        self._add_order(_Order(self._next_id, pos.venue, pos.symbol, pos.unified,
                               "sell" if pos.size > 0 else "buy", abs(pos.size), reason, now + self.latency_ns))

    def _work_orders(self, key: tuple[str, str], orders: list[_Order], trade: Trade | None, now: int) -> None:
        for order in list(orders):
            if order.active_ns > now or order not in orders:  # not there yet, or cancelled by a halt a fill caused
                continue
            if order.reason == "signal" and self.halt.halted:
                orders.remove(order)
                self.counts["cancelled"] += 1
                continue
            if order.maker:
                if not order.limit:
                    touch = self._touch(key)
                    if touch is None:
                        continue
                    order.limit = touch[0] if order.side == "buy" else touch[1]
                    order.expires_ns = now + int(self.config.maker_timeout_s * NS_PER_S)
                    continue  # it rests from now on: only a later trade can fill it
                if now >= order.expires_ns:
                    orders.remove(order)
                    self.counts["expired"] += 1
                    continue
                if trade is None or not (trade.price < order.limit if order.side == "buy"
                                         else trade.price > order.limit):
                    continue
                orders.remove(order)
                self._fill(order, order.limit, "maker", now)
                continue
            price = self._taker_price(key, order)
            if price is None:
                continue  # no price yet: the order waits for the first book or quote
            orders.remove(order)
            if price == 0.0:  # an exit whose position was already closed
                self.counts["cancelled"] += 1
                pos = self.positions.get(key)
                if pos is not None:
                    pos.exiting = False
                continue
            self._fill(order, price, "taker", now)
        self._forget_if_idle(key)

    def _forget_if_idle(self, key: tuple[str, str]) -> None:
        if not self.orders.get(key):
            self.orders.pop(key, None)
            pos = self.positions.get(key)
            if pos is None or not pos.size:
                self._stop_listening(*key)

    def _stop_listening(self, venue: str, symbol: str) -> None:
        venues = self._listening.get(symbol)
        if venues is not None:
            venues.discard(venue)
            if not venues:
                del self._listening[symbol]

    def _order_size(self, order: _Order, pos: Position | None) -> float:
        held = pos.size if pos is not None else 0.0
        if order.reason != "signal":
            return abs(held)  # an exit closes what is held when it lands
        against = held < 0 if order.side == "buy" else held > 0
        return order.size + (abs(held) if against else 0.0)

    def _taker_price(self, key: tuple[str, str], order: _Order) -> float | None:
        size = self._order_size(order, self.positions.get(key))
        if size <= 0.0:
            return 0.0  # nothing to trade (an exit whose position is already gone)
        depth = self.books.depth(*key, self.config.book_levels)
        levels = None
        if depth is not None:
            levels = depth[1] if order.side == "buy" else depth[0]
        if not levels:
            quote = self.books.quote(*key)
            if quote is None or not (quote[0] > 0.0 and quote[1] > 0.0):
                return None
            levels = ((quote[1] if order.side == "buy" else quote[0], size),)
        price = walk(levels, size)
        slip = self.config.slippage_bps * 1e-4
        return price * (1.0 + slip) if order.side == "buy" else price * (1.0 - slip)

    def _touch(self, key: tuple[str, str]) -> tuple[float, float] | None:
        touch = self.books.touch(*key)
        if touch is None:
            touch = self.books.quote(*key)
        if touch is None or not (0.0 < touch[0] < touch[1]):
            return None
        return touch

    # -- fills and positions ------------------------------------------------------------------------
    def _fill(self, order: _Order, price: float, liquidity: str, now: int) -> None:
        key = (order.venue, order.symbol)
        pos = self.positions.get(key)
        if pos is None:
            pos = self.positions[key] = Position(order.venue, order.symbol, order.unified)
        size = self._order_size(order, pos)
        if order.reason != "signal":
            pos.exiting = False
        signed = size if order.side == "buy" else -size
        fees = self.maker_fee_bps if liquidity == "maker" else self.taker_fee_bps
        fee = size * price * fees.get(order.venue, self.default_fee_bps) * 1e-4
        held = pos.size
        closing = min(size, abs(held)) if held * signed < 0 else 0.0
        realised = closing * (price - pos.avg_price) * (1.0 if held > 0 else -1.0) if closing else 0.0
        opening = size - closing
        close_fee = fee * closing / size
        if closing:
            pos.trade_pnl += realised
            pos.trade_fees += close_fee
            pos.size = held + math.copysign(closing, signed)
            if abs(pos.size) <= 1e-12 * closing:
                pos.size = 0.0
                self.trades.setdefault(pos.strategy, []).append(pos.trade_pnl - pos.trade_fees)
                pos.trade_pnl = pos.trade_fees = 0.0
                pos.avg_price = pos.stop = pos.take = 0.0
        if opening > 0.0:
            if pos.size * signed > 0:  # adding to the same side
                pos.avg_price = (pos.avg_price * abs(pos.size) + price * opening) / (abs(pos.size) + opening)
                pos.size += math.copysign(opening, signed)
            else:
                pos.avg_price = price
                pos.size = math.copysign(opening, signed)
                pos.strategy = order.strategy or pos.strategy
            pos.trade_fees += fee - close_fee
            if order.stop_distance > 0.0:
                long = pos.size > 0
                pos.stop = price - order.stop_distance if long else price + order.stop_distance
                pos.take = price + order.take_distance if long else price - order.take_distance
        pos.realised_pnl += realised
        pos.fees += fee
        self.realised_pnl += realised
        self.fees += fee
        if realised or fee:
            self.risk.record_pnl(realised - fee, now)
        self.risk.set_position(order.venue, order.symbol, order.unified, pos.size * price)
        reason = order.reason
        if reason == "signal":
            reason = "reverse" if closing else "add" if held else "entry"
        self.fill_count += 1
        self.counts["filled"] += 1
        self.fills.append(Fill(now, order.venue, order.symbol, order.unified, order.side, size, price, fee, liquidity,
                               reason, order.order_id, _r(pos.size, 12), realised, order.strategy or pos.strategy))
        self._mark(pos, now, force_point=True)

    def _mark(self, pos: Position, now: int, last: float = 0.0, force_point: bool = False) -> None:
        touch = self._touch((pos.venue, pos.symbol))
        if touch is not None:
            pos.mark = (touch[0] + touch[1]) / 2.0
        if last and pos.size and not pos.exiting and pos.stop:  # stops trigger on the last trade, as a venue's do
            if pos.size > 0 and (last <= pos.stop or last >= pos.take):
                self._exit(pos, "stop" if last <= pos.stop else "take", now)
            elif pos.size < 0 and (last >= pos.stop or last <= pos.take):
                self._exit(pos, "stop" if last >= pos.stop else "take", now)
        if not pos.size and not self.orders.get((pos.venue, pos.symbol)):
            self._stop_listening(pos.venue, pos.symbol)
        self._account(now, force_point)

    def _account(self, now: int, force_point: bool) -> None:
        """Equity, drawdown, the equity curve and the risk limits, after a fill or a mark change."""
        unrealised = self.unrealised_pnl
        equity = self.risk.config.equity + self.realised_pnl - self.fees + unrealised
        if equity > self.peak_equity:
            self.peak_equity = equity
        drawdown = self.peak_equity - equity
        if drawdown > self.max_drawdown:
            self.max_drawdown = drawdown
        if force_point or now >= self._next_point_ns:
            self._next_point_ns = now + int(self.config.equity_step_s * NS_PER_S)
            self.equity_curve.append(EquityPoint(now, equity, self.realised_pnl, unrealised, self.fees, drawdown))
        day = now // NS_PER_DAY
        if day != self._day:  # a new UTC day starts from the equity the last one ended with
            self._day, self._day_start_equity = day, self._last_equity
        self._last_equity = equity
        self._check_limits(equity, now)

    def _check_limits(self, equity: float, now: int) -> None:
        if self.halt.halted:
            return
        cfg = self.risk.config
        lost = self._day_start_equity - equity
        cause = ""
        if lost >= cfg.daily_loss_limit:
            cause = risk_limit_cause("max loss per day", f"lost {lost:.2f} today, limit {cfg.daily_loss_limit:.2f}")
        else:
            gross = 0.0
            for pos in self.positions.values():
                notional = abs(pos.exposure)
                gross += notional
                if notional > cfg.max_position:
                    cause = risk_limit_cause("max position", f"{pos.venue} {pos.symbol} {notional:.2f}, "
                                                             f"limit {cfg.max_position:.2f}")
                    break
            if not cause and gross > cfg.max_total_notional:
                cause = risk_limit_cause("max notional", f"gross {gross:.2f}, limit {cfg.max_total_notional:.2f}")
        if cause:
            self.breaches.append(cause)
            self.halt.halt(cause, by="auto")

    # -- reading ------------------------------------------------------------------------------------
    @property
    def unrealised_pnl(self) -> float:
        return sum(p.unrealised_pnl for p in self.positions.values())

    @property
    def equity(self) -> float:
        return self.risk.config.equity + self.realised_pnl - self.fees + self.unrealised_pnl

    def trade_stats(self, strategy: str = STRATEGY) -> tuple[int, float | None, float | None]:
        """(closed round trips, win rate, expectancy = mean net P&L per round trip)."""
        results = self.trades.get(strategy, [])
        if not results:
            return 0, None, None
        return len(results), sum(1 for r in results if r > 0.0) / len(results), sum(results) / len(results)

    def stats(self) -> dict[str, Any]:
        """The statistics object's ``paper`` member: plain numbers, identical for identical inputs."""
        trades, win_rate, expectancy = self.trade_stats()
        strategies = {}
        for name in sorted(self.trades):
            n, rate, exp = self.trade_stats(name)
            strategies[name] = {"trades": n, "win_rate": None if rate is None else _r(rate),
                                "expectancy": None if exp is None else _r(exp)}
        return {
            "fills": self.fill_count,
            "orders": {**self.counts, "open": sum(len(orders) for orders in self.orders.values())},
            "realised_pnl": _r(self.realised_pnl),
            "unrealised_pnl": _r(self.unrealised_pnl),
            "fees": _r(self.fees),
            "net_pnl": _r(self.realised_pnl - self.fees + self.unrealised_pnl),
            "equity": _r(self.equity),
            "max_drawdown": _r(self.max_drawdown),
            "trades": trades,
            "win_rate": None if win_rate is None else _r(win_rate),
            "expectancy": None if expectancy is None else _r(expectancy),
            "strategies": strategies,
            "positions": {f"{v}:{s}": p.to_json() for (v, s), p in sorted(self.positions.items())},
            "breaches": list(self.breaches),
        }


FILL_COLUMNS = ("time", "time_ns", "venue", "symbol", "unified", "side", "size", "price", "fee", "liquidity", "reason",
                "order_id", "position_after", "realised_pnl", "strategy")
EQUITY_COLUMNS = ("time", "time_ns", "equity", "realised_pnl", "unrealised_pnl", "fees", "drawdown")
