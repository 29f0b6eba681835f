from __future__ import annotations

import pytest

from voxline.domain.turn_taking import (
    Asked,
    Said,
    TimedWord,
    TurnPolicy,
    Verdict,
    WaitCurve,
    asked_for,
    digits_in,
    gives_whole,
    heard_words,
    sounds_finished,
    sounds_unfinished,
)


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
    assert policy.extra_wait_ms(0.95) == policy.least_wait_ms
    assert policy.extra_wait_ms(0.95, Asked.DIGITS) == policy.collecting_wait_ms
    # A longer wait the curve gives is kept.
    patient = TurnPolicy(curve=WaitCurve(((0.5, 2000.0),)))
    assert patient.extra_wait_ms(0.0, Asked.EMAIL) == 2000.0
    assert policy.extra_wait_ms(0.0, Asked.EMAIL) == policy.collecting_wait_ms
    # Without a model: the configured fallback (none by default: the VAD's hang-over).
    assert policy.extra_wait_ms(None) == 0.0
    assert TurnPolicy(no_model_wait_ms=300.0).extra_wait_ms(None) == 300.0


# Sentences a caller might stop on, as speech-to-text writes them (with the full stop it puts
# on nearly every fragment).
UNFINISHED = (
    "I was wondering if.",
    "Yes, speaking. I was wondering if",
    "Could we move it to.",
    "I'm calling because.",
    "I'd like to book an appointment for.",
    "I'll be there at",
    "It's a matter of.",
    "Can you send it to my.",
    "I was going to call you about the.",
    "It is a",
    "My phone number is.",
    "The best time for me would be, um.",
    "The problem is that.",
    "I think that.",
    "It was late, so.",
    "Well, I'm.",
    "Okay and",
    "Let me check, but",
    "Uh.",
    "Sure, my email is...",
    "So the thing is,",
    "I'd rather wait than",
    "That works for me, but I need to.",
    "We have to move the meeting with the team to.",
    "Well —",
)
FINISHED = (
    "Yes, that is.",
    "Yes it is.",
    "What is it for?",
    "Who is it from?",
    "What's it for?",
    "When is the appointment for?",
    "I'd like to.",
    "Yes, I'd love to!",
    "No, I don't want to.",
    "Sounds good to me.",
    "Could you tell me what this is about?",
    "I was wondering what you were calling about.",
    "Where are you calling from.",
    "Hold on.",
    "Come on in.",
    "I think so.",
    "I like that.",
    "Here you are.",
    "What is that?",
    "What if?",
    "So?",
    "Yes.",
    "No thank you, goodbye.",
    "Four one five, five five five, zero one nine eight.",
    "That works for me.",
    "I'm not sure.",
    "It's fine, thanks for asking.",
    "",
)


@pytest.mark.parametrize("text", UNFINISHED, ids=lambda t: f"unfinished-{t}")
def test_a_transcript_that_stops_mid_sentence_sounds_unfinished(text: str) -> None:
    assert sounds_unfinished(text)


@pytest.mark.parametrize("text", FINISHED, ids=lambda t: f"finished-{t}")
def test_a_finished_sentence_does_not_sound_unfinished(text: str) -> None:
    assert not sounds_unfinished(text)


def test_unfinished_turns_are_held_past_a_pause_inside_a_sentence() -> None:
    # Pauses inside a sentence last up to ~0.9 s; the hold starts at the VAD stop, which
    # came ~0.2 s into the pause.
    assert TurnPolicy().unfinished_wait_ms >= 900.0


def test_words_that_end_a_sentence_cap_the_wait_and_words_that_say_neither_hold_it() -> None:
    policy = TurnPolicy(finished_wait_ms=200.0, unsure_wait_ms=700.0, least_wait_ms=0.0)
    unsure_model, sure_model = 0.05, 0.95  # the curve's longest wait (1 s), and none
    assert policy.extra_wait_ms(unsure_model, verdict=Verdict.FINISHED) == 200.0
    assert policy.extra_wait_ms(sure_model, verdict=Verdict.FINISHED) == 0.0  # never longer
    assert policy.extra_wait_ms(sure_model, verdict=Verdict.UNFINISHED) == 1100.0
    # "Yes." before "that's right": the model sure, the words not.
    assert policy.extra_wait_ms(sure_model, verdict=Verdict.UNSURE) == 700.0
    assert policy.extra_wait_ms(unsure_model, verdict=Verdict.UNSURE) == 1000.0  # never shorter
    # No words to judge: the model alone.
    assert policy.extra_wait_ms(sure_model) == 0.0


def test_a_sure_model_and_finished_words_still_wait_out_a_pause_between_clauses() -> None:
    policy = TurnPolicy(finished_wait_ms=200.0, least_wait_ms=150.0)
    assert policy.extra_wait_ms(0.95) == 150.0
    assert policy.extra_wait_ms(0.95, verdict=Verdict.FINISHED) == 150.0
    assert policy.extra_wait_ms(0.05, verdict=Verdict.FINISHED) == 200.0
    # Without a model the VAD's own longer hang-over is the wait: nothing is added.
    assert policy.extra_wait_ms(None) == 0.0
    assert policy.extra_wait_ms(None, verdict=Verdict.FINISHED) == 0.0


def test_something_asked_for_is_collected_until_the_words_give_all_of_it() -> None:
    policy = TurnPolicy(finished_wait_ms=200.0, least_wait_ms=0.0)
    assert policy.extra_wait_ms(0.95, Asked.DIGITS, Verdict.UNSURE) == 1200.0
    assert policy.extra_wait_ms(0.95, Asked.DIGITS) == 1200.0
    assert policy.extra_wait_ms(0.05, Asked.DIGITS, Verdict.FINISHED) == 200.0

    assert Said("Sure, it is 415-555-0198.").verdict(Asked.DIGITS) is Verdict.FINISHED
    assert (
        Said("four one five, five five five, zero one nine eight.").verdict(Asked.DIGITS)
        is Verdict.FINISHED
    )
    # Not yet all of it, or not ended: the collecting wait goes on.
    # A number read out slowly is often written without a final stop, and a slowly read
    # "four" after "is" as "for": the number still ends the text, with its ten digits.
    assert Said("Sure, it is 415 555 0198").verdict(Asked.DIGITS) is Verdict.FINISHED
    assert Said("sure it is for 155550198").verdict(Asked.DIGITS) is Verdict.FINISHED
    # Not yet all of it, or the text goes on past the number: the collecting wait goes on.
    assert Said("Sure, it is 415-555.").verdict(Asked.DIGITS) is Verdict.UNSURE
    assert Said("Sure, it is 415 555 01").verdict(Asked.DIGITS) is Verdict.UNSURE
    assert Said("sure it is for one five.").verdict(Asked.DIGITS) is Verdict.UNSURE
    assert Said("It is 415-555-0198, extension").verdict(Asked.DIGITS) is Verdict.UNSURE
    # "for" counts as "four" only before a digit.
    assert not gives_whole(Asked.DIGITS, "I'll wait for it: 415 555 019.")
    assert digits_in("sure it is for one five, 555") == 6
    assert digits_in("I waited for an hour, twenty minutes") == 0
    # A finished sentence is not an answer when it holds no number.
    assert Said("Sure, let me find it.").verdict(Asked.DIGITS) is Verdict.UNSURE
    # Ten digits say nothing of a whole e-mail or postal address.
    assert not gives_whole(Asked.EMAIL, "It is 4155550198.")
    assert not gives_whole(Asked.NOTHING, "It is 4155550198.")


def _timed(*words: tuple[str, float]) -> list[TimedWord]:
    return [TimedWord(text, start, start + 0.2, 0.9) for text, start in words]


def test_only_the_words_placed_inside_the_speech_are_heard() -> None:
    # Whisper on a cut after "to": "next?" starts 20-40 ms before the speech ends.
    words = _timed(("move", 1.22), ("it", 1.36), ("to", 1.56), ("next?", 1.66))
    assert [w.text for w in heard_words(words, speech_end_s=1.70)] == ["move", "it", "to"]
    # A last word said starts 60 ms or more before the end: kept.
    assert [w.text for w in heard_words(words, speech_end_s=1.72)] == [w.text for w in words]
    assert heard_words(words, speech_end_s=0.1) == ()


def test_an_improbable_word_at_the_very_end_is_a_guess() -> None:
    # Over a phone line "next?" starts 30-50 ms before the end, scored 0.49-0.63; a last
    # word said starts 50-70 ms before it, scored 0.84-1.00.
    said = [TimedWord("to", 1.56, 1.66, 0.9), TimedWord("me.", 1.70, 1.76, 1.0)]
    guessed = [TimedWord("to", 1.56, 1.66, 0.9), TimedWord("next?", 1.70, 1.76, 0.55)]
    assert heard_words(said, speech_end_s=1.77) == tuple(said)
    assert [w.text for w in heard_words(guessed, speech_end_s=1.77)] == ["to"]
    # Improbable but well inside the speech: said.
    early = [TimedWord("Goodbye.", 1.40, 1.76, 0.55)]
    assert heard_words(early, speech_end_s=1.77) == tuple(early)


@pytest.mark.parametrize(
    "text", ["Sounds good to me.", "What is it for?", "Yes, that's right!", "No, that covers it."]
)
def test_a_sentence_with_a_final_stop_sounds_finished(text: str) -> None:
    assert sounds_finished(text)


@pytest.mark.parametrize(
    "text", ["Yes.", "Okay.", "Could we move it to", "I was wondering if.", "check my...", ""]
)
def test_an_interjection_or_a_sentence_without_its_end_does_not(text: str) -> None:
    assert not sounds_finished(text)


@pytest.mark.parametrize(
    "text",
    ["that works for me but i need to check my calendar thanks goodbye", "Okay bye", "Bye-bye"],
)
def test_a_farewell_ends_a_turn_without_a_final_stop(text: str) -> None:
    assert sounds_finished(text)
    assert Said(text, text).verdict() is Verdict.FINISHED


@pytest.mark.parametrize("text", ["goodbye and", "I live on Byers", "but i need to"])
def test_words_that_only_hold_a_farewell_or_lack_one_are_not_finished(text: str) -> None:
    assert not sounds_finished(text)


def test_a_guessed_word_after_a_cut_leaves_the_words_unfinished() -> None:
    assert Said("Could we move it to next?", "Could we move it to").verdict() is (
        Verdict.UNFINISHED
    )
    # Trailing off on a guessed word ("I need to..." heard as "I need"): still unfinished.
    assert Said("But I need to...", "But I need").verdict() is Verdict.UNFINISHED
    assert Said("Could we move it to next?").verdict() is Verdict.FINISHED  # untimed
    assert Said("Sounds good to me.", "Sounds good to me.").verdict() is Verdict.FINISHED
    assert Said("Sounds good to me.", "Sounds good").verdict() is Verdict.UNSURE
    assert Said("Yes.").verdict() is Verdict.UNSURE
