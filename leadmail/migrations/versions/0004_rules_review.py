"""lead: pond, location, team, requested agent, review reason

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23
"""

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

COLUMNS = ("pond", "location", "team", "requested_agent", "review_reason")


def upgrade() -> None:
    with op.batch_alter_table("lead", schema=None) as batch_op:
        for name in COLUMNS:
            batch_op.add_column(sa.Column(name, sqlmodel.sql.sqltypes.AutoString(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("lead", schema=None) as batch_op:
        for name in reversed(COLUMNS):
            batch_op.drop_column(name)
