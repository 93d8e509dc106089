"""The AMI codec alone: bytes in, messages out, no I/O."""

from __future__ import annotations

import asyncio

import pytest
from panoramisk.ami_protocol import AMIProtocol

from pbx.ami.codec import (
    AmiDecoder,
    AmiEncodeError,
    AmiMessage,
    AmiProtocolError,
    Banner,
    encode_action,
)

CYRILLIC_EVENT = (
    "Event: NewCallerid\r\n"
    "Channel: PJSIP/1001-00000001\r\n"
    "CallerIDNum: 1001\r\n"
    "CallerIDName: Иван Петрович Сидоров\r\n"
    "Uniqueid: 1700000000.1\r\n"
    "Linkedid: 1700000000.1\r\n"
    "\r\n"
).encode()


def decode_all(chunks: list[bytes], *, strict: bool = False) -> list[AmiMessage | Banner]:
    dec = AmiDecoder(strict=strict)
    out: list[AmiMessage | Banner] = []
    for chunk in chunks:
        dec.receive_data(chunk)
        while (item := dec.next_event()) is not None:
            out.append(item)
    return out


def test_panoramisk_loses_a_character_split_across_reads() -> None:
    """The bite we fix: panoramisk decodes each chunk alone and drops the split character."""
    split = CYRILLIC_EVENT.index("Иван".encode()) + 1  # inside the two bytes of "И"
    seen: list[dict[str, str]] = []

    class Factory:
        save_stream = None

        def dispatch(self, message: dict[str, str]) -> None:
            seen.append(dict(message))

    proto = AMIProtocol()
    proto.connection_made(asyncio.Transport())
    proto.factory = Factory()
    proto.encoding = "utf-8"
    proto.data_received(CYRILLIC_EVENT[:split])
    proto.data_received(CYRILLIC_EVENT[split:])
    assert seen[0]["CallerIDName"] == "ван Петрович Сидоров"


def test_cyrillic_name_survives_a_split_at_every_byte() -> None:
    for split in range(1, len(CYRILLIC_EVENT)):
        (msg,) = decode_all([CYRILLIC_EVENT[:split], CYRILLIC_EVENT[split:]])
        assert isinstance(msg, AmiMessage)
        assert msg["CallerIDName"] == "Иван Петрович Сидоров", split
        assert msg["Linkedid"] == "1700000000.1"


def test_one_byte_at_a_time() -> None:
    data = b"Asterisk Call Manager/11.0.0\r\n" + CYRILLIC_EVENT * 3
    out = decode_all([data[i : i + 1] for i in range(len(data))])
    assert out[0] == Banner("11.0.0")
    assert [m["CallerIDName"] for m in out[1:]] == ["Иван Петрович Сидоров"] * 3  # type: ignore[index]


def test_banner_then_messages() -> None:
    out = decode_all([b"Asterisk Call Manager/11.0.0\r\nResponse: Success\r\nMessage: ok\r\n\r\n"])
    assert out[0] == Banner("11.0.0")
    assert isinstance(out[1], AmiMessage) and out[1].response == "Success"


def test_no_banner_is_fine() -> None:
    (msg,) = decode_all([b"Event: FullyBooted\r\nStatus: Fully Booted\r\n\r\n"])
    assert isinstance(msg, AmiMessage) and msg.event == "FullyBooted"


def test_lf_crlf_and_mixed_line_ends() -> None:
    lf = decode_all([b"Event: A\nX: 1\n\nEvent: B\nX: 2\n\n"])
    crlf = decode_all([b"Event: A\r\nX: 1\r\n\r\nEvent: B\r\nX: 2\r\n\r\n"])
    mixed = decode_all([b"Event: A\r\nX: 1\n\r\nEvent: B\nX: 2\r\n\n"])
    assert lf == crlf == mixed
    assert [m["X"] for m in lf] == ["1", "2"]  # type: ignore[index]


def test_crlf_split_between_cr_and_lf() -> None:
    data = b"Event: A\r\nX: 1\r\n\r\nEvent: B\r\n\r\n"
    for split in range(1, len(data)):
        out = decode_all([data[:split], data[split:]])
        assert [m.event for m in out] == ["A", "B"], split  # type: ignore[union-attr]
        assert out[0]["X"] == "1"  # type: ignore[index]


def test_command_output_lines_are_kept_whole_and_in_order() -> None:
    (msg,) = decode_all(
        [
            b"Response: Success\r\nActionID: 7\r\nMessage: Command output follows\r\n"
            b"Output: Channel              Location\r\nOutput: a: b: c\r\nOutput: \r\n"
            b"Output: 0 active channels\r\n\r\n"
        ]
    )
    assert isinstance(msg, AmiMessage)
    assert msg.output == ["Channel              Location", "a: b: c", "", "0 active channels"]
    assert msg.action_id == "7"


def test_duplicate_keys_keep_every_value() -> None:
    (msg,) = decode_all([b"Event: X\nChanVariable: A=1\nChanVariable: B=2\n\n"])
    assert isinstance(msg, AmiMessage)
    assert msg.getall("ChanVariable") == ["A=1", "B=2"]
    assert msg["ChanVariable"] == "B=2"
    assert msg.pairs == (("Event", "X"), ("ChanVariable", "A=1"), ("ChanVariable", "B=2"))


def test_event_list_messages_in_order() -> None:
    data = (
        b"Response: Success\r\nActionID: 1\r\nEventList: start\r\n"
        b"Message: Channels will follow\r\n\r\n"
        b"Event: CoreShowChannel\r\nActionID: 1\r\nChannel: PJSIP/1001-1\r\n\r\n"
        b"Event: CoreShowChannel\r\nActionID: 1\r\nChannel: PJSIP/1002-2\r\n\r\n"
        b"Event: CoreShowChannelsComplete\r\nActionID: 1\r\nEventList: Complete\r\n"
        b"ListItems: 2\r\n\r\n"
    )
    out = decode_all([data[:70], data[70:150], data[150:]])
    assert [m.get("Event") or m.get("Response") for m in out] == [  # type: ignore[union-attr]
        "Success",
        "CoreShowChannel",
        "CoreShowChannel",
        "CoreShowChannelsComplete",
    ]


def test_empty_value_and_value_without_space() -> None:
    (msg,) = decode_all([b"Event: X\nAccountCode: \nFoo:bar\nBaz:\n\n"])
    assert dict(msg) == {"Event": "X", "AccountCode": "", "Foo": "bar", "Baz": ""}  # type: ignore[arg-type]


def test_extra_blank_lines_between_messages_are_ignored() -> None:
    out = decode_all([b"\r\n\r\nEvent: A\r\n\r\n\r\n\r\n\r\nEvent: B\r\n\r\n"], strict=True)
    assert [m.event for m in out] == ["A", "B"]  # type: ignore[union-attr]


def test_invalid_utf8_is_replaced_not_dropped() -> None:
    (msg,) = decode_all([b"Event: X\nName: a\xffb\n\n"])
    assert msg["Name"] == "a\ufffdb"  # type: ignore[index]


def test_strict_mode_names_the_bad_line() -> None:
    data = b"Asterisk Call Manager/11.0.0\nEvent: A\nX: 1\n\nEvent: B\nthis is not ami\n\n"
    with pytest.raises(AmiProtocolError) as err:
        decode_all([data], strict=True)
    assert err.value.line == 6
    assert "this is not ami" in str(err.value)


def test_lenient_mode_skips_the_bad_line() -> None:
    dec = AmiDecoder()
    dec.receive_data(b"Event: B\nthis is not ami\nX: 1\n\n")
    (msg,) = dec.events()
    assert dict(msg) == {"Event": "B", "X": "1"}  # type: ignore[arg-type]


def test_name_action_id_and_response_read_without_full_parse() -> None:
    dec = AmiDecoder()
    dec.receive_data(b"\nEvent: VarSet\nActionID:7\nX: 1\n\nResponse: Success\nX: 2\n\n")
    event, response = dec.events()
    assert isinstance(event, AmiMessage) and isinstance(response, AmiMessage)
    assert (event.event, event.action_id, event.response) == ("VarSet", "7", None)
    assert (response.event, response.response, response.action_id) == (None, "Success", None)
    assert event["X"] == "1" and event.event == "VarSet"


def test_end_of_stream_flushes_a_message_without_blank_line() -> None:
    dec = AmiDecoder()
    dec.receive_data(b"Event: A\r\nX: 1\r\n")
    assert dec.events() == []
    dec.receive_data(b"")
    (msg,) = dec.events()
    assert msg["X"] == "1"  # type: ignore[index]


def test_encode_action() -> None:
    data = encode_action("Originate", {"Channel": "Local/1@x", "Variable": ["A=1", "B=2"]}, "42")
    assert data == (
        b"Action: Originate\r\nActionID: 42\r\nChannel: Local/1@x\r\n"
        b"Variable: A=1\r\nVariable: B=2\r\n\r\n"
    )
    assert encode_action("Ping") == b"Action: Ping\r\n\r\n"
    assert "Иван".encode() in encode_action("Originate", {"CallerID": "Иван <1>"})


@pytest.mark.parametrize(
    "fields",
    [
        {"Channel": "x\r\n\r\nAction: Hangup"},
        {"Channel": "x\nAction: Hangup"},
        {"Channel": "x\r"},
        {"Bad:Key": "1"},
        {"Bad\nKey": "1"},
        {"": "1"},
    ],
)
def test_encode_refuses_injection(fields: dict[str, str]) -> None:
    with pytest.raises(AmiEncodeError):
        encode_action("Originate", fields)


def test_round_trip() -> None:
    data = encode_action("Setvar", {"Variable": "NAME", "Value": "Жанна: тест"}, "a1")
    (msg,) = decode_all([data])
    assert dict(msg) == {  # type: ignore[arg-type]
        "Action": "Setvar",
        "ActionID": "a1",
        "Variable": "NAME",
        "Value": "Жанна: тест",
    }
