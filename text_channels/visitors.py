"""Web chat visitors' identity: a random id and a signature, kept by the widget in the
visitor's browser so the same visitor is recognised across page loads. Pure.

Only the server can sign, so a visitor cannot take over another visitor's conversation
by guessing or copying an id.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

_PURPOSE = b"switchboard webchat visitor v1"


def visitor_key(secret: bytes) -> bytes:
    """A key of its own for visitor tokens, derived from the server's secret."""
    return hmac.new(secret, _PURPOSE, hashlib.sha256).digest()


def _signature(key: bytes, visitor_id: str) -> str:
    mac = hmac.new(key, visitor_id.encode(), hashlib.sha256).digest()[:18]
    return base64.urlsafe_b64encode(mac).decode()


def new_visitor(key: bytes) -> tuple[str, str]:
    """(visitor id, token)."""
    visitor_id = secrets.token_urlsafe(18)
    return visitor_id, f"{visitor_id}.{_signature(key, visitor_id)}"


def verify(key: bytes, token: str) -> str | None:
    """The visitor id of a genuine token, else None."""
    visitor_id, _, signature = token.rpartition(".")
    if not visitor_id or len(token) > 200:
        return None
    if not hmac.compare_digest(_signature(key, visitor_id), signature):
        return None
    return visitor_id


def attachment_signature(key: bytes, attachment_id: int, visitor_id: str) -> str:
    """Lets one visitor fetch one attachment of their conversation by link."""
    mac = hmac.new(key, f"attachment:{attachment_id}:{visitor_id}".encode(), hashlib.sha256)
    return base64.urlsafe_b64encode(mac.digest()[:18]).decode()
