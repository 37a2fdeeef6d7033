"""SVG screenshots of the app from a deterministic replay: ``python -m tui.screenshots [OUT_DIR [NAME...]]``.

Replays ``tests/fixtures/app_session.jsonl.gz`` (two venues, three symbols, 75 s, made by
``tests/fixtures/make_app_recording.py``) at full speed, waits until it ends, and saves one SVG per view
at 120x36 into ``screenshots/``: main, aggregate, depth, errors, help, halted and chart; and ``futures`` (the
aggregate view with perpetuals: mark, funding and its countdown, open interest, liquidations, basis) from
``tests/fixtures/futures_session.jsonl.gz`` (spot and perpetual, 60 s, made by
``tests/fixtures/make_futures_recording.py``). Everything on screen comes from the recording and its recorded
clock, so the files change only when the app or the data does.
The snapshot tests (tests/test_snapshots.py) use the same ``replay_app`` and ``settle``.
"""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from tui.app import ClearTermApp, locale_is_utf8
from tui.runtime.config import UISettings
from tui.runtime.replay_runner import ReplayRunner

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests" / "fixtures" / "app_session.jsonl.gz"
FUTURES_FIXTURE = ROOT / "tests" / "fixtures" / "futures_session.jsonl.gz"
SIZE = (120, 36)
SHOTS = {  # file stem -> keys pressed once the replay has ended
    "main": (),
    "aggregate": ("a",),
    "depth": ("d",),
    "errors": ("e",),
    "pnl": ("p",),
    "help": ("question_mark",),
    "halted": ("h",),
    "chart": ("c",),
    "futures": ("a",),
}
FIXTURE_OF = {"futures": FUTURES_FIXTURE}  # shots of another recording than FIXTURE


def replay_app(path: Path = FIXTURE, settings: UISettings | None = None) -> ClearTermApp:
    """The app on a full-speed replay of ``path``."""
    return ClearTermApp(ReplayRunner([str(path)], speed=None), settings=settings or UISettings())


async def settle(pilot, timeout: float = 20.0) -> None:
    """Wait (with a deadline) until the replay has ended, then draw everything once, slow parts included."""
    app = pilot.app
    deadline = time.monotonic() + timeout
    while not app.runner.finished.is_set():
        if time.monotonic() > deadline:
            raise TimeoutError(f"the replay did not end within {timeout} s")
        await pilot.pause(0.05)
    await app.workers.wait_for_complete()  # e.g. the one that finds the recording's end
    app.refresh_view(slow=True)
    await pilot.pause()


def save(name: str, keys: tuple[str, ...], out_dir: Path) -> Path:
    app = replay_app(FIXTURE_OF.get(name, FIXTURE))

    async def pilot_run(pilot) -> None:
        await settle(pilot)
        for key in keys:
            await pilot.press(key)
            await pilot.pause()
        app.refresh_view(slow=True)
        await pilot.pause()
        await pilot.wait_for_scheduled_animations()
        app.save_screenshot(f"{name}.svg", str(out_dir))
        app.exit()

    app.run(headless=True, size=SIZE, auto_pilot=pilot_run)
    return out_dir / f"{name}.svg"


def main(argv: list[str]) -> int:
    out_dir = Path(argv[0]) if argv else ROOT / "screenshots"
    out_dir.mkdir(parents=True, exist_ok=True)
    if not locale_is_utf8()[0]:
        os.environ["LANG"] = "C.UTF-8"  # the SVG does not depend on it; the start-up warning would show
    only = argv[1:]  # names of the shots to make; none: all
    for name, keys in SHOTS.items():
        if not only or name in only:
            print(save(name, keys, out_dir))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
