from __future__ import annotations

import pytest

from voxline.domain.turn_taking import Asked, TurnPolicy, WaitCurve, asked_for


def test_the_curve_waits_less_the_surer_the_model_is() -> None:
    curve = WaitCurve()
    assert curve.wait_ms(0.95) == 0.0
    assert curve.wait_ms(0.8) == 0.0
    assert curve.wait_ms(0.5) == 500.0
    assert curve.wait_ms(0.1) == 1000.0
    assert curve.wait_ms(0.0) == 1000.0
    # Linear between points, and never rising with the probability.
    assert curve.wait_ms(0.65) == pytest.approx(250.0)
    waits = [curve.wait_ms(p / 100) for p in range(101)]
    assert waits == sorted(waits, reverse=True)


def test_a_curve_is_configurable_and_checked() -> None:
    assert WaitCurve(((0.5, 300.0),)).wait_ms(0.9) == 300.0
    with pytest.raises(ValueError):
        WaitCurve(((0.8, 0.0), (0.2, 100.0)))
    with pytest.raises(ValueError):
        WaitCurve(((0.2, -1.0),))
    with pytest.raises(ValueError):
        WaitCurve(())


@pytest.mark.parametrize(
    ("agent", "asked"),
    [
        ("Thanks. What is the best phone number to reach you?", Asked.DIGITS),
        ("Could you read me your card number, please?", Asked.DIGITS),
        ("Great. And what's your email address?", Asked.EMAIL),
        ("Please tell me your street address.", Asked.ADDRESS),
        ("What is your zip code?", Asked.DIGITS),
    ],
)
def test_the_agent_asking_for_digits_an_email_or_an_address_is_noticed(
    agent: str, asked: Asked
) -> None:
    assert asked_for(agent) is asked


@pytest.mark.parametrize(
    "agent",
    [
        "",
        "I'm calling to confirm your appointment on Thursday at two.",
        "Your phone number is on file. Is Thursday still good?",  # asked earlier, not last
        "We sent it to your email address.",  # a statement, not a request
        "How are you today?",
        "Wonderful. Please arrive early and bring your insurance card.",
        "Thank you. Is that a mobile number?",
    ],
)
def test_other_sentences_ask_for_nothing(agent: str) -> None:
    assert asked_for(agent) is Asked.NOTHING


def test_the_policy_waits_longer_while_the_contact_gives_digits() -> None:
    policy = TurnPolicy()
    assert policy.extra_wait_ms(0.95) == 0.0
    assert policy.extra_wait_ms(0.95, Asked.DIGITS) == policy.collecting_wait_ms
    # A longer wait the curve gives is kept.
    patient = TurnPolicy(curve=WaitCurve(((0.5, 2000.0),)))
    assert patient.extra_wait_ms(0.0, Asked.EMAIL) == 2000.0
    assert policy.extra_wait_ms(0.0, Asked.EMAIL) == policy.collecting_wait_ms
    # Without a model: the configured fallback (none by default: the VAD's hang-over).
    assert policy.extra_wait_ms(None) == 0.0
    assert TurnPolicy(no_model_wait_ms=300.0).extra_wait_ms(None) == 300.0
