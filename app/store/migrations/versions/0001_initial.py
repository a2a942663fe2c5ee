"""The first schema: claims, cards, audit log, webhook inbox, leases.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None

TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "claims",
        sa.Column("key", sa.String(), primary_key=True),
        sa.Column("claimed_at", TIME, nullable=False),
    )
    op.create_index("ix_claims_claimed_at", "claims", ["claimed_at"])
    op.create_table(
        "cards",
        sa.Column("incident_id", sa.String(), primary_key=True),
        sa.Column("channel", sa.String(), primary_key=True),
        sa.Column("ts", sa.String(), nullable=False),
        sa.Column("closed", sa.Boolean(), nullable=False),
    )
    op.create_index("ix_cards_channel_ts", "cards", ["channel", "ts"])
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("at", TIME, nullable=False),
        sa.Column("slack_user_id", sa.String(), nullable=False),
        sa.Column("verb", sa.String(), nullable=False),
        sa.Column("incident", sa.String(), nullable=False),
        sa.Column("outcome", sa.String(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
    )
    op.create_index("ix_audit_log_at", "audit_log", ["at"])
    op.create_index("ix_audit_log_incident_at", "audit_log", ["incident", "at"])
    op.create_table(
        "events",
        sa.Column("event_id", sa.String(), primary_key=True),
        sa.Column("received_at", TIME, nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("holder", sa.String(), nullable=True),
        sa.Column("lease_until", TIME, nullable=True),
        sa.Column("done_at", TIME, nullable=True),
    )
    op.create_index("ix_events_received_at", "events", ["received_at"])
    op.create_table(
        "leases",
        sa.Column("name", sa.String(), primary_key=True),
        sa.Column("holder", sa.String(), nullable=False),
        sa.Column("expires_at", TIME, nullable=False),
    )


def downgrade() -> None:
    for table in ("leases", "events", "audit_log", "cards", "claims"):
        op.drop_table(table)
