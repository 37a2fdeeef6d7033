"""Snapshot tests of the app's views, rendered from a deterministic replay at 80x24 and 160x48.

The app replays tests/fixtures/app_session.jsonl.gz at full speed; each test waits until the replay has
ended, so the header clock, rates and ages all come from recorded time. Snapshots are SVG files in
tests/__snapshots__/; after an intended change, look at the new ones and refresh them with
``pytest tests/test_snapshots.py --snapshot-update``. Rendering differs between Textual versions, so
the snapshots are only compared under the version they were made with. The latency sparklines are
left blank: on a loaded machine their last repaint came out differently now and then, though their data
did not (checked), so they would make the snapshots flaky.
"""
from __future__ import annotations

from importlib.metadata import version

import pytest
from textual.widgets import Sparkline

from tui.screenshots import FIXTURE, FIXTURE_OF, SHOTS, replay_app, settle

TEXTUAL_VERSION = "8.2.8"
pytestmark = pytest.mark.skipif(version("textual") != TEXTUAL_VERSION,
                                reason=f"snapshots were made with Textual {TEXTUAL_VERSION}")

VIEWS = SHOTS  # the same views as the README's screenshots


@pytest.fixture(autouse=True)
def utf8_locale(monkeypatch):
    """No start-up locale warning in the pictures."""
    monkeypatch.setenv("LANG", "C.UTF-8")
    monkeypatch.delenv("LC_ALL", raising=False)
    monkeypatch.delenv("LC_CTYPE", raising=False)


@pytest.mark.parametrize("size", [(80, 24), (160, 48)], ids=["80x24", "160x48"])
@pytest.mark.parametrize("view", list(VIEWS))
def test_view(snap_compare, view, size):
    async def run_before(pilot) -> None:
        await settle(pilot)
        for key in VIEWS[view]:
            await pilot.press(key)
        pilot.app.refresh_view(slow=True)
        for sparkline in pilot.app.query(Sparkline):
            sparkline.visible = False  # the space stays, the bars are not drawn
        await pilot.pause()

    assert snap_compare(replay_app(FIXTURE_OF.get(view, FIXTURE)), terminal_size=size, run_before=run_before)
