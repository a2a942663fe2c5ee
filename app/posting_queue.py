"""New cards wait their turn per channel instead of failing (issue 15).

Slack lets an app post about one message a second per channel and answers 429 with a
`Retry-After` beyond that. Each channel gets a lane: its posts go one at a time, in order, at
most one per `interval`; a 429 puts the post back at the head of its lane until Slack's
`Retry-After` has passed, however many times that takes (a rate limit never drops a card).
Any other error goes to the caller. Lanes are independent: one channel's backlog never delays
another's. A lane's worker ends once its channel is idle, so nothing grows with channels seen.
"""

import asyncio
import contextlib
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from slack_sdk.errors import SlackApiError

T = TypeVar("T")
SLACK_POST_INTERVAL = 1.0  # seconds between posts to one channel
DEFAULT_RETRY_AFTER = 1.0  # when a 429 carries no usable Retry-After


@dataclass
class _Job:
    send: Callable[[], Awaitable[Any]]
    result: asyncio.Future[Any]


@dataclass
class _Lane:
    jobs: deque[_Job] = field(default_factory=deque)
    next_at: float = 0.0  # loop time before which this channel must not be posted to
    worker: asyncio.Task[None] | None = None


def retry_after(error: SlackApiError) -> float | None:
    """Seconds Slack asked us to wait, if `error` is its rate limit (HTTP 429); else None."""
    response = error.response
    if getattr(response, "status_code", None) != 429:
        return None
    headers = getattr(response, "headers", None) or {}
    value = next((v for k, v in headers.items() if str(k).lower() == "retry-after"), None)
    try:
        seconds = float(value) if value is not None else DEFAULT_RETRY_AFTER
    except (TypeError, ValueError):
        seconds = DEFAULT_RETRY_AFTER
    return max(seconds, 0.0)


class ChannelPostingQueue:
    def __init__(self, *, interval: float = SLACK_POST_INTERVAL) -> None:
        self._interval = interval
        self._lanes: dict[str, _Lane] = {}
        self._closed = False
        self.rate_limited = 0  # 429s met so far, for metrics and the benchmark

    def submit(self, channel: str, send: Callable[[], Awaitable[T]]) -> asyncio.Future[T]:
        """Queue `send` (one Slack post to `channel`); the future gets its result or error.
        Cancelling the future before its turn withdraws the post."""
        if self._closed:
            raise RuntimeError("the posting queue is closed")
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        lane = self._lanes.setdefault(channel, _Lane())
        lane.jobs.append(_Job(send, future))
        if lane.worker is None:
            lane.worker = asyncio.create_task(self._drain(channel, lane), name=f"post:{channel}")
        return future

    async def post(self, channel: str, send: Callable[[], Awaitable[T]]) -> T:
        """`submit` and wait for the post's result."""
        return await self.submit(channel, send)

    def backlog(self, channel: str) -> int:
        """Posts waiting for `channel`, the one in flight included."""
        lane = self._lanes.get(channel)
        return sum(not job.result.done() for job in lane.jobs) if lane else 0

    async def close(self) -> None:
        """Stop every lane; posts not yet made are cancelled."""
        self._closed = True
        lanes, self._lanes = list(self._lanes.values()), {}
        for lane in lanes:
            if lane.worker is not None:
                lane.worker.cancel()
        for lane in lanes:
            if lane.worker is not None:
                with contextlib.suppress(asyncio.CancelledError):
                    await lane.worker
            for job in lane.jobs:
                job.result.cancel()

    async def _drain(self, channel: str, lane: _Lane) -> None:
        loop = asyncio.get_running_loop()
        while lane.jobs:
            await self._post_first(lane, loop)
            if not lane.jobs:
                # Keep the pace across a short lull: a post queued meanwhile waits its turn.
                await asyncio.sleep(max(0.0, lane.next_at - loop.time()))
        if self._lanes.get(channel) is lane:
            del self._lanes[channel]

    async def _post_first(self, lane: _Lane, loop: asyncio.AbstractEventLoop) -> None:
        job = lane.jobs[0]
        if job.result.done():  # withdrawn by its caller
            lane.jobs.popleft()
            return
        await asyncio.sleep(max(0.0, lane.next_at - loop.time()))
        try:
            value = await job.send()
        except SlackApiError as error:
            wait = retry_after(error)
            if wait is not None:  # keep it at the head: a rate limit delays a card, never drops it
                self.rate_limited += 1
                lane.next_at = loop.time() + max(wait, self._interval)
                return
            lane.jobs.popleft()
            _settle(job, error=error)
        except Exception as error:  # the caller decides what it means
            lane.jobs.popleft()
            _settle(job, error=error)
        else:
            lane.jobs.popleft()
            _settle(job, value=value)
        lane.next_at = loop.time() + self._interval


def _settle(job: _Job, *, value: Any = None, error: BaseException | None = None) -> None:
    if job.result.done():
        return
    if error is not None:
        job.result.set_exception(error)
    else:
        job.result.set_result(value)
