"""What a venue declares: one frozen record per venue (a variant is another record of the same class).

Everything outside ``feeds/venues/`` asks a ``Venue`` instead of spelling a venue's name: its endpoints
per network, how to name its symbols, which frames subscribe, which REST calls exist and how their
bodies parse, its taker fee, the kind of order book it keeps and the candles it has. Pure: no I/O.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable
from urllib.parse import urlsplit

from feeds.symbols import SymbolMap

# The book kinds, each with its sync rule (feeds/core/book_sync.py):
BOOK_FROM_REST_SNAPSHOT = "rest_snapshot"  # deltas carry update ids; a REST snapshot anchors them
BOOK_STREAMED = "streamed"  # the stream sends a snapshot then deltas; after a gap, subscribe again
BOOK_LEVEL3 = "level3"  # order by order: a REST snapshot of every order, then sequenced order messages
# How a REST-anchored book's deltas chain (book_sync picks the rule by it):
CHAIN_FIRST_ID = "first_id"  # each delta's U is the previous u + 1 (Binance spot)
CHAIN_PREV_ID = "prev_id"  # each delta's pu equals the previous u (Binance USD-M futures)


class Codec(Protocol):
    """A venue's pure decoder: one WebSocket frame -> events (``feeds.events``), never an exception."""

    def decode(self, raw: str | bytes, recv_ns: int) -> list[Any]: ...


@runtime_checkable
class StreamCodec(Codec, Protocol):
    """A codec whose frames name their stream (Binance's combined streams): the pipeline binds a path per stream."""

    envelope: Callable[[str | bytes], Any]  # a frame -> its stream name (.stream) and undecoded payload (.data)

    def stream_reader(self, stream: str) -> Any: ...  # the stream's (event type, venue, symbol, unified, read) or None


@dataclass(frozen=True)
class Network:
    """One deployment of a venue: its WebSocket bases in failover order and its REST base."""

    ws: tuple[str, ...]
    rest: str


@dataclass(frozen=True)
class RestRequest:
    """A REST call, named by what it asks for: its answer is parsed by ``what``, never by its URL."""

    what: str  # "depth" (a book snapshot), "klines" (closed bars) or "listing" (is the symbol listed)
    path: str  # below the REST base, with the query
    symbol: str  # the venue's own symbol
    interval: str = ""  # klines only


@dataclass(frozen=True)
class Venue:
    """A venue's declaration. Subclasses supply the codec, the frames and the REST calls."""

    name: str  # the name events carry: "BINANCE"
    short: str  # a three-letter tag for narrow screens
    networks: Mapping[str, Network]  # "production" first; any other deployments of the same protocol
    channels: tuple[str, ...]  # what a connection subscribes to
    taker_fee_bps: float  # base-tier taker fee, for fee-adjusted arbitrage
    book_kind: str  # BOOK_FROM_REST_SNAPSHOT, BOOK_STREAMED or BOOK_LEVEL3
    book_chain: str = CHAIN_FIRST_ID  # CHAIN_FIRST_ID or CHAIN_PREV_ID, for BOOK_FROM_REST_SNAPSHOT books
    poll_period_s: float = 0.0  # how often ``poll_requests`` are fetched; 0: never
    perpetual: bool = False  # perpetual futures: mark price, funding, open interest, liquidations
    maker_fee_bps: float | None = None  # base-tier maker fee (paper maker fills); None: the taker fee
    symbol_separator: str = ""  # "BTCUSDT" (""), "BTC-USD" ("-")
    intervals: tuple[str, ...] = ()  # the venue's own candle intervals; () = none on the stream
    subscribed_on_open: bool = False  # streams named in the URL: no confirmation to wait for
    candles_from_trades: bool = False  # no candles at our interval: build them from trades
    candle_check: str = ""  # the interval of the venue's own candles, checked against ones built from trades
    simulated_by: str = ""  # the simulator venue serving it, where not its own name (a channel set of another)
    checked_against: str = ""  # another declaration of the same exchange whose book must show the same top levels

    # -- endpoints -------------------------------------------------------------------------------
    @property
    def endpoints(self) -> dict[str, list[str]]:
        """Network name -> WebSocket bases, in failover order."""
        return {net: list(n.ws) for net, n in self.networks.items()}

    def rest_base_for(self, ws_base: str) -> str:
        """The REST base for a WebSocket base: the network's own for a known endpoint, else the same host
        and path over http(s) (ws://127.0.0.1:8765 -> http://127.0.0.1:8765, the simulator)."""
        stripped = ws_base.rstrip("/")
        for net in self.networks.values():
            for base in net.ws:
                if stripped == base or stripped.startswith(base + "/"):
                    return net.rest
        parts = urlsplit(stripped)
        scheme = {"ws": "http", "wss": "https"}.get(parts.scheme, parts.scheme)
        return f"{scheme}://{parts.netloc}{parts.path}".rstrip("/")

    # -- symbols ---------------------------------------------------------------------------------
    def venue_symbol(self, symbols: SymbolMap, text: str) -> str:
        """A user's symbol (``BTCUSDT``, ``BTC/USD``, ``BTC-USD``) as this venue names it."""
        if not self.symbol_separator and "/" not in text and "-" not in text:
            return text.upper()
        unified = text if "/" in text else text.replace("-", "/") if "-" in text else symbols.unified(self.name, text)
        return symbols.venue_symbol(unified, self.symbol_separator)

    def builds_candles(self, interval: str) -> bool:
        """Are candles of ``interval`` built here from trades (the venue sends none at it)?"""
        return self.candles_from_trades

    # -- what subclasses supply ------------------------------------------------------------------
    def make_codec(self, symbols: SymbolMap) -> Codec:
        raise NotImplementedError

    def connect_url(self, base: str, symbols: list[str], interval: str) -> str:
        """The URL a connection opens (streams named in it, for venues that do so)."""
        return base

    def subscribe_frames(self, symbols: list[str], interval: str) -> list[str]:
        """Frames sent once a connection opens."""
        return []

    def subscribe_live(self, symbols: list[str], interval: str, req_id: int) -> list[str]:
        """Frames that add symbols to an open connection."""
        return []

    def unsubscribe_live(self, symbols: list[str], interval: str, req_id: int) -> list[str]:
        return []

    def resubscribe_book(self, symbol: str) -> list[str]:
        """Frames that make a ``BOOK_STREAMED`` venue send a fresh book."""
        return []

    def snapshot_request(self, symbol: str) -> RestRequest | None:
        """The REST call for a ``BOOK_FROM_REST_SNAPSHOT`` or ``BOOK_LEVEL3`` book; None where there is none."""
        return None

    def klines_request(self, symbol: str, interval: str, start_ms: int | None, end_ms: int | None,
                       limit: int) -> RestRequest | None:
        """The REST call for closed bars (backfill); None where the venue has none."""
        return None

    def poll_requests(self, symbol: str) -> list[RestRequest]:
        """REST calls fetched every ``poll_period_s`` (e.g. open interest); their answers are events."""
        return []

    def listing_request(self, symbol: str) -> RestRequest | None:
        """A REST call answering 200 when the symbol is listed; None where there is none."""
        return None

    def request_for_url(self, url: str) -> RestRequest | None:
        """What a URL asked, for recordings made before requests were recorded; None: nothing to apply."""
        return None

    def rest_events(self, codec: Codec, request: RestRequest, body: str | bytes, recv_ns: int) -> list[Any]:
        """Events from the body answering ``request``; requests with nothing to say give none."""
        return []
