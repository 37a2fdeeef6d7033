"""A headless replay is a whole process: what it loads at start-up is part of its time."""
from __future__ import annotations

import os
import subprocess
import sys

import orjson


def test_headless_replay_of_a_real_capture_imports_nothing_of_the_ui(captures, tmp_path):
    """The real Binance capture replayed by the CLI in a child process: it counts the capture's trades and
    no module of Textual, Rich or the app is imported, nor the live client's (-X importtime names every
    module loaded)."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "tui.runtime.cli", "replay", "--format", "cryptofeed",
         str(captures / "BINANCE"), "--speed", "max", "--headless", "--json"],
        capture_output=True, timeout=120, check=False,
        env={**os.environ, "XDG_CONFIG_HOME": str(tmp_path), "XDG_STATE_HOME": str(tmp_path)})
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    assert orjson.loads(done.stdout.splitlines()[-1])["events"]["trade"] > 0
    loaded = [line.rpartition("|")[2].strip() for line in done.stderr.decode().splitlines()
              if line.startswith("import time:") and "|" in line]
    assert "feeds.drivers.replay" in loaded  # the list is real
    ui = [m for m in loaded if m.split(".")[0] in ("textual", "rich") or m.startswith(("tui.app", "tui.widgets"))]
    assert ui == []
    # nor what only a live session or --version needs: the websocket client (90 ms), importlib.metadata (40 ms)
    unused = [m for m in loaded if m.split(".")[0] == "picows" or m == "importlib.metadata"]
    assert unused == []


def test_a_headless_replay_collects_garbage_rarely_and_restores_the_collector(tmp_path, monkeypatch, capsys):
    """At full speed the records of each block read are young garbage: with the default thresholds (700) they
    were promoted through every generation (20k frames: ~40 collections); the replay raises the young threshold
    for its run (as the app does for itself) and gives the settings back."""
    import gc

    from tui.bench.cryptofeed_compare import build_capture
    from tui.runtime.cli import main

    build_capture(tmp_path / "capture", 20_000)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    collections: list[int] = []
    before = gc.get_threshold()
    gc.callbacks.append(collect := lambda phase, info: collections.append(info["generation"]) if phase == "stop" else None)
    try:
        code = main(["replay", "--format", "cryptofeed", str(tmp_path / "capture"), "--speed", "max", "--headless",
                     "--json"])
    finally:
        gc.callbacks.remove(collect)
    assert code == 0 and orjson.loads(capsys.readouterr().out.splitlines()[-1])["events"]["trade"] > 15_000
    assert len(collections) < 10 and 2 not in collections
    assert gc.get_threshold() == before
