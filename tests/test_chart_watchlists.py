"""Watchlists: named groups of symbols from the config; w cycles them (hiding the others), the palette
lists them, a bad table is one line naming the key."""
from __future__ import annotations

import pytest
from waiting import press

from tests.test_app import CALM_SIM, wait_for
from tui.app import ClearTermApp
from tui.runtime.config import ConfigError, UISettings, apply_config
from tui.runtime.runner import Runner
from tui.runtime.session import SessionConfig


def test_watchlists_from_the_config_and_bad_ones():
    ui = UISettings()
    apply_config(SessionConfig(), ui, {"watchlists": {"majors": ["btcusdt", "ETH/USD"], "alts": "SOLUSDT,XRPUSDT"}})
    assert ui.watchlists == {"majors": ["BTCUSDT", "ETH/USD"], "alts": ["SOLUSDT", "XRPUSDT"]}
    with pytest.raises(ConfigError, match="'watchlists.x'"):
        apply_config(SessionConfig(), ui, {"watchlists": {"x": [1]}})


async def test_w_cycles_watchlists_and_the_palette_lists_them():
    ui = UISettings(watchlists={"majors": ["BTCUSDT", "ETH/USD"], "sol": ["SOLUSDT", "DOGEUSDT"]})
    app = ClearTermApp(Runner(SessionConfig(mode="demo", interval="1s", venues=["BINANCE"]), sim_options=CALM_SIM),
                       settings=ui,
                       log_to_file=False)
    async with app.run_test(size=(120, 36), notifications=True) as pilot:
        await wait_for(pilot, lambda: len(app._groups) == 3, what="the three symbols")
        session = app.runner.session
        await press(pilot, "w")
        assert app.watchlist == "majors" and session.hidden == {"SOLUSDT"}
        await press(pilot, "w")
        assert app.watchlist == "sol" and session.hidden == {"BTCUSDT", "ETHUSDT"}
        assert any("not subscribed: DOGE/USD" in str(n.message) for n in app._notifications)
        await press(pilot, "w")
        assert app.watchlist is None and session.hidden == set()
        titles = [c.title for c in app.get_system_commands(app.screen)]
        assert "Watchlist majors" in titles and "Watchlist sol" in titles
