"""``calls.recording_pruned_at``: when the retention policy deleted the call's recording.

A call whose recording was pruned answers ``GET /calls/{id}/recording`` (and its signed file
URL) with 410 Gone instead of the 404 of a call that never had a recording.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06 08:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A plain ADD COLUMN: SQLite's batch mode would rebuild ``calls`` without its triggers.
    op.add_column("calls", sa.Column("recording_pruned_at", sa.DateTime(timezone=True)))


def downgrade() -> None:
    with op.batch_alter_table("calls") as batch:
        batch.drop_column("recording_pruned_at")
