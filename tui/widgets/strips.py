"""One line of rich ``Text`` as a Textual ``Strip`` of an exact width: the cache unit of the line-API widgets."""
from __future__ import annotations

from rich.style import Style
from rich.text import Text
from textual.strip import Strip


def text_strip(console, text: Text, width: int, style: Style) -> Strip:
    """``text`` on one line over ``style``, cropped or padded to ``width`` (``text`` is changed: pass a copy
    if it is kept)."""
    text.no_wrap = True
    text.end = ""
    text.stylize_before(style)
    return Strip(list(text.render(console))).crop_extend(0, width, style)
