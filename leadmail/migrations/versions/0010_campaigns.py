"""campaigns: a lead's campaign runs and their steps, the suppression list

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01
"""

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

_str = sqlmodel.sql.sqltypes.AutoString
_dt = sqlmodel.sql.sqltypes.UTCDateTime


def upgrade() -> None:
    op.create_table(
        "campaignrun",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("lead_id", sa.Integer(), nullable=False),
        sa.Column("campaign", _str(length=100), nullable=False),
        sa.Column("agent", _str(), nullable=True),
        sa.Column("status", _str(length=20), nullable=False),
        sa.Column("started_at", _dt(), nullable=False),
        sa.Column("stopped_at", _dt(), nullable=True),
        sa.Column("stop_reason", _str(length=50), nullable=True),
        sa.Column("stop_detail", _str(length=500), nullable=True),
        sa.ForeignKeyConstraint(["lead_id"], ["lead.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("lead_id", "campaign", name="uq_campaignrun_lead"),
    )
    op.create_index(op.f("ix_campaignrun_lead_id"), "campaignrun", ["lead_id"], unique=False)
    op.create_index(op.f("ix_campaignrun_status"), "campaignrun", ["status"], unique=False)
    op.create_table(
        "campaignstep",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("lead_id", sa.Integer(), nullable=False),
        sa.Column("campaign", _str(length=100), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("channel", _str(length=20), nullable=False),
        sa.Column("template", _str(length=100), nullable=False),
        sa.Column("due_at", _dt(), nullable=False),
        sa.Column("status", _str(length=20), nullable=False),
        sa.Column("reason", _str(length=500), nullable=True),
        sa.Column("outbox_key", _str(length=200), nullable=True),
        sa.Column("sent_at", _dt(), nullable=True),
        sa.Column("created_at", _dt(), nullable=False),
        sa.ForeignKeyConstraint(["run_id"], ["campaignrun.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("lead_id", "campaign", "position", name="uq_campaignstep_lead"),
    )
    for column in ("run_id", "lead_id", "due_at", "status"):
        op.create_index(op.f(f"ix_campaignstep_{column}"), "campaignstep", [column], unique=False)
    op.create_table(
        "suppression",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", _str(length=20), nullable=False),
        sa.Column("value", _str(length=320), nullable=False),
        sa.Column("reason", _str(length=50), nullable=False),
        sa.Column("lead_id", sa.Integer(), nullable=True),
        sa.Column("at", _dt(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("kind", "value", name="uq_suppression_value"),
    )


def downgrade() -> None:
    op.drop_table("suppression")
    for column in ("status", "due_at", "lead_id", "run_id"):
        op.drop_index(op.f(f"ix_campaignstep_{column}"), table_name="campaignstep")
    op.drop_table("campaignstep")
    op.drop_index(op.f("ix_campaignrun_status"), table_name="campaignrun")
    op.drop_index(op.f("ix_campaignrun_lead_id"), table_name="campaignrun")
    op.drop_table("campaignrun")
