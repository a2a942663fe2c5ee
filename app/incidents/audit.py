"""The audit trail: every attempted action, from every way in, leaves one row (who, which
verb, which incident, what came of it) and a metric, refusals included."""

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

from app.errors import BotError, NotAllowed, NotMapped
from app.incidents.grammar import Verb
from app.metrics import ACTIONS, UNMAPPED_REFUSALS
from app.store import AuditEntry, Store, StoreUnavailable

logger = logging.getLogger(__name__)


class AuditTrail:
    def __init__(self, store: Store) -> None:
        self._store = store

    @asynccontextmanager
    async def attempt(
        self, slack_user_id: str, verb: Verb, incident: str, *, record_success: bool = True
    ) -> AsyncIterator[None]:
        """One attempted action, whatever its outcome: refused (a `BotError`), failed
        (anything else), or done (unless `record_success` is off: a step, not the act)."""
        try:
            yield
        except BotError as error:
            await self.record(slack_user_id, verb, incident, "refused", error)
            raise
        except Exception as error:
            await self.record(slack_user_id, verb, incident, "failed", error)
            raise
        if record_success:
            await self.record(slack_user_id, verb, incident, "done")

    async def record(
        self,
        slack_user_id: str,
        verb: Verb,
        incident: str,
        outcome: str,
        error: Exception | None = None,
    ) -> None:
        ACTIONS.labels(str(verb), outcome).inc()
        if isinstance(error, NotMapped):
            UNMAPPED_REFUSALS.inc()
        detail = type(error).__name__ if error else ""
        if isinstance(error, NotAllowed):
            detail += f" (rule {error.rule})" if error.rule else " (channels)"
        entry = AuditEntry(datetime.now(UTC), slack_user_id, str(verb), incident, outcome, detail)
        try:
            await self._store.record(entry)
        except StoreUnavailable:
            # The action itself stands or fell on its own; losing its audit line is logged.
            logger.error("audit entry not stored", extra={"audit": str(entry)})
