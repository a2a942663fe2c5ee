"""The durable store: claims, cards, audit trail, webhook inbox, leases; SQLite or PostgreSQL."""

from app.store.records import (
    AuditEntry,
    CardRef,
    LastAction,
    PendingEvent,
    PostDecision,
    PostTurn,
    StoreUnavailable,
)
from app.store.sql import Store

__all__ = [
    "AuditEntry",
    "CardRef",
    "LastAction",
    "PendingEvent",
    "PostDecision",
    "PostTurn",
    "Store",
    "StoreUnavailable",
]
