"""Building an HTTP tool's request: the pure rules."""

from __future__ import annotations

import pytest

from voxline.domain.tool_requests import CallFacts, RequestProblem, build_request
from voxline.domain.tools import DynamicParameter, HttpTool, ParameterLocation, StaticParameter

FACTS = CallFacts("call-1", "+14155550100", "+14155550123")


def tool(url: str, method: str = "POST", *params: DynamicParameter) -> HttpTool:
    return HttpTool("t", "", url, method, dynamic_parameters=params)


def test_path_values_are_percent_encoded_into_their_placeholder() -> None:
    request = build_request(
        tool(
            "https://api.example/users/{user}/orders",
            "GET",
            DynamicParameter("user", ParameterLocation.PATH, {"type": "string"}),
        ),
        {"user": "a b/../c"},
        FACTS,
        [],
    )
    assert request.url == "https://api.example/users/a%20b%2F..%2Fc/orders"
    assert request.body is None


def test_a_placeholder_without_a_value_is_a_problem_not_a_broken_url() -> None:
    with pytest.raises(RequestProblem, match="'user'"):
        build_request(tool("https://api.example/users/{user}"), {}, FACTS, [])


def test_non_string_values_keep_their_json_in_headers_and_query() -> None:
    request = build_request(
        HttpTool(
            "t",
            "",
            "https://api.example/x",
            "PATCH",
            dynamic_parameters=(
                DynamicParameter("n", ParameterLocation.QUERY, {"type": "integer"}),
                DynamicParameter("flags", ParameterLocation.HEADER, {"type": "array"}),
                DynamicParameter("item", ParameterLocation.BODY, {"type": "object"}),
            ),
            static_parameters=(StaticParameter("skip", ParameterLocation.BODY, None),),
        ),
        {"n": 3, "flags": ["a", "b"], "item": {"k": 1}},
        FACTS,
        [],
    )
    assert request.query == {"n": "3"}
    assert request.headers == {"flags": '["a","b"]'}
    assert request.body == {"item": {"k": 1}}  # a None static value is left out
    assert request.content() == b'{"item":{"k":1}}'
