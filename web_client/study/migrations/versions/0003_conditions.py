"""Conditions: each participant's condition and join number, and each study's assignment seed
and count of joins (the number the next participant gets, taken with the insert).

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ALTER TABLE, as in 0002: a batch's copy of participants would take every event with it.
    op.add_column("studies", sa.Column("seed", sa.BigInteger))
    op.add_column("studies", sa.Column("joined", sa.Integer, nullable=False, server_default="0"))
    # Participants from before: no condition (they read as `all`) and no number; the count of
    # joins goes on after them.
    op.add_column("participants", sa.Column("condition", sa.String(32)))
    op.add_column("participants", sa.Column("number", sa.Integer))
    op.execute("UPDATE studies SET joined = (SELECT count(*) FROM participants "
               "WHERE participants.study_id = studies.id)")


def downgrade() -> None:
    op.drop_column("participants", "number")
    op.drop_column("participants", "condition")
    op.drop_column("studies", "joined")
    op.drop_column("studies", "seed")
