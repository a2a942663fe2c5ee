"""The durable store: claims, cards, what cards show, audit trail, webhook
inbox, leases; SQLite or PostgreSQL."""

from app.store.records import (
    AuditEntry,
    CardRef,
    Forgotten,
    LastAction,
    PendingEvent,
    PostDecision,
    PostTurn,
    PublishedUpdate,
    Retention,
    StoreUnavailable,
)
from app.store.sql import Store

__all__ = [
    "AuditEntry",
    "CardRef",
    "Forgotten",
    "LastAction",
    "PendingEvent",
    "PostDecision",
    "PostTurn",
    "PublishedUpdate",
    "Retention",
    "Store",
    "StoreUnavailable",
]
