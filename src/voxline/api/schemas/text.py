"""Strings the database can store exactly, for any text field of a request.

JSON may carry a NUL character or a lone UTF-16 surrogate (``"\\u0000"``, ``"\\ud800"``).
PostgreSQL refuses the first and neither backend can encode the second, so such a value would
fail at write time as a 500. :data:`StoredText` rejects it up front as a 422 naming the field.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator

_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def storable(value: str) -> str:
    if _UNSTORABLE.search(value):
        raise ValueError("must not contain NUL characters or unpaired surrogates")
    return value


StoredText = Annotated[str, AfterValidator(storable)]
