"""E.164 numbers, SIP addresses and keypad keys."""

from __future__ import annotations

import pytest

from voxline.domain.phone import is_e164, is_keypad_digits, is_sip_uri, is_transfer_destination


@pytest.mark.parametrize(
    "value", ["+14155550123", "sip:desk@pbx.example.com", "sips:front-desk@10.0.0.7:5061"]
)
def test_a_call_can_be_handed_to_a_number_or_a_sip_address(value: str) -> None:
    assert is_transfer_destination(value)


@pytest.mark.parametrize(
    "value",
    [
        "14155550123",
        "+1 415 555 0123",
        "+१४१५५५५०१२३",
        "sip:pbx.example.com",
        "sip:desk@",
        "sip:<desk>@pbx.example.com",
        "tel:+14155550123",
        "http://example.com",
        "",
    ],
)
def test_anything_else_is_not_a_transfer_destination(value: str) -> None:
    assert not is_transfer_destination(value)


def test_sip_addresses_are_not_phone_numbers() -> None:
    assert is_sip_uri("sip:desk@pbx.example.com") and not is_e164("sip:desk@pbx.example.com")


@pytest.mark.parametrize("value", ["1", "0#", "*123#", "1w2W3", "ABCD", "9" * 64])
def test_keypad_keys_and_pauses(value: str) -> None:
    assert is_keypad_digits(value)


@pytest.mark.parametrize("value", ["", "12a", "1 2", "\uff11", "9" * 65, "+1"])
def test_anything_else_is_not_keypad_keys(value: str) -> None:
    assert not is_keypad_digits(value)
