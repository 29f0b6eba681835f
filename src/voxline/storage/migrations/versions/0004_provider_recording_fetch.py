"""Fetching the provider's recording is a finalizer step with its own schedule.

``provider_recording_due_at`` is when the next finalizer round may ask the call's provider
for its recording (set when the call is finalized, cleared once the recording is cached or
there is nothing more to ask); ``provider_recording_attempts`` counts the questions asked,
so the step stops after a bounded number.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 13:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "calls", sa.Column("provider_recording_due_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.add_column(
        "calls",
        sa.Column("provider_recording_attempts", sa.Integer(), nullable=False, server_default="0"),
    )
    op.create_index("ix_calls_provider_recording_due_at", "calls", ["provider_recording_due_at"])


def downgrade() -> None:
    op.drop_index("ix_calls_provider_recording_due_at", table_name="calls")
    with op.batch_alter_table("calls") as batch:
        batch.drop_column("provider_recording_attempts")
        batch.drop_column("provider_recording_due_at")
