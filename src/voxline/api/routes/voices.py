"""Routes for voices: the catalogue of voices an agent can speak with."""

from __future__ import annotations

from fastapi import APIRouter, Request

from voxline.api.deps import CallerDep, SettingsDep
from voxline.api.envelope import Envelope, error_responses, ok
from voxline.api.schemas.voices import Voice
from voxline.voice import voices as catalogue

router = APIRouter(prefix="/voices", tags=["voices"])


@router.get(
    "",
    response_model=Envelope[list[Voice]],
    responses=error_responses(),
    summary="List voices",
)
async def list_voices(
    request: Request, caller: CallerDep, settings: SettingsDep
) -> Envelope[list[Voice]]:
    return ok(request, [Voice.of(voice) for voice in catalogue.list_voices(settings)])


@router.get(
    "/{voice_id}",
    response_model=Envelope[Voice],
    responses=error_responses(404),
    summary="Get a voice",
)
async def get_voice(
    request: Request, caller: CallerDep, settings: SettingsDep, voice_id: str
) -> Envelope[Voice]:
    return ok(request, Voice.of(catalogue.get_voice(voice_id, settings)))
