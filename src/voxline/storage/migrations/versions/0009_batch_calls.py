"""Batch calls (campaigns): ``batch_calls``, ``batch_contacts`` and ``calls.batch_contact_id``.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06 04:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_ID = sa.String(length=36)
_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    # A plain ADD COLUMN: SQLite's batch mode would rebuild ``calls`` without its triggers.
    op.add_column("calls", sa.Column("batch_contact_id", _ID, nullable=True))
    op.create_table(
        "batch_calls",
        sa.Column("id", _ID, nullable=False),
        sa.Column("organization_id", _ID, nullable=False),
        sa.Column("agent_id", _ID, nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("phone_number_ids", sa.JSON(), nullable=False),
        sa.Column("phone_rotation_strategy", sa.String(length=20), nullable=False),
        sa.Column("contact_source", sa.String(length=20), nullable=False),
        sa.Column("contact_folder_id", _ID, nullable=True),
        sa.Column("schedule_type", sa.String(length=20), nullable=False),
        sa.Column("scheduled_at", _TIME, nullable=True),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("start_time", sa.String(length=5), nullable=True),
        sa.Column("end_time", sa.String(length=5), nullable=True),
        sa.Column("working_days", sa.JSON(), nullable=False),
        sa.Column("max_concurrent_calls", sa.Integer(), nullable=False),
        sa.Column("max_calls_per_day", sa.Integer(), nullable=True),
        sa.Column("retry_failed", sa.Boolean(), nullable=False),
        sa.Column("max_retry_attempts", sa.Integer(), nullable=False),
        sa.Column("retry_policy", sa.JSON(), nullable=False),
        sa.Column("calls_per_second", sa.Float(), nullable=False),
        sa.Column("pacing", sa.JSON(), nullable=False),
        sa.Column("dialed", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("day", sa.String(length=10), nullable=True),
        sa.Column("day_count", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("paused_at", _TIME, nullable=True),
        sa.Column("resumed_at", _TIME, nullable=True),
        sa.Column("completed_at", _TIME, nullable=True),
        sa.Column("created_at", _TIME, nullable=False),
        sa.Column("updated_at", _TIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name="fk_batch_calls_organization_id_organizations",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_batch_calls"),
    )
    op.create_index(
        "ix_batch_calls_organization_id_created_at",
        "batch_calls",
        ["organization_id", "created_at"],
    )
    op.create_index("ix_batch_calls_status", "batch_calls", ["status"])
    op.create_table(
        "batch_contacts",
        sa.Column("id", _ID, nullable=False),
        sa.Column("batch_id", _ID, nullable=False),
        sa.Column("organization_id", _ID, nullable=False),
        sa.Column("contact_id", _ID, nullable=True),
        sa.Column("phone_number", sa.String(length=16), nullable=False),
        sa.Column("first_name", sa.String(length=100), nullable=True),
        sa.Column("last_name", sa.String(length=100), nullable=True),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("timezone", sa.String(length=64), nullable=True),
        sa.Column("custom_fields", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("next_attempt_at", _TIME, nullable=True),
        sa.Column("last_call_id", _ID, nullable=True),
        sa.Column("last_outcome", sa.String(length=30), nullable=True),
        sa.Column("phone_number_id", _ID, nullable=True),
        sa.Column("called_at", _TIME, nullable=True),
        sa.Column("created_at", _TIME, nullable=False),
        sa.Column("updated_at", _TIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["batch_id"],
            ["batch_calls.id"],
            name="fk_batch_contacts_batch_id_batch_calls",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_batch_contacts"),
        sa.UniqueConstraint(
            "batch_id", "phone_number", name="uq_batch_contacts_batch_id_phone_number"
        ),
    )
    op.create_index(
        "ix_batch_contacts_batch_id_status_next_attempt_at",
        "batch_contacts",
        ["batch_id", "status", "next_attempt_at"],
    )
    op.create_index(
        "ix_batch_contacts_batch_id_created_at_id",
        "batch_contacts",
        ["batch_id", "created_at", "id"],
    )


def downgrade() -> None:
    op.drop_table("batch_contacts")
    op.drop_table("batch_calls")
    with op.batch_alter_table("calls") as batch:
        batch.drop_column("batch_contact_id")
