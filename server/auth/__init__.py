"""Login, sessions, API tokens and role checks.

Declare what every handler needs with :func:`requires_role` or :func:`anonymous`; the
middleware refuses a handler that declares neither (and a test walks the route table).
"""

from server.auth.access import ROLES, User, anonymous, current_user, requires_role

__all__ = ["ROLES", "User", "anonymous", "current_user", "requires_role"]
