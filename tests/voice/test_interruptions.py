"""The barge-in policy: which speech over the agent is a real interruption."""

from __future__ import annotations

import pytest

from voxline.voice.interruptions import (
    BargeInPolicy,
    Verdict,
    is_backchannel,
    is_echo_of,
    words_of,
)

POLICY = BargeInPolicy(min_speech_ms=300)


@pytest.mark.parametrize(
    "text",
    [
        "uh-huh",
        "Uh-huh.",
        "Mm-hmm.",
        "Mm mm.",
        "MHM.",
        "yeah",
        "Yes.",
        "Okay.",
        "OK",
        "right",
        "Sure!",
        "Thank you.",
        "Thanks",
        "Got it.",
        "Okay, okay.",
        "Yeah, right.",
        "Oh, okay, thank you very much.",
        "All right.",
    ],
)
def test_a_whole_utterance_of_backchannels_is_one(text: str) -> None:
    assert is_backchannel(text)
    assert POLICY.judge(text, 400) is Verdict.BACKCHANNEL


@pytest.mark.parametrize(
    "text",
    [
        "wait",
        "Stop.",
        "no wait",
        "No, I said Friday.",
        "Okay but I'm busy.",
        "Yeah, but who is calling?",
        "Thank you, but no.",
        "Hold on.",
        "no",
    ],
)
def test_anything_else_interrupts(text: str) -> None:
    assert not is_backchannel(text)
    assert POLICY.judge(text, 400) is Verdict.INTERRUPT


def test_speech_shorter_than_the_minimum_is_not_judged_yet() -> None:
    assert POLICY.judge("wait", 299) is Verdict.UNDECIDED
    assert POLICY.judge("wait", 300) is Verdict.INTERRUPT
    assert POLICY.judge(None, 900) is Verdict.UNDECIDED  # not transcribed yet


def test_speech_without_words_is_noise() -> None:
    assert POLICY.judge("", 800) is Verdict.NOISE
    assert POLICY.judge(" ... ", 800) is Verdict.NOISE
    assert not is_backchannel("")


def test_words_of_lower_cases_and_splits_hyphens() -> None:
    assert words_of("Uh-huh, OKAY!") == ["uh", "huh", "okay"]
    assert words_of("That\u2019s right.") == ["that's", "right"]


def test_the_agents_own_words_are_echo_only_on_an_echoing_line() -> None:
    said = "Hi Jane, this is Ava from Voxline Dental."
    assert is_echo_of("this is Ava", said)
    assert POLICY.judge("This is Ava.", 500, agent_said=said, line_echoes=True) is Verdict.ECHO
    # The same words on a line without echo are the contact's.
    assert POLICY.judge("This is Ava.", 500, agent_said=said) is Verdict.INTERRUPT
    # New words, or one word alone, are not an echo.
    assert not is_echo_of("wait, this is wrong", said)
    assert not is_echo_of("Jane", said)
    assert not is_echo_of("Ava this", said)  # never said in that order
    verdict = POLICY.judge("Wait, stop.", 500, agent_said=said, line_echoes=True)
    assert verdict is Verdict.INTERRUPT
