"""The rules on an agent's field values."""

from __future__ import annotations

import pytest

from voxline.domain.agents import checked_values
from voxline.errors import ValidationFailed


def test_durations_are_kept_in_seconds() -> None:
    values = checked_values([("join_timeout", "1500ms"), ("max_duration", "1.5h")])

    assert values == {"join_timeout_seconds": 1.5, "max_duration_seconds": 5400.0}


def test_nullable_texts_may_be_cleared_but_required_ones_may_not() -> None:
    assert checked_values([("greeting", None), ("description", "")]) == {
        "greeting": None,
        "description": "",
    }
    with pytest.raises(ValidationFailed) as raised:
        checked_values([("system_prompt", None)])
    assert raised.value.details == {"field": "system_prompt", "reason": "must not be empty"}


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("join_timeout", "0.5s"),
        ("max_duration", "4h1s"),
        ("temperature", 1.01),
        ("status", "failed"),
        ("language_hint", "e"),
        ("name", "n" * 256),
    ],
)
def test_broken_rules_name_the_field(field: str, value: object) -> None:
    with pytest.raises(ValidationFailed) as raised:
        checked_values([("name", "Ava"), (field, value)])

    assert raised.value.details["field"] == field
