"""Captures in cryptofeed's raw format for each of its Binance exchange ids, written from the simulator
(tests/captures/write_sim_captures.py), replayed by the real command: each id reaches our venue and network,
every frame gives its one event, every book syncs (by the pu rule for futures) and none is crossed."""
import gzip
import shutil
from pathlib import Path

import orjson
import pytest

from feeds.drivers.replay import read_cryptofeed
from tui.runtime.cli import main

SIM_CAPTURES = Path(__file__).resolve().parent / "captures" / "sim"
IDS = ("BINANCE", "BINANCE_US", "BINANCE_TR", "BINANCE_FUTURES")  # COINBASE: its own test below


def unpack(cf_id: str, into: Path) -> Path:
    for packed in SIM_CAPTURES.glob(f"{cf_id}.*.gz"):
        if packed.name.split(".")[0] == cf_id:
            with gzip.open(packed, "rb") as src, open(into / packed.name[:-3], "wb") as dst:
                shutil.copyfileobj(src, dst)
    return into / cf_id


def frames(path: Path) -> dict[str, int]:
    """Received frames by kind, read straight from the capture (not through our reader)."""
    counts: dict[str, int] = {}
    for line in path.read_text().splitlines():
        head, sep, payload = line.partition(": ")
        if sep and head.replace(".", "").isdigit():
            stream = orjson.loads(payload)["stream"].partition("@")[2]
            kind = stream.split("_")[0].split("@")[0]
            counts[kind] = counts.get(kind, 0) + 1
    return counts


def replay(capsys, prefix: Path) -> dict:
    code = main(["replay", str(prefix), "--format", "cryptofeed", "--headless", "--speed", "max", "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    return orjson.loads(out)


@pytest.mark.parametrize("cf_id", IDS)
def test_each_id_replays_one_event_per_frame_with_synced_books(capsys, tmp_path, cf_id):
    prefix = unpack(cf_id, tmp_path)
    header, stream = read_cryptofeed(prefix)
    stream.close()
    venue = "BINANCE_FUTURES" if cf_id == "BINANCE_FUTURES" else "BINANCE"
    assert header["venues"] == [venue]
    counts = frames(tmp_path / f"{cf_id}.ws.1.0")
    assert counts["depth"] > 10 and counts["aggTrade"] > 0 and counts["bookTicker"] > 0 and counts["kline"] > 0
    stats = replay(capsys, prefix)
    assert stats["rejected"]["total"] == 0 and stats["duplicates"] == 0
    events = stats["events"]
    assert events["trade"] == counts["aggTrade"]
    assert events["quote"] == counts["bookTicker"]
    assert events["candle"] == counts["kline"]
    books = stats["books"]
    assert sorted(books) == [f"{venue}:BTCUSDT", f"{venue}:ETHUSDT"]
    assert all(b["state"] == "synced" and 0 < b["bid"][0] < b["ask"][0] for b in books.values())
    assert events["book"] > 2  # both snapshots and diffs applied
    if cf_id == "BINANCE_FUTURES":
        http = (tmp_path / f"{cf_id}.http.0.0").read_text()
        assert events["mark_price"] == counts["markPrice"]
        assert events["liquidation"] == counts["forceOrder"] >= 1
        assert events["open_interest"] == http.count("/openInterest?") > 0


def test_the_sync_of_a_futures_capture_uses_pu(tmp_path):
    from feeds.api import Feed
    from feeds.clock import ManualClock
    from feeds.core.book_sync import ChainedBookSync
    from feeds.drivers.replay_source import ReplayDriver
    header, stream = read_cryptofeed(unpack("BINANCE_FUTURES", tmp_path))
    clock = ManualClock()
    feed = Feed(header["venues"], ["BTCUSDT", "ETHUSDT"], clock=clock, backfill=False)
    driver = ReplayDriver(feed, clock)
    for rec in stream:
        driver.apply(rec)
    syncs = list(feed.books.syncs.values())
    assert len(syncs) == 2 and all(type(s) is ChainedBookSync for s in syncs)
    assert all(s.state == "synced" and s.resyncs == 0 and s.applied_deltas > 5 for s in syncs)


def test_an_unknown_cryptofeed_id_is_one_line_and_exit_2(capsys, tmp_path):
    shutil.copy(unpack("BINANCE_US", tmp_path).with_name("BINANCE_US.ws.1.0"), tmp_path / "KRAKEN_FUTURES.ws.1.0")
    code = main(["replay", str(tmp_path / "KRAKEN_FUTURES"), "--format", "cryptofeed", "--headless", "--speed", "max"])
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("clearterm: error:") and "KRAKEN_FUTURES" in err
    assert "Traceback" not in err


def test_the_coinbase_id_replays_one_event_per_frame_with_synced_books(capsys, tmp_path):
    prefix = unpack("COINBASE", tmp_path)
    kinds: dict[str, int] = {}
    for line in (tmp_path / "COINBASE.ws.1.0").read_text().splitlines():
        head, sep, payload = line.partition(": ")
        if sep and head.replace(".", "").isdigit():
            kind = orjson.loads(payload)["type"]
            kinds[kind] = kinds.get(kind, 0) + 1
    assert kinds["snapshot"] == 2 and kinds["l2update"] > 10 and kinds["match"] > 0 and kinds["ticker"] > 0
    stats = replay(capsys, prefix)
    assert stats["rejected"]["total"] == 0
    events = stats["events"]
    assert events["trade"] == kinds["match"] + kinds.get("last_match", 0)
    assert events["quote"] == kinds["ticker"]
    assert events["book"] == kinds["snapshot"] + kinds["l2update"]
    books = stats["books"]
    assert sorted(books) == ["COINBASE:BTC-USD", "COINBASE:ETH-USD"]
    assert all(b["state"] == "synced" and 0 < b["bid"][0] < b["ask"][0] for b in books.values())
