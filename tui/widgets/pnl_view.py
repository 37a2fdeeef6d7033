"""The P&L view (key ``p``): paper totals and positions, the equity curve and the fills log.

Everything comes from the session's paper executor (strategy/paper.py), read on the app's timer: the
totals line and one line per venue symbol traded (open positions first) redraw only the lines whose
text changed; the fills log is rebuilt only when a fill was added; the curve only when it has a new
point. A line too wide for the screen ends in "…" rather than being cut silently.
"""
from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.geometry import Size

from strategy.paper import Fill, PaperExecutor, Position
from tui.widgets.candle_table import price_decimals
from tui.widgets.equity_curve import EquityCurve
from tui.widgets.formatting import utc_hms
from tui.widgets.line_log import LineLog
from tui.widgets.safe_text import clean
from tui.widgets.strips import TextLines

FILLS_SHOWN = 500


def money(x: float, signed: bool = True) -> str:
    return f"{x:+,.2f}" if signed else f"{x:,.2f}"


def totals_text(paper: PaperExecutor) -> tuple[str, str]:
    """Two lines: the money, then the record."""
    trades, win_rate, expectancy = paper.trade_stats()
    net = paper.realised_pnl - paper.fees + paper.unrealised_pnl
    return (f"equity {money(paper.equity, False)}  net {money(net)}  realised {money(paper.realised_pnl)}  "
            f"unrealised {money(paper.unrealised_pnl)}  fees {money(paper.fees, False)}",
            f"max drawdown {money(paper.max_drawdown, False)}  fills {paper.fill_count}  trades {trades}  "
            f"win rate {'-' if win_rate is None else f'{win_rate:.0%}'}  "
            f"expectancy {'-' if expectancy is None else money(expectancy)} per trade")


POSITION_HEADER = (f"{'VENUE':<9}{'SYMBOL':<10}{'POSITION':>12}{'AVG PRICE':>12}{'MARK':>12}{'UNREALISED':>11}"
                   f"{'REALISED':>10}{'FEES':>9}{'EXPOSURE':>11}{'STOP':>11}{'TAKE':>11}")


def position_text(p: Position) -> str:
    d = price_decimals(p.mark or p.avg_price)

    def price(x: float) -> str:
        return f"{x:.{d}f}" if x else "-"

    mark = p.mark if p.size else 0.0  # a flat position's last mark is history
    return (f"{clean(p.venue):<9}{clean(p.symbol):<10}{p.size:>12.6g}{price(p.avg_price):>12}{price(mark):>12}"
            f"{money(p.unrealised_pnl):>11}{money(p.realised_pnl):>10}{money(p.fees, False):>9}"
            f"{money(p.exposure):>11}{price(p.stop):>11}{price(p.take):>11}")


def fill_text(f: Fill) -> str:
    d = price_decimals(f.price)
    return (f"{utc_hms(f.at_ns, millis=True)} {clean(f.venue):<9}{clean(f.symbol):<10}{f.side.upper():<5}"
            f"{f.size:>13.8g} @ {f.price:<14.{d}f} fee {money(f.fee, False):>8}  {f.liquidity:<6}{f.reason:<8}"
            f"position {f.position_after:.8g}  P&L {money(f.realised_pnl)}")


class PaperPositions(TextLines):
    """The totals line, a header and one line per venue symbol traded, open positions first."""

    COMPONENT_CLASSES = {"paper-positions--totals", "paper-positions--header", "paper-positions--flat"}

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._rows: list[tuple[str, str]] = []  # (text, component class)

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return max(1, len(self._rows))

    def show(self, rows: list[tuple[str, str]]) -> None:
        if rows == self._rows and self.size.width == self._width:
            return
        relayout = len(rows) != len(self._rows)
        self._rows = rows
        self.set_lines(self._build(self.size.width), layout=relayout)

    def relayout(self, width: int) -> list[Text]:
        return self._build(width)

    def _build(self, width: int) -> list[Text]:
        lines = []
        for text, style in self._rows:
            line = Text(text, self.style_of(style) if style else "")
            if width > 0 and line.cell_len > width:
                line.truncate(width, overflow="ellipsis")
            lines.append(line)
        return lines


class FillsLog(LineLog):
    """Paper fills, oldest first, following the newest."""

    COMPONENT_CLASSES = {"fills-log--buy", "fills-log--sell", "fills-log--muted"}

    def sync(self, paper: PaperExecutor) -> None:
        if not self.changed((id(paper), paper.fill_count)):
            return
        self.border_title = f"Paper fills  {paper.fill_count}"
        if not paper.fills:
            self.set_lines([Text("no paper fills yet: every approved signal is filled here",
                                 self.style_of("fills-log--muted"))])
            return
        fills = list(paper.fills)[-FILLS_SHOWN:]
        self.set_lines([Text(fill_text(f), self.style_of(f"fills-log--{f.side}")) for f in fills])


class PnlView(Vertical):
    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._curve_key: tuple[object, ...] = ()

    def compose(self) -> ComposeResult:
        yield PaperPositions(id="paper-positions")
        yield EquityCurve(id="equity-curve")
        yield FillsLog(id="fills-log")

    def sync(self, paper: PaperExecutor, start_equity: float) -> None:
        money_line, record_line = totals_text(paper)
        rows = [(money_line, "paper-positions--totals"), (record_line, "paper-positions--totals"),
                (POSITION_HEADER, "paper-positions--header")]
        positions = sorted(paper.positions.values(), key=lambda p: (not p.size, p.venue, p.symbol))
        rows += [(position_text(p), "" if p.size else "paper-positions--flat") for p in positions]
        if not positions:
            rows.append(("no paper positions yet", "paper-positions--flat"))
        self.query_one(PaperPositions).show(rows)
        curve = paper.equity_curve
        last = curve[-1] if curve else None
        equity = self.query_one(EquityCurve)
        key = (id(paper), len(curve), last)
        if key != self._curve_key:
            self._curve_key = key
            equity.show([p.equity for p in curve], start_equity,
                         f"Equity  {money(paper.equity, False)}  max drawdown {money(paper.max_drawdown, False)}")
        self.query_one(FillsLog).sync(paper)
