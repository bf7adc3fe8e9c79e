"""followup: next steps, stage changes, deals, activity, saved audiences

Revision ID: 0006
Revises: 0004
Create Date: 2026-11-24
"""

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision = "0006"
down_revision = "0004"
branch_labels = None
depends_on = None

_str = sqlmodel.sql.sqltypes.AutoString
_dt = sqlmodel.sql.sqltypes.UTCDateTime


def upgrade() -> None:
    op.create_table(
        "audience",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("owner", _str(length=200), nullable=False),
        sa.Column("name", _str(length=200), nullable=False),
        sa.Column("filters", sa.JSON(), nullable=False),
        sa.Column("created_at", _dt(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("owner", "name", name="uq_audience_owner_name"),
    )
    op.create_table(
        "activity",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", _dt(), nullable=False),
        sa.Column("lead_id", sa.Integer(), nullable=False),
        sa.Column("kind", _str(length=20), nullable=False),
        sa.Column("by", _str(), nullable=True),
        sa.Column("contact", sa.Boolean(), nullable=False),
        sa.Column("text", _str(), nullable=True),
        sa.Column("message_pk", sa.Integer(), nullable=True),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["lead_id"], ["lead.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_activity_at"), "activity", ["at"], unique=False)
    op.create_index(op.f("ix_activity_lead_id"), "activity", ["lead_id"], unique=False)
    op.create_table(
        "deal",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("lead_id", sa.Integer(), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=True),
        sa.Column("team", _str(), nullable=True),
        sa.Column("stage", _str(), nullable=False),
        sa.Column("outcome", _str(length=20), nullable=False),
        sa.Column("value", sa.Integer(), nullable=True),
        sa.Column("expected_close", sa.Date(), nullable=True),
        sa.Column("created_at", _dt(), nullable=False),
        sa.Column("closed_at", _dt(), nullable=True),
        sa.Column("by", _str(), nullable=True),
        sa.ForeignKeyConstraint(["lead_id"], ["lead.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_deal_lead_id"), "deal", ["lead_id"], unique=False)
    op.create_index(op.f("ix_deal_outcome"), "deal", ["outcome"], unique=False)
    op.create_table(
        "stagechange",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", _dt(), nullable=False),
        sa.Column("lead_id", sa.Integer(), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=True),
        sa.Column("deal_id", sa.Integer(), nullable=True),
        sa.Column("kind", _str(length=20), nullable=False),
        sa.Column("from_stage", _str(), nullable=True),
        sa.Column("to_stage", _str(), nullable=False),
        sa.Column("by", _str(), nullable=False),
        sa.ForeignKeyConstraint(["lead_id"], ["lead.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_stagechange_at"), "stagechange", ["at"], unique=False)
    op.create_index(op.f("ix_stagechange_lead_id"), "stagechange", ["lead_id"], unique=False)
    op.create_table(
        "step",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("lead_id", sa.Integer(), nullable=False),
        sa.Column("agent", _str(), nullable=False),
        sa.Column("plan", _str(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("name", _str(), nullable=False),
        sa.Column("contact", sa.Boolean(), nullable=False),
        sa.Column("template", _str(), nullable=True),
        sa.Column("due_at", _dt(), nullable=False),
        sa.Column("remind_at", _dt(), nullable=True),
        sa.Column("reminded_at", _dt(), nullable=True),
        sa.Column("status", _str(length=20), nullable=False),
        sa.Column("created_at", _dt(), nullable=False),
        sa.Column("done_at", _dt(), nullable=True),
        sa.Column("done_by", _str(), nullable=True),
        sa.Column("via", _str(length=20), nullable=True),
        sa.ForeignKeyConstraint(["lead_id"], ["lead.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    for column in ("agent", "due_at", "lead_id", "remind_at", "status"):
        op.create_index(op.f(f"ix_step_{column}"), "step", [column], unique=False)


def downgrade() -> None:
    for column in ("agent", "due_at", "lead_id", "remind_at", "status"):
        op.drop_index(op.f(f"ix_step_{column}"), table_name="step")
    op.drop_table("step")
    op.drop_index(op.f("ix_stagechange_lead_id"), table_name="stagechange")
    op.drop_index(op.f("ix_stagechange_at"), table_name="stagechange")
    op.drop_table("stagechange")
    op.drop_index(op.f("ix_deal_outcome"), table_name="deal")
    op.drop_index(op.f("ix_deal_lead_id"), table_name="deal")
    op.drop_table("deal")
    op.drop_index(op.f("ix_activity_lead_id"), table_name="activity")
    op.drop_index(op.f("ix_activity_at"), table_name="activity")
    op.drop_table("activity")
    op.drop_table("audience")
