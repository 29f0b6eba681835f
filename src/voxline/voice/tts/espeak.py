"""espeak-ng text-to-speech, run as a subprocess (Debian's ``espeak-ng`` package).

Formant synthesis: robotic but very intelligible, no model, about 20 ms per sentence
including the process spawn. Its voices and variants (``en-us``, ``en-gb``, ``en-us+f3``, ...)
make the two sides of a sandbox call sound different. Running it as a separate program keeps
the GPL engine at arm's length from the platform process.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import struct

from voxline.errors import ProviderError
from voxline.voice.audio import resample
from voxline.voice.frames import SAMPLE_RATE
from voxline.voice.tts.base import VoiceInfo
from voxline.voice.voices import ESPEAK_BINARY, VoiceProvider, voices_of

PROVIDER = "espeak-ng"
DEFAULT_WPM = 165
# An espeak-ng voice name with an optional +variant; anything else (notably a leading "-",
# which the program would read as an option) is refused before it reaches the command line.
_ENGINE_VOICE = re.compile(r"^[a-z]{2,3}(?:-[a-z0-9]+)*(?:\+[a-z0-9]+)?$")


def parse_wav(data: bytes) -> tuple[bytes, int]:
    """PCM16 mono samples and sample rate from the WAV espeak-ng writes to a pipe.

    Its header carries placeholder sizes (it cannot seek back on a pipe), so the data chunk
    is taken to run to the end of the stream rather than trusting the declared length.
    """
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise ValueError("not a WAV stream")
    offset = 12
    rate: int | None = None
    while offset + 8 <= len(data):
        chunk_id, size = data[offset : offset + 4], struct.unpack_from("<I", data, offset + 4)[0]
        body = offset + 8
        if chunk_id == b"fmt ":
            tag, channels, rate, _, _, bits = struct.unpack_from("<HHIIHH", data, body)
            if tag != 1 or channels != 1 or bits != 16:
                raise ValueError("expected 16-bit mono PCM")
        elif chunk_id == b"data":
            if rate is None:
                raise ValueError("WAV data before its format")
            end = len(data) if body + size > len(data) else body + size
            pcm = data[body:end]
            return pcm[: len(pcm) - len(pcm) % 2], rate
        offset = body + size + size % 2
    raise ValueError("WAV stream without data")


class EspeakTts:
    """The :class:`~voxline.voice.tts.base.TextToSpeech` of espeak-ng."""

    name = PROVIDER

    def __init__(
        self,
        *,
        words_per_minute: int = DEFAULT_WPM,
        default_voice: str = "en-us",
        binary: str = ESPEAK_BINARY,
        timeout_seconds: float = 10.0,
    ) -> None:
        self.words_per_minute = words_per_minute
        self.default_voice = self._engine_voice(default_voice)
        self.binary = binary
        self.timeout_seconds = timeout_seconds

    def voices(self) -> list[VoiceInfo]:
        listed = list(voices_of(VoiceProvider.ESPEAK_NG))
        listed.sort(key=lambda voice: voice.engine_voice != self.default_voice)
        return listed

    def _engine_voice(self, voice: str | None) -> str:
        if voice is None:
            return self.default_voice
        for known in voices_of(VoiceProvider.ESPEAK_NG):
            if voice in (known.id, known.engine_voice):
                return known.engine_voice
        if _ENGINE_VOICE.match(voice):
            return voice
        raise ValueError(f"not an espeak-ng voice: {voice!r}")

    async def synthesize(self, text: str, voice: str | None = None) -> bytes:
        engine_voice = self._engine_voice(voice)
        if not text.strip():
            return b""
        wav = await self._run(text, engine_voice)
        try:
            pcm, rate = parse_wav(wav)
        except ValueError as exc:
            raise ProviderError(
                f"espeak-ng wrote unreadable audio: {exc}", provider=PROVIDER, retryable=False
            ) from None
        # A few ms for a sentence: cheaper inline than a hop to the model pool.
        return resample(pcm, rate, SAMPLE_RATE)

    async def _run(self, text: str, engine_voice: str) -> bytes:
        try:
            process = await asyncio.create_subprocess_exec(
                self.binary,
                "--stdout",
                "--stdin",
                "-v",
                engine_voice,
                "-s",
                str(self.words_per_minute),
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
        except OSError as exc:
            raise ProviderError(
                f"cannot run {self.binary}: {exc.strerror}", provider=PROVIDER, retryable=False
            ) from None
        try:
            async with asyncio.timeout(self.timeout_seconds):
                out, err = await process.communicate(text.encode())
        except TimeoutError:
            raise ProviderError(
                f"espeak-ng took over {self.timeout_seconds:g}s", provider=PROVIDER, retryable=True
            ) from None
        finally:
            if process.returncode is None:
                # Timed out or cancelled (barge-in): never leave the child behind.
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                await process.wait()
        if process.returncode != 0 or not out:
            # espeak-ng exits 0 with empty output for an unknown voice; stderr says why.
            reason = err.decode(errors="replace").strip().splitlines()
            raise ProviderError(
                f"espeak-ng failed (voice {engine_voice}): {reason[0] if reason else 'no audio'}",
                provider=PROVIDER,
                retryable=False,
            )
        return out
