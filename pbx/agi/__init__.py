"""FastAGI: a pure codec and an asyncio server routing scripts by path."""

from .codec import AgiProtocolError, AgiRequest, AgiResult
from .server import AgiCommandError, AgiHandler, AgiHangup, AgiServer, AgiSession

__all__ = [
    "AgiCommandError",
    "AgiHandler",
    "AgiHangup",
    "AgiProtocolError",
    "AgiRequest",
    "AgiResult",
    "AgiServer",
    "AgiSession",
]
