"""Barge-in on sandbox audio calls, with the real local speech models: a backchanneling
caller does not cut the agent's turns, a caller who says "wait, stop" does.

Each call speaks in real time (~25 s), so the echoing line (0119) is left to
bench/interruptions.py; the echo canceller is tested on real speech in test_echo.py."""

from __future__ import annotations

from pathlib import Path

from tests.voice.test_session import GREETING, place_audio_call
from tests.voice.test_session import kit as kit  # the module's voice kit fixture
from voxline.telephony.sandbox.personas import persona_for
from voxline.voice.interruptions import is_backchannel
from voxline.voice.kit import VoiceKit

CONFIRM = "I'm calling to confirm your appointment on Thursday at two."


async def test_a_backchanneling_caller_does_not_cut_the_agent(
    kit: VoiceKit, tmp_path: Path
) -> None:
    call = await place_audio_call(kit, "+14155550118", tmp_path)
    agent = call.transcript.said_by("agent")
    # At most one cut, and never of the turns the backchannels are said over (below): the
    # callee listens in real time too, and on a loaded machine it may take the agent's late
    # audio for the end of its turn and start a real line over it.
    cuts = call.metrics.barge_ins
    assert cuts <= 1
    # Whole turns, said to their end although the caller talked over them.
    assert agent[0] == GREETING
    assert CONFIRM in agent
    contact = call.transcript.said_by("contact")
    # The backchannels are in the transcript (those speech-to-text heard as words: "Okay"
    # is, espeak's "uh-huh" may be heard as nothing) ...
    assert any(is_backchannel(text) for text in contact), contact
    # ... but were not answered: one agent reply per real line, none repeated. The one cut
    # tolerated above splits a turn: its first sentence stays, and the line said over it is
    # answered in a turn of its own (seen: "Wonderful." cut before "Please arrive ten
    # minutes early.", then "Is there anything else I can help you with?"), which may then
    # come once more. Without a cut the counts are exact.
    assert len(agent) - len(set(agent)) <= cuts
    assert len(agent) <= 1 + len(persona_for("+14155550118").lines) + cuts


async def test_a_caller_who_says_wait_stop_cuts_the_agent(kit: VoiceKit, tmp_path: Path) -> None:
    call = await place_audio_call(kit, "+14155550117", tmp_path)
    assert call.metrics.barge_ins >= 1
    agent = call.transcript.said_by("agent")
    assert agent[0] != GREETING
    assert GREETING.startswith(agent[0])
