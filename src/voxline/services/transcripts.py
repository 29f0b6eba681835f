"""Writing a call's transcript turn by turn."""

from __future__ import annotations

import sqlalchemy as sa

from voxline.domain.summary import Turn
from voxline.storage.db import Database
from voxline.storage.tables import transcript_turns
from voxline.storage.types import utcnow


class CallTranscript:
    """Appends turns of one call as they happen (one short transaction each)."""

    def __init__(self, db: Database, call_id: str, *, enabled: bool) -> None:
        self._db = db
        self._call_id = call_id
        self._enabled = enabled
        self._seq = 0

    async def add(self, speaker: str, text: str, timestamp: float) -> None:
        if not self._enabled or not text.strip():
            return
        # The turn's place is taken before the write, so turns added at the same time (the
        # listener and the media clock) keep distinct, ordered positions.
        seq, self._seq = self._seq, self._seq + 1
        async with self._db.write() as conn:
            await conn.execute(
                transcript_turns.insert().values(
                    call_id=self._call_id,
                    seq=seq,
                    speaker=speaker,
                    text=text,
                    timestamp=timestamp,
                    created_at=utcnow(),
                )
            )


async def load_turns(db: Database, call_id: str) -> list[Turn]:
    async with db.read() as conn:
        rows = (
            await conn.execute(
                sa.select(
                    transcript_turns.c.speaker,
                    transcript_turns.c.text,
                    transcript_turns.c.timestamp,
                )
                .where(transcript_turns.c.call_id == call_id)
                .order_by(transcript_turns.c.seq)
            )
        ).all()
    return [Turn(r.speaker, r.text, r.timestamp) for r in rows]
