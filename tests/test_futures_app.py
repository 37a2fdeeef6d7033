"""Perpetuals in the real app over the simulator (spot and futures side by side, as the demo runs them),
and their Prometheus metrics."""
from __future__ import annotations

import re
import time

from waiting import press

from feeds.core.state import MarketState
from feeds.events import Liquidation, MarkPrice, Quote
from feeds.venues import DEMO_VENUES
from tui.app import ClearTermApp
from tui.runtime.metrics import perp_metrics
from tui.runtime.runner import Runner
from tui.runtime.session import SessionConfig
from tui.widgets.futures_panel import FuturesPanel
from tui.widgets.liquidation_log import LiquidationLog


async def wait_for(pilot, predicate, timeout: float = 30.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await pilot.pause(0.05)


def lines(widget) -> list[str]:
    return [line.plain for line in widget.lines]


async def test_the_demo_shows_perpetuals_with_funding_countdown_basis_and_liquidations_at_80x24():
    assert "BINANCE_FUTURES" in DEMO_VENUES
    app = ClearTermApp(Runner(SessionConfig(mode="demo", interval="1s", venues=list(DEMO_VENUES))))
    async with app.run_test(size=(80, 24)) as pilot:
        await press(pilot, "a")
        panel = app.query_one(FuturesPanel)
        log = app.query_one(LiquidationLog)
        log.highlight_notional = 0.0  # every liquidation is big: each must be highlighted
        perp_line = re.compile(r"PERP BTCUSDT BFU  mark [\d,]+\.\d\d  fund [+-]\d\.\d{4}% in \d\d:\d\d:\d\d  "
                               r"basis [+-]\d+\.\d\d bps$")  # a basis against spot, and the funding countdown
        await wait_for(pilot, lambda: any(perp_line.match(line) for line in lines(panel)), what="a PERP line")
        assert "%/yr" in " ".join(lines(panel)) and "OI " in " ".join(lines(panel))
        await wait_for(pilot, lambda: app.session.pipeline.state.liquidations and lines(log)
                       and "@" in lines(log)[-1], what="a liquidation in the log")
        last = log.lines[-1]
        big = log.style_of("liquidation-log--big")
        assert any(span.style == big for span in last.spans)  # the notional is highlighted
        liq = app.session.pipeline.state.liquidations[-1]
        assert f"{liq.price * liq.size:,.0f}" in last.plain and liq.side.upper() in last.plain
        assert app.session.pipeline.rejected == {}


def test_metrics_expose_funding_basis_and_liquidation_notional():
    state = MarketState()
    state.get("BINANCE", "BTCUSDT", "BTC/USD").quote = Quote("BINANCE", "BTCUSDT", "BTC/USD", 0, 0, 99.0, 1, 101.0, 1)
    perp = state.get("BINANCE_FUTURES", "BTCUSDT", "BTC/USD:PERP")
    perp.mark = MarkPrice("BINANCE_FUTURES", "BTCUSDT", "BTC/USD:PERP", 1, 1, 101.0, 100.0, 100.0, 0.0003, 10)
    for price, size in ((100.0, 2.0), (90.0, 1.0)):
        state.liquidations.append(Liquidation("BINANCE_FUTURES", "BTCUSDT", "BTC/USD:PERP", 1, 1, "sell", price,
                                              size, price, size, "FILLED"))
    families = {f.name: f for f in perp_metrics(state, 0)}
    [funding] = families["clearterm_funding_rate"].samples
    assert funding.labels == {"venue": "BINANCE_FUTURES", "symbol": "BTCUSDT"} and funding.value == 0.0003
    [basis] = families["clearterm_basis_bps"].samples
    assert abs(basis.value - 100.0) < 1e-9  # mark 101 (no perp quote) vs spot mid 100
    [notional] = [s for s in families["clearterm_liquidation_notional"].samples if s.name.endswith("_total")]
    assert notional.labels["side"] == "sell" and notional.value == 290.0


def test_the_liquidation_highlight_is_configurable_and_checked(tmp_path):
    import pytest

    from tui.runtime.config import ConfigError, UISettings, load
    path = tmp_path / "c.toml"
    path.write_text("[ui]\nliquidation_highlight = 250000\n")
    ui = UISettings()
    load(SessionConfig(), ui, path, environ={})
    assert ui.liquidation_highlight == 250_000.0
    load(SessionConfig(), ui, None, environ={"CLEARTERM_LIQUIDATION_HIGHLIGHT": "1000"})
    assert ui.liquidation_highlight == 1000.0
    path.write_text("[ui]\nliquidation_highlight = -5\n")
    with pytest.raises(ConfigError, match="liquidation_highlight"):
        load(SessionConfig(), UISettings(), path, environ={})
