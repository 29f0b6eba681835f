"""Initial schema: organizations, keys, agents, telephony, calls, transcripts, credits.

Revision ID: 0001
Revises: (none)
Create Date: 2026-11-25 14:29:10.401261
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "organizations",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("credit_balance_micros", sa.BigInteger(), nullable=False),
        sa.Column("concurrency_limit", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_organizations")),
    )
    op.create_table(
        "rate_limit_windows",
        sa.Column("organization_id", sa.String(length=36), nullable=False),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(
            "organization_id", "window_start", name=op.f("pk_rate_limit_windows")
        ),
    )
    op.create_table(
        "agents",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("organization_id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("system_prompt", sa.Text(), nullable=False),
        sa.Column("greeting", sa.Text(), nullable=True),
        sa.Column("model", sa.String(length=200), nullable=False),
        sa.Column("voice_id", sa.String(length=100), nullable=True),
        sa.Column("temperature", sa.Float(), nullable=False),
        sa.Column("language_hint", sa.String(length=35), nullable=True),
        sa.Column("recording_enabled", sa.Boolean(), nullable=False),
        sa.Column("join_timeout_seconds", sa.Float(), nullable=False),
        sa.Column("max_duration_seconds", sa.Float(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_agents_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agents")),
    )
    with op.batch_alter_table("agents", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_agents_organization_id_created_at"),
            ["organization_id", "created_at"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_agents_organization_id_status_created_at"),
            ["organization_id", "status", "created_at"],
            unique=False,
        )

    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("organization_id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=True),
        sa.Column("prefix", sa.String(length=32), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_api_keys_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_api_keys_key_hash")),
    )
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_api_keys_organization_id"), ["organization_id"], unique=False
        )

    op.create_table(
        "calls",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("organization_id", sa.String(length=36), nullable=False),
        sa.Column("agent_id", sa.String(length=36), nullable=False),
        sa.Column("direction", sa.String(length=10), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("phone_number", sa.String(length=16), nullable=False),
        sa.Column("from_number", sa.String(length=16), nullable=True),
        sa.Column("phone_number_id", sa.String(length=36), nullable=True),
        sa.Column("provider_type", sa.String(length=20), nullable=True),
        sa.Column("provider_call_id", sa.String(length=100), nullable=True),
        sa.Column("variables", sa.JSON(), nullable=False),
        sa.Column("settings", sa.JSON(), nullable=False),
        sa.Column("context", sa.JSON(), nullable=False),
        sa.Column("end_reason", sa.String(length=30), nullable=True),
        sa.Column("answered_by", sa.String(length=10), nullable=True),
        sa.Column("summary", sa.Text(), nullable=True),
        sa.Column("recording_path", sa.String(length=500), nullable=True),
        sa.Column("provider_recording_url", sa.Text(), nullable=True),
        sa.Column("metrics", sa.JSON(), nullable=True),
        sa.Column("cost_micros", sa.BigInteger(), nullable=True),
        sa.Column("duration_seconds", sa.Integer(), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("not_before", sa.DateTime(timezone=True), nullable=True),
        sa.Column("deadline_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lease_owner", sa.String(length=100), nullable=True),
        sa.Column("lease_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("placement_state", sa.String(length=20), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("finalized_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_calls_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_calls")),
    )
    with op.batch_alter_table("calls", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_calls_organization_id_agent_id_created_at"),
            ["organization_id", "agent_id", "created_at"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_calls_organization_id_created_at_id"),
            ["organization_id", "created_at", "id"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_calls_organization_id_direction_created_at"),
            ["organization_id", "direction", "created_at"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_calls_organization_id_status_created_at"),
            ["organization_id", "status", "created_at"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_calls_provider_type_provider_call_id"),
            ["provider_type", "provider_call_id"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_calls_status_deadline_at"), ["status", "deadline_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_calls_status_not_before"), ["status", "not_before"], unique=False
        )

    op.create_table(
        "credit_ledger",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("organization_id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("amount_micros", sa.BigInteger(), nullable=False),
        sa.Column("balance_after_micros", sa.BigInteger(), nullable=False),
        sa.Column("call_id", sa.String(length=36), nullable=True),
        sa.Column("note", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_credit_ledger_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_credit_ledger")),
        sa.UniqueConstraint("call_id", name=op.f("uq_credit_ledger_call_id")),
    )
    with op.batch_alter_table("credit_ledger", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_credit_ledger_organization_id_created_at"),
            ["organization_id", "created_at"],
            unique=False,
        )

    op.create_table(
        "idempotency_records",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("organization_id", sa.String(length=36), nullable=False),
        sa.Column("endpoint", sa.String(length=100), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("response_body", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_idempotency_records_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_idempotency_records")),
        sa.UniqueConstraint(
            "organization_id",
            "endpoint",
            "key",
            name=op.f("uq_idempotency_records_organization_id_endpoint_key"),
        ),
    )
    with op.batch_alter_table("idempotency_records", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_idempotency_records_expires_at"), ["expires_at"], unique=False
        )

    op.create_table(
        "telephony_credentials",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("organization_id", sa.String(length=36), nullable=False),
        sa.Column("provider_type", sa.String(length=20), nullable=False),
        sa.Column("friendly_name", sa.String(length=200), nullable=True),
        sa.Column("public_fields", sa.JSON(), nullable=False),
        sa.Column("secrets_encrypted", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_telephony_credentials_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_telephony_credentials")),
    )
    with op.batch_alter_table("telephony_credentials", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_telephony_credentials_organization_id"),
            ["organization_id"],
            unique=False,
        )

    op.create_table(
        "phone_numbers",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("organization_id", sa.String(length=36), nullable=False),
        sa.Column("phone_number", sa.String(length=16), nullable=False),
        sa.Column("provider_type", sa.String(length=20), nullable=False),
        sa.Column("credential_id", sa.String(length=36), nullable=True),
        sa.Column("provider_number_id", sa.String(length=100), nullable=True),
        sa.Column("friendly_name", sa.String(length=200), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("is_managed", sa.Boolean(), nullable=False),
        sa.Column("inbound_agent_id", sa.String(length=36), nullable=True),
        sa.Column("outbound_agent_id", sa.String(length=36), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["credential_id"],
            ["telephony_credentials.id"],
            name=op.f("fk_phone_numbers_credential_id_telephony_credentials"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["inbound_agent_id"],
            ["agents.id"],
            name=op.f("fk_phone_numbers_inbound_agent_id_agents"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_phone_numbers_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["outbound_agent_id"],
            ["agents.id"],
            name=op.f("fk_phone_numbers_outbound_agent_id_agents"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_phone_numbers")),
        sa.UniqueConstraint("phone_number", name=op.f("uq_phone_numbers_phone_number")),
    )
    with op.batch_alter_table("phone_numbers", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_phone_numbers_inbound_agent_id"), ["inbound_agent_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_phone_numbers_organization_id_created_at"),
            ["organization_id", "created_at"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_phone_numbers_outbound_agent_id"), ["outbound_agent_id"], unique=False
        )

    op.create_table(
        "transcript_turns",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("call_id", sa.String(length=36), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("speaker", sa.String(length=10), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("timestamp", sa.Float(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["call_id"],
            ["calls.id"],
            name=op.f("fk_transcript_turns_call_id_calls"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_transcript_turns")),
        sa.UniqueConstraint("call_id", "seq", name=op.f("uq_transcript_turns_call_id_seq")),
    )


def downgrade() -> None:
    op.drop_table("transcript_turns")
    with op.batch_alter_table("phone_numbers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_phone_numbers_outbound_agent_id"))
        batch_op.drop_index(batch_op.f("ix_phone_numbers_organization_id_created_at"))
        batch_op.drop_index(batch_op.f("ix_phone_numbers_inbound_agent_id"))

    op.drop_table("phone_numbers")
    with op.batch_alter_table("telephony_credentials", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_telephony_credentials_organization_id"))

    op.drop_table("telephony_credentials")
    with op.batch_alter_table("idempotency_records", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_idempotency_records_expires_at"))

    op.drop_table("idempotency_records")
    with op.batch_alter_table("credit_ledger", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_credit_ledger_organization_id_created_at"))

    op.drop_table("credit_ledger")
    with op.batch_alter_table("calls", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_calls_status_not_before"))
        batch_op.drop_index(batch_op.f("ix_calls_status_deadline_at"))
        batch_op.drop_index(batch_op.f("ix_calls_provider_type_provider_call_id"))
        batch_op.drop_index(batch_op.f("ix_calls_organization_id_status_created_at"))
        batch_op.drop_index(batch_op.f("ix_calls_organization_id_direction_created_at"))
        batch_op.drop_index(batch_op.f("ix_calls_organization_id_created_at_id"))
        batch_op.drop_index(batch_op.f("ix_calls_organization_id_agent_id_created_at"))

    op.drop_table("calls")
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_api_keys_organization_id"))

    op.drop_table("api_keys")
    with op.batch_alter_table("agents", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_agents_organization_id_status_created_at"))
        batch_op.drop_index(batch_op.f("ix_agents_organization_id_created_at"))

    op.drop_table("agents")
    op.drop_table("rate_limit_windows")
    op.drop_table("organizations")
