"""The event model's contract: immutable records compared by value, copied with changes, never cycles."""
from __future__ import annotations

import gc

import msgspec
import pytest
from msgspec.structs import astuple, replace

from feeds.events import EVENT_TYPES, Candle, Trade


def _trade() -> Trade:
    return Trade("BINANCE", "BTCUSDT", "BTC/USD", 2, 3, 100.5, 0.25, "buy", 7)


def test_events_are_immutable_values() -> None:
    t = _trade()
    with pytest.raises(AttributeError):
        t.price = 1.0  # type: ignore[misc]
    assert t == _trade() and hash(t) == hash(_trade())
    moved = replace(t, price=101.0)
    assert moved.price == 101.0 and t.price == 100.5 and moved != t
    assert astuple(t)[5:] == (100.5, 0.25, "buy", 7)  # the figures after the five common fields
    assert repr(t).startswith("Trade(venue='BINANCE', symbol='BTCUSDT'")


def test_every_event_type_starts_with_the_common_fields_and_is_not_tracked_by_the_collector() -> None:
    for event_type in EVENT_TYPES:
        fields = event_type.__struct_fields__
        assert fields[:5] == ("venue", "symbol", "unified", "exch_ns", "recv_ns"), event_type
        assert event_type.__struct_config__.frozen and not event_type.__struct_config__.gc, event_type
    bar = Candle("BINANCE", "BTCUSDT", "BTC/USD", 1, 2, "1m", 0, 1.0, 2.0, 0.5, 1.5, 3.0, 4, True)
    assert bar.source == "live" and not gc.is_tracked(bar) and not gc.is_tracked(_trade())
    assert msgspec.json.decode(msgspec.json.encode(bar), type=Candle) == bar
