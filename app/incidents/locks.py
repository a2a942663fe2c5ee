"""`fresh(ref)`: the incident as PagerDuty has it now, while no other action of ours on it
runs (an asyncio lock within this process, the store's lock across replicas), so the
second of two simultaneous clicks reads the first one's result. `current(ref)`: the same
read without the lock, shared by everyone who asks while it is in flight, for what changes
no state (a note, a status update, show)."""

import asyncio
import copy
from collections import OrderedDict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

from app.errors import Busy, UsageError
from app.incidents.words import INCIDENT_ID
from app.mrkdwn import escape
from app.pagerduty.client import PagerDutyClient
from app.pagerduty.models import Incident
from app.single_flight import SingleFlight
from app.store import Store

# How long an action waits for another replica's action on the same incident.
LOCK_WAIT = timedelta(seconds=30)
_IDS_REMEMBERED = 10_000


class IncidentLocks:
    def __init__(self, pagerduty: PagerDutyClient, store: Store) -> None:
        self._pagerduty = pagerduty
        self._store = store
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}
        self._ids_by_number: OrderedDict[str, str] = OrderedDict()
        self._reads: SingleFlight[str, Incident] = SingleFlight()

    def reading_with(self, pagerduty: PagerDutyClient) -> "IncidentLocks":
        """The same locks, reading through another client (the background budget's)."""
        view = copy.copy(self)
        view._pagerduty = pagerduty
        return view

    @asynccontextmanager
    async def fresh(self, ref: str) -> AsyncIterator[Incident]:
        incident_id = await self.incident_id(ref)
        lock, users = self._locks.get(incident_id, (asyncio.Lock(), 0))
        self._locks[incident_id] = (lock, users + 1)
        try:
            async with lock, self._across_replicas(incident_id):
                yield await self._pagerduty.get_incident(incident_id)
        finally:
            lock, users = self._locks[incident_id]
            if users == 1:
                del self._locks[incident_id]
            else:
                self._locks[incident_id] = (lock, users - 1)

    async def current(self, ref: str) -> Incident:
        """A read that started after the asker's request arrived, or was in flight when it
        did: fresh enough to check a note against, and a storm of notes on one incident
        costs one read per PagerDuty round trip instead of one per note."""
        return await self._read(self._remembered_id(ref) or ref)

    async def incident_id(self, ref: str) -> str:
        """Writes need the id; an incident's number never changes, so remember it."""
        return self._remembered_id(ref) or (await self._read(ref)).id

    def _remembered_id(self, ref: str) -> str | None:
        """`ref` itself if it is an id, a number's id if known, else None."""
        if INCIDENT_ID.fullmatch(ref):
            return ref
        if not (ref.isascii() and ref.isdigit()):
            # Every way in parses or checks its ref; this is the last line before a URL path.
            raise UsageError(f"`{escape(ref[:40])}` is not an incident number or id.")
        return self._ids_by_number.get(ref)

    async def _read(self, ref: str) -> Incident:
        """One read per ref in flight, however many ask; a number's read also tells its id."""
        return await self._reads.run(ref, lambda: self._read_and_remember(ref))

    async def _read_and_remember(self, ref: str) -> Incident:
        incident = await self._pagerduty.get_incident(ref)
        if ref != incident.id:
            self._ids_by_number[ref] = incident.id
            if len(self._ids_by_number) > _IDS_REMEMBERED:
                self._ids_by_number.popitem(last=False)
        return incident

    @asynccontextmanager
    async def _across_replicas(self, incident_id: str) -> AsyncIterator[None]:
        try:
            async with self._store.exclusive(f"incident:{incident_id}", LOCK_WAIT):
                yield
        except TimeoutError:
            raise Busy(
                "Someone else's action on this incident is taking long; nothing was "
                "changed. Try again in a moment."
            ) from None
