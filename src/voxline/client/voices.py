"""``client.voices``: the voices an agent may speak with."""

from __future__ import annotations

from pydantic import TypeAdapter

from voxline.client._http import AsyncHTTP, Operation, SyncHTTP, path
from voxline.client.models import Voice

VoiceList = list[Voice]
_VOICES = TypeAdapter(VoiceList)


class Voices:
    def __init__(self, http: SyncHTTP) -> None:
        self._http = http

    def list(self) -> VoiceList:
        """Every voice of the deployment (the API does not page them)."""
        return _VOICES.validate_python(self._http.data(Operation("GET", "/voices")))

    def get(self, voice_id: str) -> Voice:
        return Voice.model_validate(self._http.data(Operation("GET", path("voices", voice_id))))


class AsyncVoices:
    def __init__(self, http: AsyncHTTP) -> None:
        self._http = http

    async def list(self) -> VoiceList:
        """Every voice of the deployment (the API does not page them)."""
        return _VOICES.validate_python(await self._http.data(Operation("GET", "/voices")))

    async def get(self, voice_id: str) -> Voice:
        op = Operation("GET", path("voices", voice_id))
        return Voice.model_validate(await self._http.data(op))
