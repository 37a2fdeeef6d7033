"""Mapping between venue symbols (``BTCUSDT``, ``BTC-USD``) and unified ones (``BTC/USD``).

A unified symbol is ``BASE/QUOTE``. Treating USDT (and USDC) as USD is an explicit, visible choice
(``quote_aliases``): the two are different assets, so the UI marks such pairs as approximate.
"""
from __future__ import annotations

# Longest first so that "FDUSD" wins over "USD" and "USDT" over "USD".
KNOWN_QUOTES = (
    "FDUSD", "USDT", "USDC", "BUSD", "TUSD", "USDP", "DAI", "TRY", "EUR", "GBP", "BRL", "JPY",
    "AUD", "BTC", "ETH", "BNB", "USD", "XRP", "DOGE", "TRX",
)
DEFAULT_QUOTE_ALIASES = {"USDT": "USD", "USDC": "USD"}
MAX_CACHED_NAMES = 4096  # name caches start over past this: a flood of made-up symbols must not grow memory


def split_binance(symbol: str) -> tuple[str, str]:
    """``"BTCUSDT"`` -> ``("BTC", "USDT")``; unknown quotes give ``(symbol, "")``."""
    s = symbol.upper()
    for quote in sorted(KNOWN_QUOTES, key=len, reverse=True):
        if s.endswith(quote) and len(s) > len(quote):
            return s[: -len(quote)], quote
    return s, ""


def split_coinbase(product_id: str) -> tuple[str, str]:
    """``"BTC-USD"`` -> ``("BTC", "USD")``."""
    base, _, quote = product_id.upper().partition("-")
    return base, quote


class SymbolMap:
    """Venue symbol -> unified symbol, cached; overrides win over the splitting rules."""

    def __init__(self, quote_aliases: dict[str, str] | None = None,
                 overrides: dict[tuple[str, str], str] | None = None) -> None:
        self.quote_aliases = dict(DEFAULT_QUOTE_ALIASES if quote_aliases is None else quote_aliases)
        self._overrides: dict[tuple[str, str], str] = dict(overrides or {})
        self._cache: dict[tuple[str, str], str] = dict(self._overrides)

    def unified(self, venue: str, symbol: str) -> str:
        key = (venue, symbol)
        u = self._cache.get(key)
        if u is None:
            base, quote = (split_coinbase if "-" in symbol else split_binance)(symbol)
            u = f"{base}/{self.quote_aliases.get(quote, quote)}" if quote else base
            if len(self._cache) >= MAX_CACHED_NAMES + len(self._overrides):
                self._cache = dict(self._overrides)
            self._cache[key] = u
        return u

    def is_approximate(self, symbol: str) -> bool:
        """True when the unified quote was reached through an alias (e.g. USDT shown as USD)."""
        base, quote = (split_coinbase if "-" in symbol else split_binance)(symbol)
        return quote in self.quote_aliases

    def venue_symbol(self, unified: str, separator: str = "") -> str:
        """A venue's own symbol for a unified one: ``BASE + separator + QUOTE``.

        Venues that run the two together (``BTCUSDT``) list USDT pairs, not USD ones, so there the
        USDT alias is used backwards (``BTC/USD`` -> ``BTCUSDT``); ``BTC/USD`` with "-" is ``BTC-USD``.
        """
        base, _, quote = unified.upper().replace("-", "/").partition("/")
        if not separator:
            for src, dst in self.quote_aliases.items():
                if dst == quote and src == "USDT":
                    quote = src
                    break
        return f"{base}{separator}{quote}"


class UnifiedNames(dict[str, str]):
    """A codec's cache of venue symbol -> unified symbol: ``names[s]`` is a plain dict hit once known."""

    def __init__(self, symbol_map: SymbolMap, venue: str) -> None:
        super().__init__()
        self.symbol_map = symbol_map
        self.venue = venue

    def __missing__(self, symbol: str) -> str:
        if symbol.__class__ is not str:
            raise TypeError(f"symbol must be a string, not {type(symbol).__name__}")
        if len(self) >= MAX_CACHED_NAMES:
            self.clear()
        unified = self[symbol] = self.symbol_map.unified(self.venue, symbol)
        return unified
