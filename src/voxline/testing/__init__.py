"""Fakes for testing voice sessions without models, networks or real time.

A :class:`~voxline.voice.session.CallSession` built from these runs a whole conversation in
milliseconds and the same way on every machine: :class:`VirtualClock` paces the media clock
in simulated time, :class:`FakeLine` plays a scripted contact in lockstep with the agent's
frames (:class:`FakeTextLine` plays the same script on a text line), :class:`FakeTts` speaks
a tone whose length follows the text, :class:`FakeStt` hears what the contact said
(:class:`FakeStreamingStt` as it is said),
:func:`fake_vad` is an energy VAD that hears those tones, and :class:`FakeBrain` replies from
a script. Each fake can be told to fail.
"""

from voxline.testing.brain import FakeBrain
from voxline.testing.clock import VirtualClock
from voxline.testing.line import ContactLine, FakeLine
from voxline.testing.speech import (
    FakeStreamingStt,
    FakeStt,
    FakeTts,
    MemoryTranscript,
    fake_vad,
    tone,
)
from voxline.testing.text_line import FakeTextLine

__all__ = [
    "ContactLine",
    "FakeBrain",
    "FakeLine",
    "FakeStreamingStt",
    "FakeStt",
    "FakeTextLine",
    "FakeTts",
    "MemoryTranscript",
    "VirtualClock",
    "fake_vad",
    "tone",
]
