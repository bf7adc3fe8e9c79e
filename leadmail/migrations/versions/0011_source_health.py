"""source health: lead.provider_at/provider_clock, sourcehealth, sourcesample, sourceday

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01
"""

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("lead", schema=None) as batch_op:
        batch_op.add_column(sa.Column("provider_at", sqlmodel.sql.sqltypes.UTCDateTime(),
                                      nullable=True))
        batch_op.add_column(
            sa.Column("provider_clock", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=True)
        )
    op.create_table(
        "sourcehealth",
        sa.Column("source", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("state", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=True),
        sa.Column("episode", sa.Integer(), nullable=False),
        sa.Column("since", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("last_good_message", sqlmodel.sql.sqltypes.AutoString(length=998),
                  nullable=True),
        sa.Column("first_bad_message", sqlmodel.sql.sqltypes.AutoString(length=998),
                  nullable=True),
        sa.Column("last_seen", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("source"),
    )
    op.create_table(
        "sourcesample",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("message_pk", sa.Integer(), nullable=True),
        sa.Column("message_id", sqlmodel.sql.sqltypes.AutoString(length=998), nullable=True),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("fallback", sa.Boolean(), nullable=False),
        sa.Column("filled", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_sourcesample_source", "sourcesample", ["source"])
    op.create_table(
        "sourceday",
        sa.Column("source", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("mails", sa.Integer(), nullable=False),
        sa.Column("leads", sa.Integer(), nullable=False),
        sa.Column("review", sa.Integer(), nullable=False),
        sa.Column("fallback", sa.Integer(), nullable=False),
        sa.Column("quarantined", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("source", "day"),
    )


def downgrade() -> None:
    op.drop_table("sourceday")
    op.drop_index("ix_sourcesample_source", table_name="sourcesample")
    op.drop_table("sourcesample")
    op.drop_table("sourcehealth")
    with op.batch_alter_table("lead", schema=None) as batch_op:
        batch_op.drop_column("provider_clock")
        batch_op.drop_column("provider_at")
