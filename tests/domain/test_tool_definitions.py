"""Tool definitions: the canonical form, every refusal naming its JSON path, the runtime shape."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from voxline.domain.tool_definitions import (
    SECRET_MASK,
    check_tool_name,
    http_tool_of,
    parse_definition,
)
from voxline.domain.tools import (
    DEFAULT_FILLER_TEXT,
    AutomaticParameter,
    DynamicParameter,
    Filler,
    KnownValue,
    ParameterLocation,
    StaticParameter,
)
from voxline.errors import ValidationFailed

ORDER: dict[str, Any] = {
    "modelToolName": "lookup_order",
    "description": "Look up an order by its number",
    "http": {"baseUrlPattern": "https://shop.example/orders/{order_id}", "httpMethod": "POST"},
    "dynamicParameters": [
        {
            "name": "order_id",
            "location": "PARAMETER_LOCATION_PATH",
            "schema": {"type": "string", "pattern": "^[0-9]+$"},
            "required": True,
        },
        {"name": "note", "location": "body", "schema": {"type": "string"}},
    ],
    "staticParameters": [
        {"name": "X-Api-Key", "location": "PARAMETER_LOCATION_HEADER", "value": "k-123"},
        {"name": "source", "location": "query", "value": "voice"},
    ],
    "automaticParameters": [
        {"name": "call", "location": "body", "knownValue": "KNOWN_PARAM_CALL_ID"},
        {"name": "history", "location": "body", "knownValue": "conversation_history"},
    ],
    "timeout": "1.5s",
    "filler": {"delayMs": 1200, "text": "Let me check."},
}


def definition(**changes: Any) -> dict[str, Any]:
    value = copy.deepcopy(ORDER)
    value.update(changes)
    return value


def refused(raw: Any, *, name: str | None = None) -> ValidationFailed:
    with pytest.raises(ValidationFailed) as raised:
        parse_definition(raw, name=name)
    return raised.value


def test_a_full_definition_becomes_canonical() -> None:
    parsed = parse_definition(ORDER, name="Orders")

    assert parsed == {
        "modelToolName": "lookup_order",
        "description": "Look up an order by its number",
        "http": {"baseUrlPattern": "https://shop.example/orders/{order_id}", "httpMethod": "POST"},
        "dynamicParameters": [
            {
                "name": "order_id",
                "location": "path",
                "schema": {"type": "string", "pattern": "^[0-9]+$"},
                "required": True,
            },
            {"name": "note", "location": "body", "schema": {"type": "string"}, "required": False},
        ],
        "staticParameters": [
            {"name": "X-Api-Key", "location": "header", "value": "k-123"},
            {"name": "source", "location": "query", "value": "voice"},
        ],
        "automaticParameters": [
            {"name": "call", "location": "body", "knownValue": "call_id"},
            {"name": "history", "location": "body", "knownValue": "conversation_history"},
        ],
        "timeout": "1.5s",
        "filler": {"delayMs": 1200, "text": "Let me check."},
    }


def test_a_minimal_definition_gets_every_default() -> None:
    parsed = parse_definition({"http": {"url": "https://api.example/ping"}}, name="ping")

    assert parsed == {
        "modelToolName": "ping",
        "description": "",
        "http": {"baseUrlPattern": "https://api.example/ping", "httpMethod": "GET"},
        "dynamicParameters": [],
        "staticParameters": [],
        "automaticParameters": [],
        "timeout": "10s",
        "filler": None,
    }


def test_url_and_method_aliases_and_a_filler_default() -> None:
    parsed = parse_definition(
        {
            "type": "http",
            "http": {"url": "http://api.example/x", "method": "delete"},
            "filler": {},
        },
        name="x",
    )

    assert parsed["http"] == {"baseUrlPattern": "http://api.example/x", "httpMethod": "DELETE"}
    assert parsed["filler"] == {"delayMs": 800, "text": DEFAULT_FILLER_TEXT}


def test_a_definition_without_http_is_kept_as_a_placeholder() -> None:
    assert parse_definition({"description": "later"}, name="soon")["http"] is None


def test_model_tool_name_comes_from_a_valid_name_only() -> None:
    assert parse_definition({}, name="book_table")["modelToolName"] == "book_table"
    error = refused({}, name="Book a table")
    assert error.details["field"] == "definition.modelToolName"


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ("not an object", "definition"),
        (definition(modelToolName="has space"), "definition.modelToolName"),
        (definition(modelToolName="x" * 65), "definition.modelToolName"),
        (definition(modelToolName="end_call"), "definition.modelToolName"),
        (definition(modelToolName="transfer_call"), "definition.modelToolName"),
        (definition(type="client"), "definition.type"),
        (definition(requirements={}), "definition.requirements"),
        (definition(description=5), "definition.description"),
        (definition(http={"httpMethod": "GET"}), "definition.http.baseUrlPattern"),
        (definition(http={"url": "ftp://x.example/a"}), "definition.http.url"),
        (definition(http={"url": "/relative/path"}), "definition.http.url"),
        (definition(http={"url": "https://user:pw@x.example/"}), "definition.http.url"),
        (definition(http={"url": "https://x.example/a b"}), "definition.http.url"),
        (definition(http={"url": "https://x.example/#frag"}), "definition.http.url"),
        (definition(http={"url": "https://{host}/a"}), "definition.http.url"),
        (definition(http={"url": "https://x.example:99999/"}), "definition.http.url"),
        (definition(http={"url": "https://x.example/{a"}), "definition.http.url"),
        (
            definition(http={"url": "https://x.example/", "baseUrlPattern": "https://y/"}),
            "definition.http.url",
        ),
        (
            definition(http={"url": "https://x.example/", "method": "TRACE"}),
            "definition.http.method",
        ),
        (
            definition(http={"baseUrlPattern": "https://shop.example/orders/{id}"}),
            "definition.http.baseUrlPattern",
        ),
        (
            definition(dynamicParameters=[{"name": "a", "location": "cookie", "schema": {}}]),
            "definition.dynamicParameters[0].location",
        ),
        (
            definition(dynamicParameters=[{"name": "a", "location": "body", "schema": []}]),
            "definition.dynamicParameters[0].schema",
        ),
        (
            definition(dynamicParameters=[{"name": "", "location": "body", "schema": {}}]),
            "definition.dynamicParameters[0].name",
        ),
        (
            definition(
                dynamicParameters=[
                    {"name": "order_id", "location": "path", "schema": {}},
                    {"name": "a", "location": "header", "schema": {}},
                    {"name": "Bad Header", "location": "header", "schema": {}},
                ]
            ),
            "definition.dynamicParameters[2].name",
        ),
        (
            definition(
                dynamicParameters=[{"name": "order_id", "location": "path", "schema": {}}],
                staticParameters=[{"name": "X", "location": "header", "value": "a\r\nB: c"}],
            ),
            "definition.staticParameters[0].value",
        ),
        (
            definition(
                dynamicParameters=[{"name": "order_id", "location": "path", "schema": {}}],
                staticParameters=[{"name": "q", "location": "query", "value": {"a": 1}}],
            ),
            "definition.staticParameters[0].value",
        ),
        (
            definition(
                dynamicParameters=[{"name": "order_id", "location": "path", "schema": {}}],
                staticParameters=[{"name": "q", "location": "query"}],
            ),
            "definition.staticParameters[0].value",
        ),
        (
            definition(automaticParameters=[{"name": "c", "knownValue": "KNOWN_PARAM_NOPE"}]),
            "definition.automaticParameters[0].knownValue",
        ),
        (
            definition(
                automaticParameters=[
                    {"name": "h", "location": "query", "knownValue": "conversation_history"}
                ]
            ),
            "definition.automaticParameters[0].location",
        ),
        (definition(timeout="121s"), "definition.timeout"),
        (definition(timeout="0s"), "definition.timeout"),
        (definition(timeout=10), "definition.timeout"),
        (definition(timeout="ten seconds"), "definition.timeout"),
        (definition(filler={"delayMs": -1}), "definition.filler.delayMs"),
        (definition(filler={"delayMs": 1.5}), "definition.filler.delayMs"),
        (definition(filler={"text": ""}), "definition.filler.text"),
        (definition(description="bad\u0000text"), "definition.description"),
        (definition(dynamicParameters="x"), "definition.dynamicParameters"),
    ],
)
def test_each_broken_rule_names_its_path(raw: Any, field: str) -> None:
    error = refused(raw, name="orders")

    assert error.details["field"] == field
    assert error.code == "validation_error"


def test_the_longest_timeout_is_accepted_and_one_beyond_refused() -> None:
    assert parse_definition(definition(timeout="120s"), name="x")["timeout"] == "120s"
    assert refused(definition(timeout="120.5s")).details["field"] == "definition.timeout"


@pytest.mark.parametrize(
    ("schema", "field"),
    [
        ({"type": "strin"}, "definition.dynamicParameters[1].schema.type"),
        ({"type": "object", "required": "name"}, "definition.dynamicParameters[1].schema.required"),
        ({"type": "string", "pattern": "("}, "definition.dynamicParameters[1].schema.pattern"),
        (
            {"type": "object", "properties": {"n": {"minimum": "one"}}},
            "definition.dynamicParameters[1].schema.properties.n.minimum",
        ),
        (
            {"anyOf": [{"type": "string"}, {"type": 5}]},
            "definition.dynamicParameters[1].schema.anyOf[1].type",
        ),
    ],
)
def test_an_invalid_json_schema_names_the_spot_inside_it(
    schema: dict[str, Any], field: str
) -> None:
    raw = definition()
    raw["dynamicParameters"][1]["schema"] = schema

    assert refused(raw).details["field"] == field


def test_a_valid_2020_12_schema_is_kept_as_given() -> None:
    schema = {
        "type": "object",
        "properties": {"items": {"type": "array", "prefixItems": [{"type": "integer"}]}},
        "required": ["items"],
    }
    raw = definition()
    raw["dynamicParameters"][1]["schema"] = schema

    assert parse_definition(raw, name="x")["dynamicParameters"][1]["schema"] == schema


def test_a_path_parameter_needs_its_placeholder() -> None:
    raw = definition(http={"url": "https://shop.example/orders"})

    assert refused(raw).details["field"] == "definition.dynamicParameters[0].location"


def test_a_placeholder_may_be_filled_by_a_static_or_automatic_parameter() -> None:
    raw = {
        "http": {"url": "https://x.example/{tenant}/calls/{call}"},
        "staticParameters": [{"name": "tenant", "location": "path", "value": "acme"}],
        "automaticParameters": [{"name": "call", "location": "path", "knownValue": "call_id"}],
    }

    assert parse_definition(raw, name="x")["http"]["baseUrlPattern"].endswith("{call}")


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        (
            {"staticParameters": [{"name": "note", "location": "body", "value": 1}]},
            "definition.staticParameters[0].name",
        ),
        (
            {
                "staticParameters": [
                    {"name": "X-Key", "location": "header", "value": "a"},
                    {"name": "x-key", "location": "header", "value": "b"},
                ]
            },
            "definition.staticParameters[1].name",
        ),
        (
            {
                "dynamicParameters": [
                    {"name": "order_id", "location": "path", "schema": {}},
                    {"name": "order_id", "location": "query", "schema": {}},
                ]
            },
            "definition.dynamicParameters[1].name",
        ),
    ],
)
def test_duplicate_parameter_names_are_refused(extra: dict[str, Any], field: str) -> None:
    assert refused(definition(**extra)).details["field"] == field


def test_the_same_name_in_two_locations_is_allowed() -> None:
    raw = definition(
        staticParameters=[
            {"name": "source", "location": "query", "value": "a"},
            {"name": "source", "location": "body", "value": "b"},
        ]
    )

    assert len(parse_definition(raw, name="x")["staticParameters"]) == 2


def test_the_mask_and_echoed_secret_flag_are_accepted_for_the_services() -> None:
    raw = definition(
        staticParameters=[
            {"name": "X-Api-Key", "location": "header", "value": SECRET_MASK, "secret": True}
        ]
    )

    assert parse_definition(raw, name="x")["staticParameters"] == [
        {"name": "X-Api-Key", "location": "header", "value": SECRET_MASK}
    ]


def test_a_header_value_never_appears_in_an_error() -> None:
    raw = definition(
        staticParameters=[{"name": "X", "location": "header", "value": "s3cr3t\nleak"}]
    )

    error = refused(raw)

    assert "s3cr3t" not in str(error.message) + str(error.details)


@pytest.mark.parametrize("name", ["", "   ", "x" * 256, "end_call", "leave_voicemail", 5])
def test_tool_names_are_checked(name: Any) -> None:
    with pytest.raises(ValidationFailed) as raised:
        check_tool_name(name)
    assert raised.value.details["field"] == "name"


def test_a_tool_name_is_trimmed() -> None:
    assert check_tool_name("  Orders  ") == "Orders"


def test_http_tool_of_builds_the_runtime_shape() -> None:
    tool = http_tool_of(parse_definition(ORDER, name="x"), tool_id="t-1")

    assert tool is not None
    assert tool.tool_id == "t-1"
    assert (tool.model_tool_name, tool.method) == ("lookup_order", "POST")
    assert tool.url == "https://shop.example/orders/{order_id}"
    assert tool.timeout_seconds == 1.5
    assert tool.filler == Filler(delay_seconds=1.2, text="Let me check.")
    assert tool.dynamic_parameters[0] == DynamicParameter(
        "order_id", ParameterLocation.PATH, {"type": "string", "pattern": "^[0-9]+$"}, True
    )
    assert tool.static_parameters[0] == StaticParameter(
        "X-Api-Key", ParameterLocation.HEADER, "k-123"
    )
    assert tool.automatic_parameters[0] == AutomaticParameter(
        "call", ParameterLocation.BODY, KnownValue.CALL_ID
    )
    assert tool.model_parameters()["required"] == ["order_id"]


def test_http_tool_of_a_placeholder_is_none_and_default_filler_applies() -> None:
    assert http_tool_of(parse_definition({}, name="x")) is None
    tool = http_tool_of(parse_definition({"http": {"url": "https://a.example/"}}, name="x"))
    assert tool is not None and tool.filler == Filler()
