"""Shared card state (issue 15): card digests, last actions, own actions for echo
suppression, intents to post a card.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"

TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "card_digests",
        sa.Column("channel", sa.String(), primary_key=True),
        sa.Column("ts", sa.String(), primary_key=True),
        sa.Column("digest", sa.String(), nullable=False),
    )
    op.create_table(
        "last_actions",
        sa.Column("incident_id", sa.String(), primary_key=True),
        sa.Column("actor", sa.String(), nullable=False),
        sa.Column("verb", sa.String(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("at", TIME, nullable=False),
    )
    op.create_table(
        "own_actions",
        sa.Column("incident_id", sa.String(), primary_key=True),
        sa.Column("verb", sa.String(), primary_key=True),
        sa.Column("at", TIME, nullable=False),
    )
    op.create_index("ix_own_actions_at", "own_actions", ["at"])
    op.create_table(
        "post_intents",
        sa.Column("incident_id", sa.String(), primary_key=True),
        sa.Column("channel", sa.String(), primary_key=True),
        sa.Column("holder", sa.String(), nullable=False),
        sa.Column("started_at", TIME, nullable=False),
        sa.Column("lease_until", TIME, nullable=False),
    )


def downgrade() -> None:
    for table in ("post_intents", "own_actions", "last_actions", "card_digests"):
        op.drop_table(table)
