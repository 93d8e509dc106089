"""The Asterisk Manager Interface: a pure codec and a self-healing client."""

from .client import AmiAuthError, AmiClient, AmiError, AmiNotConnected, AmiResponse
from .codec import AmiDecoder, AmiEncodeError, AmiMessage, AmiProtocolError, Banner, encode_action

__all__ = [
    "AmiAuthError",
    "AmiClient",
    "AmiDecoder",
    "AmiEncodeError",
    "AmiError",
    "AmiMessage",
    "AmiNotConnected",
    "AmiProtocolError",
    "AmiResponse",
    "Banner",
    "encode_action",
]
