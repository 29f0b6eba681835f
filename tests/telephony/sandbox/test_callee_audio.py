"""Where the sandbox's audio callee pauses inside a line: between two words, by the voice's
own timing of them."""

from __future__ import annotations

import numpy as np

from voxline.telephony.sandbox.callee_audio import cuts_between_words
from voxline.voice.tts.base import SpokenText

BLOCK = 320  # 10 ms of 16 kHz PCM16


def speech(*stretches: tuple[int, bool]) -> bytes:
    """10 ms blocks of a loud tone (True) or of near silence (False), in order."""
    out = []
    for blocks, loud in stretches:
        n = blocks * BLOCK // 2
        tone = np.sin(np.arange(n) * 0.3) * (8000 if loud else 20)
        out.append(tone.astype("<i2").tobytes())
    return b"".join(out)


def test_a_part_is_cut_in_the_quiet_between_its_last_word_and_the_next() -> None:
    # "could we | move": three words, loud, a 60 ms gap after the second, loud again.
    pcm = speech((20, True), (3, False), (20, True), (6, False), (20, True))
    spans = ((0, 20 * BLOCK), (23 * BLOCK, 43 * BLOCK), (49 * BLOCK, 69 * BLOCK))

    (cut,) = cuts_between_words(["could we", "move"], SpokenText(pcm, spans)) or [None]

    assert cut is not None and 43 * BLOCK <= cut <= 47 * BLOCK  # 20 ms of quiet fit after it


def test_without_one_timing_per_word_there_is_no_cut() -> None:
    pcm = speech((20, True), (6, False), (20, True))

    assert cuts_between_words(["could we", "move"], SpokenText(pcm)) is None
    two_words = ((0, 20 * BLOCK), (26 * BLOCK, 46 * BLOCK))
    assert cuts_between_words(["could we", "move"], SpokenText(pcm, two_words)) is None
