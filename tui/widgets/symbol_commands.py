"""Command palette provider: every symbol the session knows, by its configured, venue and unified names.

Choosing one shows that symbol on the main view (un-hiding it if needed) and focuses its first table.
The app supplies ``symbol_names()`` -> [(name, group)] and ``show_symbol(group)``.
"""
from __future__ import annotations

from collections.abc import Iterable
from functools import partial
from typing import Protocol, runtime_checkable

from textual.command import DiscoveryHit, Hit, Hits, Provider

from tui.widgets.safe_text import clean


@runtime_checkable
class SymbolSource(Protocol):
    """What the app offers this provider."""

    def symbol_names(self) -> Iterable[tuple[str, str]]: ...

    def show_symbol(self, group: str) -> None: ...


class SymbolCommands(Provider):
    @property
    def source(self) -> SymbolSource:
        app = self.app
        assert isinstance(app, SymbolSource), "SymbolCommands is only registered by the clearterm app"
        return app

    def _entries(self) -> list[tuple[str, str, str]]:
        """(title, help, group) per symbol name."""
        out = []
        for name, group in self.source.symbol_names():
            help_text = "show its candle tables" if name == group else f"show {clean(group)}"
            out.append((f"Symbol {clean(name)}", help_text, group))
        return out

    async def discover(self) -> Hits:
        for title, help_text, group in self._entries():
            yield DiscoveryHit(title, partial(self.source.show_symbol, group), help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for title, help_text, group in self._entries():
            score = matcher.match(title)
            if score > 0:
                yield Hit(score, matcher.highlight(title), partial(self.source.show_symbol, group), help=help_text)
