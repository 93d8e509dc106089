"""The refusals of the services the workspace calls, as HTTP errors."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from crm_connectors.access import NotVisible
from crm_connectors.store import CustomerNotFound
from routing.errors import (
    AgentNotFound,
    InteractionNotFound,
    InvalidTransition,
    NotYours,
    OfferClosed,
    OfferNotFound,
    RoutingError,
)
from server.http_util import fail
from text_channels.services import ConversationEnded, ConversationNotFound, Refused

from .calls import CallControlError, NoCall, OutsideNumbersOff
from .services import NotAllowed

_STATUS: list[tuple[type[Exception], int]] = [
    (NotVisible, 404),
    (CustomerNotFound, 404),
    (ConversationNotFound, 404),
    (InteractionNotFound, 404),
    (OfferNotFound, 404),
    (AgentNotFound, 404),
    (NotAllowed, 403),
    (NotYours, 403),
    (InvalidTransition, 409),
    (OfferClosed, 409),
    (ConversationEnded, 409),
    (NoCall, 409),
    (OutsideNumbersOff, 409),
    (CallControlError, 503),
]


@contextmanager
def refusals() -> Iterator[None]:
    try:
        yield
    except Refused as exc:
        status = 413 if exc.refusal.reason == "file_too_large" else 422
        fail(status, exc.refusal.message, reason=exc.refusal.reason)
    except (NotVisible, CustomerNotFound, ConversationNotFound):
        # Another's data and no data look the same.
        fail(404, "not found")
    except (RoutingError, CallControlError, ConversationEnded, NotAllowed, ValueError) as exc:
        for kind, status in _STATUS:
            if isinstance(exc, kind):
                fail(status, str(exc))
        fail(422, str(exc))
