"""Group commit: writes that arrive while one is being written go together in the next
transaction, each caller still getting its own answer.

A storm of webhooks is hundreds of one-row INSERTs at once. One transaction each queues every
one behind all the others (SQLite has one writer; each commit costs a few ms of CPU), so the
last is answered after seconds. Grouped, a lone write is written at once as before, and a
storm takes a few transactions.
"""

import asyncio
from collections.abc import Awaitable, Callable, Container, Sequence
from typing import Generic, TypeVar

Item = TypeVar("Item")
Answer = TypeVar("Answer")
Key = TypeVar("Key")


def first_arrivals(keys: Sequence[Key]) -> dict[Key, int]:
    """Each key once, with where it first came in the batch: of callers who insert the
    same key at once, the first wins."""
    first: dict[Key, int] = {}
    for arrived, key in enumerate(keys):
        first.setdefault(key, arrived)
    return first


def first_inserted(
    keys: Sequence[Key], first: dict[Key, int], inserted: Container[Key]
) -> list[bool]:
    """Per caller: True if its key was inserted and it was that key's first arrival."""
    return [key in inserted and first[key] == arrived for arrived, key in enumerate(keys)]


class GroupCommit(Generic[Item, Answer]):
    """`await group(item)` writes `item` with whatever else is waiting, through
    `write(items) -> answers` (one answer per item, in order). A failed write fails each
    of its callers."""

    def __init__(self, write: Callable[[list[Item]], Awaitable[Sequence[Answer]]]) -> None:
        self._write = write
        self._waiting: list[tuple[Item, asyncio.Future[Answer]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def __call__(self, item: Item) -> Answer:
        answer: asyncio.Future[Answer] = asyncio.get_running_loop().create_future()
        self._waiting.append((item, answer))
        if self._writer is None:
            self._writer = asyncio.create_task(self._write_while_waiting())
        # A caller that gives up cancels its own answer only; the write goes on for the rest.
        return await answer

    async def _write_while_waiting(self) -> None:
        batch: list[tuple[Item, asyncio.Future[Answer]]] = []
        try:
            while self._waiting:
                batch, self._waiting = self._waiting, []
                try:
                    answers = await self._write([item for item, _ in batch])
                except Exception as error:
                    for _, answer in batch:
                        if not answer.done():
                            answer.set_exception(error)
                    continue
                for (_, answer), result in zip(batch, answers, strict=True):
                    if not answer.done():
                        answer.set_result(result)
        finally:
            self._writer = None
            for _, answer in batch + self._waiting:  # only if the writer itself was cancelled
                answer.cancel()
            self._waiting = []
