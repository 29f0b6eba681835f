"""Routes for telephony."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["telephony"])
