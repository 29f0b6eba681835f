"""Contacts in folders, the do-not-call list, and the agents' ``dnc_on_request`` (issue #16).

A phone number is unique within a folder (``contacts``) and within an organization's
do-not-call list (``dnc_numbers``). ``agents.dnc_on_request`` defaults to false for the agents
that exist.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06 03:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_ID = sa.String(length=36)


def _organization_key(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["organization_id"],
        ["organizations.id"],
        name=f"fk_{table}_organization_id_organizations",
        ondelete="CASCADE",
    )


def upgrade() -> None:
    op.add_column(
        "agents",
        sa.Column("dnc_on_request", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.create_table(
        "contact_folders",
        sa.Column("id", _ID, nullable=False),
        sa.Column("organization_id", _ID, nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        _organization_key("contact_folders"),
        sa.PrimaryKeyConstraint("id", name="pk_contact_folders"),
    )
    op.create_index(
        "ix_contact_folders_organization_id_created_at",
        "contact_folders",
        ["organization_id", "created_at"],
    )
    op.create_table(
        "contacts",
        sa.Column("id", _ID, nullable=False),
        sa.Column("organization_id", _ID, nullable=False),
        sa.Column("folder_id", _ID, nullable=False),
        sa.Column("phone_number", sa.String(length=16), nullable=False),
        sa.Column("first_name", sa.String(length=100), nullable=True),
        sa.Column("last_name", sa.String(length=100), nullable=True),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("company_name", sa.String(length=255), nullable=True),
        sa.Column("industry", sa.String(length=100), nullable=True),
        sa.Column("location", sa.String(length=255), nullable=True),
        sa.Column("pin_code", sa.String(length=20), nullable=True),
        sa.Column("keywords", sa.Text(), nullable=True),
        sa.Column("timezone", sa.String(length=64), nullable=True),
        sa.Column("custom_fields", sa.JSON(), nullable=False),
        sa.Column("call_count", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("last_called_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_call_outcome", sa.String(length=30), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        _organization_key("contacts"),
        sa.ForeignKeyConstraint(
            ["folder_id"],
            ["contact_folders.id"],
            name="fk_contacts_folder_id_contact_folders",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_contacts"),
        sa.UniqueConstraint("folder_id", "phone_number", name="uq_contacts_folder_id_phone_number"),
    )
    op.create_index(
        "ix_contacts_organization_id_folder_id_created_at",
        "contacts",
        ["organization_id", "folder_id", "created_at"],
    )
    op.create_index(
        "ix_contacts_organization_id_created_at", "contacts", ["organization_id", "created_at"]
    )
    op.create_table(
        "dnc_numbers",
        sa.Column("id", _ID, nullable=False),
        sa.Column("organization_id", _ID, nullable=False),
        sa.Column("phone_number", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        _organization_key("dnc_numbers"),
        sa.PrimaryKeyConstraint("id", name="pk_dnc_numbers"),
        sa.UniqueConstraint(
            "organization_id", "phone_number", name="uq_dnc_numbers_organization_id_phone_number"
        ),
    )
    op.create_index(
        "ix_dnc_numbers_organization_id_created_at",
        "dnc_numbers",
        ["organization_id", "created_at"],
    )


def downgrade() -> None:
    op.drop_table("dnc_numbers")
    op.drop_table("contacts")
    op.drop_table("contact_folders")
    with op.batch_alter_table("agents") as batch:
        batch.drop_column("dnc_on_request")
