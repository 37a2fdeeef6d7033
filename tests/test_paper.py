"""The paper executor on hand-built market events: fills, fees, latency, stops, maker mode, halts and
risk-limit breaches, each expected value worked out by hand in the test."""
from __future__ import annotations

import pytest

from feeds.clock import ManualClock
from feeds.core.book_sync import OrderBooks
from feeds.core.state import MarketState
from feeds.events import BookSnapshot, Quote, Trade
from strategy.halt import RISK_LIMIT_PREFIX, TradingHalt
from strategy.paper import PaperConfig, PaperExecutor, walk
from strategy.risk import APPROVED, NS_PER_DAY, SUPPRESSED, RiskConfig, RiskEngine
from strategy.scalper import Signal
from tui.runtime.paper_market import BookTouch

T0 = 20_000 * NS_PER_DAY + NS_PER_DAY // 2  # noon UTC
MS = 1_000_000
VENUE, SYMBOL, UNIFIED = "BINANCE", "BTCUSDT", "BTC/USD"


class Market:
    """A real OrderBooks and the executor, fed events the way the pipeline does (book first, then listeners)."""

    def __init__(self, paper: PaperConfig | None = None, risk: RiskConfig | None = None, fee_bps: float = 10.0,
                 maker_fee_bps: float = 2.0) -> None:
        self.clock = ManualClock(T0)
        self.halt = TradingHalt(self.clock)
        self.risk = RiskEngine(risk or RiskConfig(max_position_notional=1e9, max_symbol_exposure=1e9,
                                                  max_position=1e9, max_total_notional=1e9))
        self.books = OrderBooks()
        self.state = MarketState()
        self.paper = PaperExecutor(self.risk, self.halt, BookTouch(self.books, self.state),
                                   paper or PaperConfig(latency_ms=50.0, slippage_bps=0.0),
                                   taker_fee_bps={VENUE: fee_bps}, maker_fee_bps={VENUE: maker_fee_bps})
        self.book_id = 0

    def _at(self, t: int) -> int:
        self.clock.set(t)
        return t

    def book(self, t: int, bids, asks) -> None:
        self.book_id += 1
        ev = BookSnapshot(VENUE, SYMBOL, UNIFIED, 0, self._at(t), tuple(bids), tuple(asks), self.book_id)
        self.books.on_event(ev)
        self.paper.on_event(ev)

    def quote(self, t: int, bid: float, ask: float, symbol: str = SYMBOL) -> None:
        ev = Quote(VENUE, symbol, UNIFIED, 0, self._at(t), bid, 1.0, ask, 1.0)
        self.state.get(VENUE, symbol, UNIFIED).quote = ev  # as the pipeline keeps it
        self.paper.on_event(ev)

    def trade(self, t: int, price: float, symbol: str = SYMBOL) -> None:
        self.paper.on_event(Trade(VENUE, symbol, UNIFIED, 0, self._at(t), price, 0.1, "buy", t))

    def signal(self, t: int, side: str, price: float, stop: float, take: float, symbol: str = SYMBOL):
        s = Signal(VENUE, symbol, UNIFIED, side, price, stop, take, "test", t - 1000 * MS, t - 5 * MS, t, t, "1s")
        decision = self.risk.evaluate(s, self.halt.halted)
        self.paper.submit(decision)
        return decision


def test_walk_the_book():
    assert walk(((100.0, 1.0), (101.0, 2.0)), 2.0) == 100.5
    assert walk(((100.0, 1.0), (101.0, 2.0)), 0.5) == 100.0
    assert walk(((100.0, 1.0), (101.0, 1.0)), 4.0) == (100.0 + 101.0 + 2 * 101.0) / 4  # thin book: last level


def test_taker_entry_waits_for_latency_then_walks_the_book_with_fee_and_slippage():
    m = Market(PaperConfig(latency_ms=50.0, slippage_bps=10.0), risk=RiskConfig(
        equity=10_000.0, risk_per_trade=0.01, max_position_notional=1e9, max_symbol_exposure=1e9,
        max_position=1e9, max_total_notional=1e9), fee_bps=10.0)
    m.book(T0, [(99.0, 5.0)], [(100.0, 1.0), (101.0, 2.0)])
    d = m.signal(T0, "long", 100.0, stop=50.0, take=100.0)  # size = 100 / 50 = 2
    assert (d.status, d.size) == (APPROVED, 2.0)
    m.trade(T0 + 49 * MS, 100.0)  # before the order reaches the venue
    assert m.paper.fill_count == 0
    m.book(T0 + 50 * MS, [(99.0, 5.0)], [(100.0, 1.0), (101.0, 2.0)])
    [fill] = m.paper.fills
    price = 100.5 * 1.001  # walk 1 @ 100 + 1 @ 101, then 10 bps against the buyer
    assert (fill.side, fill.size, fill.reason, fill.liquidity) == ("buy", 2.0, "entry", "taker")
    assert fill.price == pytest.approx(price)
    assert fill.fee == pytest.approx(2.0 * price * 0.001)
    pos = m.paper.positions[(VENUE, SYMBOL)]
    assert (pos.size, pos.avg_price) == (2.0, pytest.approx(price))
    assert pos.stop == pytest.approx(price - 50.0) and pos.take == pytest.approx(price + 100.0)
    assert pos.mark == 99.5 and pos.unrealised_pnl == pytest.approx((99.5 - price) * 2.0)
    assert m.risk.exposure == {UNIFIED: pytest.approx(2.0 * price)}


def test_without_a_book_the_quote_fills_the_whole_size():
    m = Market()
    m.signal(T0, "short", 100.0, stop=10.0, take=10.0)  # size = 50 / 10 = 5
    m.quote(T0 + 60 * MS, 99.5, 100.5)
    [fill] = m.paper.fills
    assert (fill.side, fill.size, fill.price) == ("sell", 5.0, 99.5)


def test_reverse_stop_take_and_trade_statistics():
    m = Market()  # no slippage, 10 bps taker
    m.book(T0, [(99.0, 100.0)], [(100.0, 100.0)])
    m.signal(T0, "long", 100.0, stop=5.0, take=10.0)  # size 10, fills at 100
    m.trade(T0 + 50 * MS, 100.0)
    assert m.paper.positions[(VENUE, SYMBOL)].size == 10.0
    # A short signal against the long: one sell of 10 (close) + 10 (new short) at the bid 104.
    m.book(T0 + 1000 * MS, [(104.0, 100.0)], [(105.0, 100.0)])
    m.signal(T0 + 1000 * MS, "short", 104.0, stop=5.0, take=10.0)
    m.trade(T0 + 1050 * MS, 104.5)
    reverse = m.paper.fills[-1]
    assert (reverse.side, reverse.size, reverse.price, reverse.reason) == ("sell", 20.0, 104.0, "reverse")
    assert reverse.realised_pnl == pytest.approx(40.0)  # (104 - 100) x 10
    pos = m.paper.positions[(VENUE, SYMBOL)]
    assert (pos.size, pos.avg_price, pos.stop, pos.take) == (-10.0, 104.0, 109.0, 94.0)
    # A trade at the stop triggers the exit; it fills 50 ms later at the ask then: 110.
    m.book(T0 + 2000 * MS, [(108.0, 100.0)], [(110.0, 100.0)])
    m.trade(T0 + 2000 * MS, 109.0)
    assert m.paper.fill_count == 2  # triggered, still in flight
    m.trade(T0 + 2050 * MS, 110.0)
    stop = m.paper.fills[-1]
    assert (stop.side, stop.size, stop.price, stop.reason, stop.position_after) == ("buy", 10.0, 110.0, "stop", 0.0)
    assert stop.realised_pnl == pytest.approx(-60.0)
    fees = (10 * 100.0 + 20 * 104.0 + 10 * 110.0) * 0.001
    assert m.paper.fees == pytest.approx(fees)
    assert m.paper.realised_pnl == pytest.approx(-20.0)
    # Round trips net of their fees: the long (+40 - 1.0 - 1.04) and the short (-60 - 1.04 - 1.1).
    trades, win_rate, expectancy = m.paper.trade_stats()
    assert (trades, win_rate) == (2, 0.5)
    assert expectancy == pytest.approx(((40 - 1.0 - 1.04) + (-60 - 1.04 - 1.1)) / 2)
    assert m.paper.equity == pytest.approx(10_000.0 - 20.0 - fees)
    assert m.paper.max_drawdown == pytest.approx(m.paper.peak_equity - m.paper.equity)
    assert m.risk.exposure == {}  # the stop freed the room
    stats = m.paper.stats()
    assert stats["fills"] == 3 and stats["trades"] == 2 and stats["positions"]["BINANCE:BTCUSDT"]["position"] == 0.0


def test_take_profit_on_a_long():
    m = Market()
    m.book(T0, [(99.0, 100.0)], [(100.0, 100.0)])
    m.signal(T0, "long", 100.0, stop=5.0, take=3.0)
    m.trade(T0 + 50 * MS, 100.0)
    m.trade(T0 + 60 * MS, 102.9)
    assert m.paper.fill_count == 1
    m.book(T0 + 70 * MS, [(103.0, 100.0)], [(103.5, 100.0)])
    m.trade(T0 + 80 * MS, 103.0)  # at the take price: triggers
    m.trade(T0 + 130 * MS, 103.0)
    take = m.paper.fills[-1]
    assert (take.reason, take.side, take.price, take.realised_pnl) == ("take", "sell", 103.0, pytest.approx(30.0))


def test_maker_entry_rests_at_the_touch_and_fills_only_when_traded_through():
    m = Market(PaperConfig(latency_ms=0.0, slippage_bps=5.0, maker=True, maker_timeout_s=2.0), maker_fee_bps=2.0)
    m.book(T0, [(99.0, 100.0)], [(100.0, 100.0)])
    m.signal(T0, "long", 100.0, stop=5.0, take=10.0)  # size 10
    m.trade(T0 + 1 * MS, 99.5)  # arrives: rests at the bid, 99
    m.trade(T0 + 2 * MS, 99.0)  # at the price, not through: the queue ahead may have taken it
    assert m.paper.fill_count == 0
    m.trade(T0 + 3 * MS, 98.9)
    [fill] = m.paper.fills
    assert (fill.price, fill.liquidity, fill.fee) == (99.0, "maker", pytest.approx(10 * 99.0 * 0.0002))
    # A second maker entry nobody trades through is cancelled after maker_timeout_s.
    m.signal(T0 + 10 * MS, "long", 99.0, stop=5.0, take=10.0)
    m.trade(T0 + 11 * MS, 99.5)
    m.trade(T0 + 2011 * MS, 98.0)
    assert m.paper.fill_count == 1 and m.paper.counts["expired"] == 1


def test_halt_cancels_orders_in_flight_and_keeps_stops_unless_flatten_on_halt():
    for flatten in (False, True):
        m = Market(PaperConfig(latency_ms=50.0, slippage_bps=0.0, flatten_on_halt=flatten))
        m.book(T0, [(99.0, 100.0)], [(100.0, 100.0)])
        m.signal(T0, "long", 100.0, stop=5.0, take=10.0)
        m.trade(T0 + 50 * MS, 100.0)
        m.signal(T0 + 100 * MS, "long", 100.0, stop=5.0, take=10.0, symbol="ETHUSDT")
        m.halt.halt("operator key")
        m.quote(T0 + 200 * MS, 99.0, 100.0, symbol="ETHUSDT")
        assert [f.symbol for f in m.paper.fills] == [SYMBOL]  # the ETH order never reached the venue
        assert m.paper.counts["cancelled"] == 1
        assert m.signal(T0 + 300 * MS, "short", 100.0, stop=5.0, take=10.0).status == SUPPRESSED
        m.trade(T0 + 400 * MS, 100.0)
        if flatten:
            assert m.paper.fills[-1].reason == "flatten" and m.paper.positions[(VENUE, SYMBOL)].size == 0.0
        else:
            assert m.paper.fill_count == 1
            m.trade(T0 + 500 * MS, 94.9)  # the stop still works while halted
            m.trade(T0 + 550 * MS, 95.0)
            assert m.paper.fills[-1].reason == "stop" and m.paper.positions[(VENUE, SYMBOL)].size == 0.0


def test_daily_loss_breach_halts_with_its_own_cause_and_positions_keep_their_stops():
    m = Market(risk=RiskConfig(daily_loss_limit=100.0, max_position_notional=1e9, max_symbol_exposure=1e9,
                               max_position=1e9, max_total_notional=1e9), fee_bps=0.0)
    m.book(T0, [(99.9, 100.0)], [(100.0, 100.0)])
    m.signal(T0, "long", 100.0, stop=20.0, take=50.0)  # size 2.5, stop at 80
    m.trade(T0 + 50 * MS, 100.0)
    m.book(T0 + 100 * MS, [(70.0, 100.0)], [(70.2, 100.0)])  # mark 70.1: unrealised -74.75, no breach
    assert not m.halt.halted
    m.book(T0 + 200 * MS, [(59.9, 100.0)], [(60.1, 100.0)])  # mark 60: -100 -> the day's loss limit
    assert m.halt.halted
    record = m.halt.history[-1]
    assert record.by == "auto" and record.cause.startswith(f"{RISK_LIMIT_PREFIX}: max loss per day (lost 100.00")
    assert m.paper.stats()["breaches"] == [record.cause]
    assert m.paper.positions[(VENUE, SYMBOL)].size == 2.5  # kept, with its stop
    assert m.signal(T0 + 300 * MS, "long", 60.0, stop=5.0, take=5.0).status == SUPPRESSED
    m.trade(T0 + 400 * MS, 60.0)  # through the stop at 80
    m.trade(T0 + 450 * MS, 60.0)
    assert m.paper.fills[-1].reason == "stop" and m.paper.positions[(VENUE, SYMBOL)].size == 0.0


def test_max_position_breach_as_prices_move_halts():
    m = Market(risk=RiskConfig(max_position=1_100.0, max_position_notional=1e9, max_symbol_exposure=1e9,
                               max_total_notional=1e9, daily_loss_limit=1e9), fee_bps=0.0)
    m.book(T0, [(99.9, 100.0)], [(100.0, 100.0)])
    m.signal(T0, "long", 100.0, stop=5.0, take=500.0)  # size 10: notional 1000, within 1100
    m.trade(T0 + 50 * MS, 100.0)
    assert not m.halt.halted
    m.book(T0 + 100 * MS, [(111.0, 100.0)], [(111.2, 100.0)])  # 10 x 111.1 = 1111 > 1100
    assert m.halt.halted and m.halt.cause.startswith(f"{RISK_LIMIT_PREFIX}: max position (BINANCE BTCUSDT 1111.00")


def test_config_validation_names_the_key():
    assert PaperConfig.from_dict({"latency_ms": 0, "maker": True}).maker is True
    for bad, key in (({"latency_ms": -1}, "latency_ms"), ({"maker": 1}, "maker"), ({"lag": 1}, "lag"),
                     ({"book_levels": 0}, "book_levels")):
        with pytest.raises(ValueError, match=f"^{key}: "):
            PaperConfig.from_dict(bad)


def test_fees_come_from_the_venue_declaration_when_it_states_them(monkeypatch):
    from types import SimpleNamespace

    import tui.runtime.paper_market as pm
    assert pm.venue_fees_bps(["BINANCE", "COINBASE", "ELSEWHERE"]) == {
        "taker_fee_bps": {"BINANCE": 10.0, "COINBASE": 60.0, "ELSEWHERE": 10.0},
        "maker_fee_bps": {"BINANCE": 10.0, "COINBASE": 40.0, "ELSEWHERE": 10.0}}
    monkeypatch.setitem(pm.VENUES, "BINANCE", SimpleNamespace(taker_fee_bps=7.5, maker_fee_bps=2))
    assert pm.venue_fees_bps(["BINANCE"]) == {"taker_fee_bps": {"BINANCE": 7.5}, "maker_fee_bps": {"BINANCE": 2.0}}
