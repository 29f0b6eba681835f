"""Query parameters shared by the list endpoints."""

from __future__ import annotations

from typing import Annotated

from fastapi import Header, Query

from voxline.services.idempotency import MAX_KEY_LENGTH

# Far beyond any real page, and small enough for every database's OFFSET.
MAX_OFFSET = 2**31 - 1

PageLimit = Annotated[int, Query(ge=1, le=100, description="Page size (1-100)")]
PageOffset = Annotated[int, Query(ge=0, le=MAX_OFFSET, description="Items to skip")]

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="X-Idempotency-Key",
        min_length=1,
        max_length=MAX_KEY_LENGTH,
        description="Repeat a create safely: the same key and body return the first response",
    ),
]
