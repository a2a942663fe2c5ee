"""The store's tables as the code uses them; migrations/versions/ must build exactly these
(a test compares the two)."""

from datetime import UTC, datetime

import sqlalchemy as sa


class UTCDateTime(sa.TypeDecorator[datetime]):
    """Aware UTC datetimes: timestamptz in PostgreSQL, naive UTC text in SQLite."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


metadata = sa.MetaData()
claims = sa.Table(
    "claims",
    metadata,
    sa.Column("key", sa.String, primary_key=True),
    sa.Column("claimed_at", UTCDateTime, nullable=False, index=True),
)
cards = sa.Table(
    "cards",
    metadata,
    sa.Column("incident_id", sa.String, primary_key=True),
    sa.Column("channel", sa.String, primary_key=True),
    sa.Column("ts", sa.String, nullable=False),
    sa.Column("closed", sa.Boolean, nullable=False),
    sa.Index("ix_cards_channel_ts", "channel", "ts"),
)
audit_log = sa.Table(
    "audit_log",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", UTCDateTime, nullable=False, index=True),
    sa.Column("slack_user_id", sa.String, nullable=False),
    sa.Column("verb", sa.String, nullable=False),
    sa.Column("incident", sa.String, nullable=False),
    sa.Column("outcome", sa.String, nullable=False),
    sa.Column("detail", sa.Text, nullable=False),
    sa.Index("ix_audit_log_incident_at", "incident", "at"),
)
events = sa.Table(
    "events",
    metadata,
    sa.Column("event_id", sa.String, primary_key=True),
    sa.Column("received_at", UTCDateTime, nullable=False, index=True),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("holder", sa.String, nullable=True),
    sa.Column("lease_until", UTCDateTime, nullable=True),
    sa.Column("done_at", UTCDateTime, nullable=True),
)
leases = sa.Table(
    "leases",
    metadata,
    sa.Column("name", sa.String, primary_key=True),
    sa.Column("holder", sa.String, nullable=False),
    sa.Column("expires_at", UTCDateTime, nullable=False),
)
# Issue 15: state that replicas share and that survives restarts.
card_digests = sa.Table(
    "card_digests",
    metadata,
    sa.Column("channel", sa.String, primary_key=True),
    sa.Column("ts", sa.String, primary_key=True),
    sa.Column("digest", sa.String, nullable=False),
)
last_actions = sa.Table(
    "last_actions",
    metadata,
    sa.Column("incident_id", sa.String, primary_key=True),
    sa.Column("actor", sa.String, nullable=False),
    sa.Column("verb", sa.String, nullable=False),
    sa.Column("detail", sa.Text, nullable=False),
    sa.Column("at", UTCDateTime, nullable=False),
)
own_actions = sa.Table(
    "own_actions",
    metadata,
    sa.Column("incident_id", sa.String, primary_key=True),
    sa.Column("verb", sa.String, primary_key=True),
    sa.Column("at", UTCDateTime, nullable=False, index=True),
)
post_intents = sa.Table(
    "post_intents",
    metadata,
    sa.Column("incident_id", sa.String, primary_key=True),
    sa.Column("channel", sa.String, primary_key=True),
    sa.Column("holder", sa.String, nullable=False),
    sa.Column("started_at", UTCDateTime, nullable=False),
    sa.Column("lease_until", UTCDateTime, nullable=False),
)
# The latest status update of each incident, for its card: PagerDuty has no call that
# lists them, so the bot keeps what it posted and what webhooks said was published.
status_updates = sa.Table(
    "status_updates",
    metadata,
    sa.Column("incident_id", sa.String, primary_key=True),
    sa.Column("update_id", sa.String, nullable=False),
    sa.Column("message", sa.Text, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("recorded_at", UTCDateTime, nullable=False, index=True),
)
