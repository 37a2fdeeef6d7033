"""Exchange-provided strings made safe to show: control characters removed, never parsed as markup.

A symbol such as "[red]X" or "\x1b[2J" is data. Widgets build ``rich.text.Text`` from ``clean(s)``
(``Text`` never parses markup) so such a string shows literally and cannot drive the terminal.
"""
from __future__ import annotations

from rich.text import Text

# C0 controls, DEL and the C1 controls (0x9b is CSI on terminals that honour 8-bit controls), and the
# bidirectional overrides, which would let a symbol reorder the text around it.
_CONTROLS = dict.fromkeys([*range(0x00, 0x20), 0x7F, *range(0x80, 0xA0), *range(0x202A, 0x202F),
                           *range(0x2066, 0x206A)])


def clean(s: object) -> str:
    """``s`` as text with every control character removed."""
    return str(s).translate(_CONTROLS)


def excerpt(s: object, limit: int = 120) -> str:
    """A short, cleaned excerpt of untrusted text such as a raw frame: one line, at most ``limit`` characters."""
    if isinstance(s, (bytes, bytearray, memoryview)):
        s = bytes(s).decode("utf-8", "replace")
    text = clean(s)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def plain(s: object, style: str = "") -> Text:
    """A ``Text`` of the cleaned string: its brackets stay brackets."""
    return Text(clean(s), style=style)
