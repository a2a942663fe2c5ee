"""The latest status update of each incident, shared by every replica and kept across
restarts (it was per-process memory before).

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"

TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "status_updates",
        sa.Column("incident_id", sa.String(), primary_key=True),
        sa.Column("update_id", sa.String(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("recorded_at", TIME, nullable=False),
    )
    op.create_index("ix_status_updates_recorded_at", "status_updates", ["recorded_at"])


def downgrade() -> None:
    op.drop_table("status_updates")
