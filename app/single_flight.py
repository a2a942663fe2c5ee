"""One lookup per key at a time: when a storm of requests asks the same question at once
(who is U0ALICE01? which id is incident 123?), the first asks and the rest wait for its
answer, instead of each asking Slack or PagerDuty themselves."""

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class SingleFlight(Generic[K, V]):
    def __init__(self) -> None:
        self._pending: dict[K, asyncio.Future[V]] = {}

    async def run(self, key: K, lookup: Callable[[], Awaitable[V]]) -> V:
        pending = self._pending.get(key)
        if pending is None:
            pending = asyncio.ensure_future(lookup())
            self._pending[key] = pending
            pending.add_done_callback(lambda _: self._pending.pop(key, None))
        # Shielded: one waiter giving up must not cancel the others' answer.
        return await asyncio.shield(pending)
