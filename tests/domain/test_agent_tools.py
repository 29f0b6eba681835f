"""An agent's tool entries: references, overrides per kind, and the runtime shape."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from voxline.domain.agent_tools import (
    agent_tools_of,
    apply_overrides,
    check_distinct,
    check_static_overrides,
    parse_tool_choices,
)
from voxline.domain.tool_definitions import http_tool_of, parse_definition
from voxline.domain.tools import (
    BuiltinTool,
    Filler,
    ParameterLocation,
    StaticParameter,
    TransferDestination,
)
from voxline.errors import ValidationFailed

TOOL_ID = str(uuid.uuid4())
DEFINITION = parse_definition(
    {
        "http": {"url": "https://api.example/lookup"},
        "staticParameters": [
            {"name": "Authorization", "location": "header", "value": "Bearer a"},
            {"name": "region", "location": "query", "value": "eu"},
        ],
    },
    name="lookup",
)


def field_of(raw: Any) -> str:
    with pytest.raises(ValidationFailed) as raised:
        parse_tool_choices(raw)
    return str(raised.value.details["field"])


def test_entries_by_id_name_builtin_and_bare_strings() -> None:
    choices = parse_tool_choices(
        [
            {"tool_id": TOOL_ID.upper()},
            {"name": "lookup", "overrides": {"timeout": "3000ms"}},
            "end_call",
            "other_tool",
            {"name": "send_dtmf", "overrides": None},
        ]
    )

    assert [(c.path, c.tool_id, c.name, c.builtin) for c in choices] == [
        ("tools[0]", TOOL_ID, None, None),
        ("tools[1]", None, "lookup", None),
        ("tools[2]", None, None, BuiltinTool.END_CALL),
        ("tools[3]", None, "other_tool", None),
        ("tools[4]", None, None, BuiltinTool.SEND_DTMF),
    ]
    assert choices[1].overrides == {"timeout": "3s"}


def test_a_bare_uuid_string_is_a_tool_id() -> None:
    assert parse_tool_choices([TOOL_ID])[0].tool_id == TOOL_ID


def test_an_entry_as_the_api_shows_it_is_read_by_its_id() -> None:
    (choice,) = parse_tool_choices([{"tool_id": TOOL_ID, "name": "Old name", "overrides": {}}])

    assert (choice.tool_id, choice.name) == (TOOL_ID, None)


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ({"name": "x"}, "tools"),
        ([5], "tools[0]"),
        ([{}], "tools[0]"),
        ([{"tool_id": None, "name": None}], "tools[0]"),
        ([{"tool_id": "nope"}], "tools[0].tool_id"),
        ([{"name": "x", "extra": 1}], "tools[0].extra"),
        ([{"name": "x", "overrides": []}], "tools[0].overrides"),
        ([{"name": "x", "overrides": {"url": "https://evil.example"}}], "tools[0].overrides.url"),
        ([{"name": "x", "overrides": {"timeout": "121s"}}], "tools[0].overrides.timeout"),
        ([{"name": "x", "overrides": {"filler": None}}], "tools[0].overrides.filler"),
        (
            [{"name": "x", "overrides": {"staticParameters": [{"name": "a"}]}}],
            "tools[0].overrides.staticParameters[0].value",
        ),
        (
            [
                {
                    "name": "x",
                    "overrides": {
                        "staticParameters": [{"name": "a", "value": 1}, {"name": "A", "value": 2}]
                    },
                }
            ],
            "tools[0].overrides.staticParameters[1].name",
        ),
        (["end_call", {"name": "end_call"}], "tools[1]"),
        ([TOOL_ID, {"tool_id": TOOL_ID}], "tools[1]"),
        ([{"name": "end_call", "overrides": {"message": "bye"}}], "tools[0].overrides.message"),
        ([{"name": "send_dtmf", "overrides": {"digits": "1"}}], "tools[0].overrides.digits"),
        (["transfer_call"], "tools[0].overrides.destinations"),
        (
            [{"name": "transfer_call", "overrides": {"destinations": []}}],
            "tools[0].overrides.destinations",
        ),
        (
            [{"name": "transfer_call", "overrides": {"destinations": [{"to": "0800 123"}]}}],
            "tools[0].overrides.destinations[0].to",
        ),
        (
            [
                {
                    "name": "transfer_call",
                    "overrides": {"destinations": [{"to": "+14155550100"}] * 2},
                }
            ],
            "tools[0].overrides.destinations[1].to",
        ),
        (
            [
                {
                    "name": "transfer_call",
                    "overrides": {"destinations": [{"to": f"+1415555{i:04}"} for i in range(21)]},
                }
            ],
            "tools[0].overrides.destinations",
        ),
        (["leave_voicemail"], "tools[0].overrides.message"),
        (
            [{"name": "leave_voicemail", "overrides": {"message": "x" * 2001}}],
            "tools[0].overrides.message",
        ),
        (
            [{"name": "leave_voicemail", "overrides": {"message": "  "}}],
            "tools[0].overrides.message",
        ),
    ],
)
def test_each_broken_entry_is_named(raw: Any, field: str) -> None:
    assert field_of(raw) == field


def test_builtin_overrides_are_kept_canonical() -> None:
    transfer, voicemail = parse_tool_choices(
        [
            {
                "name": "transfer_call",
                "overrides": {
                    "destinations": [
                        {"to": "+14155550100", "description": "Sales"},
                        {"to": "sip:desk@pbx.example.com"},
                    ],
                    "message": "Putting you through.",
                },
            },
            {"name": "leave_voicemail", "overrides": {"message": "Hi {{first_name}}"}},
        ]
    )

    assert transfer.overrides == {
        "destinations": [
            {"to": "+14155550100", "description": "Sales"},
            {"to": "sip:desk@pbx.example.com", "description": None},
        ],
        "message": "Putting you through.",
    }
    assert voicemail.overrides == {"message": "Hi {{first_name}}"}


def test_static_overrides_must_name_a_static_parameter_of_the_tool() -> None:
    overrides = {"staticParameters": [{"name": "authorization", "value": "Bearer b"}]}
    checked = check_static_overrides(overrides, DEFINITION, "tools[0].overrides")
    assert checked["staticParameters"] == [
        {"name": "Authorization", "location": "header", "value": "Bearer b"}
    ]

    with pytest.raises(ValidationFailed) as raised:
        check_static_overrides(
            {"staticParameters": [{"name": "nope", "value": 1}]}, DEFINITION, "tools[0].overrides"
        )
    assert raised.value.details["field"] == "tools[0].overrides.staticParameters[0].name"


def test_a_static_override_value_must_suit_the_location() -> None:
    with pytest.raises(ValidationFailed) as raised:
        check_static_overrides(
            {"staticParameters": [{"name": "region", "value": ["eu"]}]},
            DEFINITION,
            "tools[0].overrides",
        )
    assert raised.value.details["field"] == "tools[0].overrides.staticParameters[0].value"


def test_two_entries_for_one_tool_or_one_model_name_are_refused() -> None:
    check_distinct([("tools[0]", "a", "x"), ("tools[1]", "b", "y")])
    with pytest.raises(ValidationFailed) as same_tool:
        check_distinct([("tools[0]", "a", "x"), ("tools[1]", "a", "x")])
    with pytest.raises(ValidationFailed) as same_name:
        check_distinct([("tools[0]", "a", "x"), ("tools[2]", "b", "x")])
    assert same_tool.value.details["field"] == "tools[1]"
    assert same_name.value.details["field"] == "tools[2]"


def test_overrides_apply_to_the_runtime_tool() -> None:
    tool = http_tool_of(DEFINITION, tool_id=TOOL_ID)
    assert tool is not None

    changed = apply_overrides(
        tool,
        {
            "description": "Look it up",
            "timeout": "2s",
            "filler": {"delayMs": 0, "text": "Hmm."},
            "staticParameters": [
                {"name": "Authorization", "location": "header", "value": "Bearer b"}
            ],
        },
    )

    assert changed.description == "Look it up"
    assert changed.timeout_seconds == 2.0
    assert changed.filler == Filler(0.0, "Hmm.")
    assert changed.static_parameters == (
        StaticParameter("Authorization", ParameterLocation.HEADER, "Bearer b"),
        StaticParameter("region", ParameterLocation.QUERY, "eu"),
    )
    assert changed.tool_id == TOOL_ID
    assert apply_overrides(tool, {}) is tool


def test_agent_tools_of_collects_builtins() -> None:
    tools = agent_tools_of(
        [],
        [
            (BuiltinTool.END_CALL, {}),
            (BuiltinTool.SEND_DTMF, {}),
            (BuiltinTool.TRANSFER_CALL, {"destinations": [{"to": "+14155550100"}]}),
            (BuiltinTool.LEAVE_VOICEMAIL, {"message": "Call us back"}),
        ],
    )

    assert tools.send_dtmf is True
    assert tools.transfer is not None
    assert tools.transfer.destinations == (TransferDestination("+14155550100"),)
    assert tools.transfer.message is None
    assert tools.voicemail is not None and tools.voicemail.message == "Call us back"
    empty = agent_tools_of([], [(BuiltinTool.END_CALL, {})])
    assert (empty.send_dtmf, empty.transfer, empty.voicemail) == (False, None, None)
