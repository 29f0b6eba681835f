"""Telnyx's side of Voxline: event callbacks, inbound calls and the media stream."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(include_in_schema=False)
