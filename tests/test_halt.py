"""TradingHalt state, history and listeners; the env flag; reconnect storm and clock skew detectors."""
from __future__ import annotations

import datetime as dt

import pytest

from feeds.clock import ManualClock
from strategy.halt import ClockSkewMonitor, HaltRecord, ReconnectStormDetector, TradingHalt, halt_from_env

S = 1_000_000_000
MS = 1_000_000
T0 = int(dt.datetime(2026, 11, 21, 10, 0, 0, tzinfo=dt.UTC).timestamp()) * S


def test_halt_and_resume_history_and_listeners():
    clock = ManualClock(T0)
    halt = TradingHalt(clock)
    heard: list[HaltRecord] = []
    halt.listeners.append(heard.append)
    assert not halt.halted and halt.cause == "" and halt.history == []

    clock.advance(1.5)
    rec = halt.halt("operator pressed h")
    assert rec == HaltRecord(T0 + int(1.5 * S), "halt", "operator pressed h", "operator")
    assert halt.halted and halt.cause == "operator pressed h"

    clock.advance(10)
    assert halt.halt("stale feed BINANCE", by="auto") is None  # already halted: ignored
    assert halt.cause == "operator pressed h"

    clock.advance(20)
    back = halt.resume()
    assert back == HaltRecord(T0 + int(31.5 * S), "resume", "operator pressed h", "operator")
    assert not halt.halted and halt.cause == ""
    assert halt.resume() is None  # not halted: ignored

    assert halt.history == [rec, back] and heard == [rec, back]


def test_automatic_halt_stays_until_an_operator_resumes():
    clock = ManualClock(T0)
    halt = TradingHalt(clock)
    halt.halt("stale feed BINANCE", by="auto")
    clock.advance(3600)  # the cause may well be gone by now; the halt is not
    assert halt.halted and halt.cause == "stale feed BINANCE"
    with pytest.raises(ValueError):
        halt.resume(by="auto")
    assert halt.halted
    assert halt.resume(by="operator").by == "operator"
    assert not halt.halted
    assert [r.action for r in halt.history] == ["halt", "resume"]
    assert halt.history[0].by == "auto"


def test_bad_by_value_is_refused():
    halt = TradingHalt(ManualClock(T0))
    with pytest.raises(ValueError):
        halt.halt("x", by="robot")
    assert not halt.halted and halt.history == []


def test_starting_halted_is_recorded():
    halt = TradingHalt(ManualClock(T0), halted=True, cause="--halted")
    assert halt.halted and halt.cause == "--halted"
    assert halt.history == [HaltRecord(T0, "halt", "--halted", "operator")]
    assert TradingHalt(ManualClock(T0), halted=True).cause == "started halted"


def test_every_listener_hears_every_record_in_order():
    halt = TradingHalt(ManualClock(T0))
    a, b = [], []
    halt.listeners += [a.append, lambda r: b.append(r.action)]
    for _ in range(3):
        halt.halt("c", by="auto")
        halt.halt("ignored")
        halt.resume()
    assert [r.action for r in a] == ["halt", "resume"] * 3 and b == ["halt", "resume"] * 3


def test_record_to_json_and_halts_list():
    clock = ManualClock(T0 + 999 * MS)  # milliseconds are trimmed to whole seconds
    halt = TradingHalt(clock)
    halt.halt("stale feed BINANCE", by="auto")
    clock.advance(60)
    halt.resume()
    assert halt.history[0].to_json() == {"at": "2026-11-21T10:00:00Z", "cause": "stale feed BINANCE",
                                         "by": "auto", "action": "halt"}
    assert halt.history[1].to_json()["at"] == "2026-11-21T10:01:00Z"
    assert halt.halts_json() == [halt.history[0].to_json()]


@pytest.mark.parametrize("value, expected", [
    ("1", True), ("true", True), ("TRUE", True), (" yes ", True), ("Yes", True),
    ("0", False), ("false", False), ("no", False), ("", False), ("on", False), ("2", False),
])
def test_halt_from_env(value, expected):
    assert halt_from_env({"FLAG_TRADING_HALTED": value}) is expected


def test_halt_from_env_absent():
    assert halt_from_env({}) is False
    assert halt_from_env({"OTHER": "1"}) is False


# --- reconnect storm -------------------------------------------------------------------------------

def test_reconnect_storm_crosses_at_the_sixth_within_a_minute():
    storm = ReconnectStormDetector(max_reconnects=5, window_s=60)
    times = [T0 + i * 10 * S for i in range(5)]  # 5 reconnects in 40 s: allowed
    assert [storm.record(t) for t in times] == [False] * 5
    assert storm.record(T0 + 60 * S) is True  # 6th, first one exactly 60 s ago: still in window
    assert storm.record(T0 + 61 * S) is True  # still 6 within the last 60 s
    assert storm.count(T0 + 61 * S) == 6


def test_spread_out_reconnects_never_storm():
    storm = ReconnectStormDetector(max_reconnects=5, window_s=60)
    assert not any(storm.record(T0 + i * 13 * S) for i in range(100))  # ~4.6 per minute


def test_storm_ends_when_the_window_slides_past():
    storm = ReconnectStormDetector(max_reconnects=2, window_s=10)
    assert [storm.record(T0 + i * S) for i in range(3)] == [False, False, True]
    assert storm.record(T0 + 30 * S) is False
    assert storm.count(T0 + 30 * S) == 1


# --- clock skew --------------------------------------------------------------------------------------

def test_one_late_frame_does_not_trip_skew():
    skew = ClockSkewMonitor(threshold_ms=1000)
    t = T0
    for i in range(200):
        t += 100 * MS
        lag = 5_000 * MS if i in (3, 60, 61, 150) else 20 * MS  # a few very late frames
        assert skew.observe(t, t + lag) is False
    assert skew.median_ms == pytest.approx(20.0)


def test_sustained_skew_trips_in_either_direction_and_clears():
    for sign in (+1, -1):
        skew = ClockSkewMonitor(threshold_ms=1000, window=50, min_samples=10)
        t = T0
        results = []
        for _ in range(50):
            t += 100 * MS
            results.append(skew.observe(t, t + sign * 1500 * MS))
        # No verdict before 10 samples, then the median is 1.5 s beyond the threshold.
        assert results[:9] == [False] * 9 and all(results[9:])
        assert skew.median_ms == pytest.approx(sign * 1500.0)
        # Healthy frames return: the verdict clears with the 25th, when half the window is healthy
        # (the median is then the mean of 1500 and 10 ms, inside the threshold).
        flips = []
        for _ in range(50):
            t += 100 * MS
            flips.append(skew.observe(t, t + 10 * MS))
        assert flips.index(False) == 24 and not any(flips[24:])


def test_median_exactly_at_threshold_is_not_skew():
    skew = ClockSkewMonitor(threshold_ms=1000, min_samples=1)
    assert not any(skew.observe(T0, T0 + 1000 * MS) for _ in range(60))


def test_frames_without_exchange_time_are_not_counted():
    skew = ClockSkewMonitor(threshold_ms=1000, min_samples=3)
    for _ in range(10):
        assert skew.observe(0, T0) is False  # recv - 0 would look like 56 years of skew
    assert skew.median_ms is None
