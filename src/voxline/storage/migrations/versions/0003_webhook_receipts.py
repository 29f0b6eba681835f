"""Webhook receipts: provider events already applied, so a replayed one changes nothing.

One row per (provider, event key), the key being Telnyx's event id or a digest of what a
Twilio or Plivo callback signed. The application prunes rows past their retention.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02 12:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "webhook_receipts",
        sa.Column("provider", sa.String(length=20), nullable=False),
        sa.Column("event_key", sa.String(length=64), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("provider", "event_key", name="pk_webhook_receipts"),
    )
    op.create_index("ix_webhook_receipts_received_at", "webhook_receipts", ["received_at"])


def downgrade() -> None:
    op.drop_index("ix_webhook_receipts_received_at", table_name="webhook_receipts")
    op.drop_table("webhook_receipts")
