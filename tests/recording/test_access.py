"""Who sees which recording: the call journal's rule, crm_connectors.access.CallScope
(pure). Which departments a user supervises is the one rule's, tested over HTTP in
test_scoping.py."""

from __future__ import annotations

from recording.access import EVERY_CALL, Scope


def test_an_admin_sees_every_call() -> None:
    assert EVERY_CALL.sees_call(None) and EVERY_CALL.sees_call(["2002"], 7)


def test_an_operator_sees_only_calls_their_phone_took_part_in() -> None:
    scope = Scope(everything=False, endpoint="1001")
    assert scope.sees_call(["1001", "1002"])
    assert not scope.sees_call(["1002"], 7)
    assert not scope.sees_call(None), "a call not in the journal is nobody's call yet"


def test_a_supervisor_sees_their_departments_calls_and_their_own_phones() -> None:
    scope = Scope(everything=False, endpoint="1002", departments=frozenset({7}))
    assert scope.sees_call(None, 7)
    assert scope.sees_call(["1002"], 8)
    assert not scope.sees_call(["1001"], 8)
    assert not scope.sees_call(["1001"]), "a call of no department is its participants'"


def test_an_operator_without_a_phone_sees_nothing() -> None:
    scope = Scope(everything=False)
    assert scope.nothing and not scope.sees_call(["1001"])
