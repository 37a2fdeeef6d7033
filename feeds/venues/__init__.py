"""Venue registry: for each venue, its endpoints, connect URL, subscribe frames and codec.

Adding a venue means one codec module and one entry here.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable
from urllib.parse import parse_qs, urlsplit

from feeds.venues import binance
from feeds.symbols import SymbolMap


@dataclass(frozen=True)
class Venue:
    name: str
    endpoints: dict[str, list[str]]  # network name -> WebSocket bases, in failover order
    connect_url: Callable[[str, list[str], str], str]  # (base, venue symbols, interval) -> URL
    subscribe_frames: Callable[[list[str], str], list[str]]  # (venue symbols, interval) -> frames
    make_codec: Callable[[SymbolMap], object]
    venue_symbol: Callable[[SymbolMap, str], str]  # a user's symbol (BTCUSDT or BTC/USD) -> venue's own
    subscribed_on_open: bool  # streams named in the URL: no confirmation to wait for
    rest_events: Callable[[object, str, bytes, int], list] = lambda codec, url, body, recv_ns: []
    candles_from_trades: bool = False  # the feed has no candles at our interval: build them from trades
    rest_base_for: Callable[[str], str] = lambda ws_base: ""  # a WebSocket base -> its REST base
    snapshot_path: Callable[[str], str] | None = None  # venue symbol -> REST path of a book snapshot
    klines_path: Callable[..., str] | None = None  # (symbol, interval, start_ms, end_ms, limit) -> REST path
    # Live changes on an open connection: (venue symbols, interval, request id) -> frames to send.
    subscribe_live: Callable[[list[str], str, int], list[str]] = lambda syms, interval, req_id: []
    unsubscribe_live: Callable[[list[str], str, int], list[str]] = lambda syms, interval, req_id: []
    resubscribe_book: Callable[[str], list[str]] | None = None  # frames that make the venue resend a book
    listing_path: Callable[[str], str] | None = None  # REST path answering 200 when the symbol is listed
    candle_check: str = ""  # the interval of the venue's own candles, checked against ones built from trades


def _binance_symbol(symbols: SymbolMap, text: str) -> str:
    return symbols.venue_symbol("BINANCE", text) if "/" in text or "-" in text else text.upper()


CHANNELS = ("aggTrade", "kline", "bookTicker", "ticker", "depth")


def _binance_rest(codec, url: str, body, recv_ns: int) -> list:
    """Events from a REST response: depth snapshots and klines (backfill); other bodies give none."""
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    symbol = query.get("symbol", "").upper()
    if parts.path.endswith("/depth") and symbol:
        return [codec.parse_depth_snapshot(body, symbol, recv_ns)]
    if parts.path.endswith("/klines") and symbol:
        candles, rejected = codec.parse_klines(body, symbol, query.get("interval", ""), recv_ns, recv_ns // 1_000_000)
        return [*candles, *rejected]
    return []


BINANCE = Venue(
    name="BINANCE",
    endpoints=binance.ENDPOINTS,
    connect_url=lambda base, syms, interval: binance.combined_url(base, binance.streams_for(syms, interval,
                                                                                           CHANNELS)),
    subscribe_frames=lambda syms, interval: [],
    make_codec=lambda symbols: binance.BinanceCodec(symbols),
    venue_symbol=_binance_symbol,
    subscribed_on_open=True,
    rest_events=_binance_rest,
    rest_base_for=binance.rest_base_for,
    snapshot_path=lambda symbol: binance.depth_path(symbol, 1000),
    klines_path=binance.klines_path,
    listing_path=lambda symbol: f"/api/v3/exchangeInfo?symbol={symbol}",
    subscribe_live=lambda syms, interval, req_id: [
        binance.subscribe_message(binance.streams_for(syms, interval, CHANNELS), req_id)],
    unsubscribe_live=lambda syms, interval, req_id: [
        binance.unsubscribe_message(binance.streams_for(syms, interval, CHANNELS), req_id)],
)

VENUES: dict[str, Venue] = {"BINANCE": BINANCE}


def _same_host_rest(ws_base: str, endpoints: dict, rest_bases: dict) -> str:
    """A venue's REST base: its known one for a known endpoint, else the same host and path over http(s)."""
    for net, url in endpoints.items():
        if ws_base.rstrip("/") == url.rstrip("/"):
            return rest_bases[net]
    parts = urlsplit(ws_base)
    scheme = {"ws": "http", "wss": "https"}.get(parts.scheme, parts.scheme)
    return f"{scheme}://{parts.netloc}{parts.path}".rstrip("/")


def _register_coinbase() -> None:
    try:
        from feeds.venues import coinbase
    except ImportError:  # the Coinbase codec is optional until it exists
        return

    def venue_symbol(symbols: SymbolMap, text: str) -> str:
        unified = text if "/" in text else symbols.unified("BINANCE", text) if "-" not in text else text.replace("-", "/")
        return symbols.venue_symbol("COINBASE", unified)

    VENUES["COINBASE"] = Venue(
        name="COINBASE",
        endpoints={net: [url] if isinstance(url, str) else list(url) for net, url in coinbase.ENDPOINTS.items()},
        connect_url=lambda base, syms, interval: base,
        subscribe_frames=lambda syms, interval: [coinbase.subscribe_message(syms)],
        make_codec=lambda symbols: coinbase.CoinbaseCodec(symbols, check_trade_ids=False),  # the guard does
        venue_symbol=venue_symbol,
        subscribed_on_open=False,
        candles_from_trades=True,
        listing_path=lambda symbol: f"/products/{symbol}",
        subscribe_live=lambda syms, interval, req_id: [coinbase.subscribe_message(syms)],
        unsubscribe_live=lambda syms, interval, req_id: [coinbase.unsubscribe_message(syms)],
        resubscribe_book=lambda symbol: [coinbase.unsubscribe_message([symbol], ("level2_batch",)),
                                         coinbase.subscribe_message([symbol], ("level2_batch",))],
        rest_base_for=lambda ws_base: _same_host_rest(ws_base, coinbase.ENDPOINTS, coinbase.REST_BASES),
    )

    # Advanced Trade, the other Coinbase API: its own venue name, so both can run side by side.
    from feeds.venues import coinbase_advanced as at
    channels = (*at.DEFAULT_CHANNELS, "candles")
    VENUES["COINBASE_ADVANCED"] = Venue(
        name="COINBASE_ADVANCED",
        endpoints={"production": [at.WS_URL]},
        connect_url=lambda base, syms, interval: base,
        subscribe_frames=lambda syms, interval: at.subscribe_messages(syms, channels),
        make_codec=lambda symbols: at.CoinbaseAdvancedCodec(symbols, venue="COINBASE_ADVANCED"),
        venue_symbol=venue_symbol,
        subscribed_on_open=False,
        candles_from_trades=True,
        candle_check=at.CANDLE_INTERVAL,
        subscribe_live=lambda syms, interval, req_id: at.subscribe_messages(syms, channels),
        unsubscribe_live=lambda syms, interval, req_id: at.unsubscribe_messages(syms, channels),
        resubscribe_book=lambda symbol: [*at.unsubscribe_messages([symbol], ("level2",)),
                                         *at.subscribe_messages([symbol], ("level2",))],
        rest_base_for=lambda ws_base: _same_host_rest(ws_base, {"production": at.WS_URL},
                                                      {"production": at.REST_URL}),
    )


_register_coinbase()
