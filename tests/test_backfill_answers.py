"""What the backfill planner learns from each kind of REST answer: an empty list for bars that have all closed
means the venue has none of them (asked once, not five times); an unreadable answer, or one with a damaged row,
is a failure, asked again (never bars marked absent);
a venue missing the oldest bars wanted costs nothing on later ticks."""
import orjson

from feeds.core.backfill import BackfillPlanner, closed_open_times, missing_ranges

S = 1000  # ms
T0_MS = 1_700_000_000_000
KEY = ("BINANCE", "BTCUSDT", "1s")


def test_an_empty_answer_for_closed_bars_marks_them_absent_at_once():
    p = BackfillPlanner(startup_bars=0)
    now = T0_MS + 100 * S
    opens = [T0_MS + i * S for i in range(50)] + [T0_MS + i * S for i in range(60, 90)]  # 10 bars lost
    p.watch(KEY, now, S)
    req = p.next_request(KEY, opens, None, now, S)
    assert (req.start_ms, req.end_ms) == (T0_MS + 50 * S, T0_MS + 59 * S)
    p.done(req, closed_open_times(b"[]", now + 20), now + 20, S)
    assert p.absent_bars == 10 and p.failures == 0
    assert p.next_request(KEY, opens, None, now + 60 * S, S).start_ms == T0_MS + 90 * S  # not the empty range again


def test_an_empty_answer_for_bars_after_the_newest_the_exchange_sent_is_asked_again():
    # our clock runs 10 s ahead of the exchange's: by ours bars 90..98 have closed, by the exchange's not yet
    p = BackfillPlanner(startup_bars=0)
    now = T0_MS + 100 * S
    opens = [T0_MS + i * S for i in range(90)]
    p.watch(KEY, now, S)
    req = p.next_request(KEY, opens, None, now, S)
    assert req.start_ms == T0_MS + 90 * S and req.end_ms + S <= now
    p.done(req, closed_open_times(b"[]", now), now, S)
    assert p.absent_bars == 0
    assert p.next_request(KEY, opens, None, now + 60 * S, S).start_ms == T0_MS + 90 * S


def test_an_unreadable_answer_is_a_failure_and_the_range_is_asked_again():
    p = BackfillPlanner(startup_bars=0)
    now = T0_MS + 100 * S
    opens = [T0_MS + i * S for i in range(50)] + [T0_MS + i * S for i in range(60, 98)]
    p.watch(KEY, now, S)
    req = p.next_request(KEY, opens, None, now, S)
    damaged = [[T0_MS + 50 * S, "1", "1", "1", "1", "1", None], [T0_MS + 51 * S, "1", "1", "1", "1", "1",
                                                                  T0_MS + 52 * S - 1]]
    for body in (b"<html>busy</html>", orjson.dumps({"code": -1003, "msg": "too many requests"}),
                 orjson.dumps(damaged[:1]), orjson.dumps(damaged), b"[{}]", b"[[null]]"):
        p.done(req, closed_open_times(body, now), now, S)
        again = p.next_request(KEY, opens, None, now + 60 * S, S)
        assert (again.start_ms, again.end_ms) == (req.start_ms, req.end_ms)
        req = again
    assert p.failures == 6 and p.absent_bars == 0


def test_rows_outside_the_range_are_asked_again_before_the_bars_count_as_absent():
    p = BackfillPlanner(startup_bars=0)
    now = T0_MS + 100 * S
    opens = [T0_MS + i * S for i in range(50)] + [T0_MS + i * S for i in range(60, 98)]
    p.watch(KEY, now, S)
    req = p.next_request(KEY, opens, None, now, S)
    later = orjson.dumps([[T0_MS + 70 * S, "1", "1", "1", "1", "1", T0_MS + 71 * S - 1, "1", 1]])
    p.done(req, closed_open_times(later, now), now, S)  # a venue ignoring startTime says nothing of the range
    assert p.absent_bars == 0 and p.next_request(KEY, opens, None, now + 60 * S, S).start_ms == req.start_ms


def test_a_venue_lacking_the_oldest_bars_wanted_raises_the_floor_past_them():
    p = BackfillPlanner(startup_bars=200)
    now = T0_MS + 300 * S
    p.watch(KEY, now, S)  # wants bars from now - 200 s; the venue's history starts 20 s ago
    opens = [now - 20 * S + i * S for i in range(17)]
    req = p.next_request(KEY, opens, None, now, S)
    assert (req.start_ms, req.end_ms) == (now - 200 * S, now - 21 * S)
    p.done(req, [], now, S)
    assert p.absent_bars == 180
    assert p.next_request(KEY, opens, None, now + 2 * S, S).start_ms == now - 3 * S  # the newest, not the absent
    assert p.plans[KEY].floor_ms == now - 20 * S  # later ticks do not walk the 180 absent bars again


def test_missing_ranges_inside_and_around_the_bars_held():
    assert missing_ranges([0, S, 2 * S, 3 * S], 0, 5 * S, S) == [(4 * S, 5 * S)]
    assert missing_ranges([2 * S, 3 * S], 0, 3 * S, S) == [(0, S)]
    assert missing_ranges([0, S, 4 * S, 5 * S], 0, 5 * S, S) == [(2 * S, 3 * S)]
    assert missing_ranges([0, S, 4 * S, 5 * S], S, 4 * S, S, {2 * S}) == [(3 * S, 3 * S)]
    assert missing_ranges([-S, 0, 9 * S], 0, 3 * S, S) == [(S, 3 * S)]
