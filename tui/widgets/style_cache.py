"""Component styles looked up once per style change: Textual computes them afresh on every call.

A widget that builds many lines of text per refresh (logs, ladders, tables) asks for the same few
component styles hundreds of times a second; this mixin keeps them until the styles change (a theme
switch, a class change), when Textual calls ``notify_style_update``.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from rich.style import Style

if TYPE_CHECKING:
    from textual.widget import Widget

    _Base = Widget  # the mixin always sits before Widget in the MRO
else:
    _Base = object


class CachedStyles(_Base):
    """Mix in before ``Widget``: ``self.style_of("name")`` is ``get_component_rich_style(name, partial=True)``."""

    def style_of(self, name: str, partial: bool = True) -> Style:
        cache = self.__dict__.get("_style_cache")
        if cache is None:
            cache = self.__dict__["_style_cache"] = {}
        key = (name, partial)
        style = cache.get(key)
        if style is None:
            style = self.get_component_rich_style(name, partial=partial)
            if partial and style.color is not None:
                # A partial style takes a colour like $text-muted ("auto 60%") without its alpha and
                # without the background it sits on: white on a light theme. The full style has it right.
                full = self.get_component_rich_style(name, partial=False)
                style = style + Style(color=full.color)
            cache[key] = style
        return style

    def base_style(self) -> Style:
        """The widget's own ``rich_style``, cached the same way."""
        cache = self.__dict__.get("_style_cache")
        if cache is None:
            cache = self.__dict__["_style_cache"] = {}
        style = cache.get(None)
        if style is None:
            style = cache[None] = self.rich_style
        return style

    def notify_style_update(self) -> None:
        self.__dict__["_style_cache"] = {}
        super().notify_style_update()
