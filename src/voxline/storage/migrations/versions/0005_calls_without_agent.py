"""An inbound call no agent took has no agent: ``calls.agent_id`` becomes nullable.

Until now such a call was stored under the nil UUID as its agent. It is stored with a null
``agent_id`` from now on, and the calls stored so are changed to null.

The ``call_counts`` groups (migration 0002) keep a non-null key: their triggers count a
call without an agent under the nil UUID, which no agent has, so totals stay exact and the
existing counter rows of such calls stay right (changing their ``agent_id`` to null moves
them from the nil group to the nil group: the update trigger now sums the changes of one
group before its upsert, which may not touch a row twice).

On SQLite the table is rebuilt to drop the NOT NULL (Alembic's batch mode, foreign keys not
enforced during migrations), which drops its triggers: they are created again afterwards.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 14:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

NO_AGENT = "00000000-0000-0000-0000-000000000000"
_KEY = "organization_id, agent_id, direction, status"


def _postgres_functions(agent: str) -> list[str]:
    """The counting functions of 0002, with ``agent`` as the group's agent expression."""
    columns = f"organization_id, {agent} AS agent_id, direction, status"
    return [
        f"""
        CREATE OR REPLACE FUNCTION call_counts_after_insert() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            INSERT INTO call_counts AS c ({_KEY}, n)
            SELECT {columns}, count(*) FROM new_calls GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
            ON CONFLICT ({_KEY}) DO UPDATE SET n = c.n + EXCLUDED.n;
            RETURN NULL;
        END $$
        """,
        f"""
        CREATE OR REPLACE FUNCTION call_counts_after_delete() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            INSERT INTO call_counts AS c ({_KEY}, n)
            SELECT {columns}, -count(*) FROM old_calls GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
            ON CONFLICT ({_KEY}) DO UPDATE SET n = c.n + EXCLUDED.n;
            RETURN NULL;
        END $$
        """,
        f"""
        CREATE OR REPLACE FUNCTION call_counts_after_update() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            INSERT INTO call_counts AS c ({_KEY}, n)
            SELECT {_KEY}, sum(n) FROM (VALUES
                (OLD.organization_id, {agent.replace("agent_id", "OLD.agent_id")},
                 OLD.direction, OLD.status, -1),
                (NEW.organization_id, {agent.replace("agent_id", "NEW.agent_id")},
                 NEW.direction, NEW.status, 1)
            ) AS change ({_KEY}, n)
            GROUP BY {_KEY}
            ORDER BY {_KEY}
            ON CONFLICT ({_KEY}) DO UPDATE SET n = c.n + EXCLUDED.n;
            RETURN NULL;
        END $$
        """,
    ]


def _sqlite_add(row: str, delta: int, agent: str) -> str:
    values = f"{row}.organization_id, {agent.replace('agent_id', f'{row}.agent_id')}, "
    values += f"{row}.direction, {row}.status"
    return (
        f"INSERT INTO call_counts ({_KEY}, n) VALUES ({values}, {delta}) "
        f"ON CONFLICT ({_KEY}) DO UPDATE SET n = n + excluded.n;"
    )


def _sqlite_triggers(agent: str) -> list[str]:
    return [
        f"""
        CREATE TRIGGER calls_count_insert AFTER INSERT ON calls
        BEGIN {_sqlite_add("NEW", 1, agent)} END
        """,
        f"""
        CREATE TRIGGER calls_count_delete AFTER DELETE ON calls
        BEGIN {_sqlite_add("OLD", -1, agent)} END
        """,
        f"""
        CREATE TRIGGER calls_count_update
        AFTER UPDATE OF organization_id, agent_id, direction, status ON calls
        WHEN OLD.organization_id IS NOT NEW.organization_id
          OR OLD.agent_id IS NOT NEW.agent_id
          OR OLD.direction IS NOT NEW.direction
          OR OLD.status IS NOT NEW.status
        BEGIN {_sqlite_add("OLD", -1, agent)} {_sqlite_add("NEW", 1, agent)} END
        """,
    ]


_SQLITE_DROP = [
    "DROP TRIGGER IF EXISTS calls_count_update",
    "DROP TRIGGER IF EXISTS calls_count_delete",
    "DROP TRIGGER IF EXISTS calls_count_insert",
]

_COALESCED = f"COALESCE(agent_id, '{NO_AGENT}')"


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for statement in _SQLITE_DROP:
            op.execute(statement)
        with op.batch_alter_table("calls") as batch:
            batch.alter_column("agent_id", existing_type=sa.String(36), nullable=True)
        op.execute(f"UPDATE calls SET agent_id = NULL WHERE agent_id = '{NO_AGENT}'")
        for statement in _sqlite_triggers(_COALESCED):
            op.execute(statement)
        return
    for statement in _postgres_functions(_COALESCED):
        op.execute(statement)
    op.alter_column("calls", "agent_id", existing_type=sa.String(36), nullable=True)
    op.execute(f"UPDATE calls SET agent_id = NULL WHERE agent_id = '{NO_AGENT}'")


def downgrade() -> None:
    op.execute(f"UPDATE calls SET agent_id = '{NO_AGENT}' WHERE agent_id IS NULL")
    if op.get_bind().dialect.name == "sqlite":
        for statement in _SQLITE_DROP:
            op.execute(statement)
        with op.batch_alter_table("calls") as batch:
            batch.alter_column("agent_id", existing_type=sa.String(36), nullable=False)
        for statement in _sqlite_triggers("agent_id"):
            op.execute(statement)
        return
    op.alter_column("calls", "agent_id", existing_type=sa.String(36), nullable=False)
    for statement in _postgres_functions("agent_id"):
        op.execute(statement)
