"""What the store's parts (`SharedCardState`, `WebhookInbox`) need from `Store` itself:
transactions, reads, counted writes and the dialect's INSERT; and the clock they all stamp
rows with."""

from abc import ABC, abstractmethod
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

if TYPE_CHECKING:
    from sqlalchemy.dialects import postgresql, sqlite


def utc_now() -> datetime:
    """This process's clock (replicas sharing a database need synced clocks)."""
    return datetime.now(UTC)


class StorePlumbing(ABC):
    @abstractmethod
    def _transaction(self) -> AbstractAsyncContextManager[AsyncConnection]: ...

    @abstractmethod
    async def _rows(self, statement: sa.Executable) -> list[sa.Row[Any]]: ...

    @abstractmethod
    async def _count(self, statement: sa.Executable) -> int: ...

    @abstractmethod
    def _insert(self, table: sa.Table) -> "postgresql.Insert | sqlite.Insert": ...
