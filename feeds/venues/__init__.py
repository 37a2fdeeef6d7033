"""The venue registry: every venue's declaration (``feeds.venues.base.Venue``), by name.

A venue is one module here (its declaration and its pure codec); adding one means that module and a
line below. Nothing outside ``feeds/venues/`` and the simulator spells a venue's name.
"""
from __future__ import annotations

from feeds.venues.base import BOOK_FROM_REST_SNAPSHOT, BOOK_STREAMED, Network, RestRequest, Venue
from feeds.venues.binance import BINANCE
from feeds.venues.binance_futures import BINANCE_FUTURES
from feeds.venues.coinbase import COINBASE
from feeds.venues.coinbase_advanced import COINBASE_ADVANCED
from feeds.venues.coinbase_full import COINBASE_L3

VENUES: dict[str, Venue] = {v.name: v for v in (BINANCE, COINBASE, COINBASE_ADVANCED, BINANCE_FUTURES, COINBASE_L3)}

DEFAULT_VENUES = (BINANCE.name,)  # a session that names none
# the demo: the simulator serves all three; Coinbase moves with Binance spot, the perpetual drifts a little
DEMO_VENUES = (BINANCE.name, COINBASE.name, BINANCE_FUTURES.name)
# cryptofeed's exchange ids (the first part of its capture file names) -> (our venue, its network)
CRYPTOFEED_IDS: dict[str, tuple[str, str]] = {
    "BINANCE": (BINANCE.name, "production"), "BINANCE_US": (BINANCE.name, "us"), "BINANCE_TR": (BINANCE.name, "tr"),
    "BINANCE_FUTURES": (BINANCE_FUTURES.name, "production"), "COINBASE": (COINBASE.name, "production"),
}
PRIORITY = tuple(VENUES)  # whose price comes first where one venue's must be picked


__all__ = ["BOOK_FROM_REST_SNAPSHOT", "BOOK_STREAMED", "CRYPTOFEED_IDS", "DEFAULT_VENUES", "DEMO_VENUES", "PRIORITY", "VENUES",
           "Network", "RestRequest", "Venue"]
