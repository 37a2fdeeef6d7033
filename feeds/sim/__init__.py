"""The built-in exchange simulator (see server.py). ``Simulator`` etc. are loaded lazily so that
importing the pure ``feeds.sim.market`` does not pull in the WebSocket server."""
from __future__ import annotations

__all__ = ["Simulator", "serve_forever", "url_lines"]


def __getattr__(name: str):
    if name in __all__:
        from . import server
        return getattr(server, name)
    raise AttributeError(name)
