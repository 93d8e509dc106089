"""Who sees which recording: the call journal's rule (pure)."""

from __future__ import annotations

from recording.access import Scope
from server.auth import User


def test_supervisors_and_admins_see_every_call() -> None:
    for role in ("supervisor", "admin"):
        scope = Scope.of(User(1, "s", "S", role, "1001"))  # type: ignore[arg-type]
        assert scope.everything and scope.sees_call(None) and scope.sees_call(["2002"])


def test_an_operator_sees_only_calls_their_phone_took_part_in() -> None:
    scope = Scope.of(User(2, "o", "O", "operator", "1001"))
    assert scope.sees_call(["1001", "1002"])
    assert not scope.sees_call(["1002"])
    assert not scope.sees_call(None), "a call not in the journal is nobody's call yet"


def test_an_operator_without_a_phone_sees_nothing() -> None:
    scope = Scope.of(User(3, "p", "P", "operator", None))
    assert scope.nothing and not scope.sees_call(["1001"])
