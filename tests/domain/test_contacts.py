"""The contact field rules and the CSV row mapping."""

from __future__ import annotations

import pytest

from voxline.domain.contacts import (
    check_contact,
    contact_from_row,
    default_folder_id,
    normalize_phone,
)
from voxline.errors import ValidationFailed
from voxline.voice.brain.scripted import asks_not_to_be_called


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("+14155550100", "+14155550100"),
        (" +1 (415) 555-0100 ", "+14155550100"),
        ("0044 20 7183 8750", "+442071838750"),
        ("+33.1.23.45.67.89", "+33123456789"),
        ("4155550100", None),
        ("+1415555010O", None),
        ("+14155550100;ext=2", None),
        ("+١٤١٥", None),
        ("", None),
    ],
)
def test_phone_numbers_are_normalized_to_e164_or_refused(typed: str, stored: str | None) -> None:
    assert normalize_phone(typed) == stored


def test_check_contact_keeps_only_given_fields() -> None:
    checked = check_contact(
        {"phone_number": "+1 415 555 0100", "first_name": "  Jane ", "timezone": "Asia/Tokyo"}
    )
    assert checked == {
        "phone_number": "+14155550100",
        "first_name": "Jane",
        "timezone": "Asia/Tokyo",
    }
    assert check_contact({"email": "", "timezone": "", "custom_fields": None}) == {
        "email": None,
        "timezone": None,
        "custom_fields": {},
    }


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"timezone": "Not/AZone"}, "timezone"),
        ({"timezone": "/etc/passwd"}, "timezone"),
        ({"email": "a@b"}, "email"),
        ({"pin_code": "1" * 21}, "pin_code"),
        ({"custom_fields": {str(i): i for i in range(51)}}, "custom_fields"),
        ({"custom_fields": {"k": "a\x00"}}, "custom_fields.k"),
        ({"favourite_colour": "red"}, "favourite_colour"),
    ],
)
def test_check_contact_names_the_field_at_fault(values: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        check_contact(values)
    assert caught.value.details["field"] == field


def test_a_csv_row_maps_known_columns_and_keeps_the_rest_as_custom_fields() -> None:
    row = {
        "Phone": "+14155550100",
        "Name": "Jane van Doe",
        "Company": "Sunny",
        "Plan": "gold",
        "Empty": "",
    }
    assert contact_from_row(row) == {
        "phone_number": "+14155550100",
        "first_name": "Jane",
        "last_name": "van Doe",
        "company_name": "Sunny",
        "custom_fields": {"Plan": "gold"},
    }
    explicit = contact_from_row({"phone": "+1", "name": "A B", "first_name": "C"})
    assert explicit["first_name"] == "C" and explicit["last_name"] == "B"


def test_the_default_folder_id_is_stable_per_organization() -> None:
    assert default_folder_id("org-1") == default_folder_id("org-1") != default_folder_id("org-2")


@pytest.mark.parametrize(
    ("said", "asks"),
    [
        ("Please stop calling me.", True),
        ("Take me off your list", True),
        ("Don't call this number again", True),
        ("Call me back tomorrow", False),
        ("I'm not interested", False),
    ],
)
def test_asks_not_to_be_called(said: str, asks: bool) -> None:
    assert asks_not_to_be_called(said) is asks
