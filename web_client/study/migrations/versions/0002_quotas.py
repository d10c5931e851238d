"""What each participant and each study has stored: counted as events are written, so that a
write past a quota is refused without counting the table.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TABLES = {"participants": "participant_id", "studies": "study_id"}


def upgrade() -> None:
    for table, key in TABLES.items():
        # Plain ALTER TABLE, never a batch's copy of the table: on SQLite, with foreign keys on,
        # dropping the old participants table would take every event with it.
        op.add_column(table, sa.Column("events", sa.Integer, nullable=False, server_default="0"))
        op.add_column(table, sa.Column("event_bytes", sa.BigInteger, nullable=False, server_default="0"))
        # What was stored before the counters: counted once, here.
        op.execute(f"UPDATE {table} SET events = (SELECT count(*) FROM events WHERE events.{key} = {table}.id), "
                   f"event_bytes = (SELECT coalesce(sum(length(payload)), 0) FROM events "
                   f"WHERE events.{key} = {table}.id)")


def downgrade() -> None:
    for table in TABLES:
        op.drop_column(table, "event_bytes")
        op.drop_column(table, "events")
