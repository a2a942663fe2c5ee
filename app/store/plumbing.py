"""What the store's parts (`SharedCardState`, `WebhookInbox`) need from `Store` itself:
transactions, reads and counted writes; and the clock they all stamp rows with."""

from abc import ABC, abstractmethod
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime

from app.store.databases import Row, Session


def utc_now() -> datetime:
    """This process's clock (replicas sharing a database need synced clocks)."""
    return datetime.now(UTC)


class StorePlumbing(ABC):
    @abstractmethod
    def _transaction(self) -> AbstractAsyncContextManager[Session]: ...

    @abstractmethod
    async def _rows(self, sql: str, params: Sequence[object] = ()) -> list[Row]: ...

    @abstractmethod
    async def _count(self, sql: str, params: Sequence[object] = ()) -> int: ...
