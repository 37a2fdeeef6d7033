"""Alerts in the real app over the demo simulator: a toast plus bell/OSC 9 per alert, the panel (key A)
lists rules and fired alerts, and rules are added and removed there (bad ones refused in one line)."""
from __future__ import annotations

from textual.widgets import Input
from waiting import press

from tests.test_app import CALM_SIM, wait_for
from tui.app import ClearTermApp
from tui.runtime.config import UISettings
from tui.runtime.runner import Runner
from tui.runtime.session import SessionConfig
from tui.widgets.alert_log import AlertLog, AlertsScreen


def alert_app() -> ClearTermApp:
    cfg = SessionConfig(mode="demo", interval="1s", venues=["BINANCE", "COINBASE"], alerts=["BTCUSDT price > 1"],
                        alert_desktop=False)
    return ClearTermApp(Runner(cfg, sim_options=CALM_SIM), settings=UISettings(notify="both"), log_to_file=False)


async def test_an_alert_rings_once_and_the_panel_changes_rules():
    app = alert_app()
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        await wait_for(pilot, lambda: app.alerts_sent, what="the alert's bell")
        await pilot.pause(0.5)  # more refreshes: still one alert (one crossing)
        assert len(app.alerts_sent) == 1
        assert app.alerts_sent[0].startswith("\x1b]9;clearterm: ALERT BTCUSDT price > 1 — ")
        assert app.alerts_sent[0].endswith("\x07\x07")
        assert any("ALERT BTCUSDT price > 1" in str(n.message) for n in app._notifications)

        await press(pilot, "A")
        await wait_for(pilot, lambda: isinstance(app.screen, AlertsScreen), what="the alerts panel")
        log = app.screen.query_one(AlertLog)
        assert len(log.text_lines()) == 1 and "BTCUSDT price > 1" in log.text_lines()[0]
        app.screen.query_one(Input).value = "ETHUSDT spread > wide"
        await press(pilot, "enter")
        await wait_for(pilot, lambda: not isinstance(app.screen, AlertsScreen), what="the panel to close")
        assert [r.text for r in app.runner.session.alerts.rules] == ["BTCUSDT price > 1"]
        await wait_for(pilot, lambda: any("must be a number" in str(n.message) for n in app._notifications),
                       what="the refusal's notice")

        def rules() -> list[str]:
            return [r.text for r in app.runner.session.alerts.rules]

        for text, after in (("ETHUSDT move > 50% in 1m", ["BTCUSDT price > 1", "ETHUSDT move > 50% in 1m"]),
                            ("-BTCUSDT price > 1", ["ETHUSDT move > 50% in 1m"])):
            await press(pilot, "A")
            await wait_for(pilot, lambda: isinstance(app.screen, AlertsScreen), what="the alerts panel")
            app.screen.query_one(Input).value = text
            await press(pilot, "enter")
            # the panel's result reaches the app after the panel has closed: wait for the rules themselves
            await wait_for(pilot, lambda after=after: rules() == after, what=f"the rules after {text!r}")
            assert not isinstance(app.screen, AlertsScreen)
        titles = [c.title for c in app.get_system_commands(app.screen)]
        assert any(t.startswith("Alerts") for t in titles)  # in the command palette
