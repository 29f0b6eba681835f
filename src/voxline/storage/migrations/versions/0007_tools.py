"""Tools: HTTP tools an organization defines, and the tools each agent enables (issue #14).

``tools.definition`` is JSON with each static header value sealed (see ``storage.tables``).
``agent_tools`` keeps an agent's tools in order; its key to ``tools`` is ``RESTRICT`` so a tool
in use cannot be deleted, and a check makes each row either a tool or a built-in.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06 02:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_ID = sa.String(length=36)


def upgrade() -> None:
    op.create_table(
        "tools",
        sa.Column("id", _ID, nullable=False),
        sa.Column("organization_id", _ID, nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("definition", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name="fk_tools_organization_id_organizations",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_tools"),
    )
    op.create_index(
        "ix_tools_organization_id_created_at", "tools", ["organization_id", "created_at"]
    )
    op.create_table(
        "agent_tools",
        sa.Column("agent_id", _ID, nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("tool_id", _ID, nullable=True),
        sa.Column("builtin", sa.String(length=40), nullable=True),
        sa.Column("overrides", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["agent_id"],
            ["agents.id"],
            name="fk_agent_tools_agent_id_agents",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tool_id"],
            ["tools.id"],
            name="fk_agent_tools_tool_id_tools",
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("agent_id", "position", name="pk_agent_tools"),
        sa.UniqueConstraint("agent_id", "tool_id", name="uq_agent_tools_agent_id_tool_id"),
        sa.UniqueConstraint("agent_id", "builtin", name="uq_agent_tools_agent_id_builtin"),
        sa.CheckConstraint(
            "(tool_id IS NULL) <> (builtin IS NULL)", name="ck_agent_tools_tool_or_builtin"
        ),
    )
    op.create_index("ix_agent_tools_tool_id", "agent_tools", ["tool_id"])


def downgrade() -> None:
    op.drop_table("agent_tools")
    op.drop_table("tools")
