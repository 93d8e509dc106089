"""Events between processes: every routing event survives the trip, payloads stay small."""

from __future__ import annotations

import json
import typing
from dataclasses import fields
from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

from crm_connectors.events import CUSTOMER_EVENTS
from routing.codec import EventCodec
from routing.events import ROUTING_EVENTS
from routing.relay import MAX_PAYLOAD, pack

codec = EventCodec(ROUTING_EVENTS + CUSTOMER_EVENTS)
aware = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
) | st.datetimes(timezones=st.just(timezone(timedelta(hours=3))))
text = st.text(max_size=30)


def value_for(hint: object) -> st.SearchStrategy:
    if hint is datetime:
        return aware
    if hint is int:
        return st.integers(-(2**62), 2**62)
    if hint is bool:
        return st.booleans()
    if hint is str:
        return text
    args = typing.get_args(hint)
    if typing.get_origin(hint) is tuple:
        return st.lists(st.tuples(text, text), max_size=3).map(tuple)
    if type(None) in args:
        (inner,) = [a for a in args if a is not type(None)]
        return st.none() | value_for(inner)
    return st.sampled_from(args)  # a Literal


@st.composite
def events(draw):
    cls = draw(st.sampled_from(ROUTING_EVENTS + CUSTOMER_EVENTS))
    hints = typing.get_type_hints(cls)
    return cls(**{f.name: draw(value_for(hints[f.name])) for f in fields(cls)})


@given(events())
def test_every_event_comes_back_equal_through_json(event) -> None:
    wire = json.loads(json.dumps(codec.encode(event)))
    assert codec.decode(wire) == event


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["OfferMade", "InteractionQueued", "Ünïcode"]), st.text(max_size=400)
        ),
        max_size=200,
    )
)
def test_packed_payloads_stay_under_the_notify_limit_and_keep_every_event(items) -> None:
    encoded = [(name, json.dumps([name, n, text])) for n, (name, text) in enumerate(items)]
    payloads = pack("origin", encoded)
    assert all(len(p.encode()) <= MAX_PAYLOAD for p in payloads)
    decoded = [e for p in payloads for e in json.loads(p)["e"]]
    assert decoded == [json.loads(e) for _, e in encoded]
    assert all(json.loads(p)["o"] == "origin" for p in payloads)
    for p in payloads:
        message = json.loads(p)
        assert message["t"] == list(dict.fromkeys(e[0] for e in message["e"])), "types named"
