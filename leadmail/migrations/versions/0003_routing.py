"""routing: offers, timers, per-lead routing state, round-robin credits, assignment indexes

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_str = sqlmodel.sql.sqltypes.AutoString
_dt = sqlmodel.sql.sqltypes.UTCDateTime


def upgrade() -> None:
    op.create_table(
        "leadroute",
        sa.Column("lead_id", sa.Integer(), nullable=False),
        sa.Column("rule", _str(), nullable=False),
        sa.Column("pond", _str(), nullable=False),
        sa.Column("strategy", _str(), nullable=False),
        sa.Column("round", sa.Integer(), nullable=False),
        sa.Column("route", sa.JSON(), nullable=False),
        sa.Column("updated_at", _dt(), nullable=False),
        sa.ForeignKeyConstraint(["lead_id"], ["lead.id"]),
        sa.PrimaryKeyConstraint("lead_id"),
    )
    op.create_table(
        "offer",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("lead_id", sa.Integer(), nullable=False),
        sa.Column("round", sa.Integer(), nullable=False),
        sa.Column("kind", _str(length=20), nullable=False),
        sa.Column("agent", _str(), nullable=False),
        sa.Column("strategy", _str(), nullable=False),
        sa.Column("status", _str(length=20), nullable=False),
        sa.Column("created_at", _dt(), nullable=False),
        sa.Column("expires_at", _dt(), nullable=True),
        sa.Column("answered_at", _dt(), nullable=True),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["lead_id"], ["lead.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("offer", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_offer_agent"), ["agent"], unique=False)
        batch_op.create_index(batch_op.f("ix_offer_lead_id"), ["lead_id"], unique=False)

    op.create_table(
        "timer",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("lead_id", sa.Integer(), nullable=False),
        sa.Column("kind", _str(length=20), nullable=False),
        sa.Column("round", sa.Integer(), nullable=False),
        sa.Column("offer_id", sa.Integer(), nullable=True),
        sa.Column("due_at", _dt(), nullable=False),
        sa.Column("status", _str(length=20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", _str(), nullable=True),
        sa.Column("created_at", _dt(), nullable=False),
        sa.Column("fired_at", _dt(), nullable=True),
        sa.ForeignKeyConstraint(["lead_id"], ["lead.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("timer", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_timer_due_at"), ["due_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_timer_lead_id"), ["lead_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_timer_status"), ["status"], unique=False)

    with op.batch_alter_table("assignment", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_assignment_agent"), ["agent"], unique=False)
        batch_op.create_index(batch_op.f("ix_assignment_created_at"), ["created_at"], unique=False)

    with op.batch_alter_table("routingstate", schema=None) as batch_op:
        # Existing rows start with no credits: the rotation begins afresh, in config order.
        batch_op.add_column(
            sa.Column("credits", sa.JSON(), nullable=False, server_default=sa.text("'{}'"))
        )


def downgrade() -> None:
    with op.batch_alter_table("routingstate", schema=None) as batch_op:
        batch_op.drop_column("credits")
    with op.batch_alter_table("assignment", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_assignment_created_at"))
        batch_op.drop_index(batch_op.f("ix_assignment_agent"))
    with op.batch_alter_table("timer", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_timer_status"))
        batch_op.drop_index(batch_op.f("ix_timer_lead_id"))
        batch_op.drop_index(batch_op.f("ix_timer_due_at"))
    op.drop_table("timer")
    with op.batch_alter_table("offer", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_offer_lead_id"))
        batch_op.drop_index(batch_op.f("ix_offer_agent"))
    op.drop_table("offer")
    op.drop_table("leadroute")
