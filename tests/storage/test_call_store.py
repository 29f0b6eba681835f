"""The call store is the one writer of ``calls``: no other module of Voxline writes the table.

The scan reads the source of ``src/voxline`` for SQLAlchemy write statements on ``calls``
(``calls.insert()``, ``calls.update()``, ``calls.delete()`` and ``sa.insert(calls)``,
``update(calls)``, ``delete(calls)``) and for raw SQL writing it. Alembic migrations change
the schema and are left out.
"""

from __future__ import annotations

import re
from pathlib import Path

import voxline

SOURCE = Path(voxline.__file__).parent
STORE = SOURCE / "storage" / "calls.py"
MIGRATIONS = SOURCE / "storage" / "migrations"

_WRITES = re.compile(
    r"(?<![\w.])calls\s*\.\s*(?:insert|update|delete)\s*\("
    r"|\b(?:insert|update|delete)\s*\(\s*calls\b(?!\w)"
    r"|\b(?:INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+calls\b(?!\w)",
    re.IGNORECASE,
)


def writes_of_calls(text: str) -> list[str]:
    """The lines of ``text`` that write the ``calls`` table."""
    return [line.strip() for line in text.splitlines() if _WRITES.search(line)]


def _writers() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for path in sorted(SOURCE.rglob("*.py")):
        if path == STORE or MIGRATIONS in path.parents:
            continue
        lines = writes_of_calls(path.read_text(encoding="utf-8"))
        if lines:
            found[str(path.relative_to(SOURCE))] = lines
    return found


def test_only_the_call_store_writes_calls() -> None:
    assert _writers() == {}


def test_the_call_store_does_write_calls() -> None:
    assert writes_of_calls(STORE.read_text(encoding="utf-8"))


def test_the_scan_catches_every_spelling_of_a_write() -> None:
    offending = """
        await conn.execute(calls.update().where(calls.c.id == call_id).values(status="x"))
        await conn.execute(calls.insert().values(id=call_id))
        await conn.execute(calls.delete().where(calls.c.id.in_(ids)))
        await conn.execute(sa.insert(calls).values(id=call_id))
        await conn.execute(sa.update(calls).values(status="x"))
        await conn.execute(sa.delete(calls))
        await conn.execute(sa.text("UPDATE calls SET status = 'x'"))
        await conn.execute(sa.text("delete from calls"))
    """
    assert len(writes_of_calls(offending)) == 8


def test_the_scan_leaves_other_tables_and_reads_alone() -> None:
    innocent = """
        await conn.execute(transcript_turns.delete().where(transcript_turns.c.call_id == i))
        await conn.execute(phone_calls.update().values(x=1))
        await conn.execute(sa.select(calls).where(calls.c.id == call_id))
        await conn.execute(sa.update(calls_archive).values(x=1))
        update(call_settings)
    """
    assert writes_of_calls(innocent) == []
