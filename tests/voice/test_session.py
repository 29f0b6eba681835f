"""A voice session on a sandbox audio line, with the real local speech models."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.emulators.llm_server import API_KEY, MODEL, EmulatedReply, LlmEmulator
from tests.voice.speech import (
    ANSWER_TO_FIRST_AUDIO_MS_AT_MOST,
    TALKER_KEYWORDS,
    TALKER_WER_AT_MOST,
    channel_levels,
    misheard,
)
from voxline.config import Settings, load_settings
from voxline.domain.calls import CallEvent, EndReason
from voxline.errors import ProviderError
from voxline.telephony.base import PlacementRequest, ProviderEvent
from voxline.telephony.sandbox.audio_line import AudioEnd
from voxline.telephony.sandbox.carrier import AudioMode, SandboxCarrier
from voxline.telephony.sandbox.personas import persona_for
from voxline.voice.brain.base import AgentProfile, Brain
from voxline.voice.brain.clauses import sentences
from voxline.voice.brain.openai import ChatClient, OpenAIBrain
from voxline.voice.brain.scripted import ScriptedBrain
from voxline.voice.kit import VoiceKit
from voxline.voice.metrics import STAGES, CallMetrics
from voxline.voice.recorder import CallRecorder
from voxline.voice.session import CallSession, SessionConfig
from voxline.voice.stages import APOLOGY, Stage, StageFailure
from voxline.voice.stt.base import SpeechToText
from voxline.voice.tts.base import TextToSpeech

GREETING = "Hi Jane, this is Ava from Voxline Dental."
PROMPT = (
    "- I'm calling to confirm your appointment on Thursday at two.\n"
    "- Wonderful. Please arrive ten minutes early."
)


@dataclass
class Transcript:
    turns: list[tuple[str, str, float]] = field(default_factory=list)

    async def add(self, speaker: str, text: str, timestamp: float) -> None:
        self.turns.append((speaker, text, timestamp))

    def said_by(self, speaker: str) -> list[str]:
        return [text for who, text, _ in self.turns if who == speaker]


@dataclass
class AudioCall:
    transcript: Transcript
    metrics: CallMetrics
    recording: Path
    events: list[ProviderEvent]
    failures: list[StageFailure] = field(default_factory=list)


@dataclass
class Failures:
    """What the session reported through ``on_failure``."""

    seen: list[StageFailure] = field(default_factory=list)

    async def append_async(self, failure: StageFailure) -> None:
        self.seen.append(failure)


class FailingStt:
    """Speech-to-text whose server is down."""

    async def transcribe(self, pcm16_16k: bytes) -> str:
        raise ProviderError("speech server unreachable", provider="stt", retryable=True)


class TtsThatFailsAfter:
    """A working text-to-speech that fails from its ``works``-th synthesis on."""

    def __init__(self, tts: TextToSpeech, works: int) -> None:
        self.tts = tts
        self.left = works

    def __getattr__(self, name: str) -> object:
        return getattr(self.tts, name)

    async def synthesize(self, text: str, voice: str | None = None) -> bytes:
        if self.left <= 0:
            raise ProviderError("speech server unreachable", provider="tts", retryable=True)
        self.left -= 1
        return await self.tts.synthesize(text, voice)


@pytest.fixture(scope="module")
def kit(tmp_path_factory: pytest.TempPathFactory) -> VoiceKit:
    settings: Settings = load_settings(
        data_dir=tmp_path_factory.mktemp("voice"), secret_key="test", tts_engine="espeak"
    )
    return VoiceKit(settings)


async def place_audio_call(
    kit: VoiceKit,
    destination: str,
    recordings: Path,
    brain: Brain | None = None,
    *,
    stt: SpeechToText | None = None,
    tts: TextToSpeech | None = None,
) -> AudioCall:
    transcript = Transcript()
    failures = Failures()
    events: list[ProviderEvent] = []
    done = asyncio.Event()
    outcome: dict[str, object] = {}

    async def sink(event: ProviderEvent) -> None:
        events.append(event)
        if event.event not in (CallEvent.RINGING, CallEvent.ANSWERED):
            done.set()

    async def on_answer(call_id: str, line: object) -> None:
        assert isinstance(line, AudioEnd)
        profile = AgentProfile(PROMPT, GREETING, 0.3, "scripted", {})
        session = CallSession(
            brain=brain or ScriptedBrain(profile),
            stt=stt or kit.stt,
            tts=tts or kit.tts,
            vad=kit.vad(),
            transcript=transcript,
            config=SessionConfig(silence_timeout_s=6, agent_voice="espeak-en-us"),
            on_failure=failures.append_async,
        )
        recorder = CallRecorder(recordings, call_id)
        session.attach_recording(recorder)
        try:
            outcome["metrics"] = await session.run(line)
        finally:
            outcome["path"] = recordings / recorder.close()

    carrier = SandboxCarrier(
        events=sink,
        on_answer=on_answer,
        time_scale=0.1,
        audio=AudioMode(
            tts=lambda: kit.tts, vad=lambda: kit.vad(hangover_ms=700), voice="espeak-en-us-f3"
        ),
    )
    request = PlacementRequest("call-1", "org", "agent", destination, "+14155551000", "sandbox", 30)
    await carrier.place_call(request)
    await asyncio.wait_for(done.wait(), 120)
    await carrier.aclose()
    metrics = outcome["metrics"]
    assert isinstance(metrics, CallMetrics)
    path = outcome["path"]
    assert isinstance(path, Path)
    return AudioCall(transcript, metrics, path, events, failures.seen)


def test_sentences_split_after_each_sentence() -> None:
    assert sentences("Wonderful. Please arrive early! Ok?  ") == [
        "Wonderful.",
        "Please arrive early!",
        "Ok?",
    ]


async def test_a_conversation_in_real_audio(kit: VoiceKit, tmp_path: Path) -> None:
    call = await place_audio_call(kit, "+14155550100", tmp_path)
    assert call.events[-1].event is CallEvent.HANGUP
    # The agent closes once it hears the callee's goodbye; should speech-to-text mishear
    # that word, the callee hangs up itself a little later.
    ending = call.events[-1].end_reason
    assert ending in {EndReason.AGENT_HANGUP, EndReason.CONTACT_HANGUP}

    agent = call.transcript.said_by("agent")
    assert agent[0] == GREETING
    assert "I'm calling to confirm your appointment on Thursday at two." in agent
    # Each answer's gap as measured on the recording's two channels, and the stage split
    # that explains it: they agree within 50 ms (two or three frames), whatever the timings.
    answered = call.metrics.turns
    assert answered
    for latency in answered:
        assert latency.wire_gap_ms is not None and latency.total_ms is not None
        assert latency.wire_gap_ms > 0
        assert abs(latency.total_ms - latency.wire_gap_ms) <= 50, latency
    assert "wire_gap_ms" in call.metrics.as_json()
    if ending is EndReason.AGENT_HANGUP:
        assert agent[-1] == "Thank you for your time. Goodbye!"
    # What the callee said, as the agent's speech-to-text heard it.
    heard = " ".join(call.transcript.said_by("contact"))
    spoken = " ".join(persona_for("+14155550100").lines)
    assert misheard(spoken, TALKER_KEYWORDS, heard, TALKER_WER_AT_MOST) == [], heard
    other = " ".join(persona_for("+14155550106").lines)
    assert misheard(other, ("weather", "garden"), heard, TALKER_WER_AT_MOST) != [], heard
    timestamps = [t for _, _, t in call.transcript.turns]
    assert timestamps == sorted(timestamps)

    seconds, agent_level, contact_level = channel_levels(call.recording)
    assert seconds > 10
    assert agent_level > 300 and contact_level > 300

    figures = call.metrics.as_json()
    assert figures["answer_to_first_audio_ms"] < ANSWER_TO_FIRST_AUDIO_MS_AT_MOST
    assert len(figures["turns"]) >= 2
    for turn in figures["turns"]:
        assert set(turn) == {
            *STAGES,
            "total_ms",
            "wire_gap_ms",
            "eot_probability",
            "eot_context",
            "speculated",
            "held_unfinished",
            "eot_judge",
        }
        assert turn["total_ms"] >= turn["vad_wait_ms"] + turn["stt_ms"]


async def test_barge_in_cuts_the_agent_turn_to_what_was_played(
    kit: VoiceKit, tmp_path: Path
) -> None:
    call = await place_audio_call(kit, "+14155550108", tmp_path)
    assert call.metrics.barge_ins >= 1
    agent = call.transcript.said_by("agent")
    assert agent[0] != GREETING
    assert GREETING.startswith(agent[0])
    assert call.transcript.turns[1][0] == "contact"


async def test_a_streamed_llm_reply_is_spoken_clause_by_clause(
    kit: VoiceKit, tmp_path: Path
) -> None:
    emulator = LlmEmulator()
    base_url = await emulator.start()
    # The same reply to every request: a draft asked ahead at a pause inside the contact's
    # line and dropped when the contact goes on takes one too.
    reply = EmulatedReply(
        "Thanks for confirming, Jane. Your appointment is on Thursday at two. Goodbye!",
        end_call=True,
    )
    emulator.queue(*[reply] * 4)
    client = ChatClient(base_url, API_KEY)
    brain = OpenAIBrain(AgentProfile(PROMPT, GREETING, 0.3, MODEL, {}), client)
    try:
        call = await place_audio_call(kit, "+14155550100", tmp_path, brain)
    finally:
        await client.aclose()
        await emulator.stop()
    agent = call.transcript.said_by("agent")
    assert agent == [
        GREETING,
        "Thanks for confirming, Jane. Your appointment is on Thursday at two. Goodbye!",
    ]
    assert call.events[-1].end_reason is EndReason.AGENT_HANGUP
    (turn,) = call.metrics.turns
    assert turn.total_ms is not None
    # Asked and synthesized either ahead, while the end of the turn was decided, or after.
    assert turn.speculated or (turn.brain_ms > 0 and turn.tts_ms > 0)
    request = emulator.requests[0]
    assert request["messages"][-1]["role"] == "user"
    assert request["stream"] is True


async def test_a_failing_llm_gets_the_contact_an_apology_not_silence(
    kit: VoiceKit, tmp_path: Path
) -> None:
    emulator = LlmEmulator()
    base_url = await emulator.start()
    # Every request fails: the turn's first attempt and its one retry, and any draft asked
    # ahead at a pause inside the contact's line and dropped when the contact went on.
    emulator.queue(*[EmulatedReply(status=500)] * 8)
    client = ChatClient(base_url, API_KEY)
    brain = OpenAIBrain(AgentProfile(PROMPT, GREETING, 0.3, MODEL, {}), client)
    try:
        call = await place_audio_call(kit, "+14155550100", tmp_path, brain)
    finally:
        await client.aclose()
        await emulator.stop()

    assert call.transcript.said_by("agent") == [GREETING, APOLOGY]
    assert call.failures == [
        StageFailure(Stage.BRAIN, "brain failed: LLM server answered HTTP 500")
    ]
    assert 2 <= len(emulator.requests) <= 8
    assert call.events[-1].end_reason is EndReason.AGENT_HANGUP
    seconds, agent_level, _ = channel_levels(call.recording)
    assert seconds > 3 and agent_level > 300
    assert call.metrics.answer_to_first_audio_ms is not None


async def test_failing_speech_to_text_gets_an_apology(kit: VoiceKit, tmp_path: Path) -> None:
    call = await place_audio_call(kit, "+14155550100", tmp_path, stt=FailingStt())

    assert call.transcript.said_by("agent") == [GREETING, APOLOGY]
    assert call.transcript.said_by("contact") == []
    assert [failure.stage for failure in call.failures] == [Stage.STT]
    assert call.failures[0].message == "speech-to-text failed: speech server unreachable"
    assert call.events[-1].end_reason is EndReason.AGENT_HANGUP


async def test_when_even_the_apology_cannot_be_spoken_the_agent_hangs_up(
    kit: VoiceKit, tmp_path: Path
) -> None:
    # The greeting is synthesized; every later synthesis fails, the apology's included.
    tts = TtsThatFailsAfter(kit.tts, works=1)

    call = await place_audio_call(kit, "+14155550100", tmp_path, tts=tts)

    assert call.transcript.said_by("agent") == [GREETING]
    assert [failure.stage for failure in call.failures] == [Stage.TTS]
    assert call.events[-1].end_reason is EndReason.AGENT_HANGUP
