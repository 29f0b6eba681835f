"""Request bodies of ``/sandbox``."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, StrictStr

from voxline.api.schemas.calls import Phone
from voxline.telephony.sandbox.personas import CALLER_BEHAVIOURS, DEFAULT_CALLER


class CallInRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    to_number: Phone = Field(description="One of your organization's sandbox numbers, E.164")
    persona: StrictStr | None = Field(
        default=None,
        max_length=40,
        description=(
            "Who calls: "
            + ", ".join(b.value for b in CALLER_BEHAVIOURS)
            + f" (default {DEFAULT_CALLER.value})"
        ),
    )
