"""Each incident's latest status update, which its card shows. PagerDuty has no call that
lists an incident's status updates, so the store keeps the ones the bot posted (on any
replica) and the ones PagerDuty's webhooks say were published elsewhere: every replica
draws the same line, and a restart keeps it."""

from datetime import UTC, datetime

from app.pagerduty.models import StatusUpdate
from app.store import PublishedUpdate, Store


class StatusUpdates:
    def __init__(self, store: Store) -> None:
        self._store = store

    async def record(self, incident_id: str, update: StatusUpdate) -> None:
        """Keep `update` as the incident's latest unless a newer one is stored already."""
        if not update.message:
            return  # nothing to show
        published = PublishedUpdate(
            update.message, update.created_at or datetime.now(UTC), update.id or ""
        )
        await self._store.record_status_update(incident_id, published)

    async def latest(self, incident_id: str) -> StatusUpdate | None:
        stored = await self._store.latest_status_update(incident_id)
        return _as_status_update(stored) if stored else None

    async def of_open_cards(self) -> dict[str, StatusUpdate]:
        """Every incident with an open card's latest update, read at once (the reconciler
        draws hundreds of cards; one read each would be hundreds of queries)."""
        stored = await self._store.latest_status_updates_with_open_cards()
        return {incident_id: _as_status_update(update) for incident_id, update in stored.items()}


def _as_status_update(stored: PublishedUpdate) -> StatusUpdate:
    return StatusUpdate(
        id=stored.update_id or None, message=stored.message, created_at=stored.created_at
    )
