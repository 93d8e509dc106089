"""What the routing services refuse, as exceptions the HTTP layer maps to statuses."""

from __future__ import annotations

__all__ = [
    "AgentNotFound",
    "DepartmentNameTaken",
    "DepartmentNotFound",
    "InteractionNotFound",
    "InvalidTransition",
    "NotYours",
    "OfferClosed",
    "OfferNotFound",
    "RoutingError",
    "UnknownReferences",
]


class RoutingError(Exception):
    """Base of the refusals below."""


class InvalidTransition(RoutingError):
    def __init__(self, action: str, state: str) -> None:
        super().__init__(f"cannot {action.replace('_', ' ')} an interaction that is {state}")
        self.action = action
        self.state = state


class InteractionNotFound(RoutingError):
    def __init__(self, interaction_id: int) -> None:
        super().__init__(f"no interaction {interaction_id}")


class OfferNotFound(RoutingError):
    def __init__(self, offer_id: int) -> None:
        super().__init__(f"no offer {offer_id}")


class AgentNotFound(RoutingError):
    def __init__(self, agent_id: int) -> None:
        super().__init__(f"user {agent_id} is not an agent")


class DepartmentNotFound(RoutingError):
    def __init__(self, department_id: int) -> None:
        super().__init__(f"no department {department_id}")


class DepartmentNameTaken(RoutingError):
    def __init__(self, name: str) -> None:
        super().__init__(f"a department named {name!r} exists already")


class NotYours(RoutingError):
    """An agent acting on an offer or interaction that is another agent's."""


class OfferClosed(RoutingError):
    def __init__(self, offer_id: int, state: str) -> None:
        super().__init__(f"offer {offer_id} is {state.replace('_', ' ')}, no longer open")
        self.state = state


class UnknownReferences(RoutingError):
    """Ids that name nothing (departments of a profile, supervisors of a department)."""
