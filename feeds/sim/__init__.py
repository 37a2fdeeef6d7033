"""The built-in exchange simulator (see server.py). ``Simulator`` etc. are loaded lazily so that
importing the pure ``feeds.sim.market`` does not pull in the WebSocket server."""
from __future__ import annotations

from typing import Any

__all__ = ["Simulator", "serve_forever", "url_lines"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from . import server
        return getattr(server, name)
    raise AttributeError(name)
