"""The per-channel posting queue against the Slack stand-in, through slack_sdk's real client."""

import asyncio
import itertools
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from app.demo.slack import SlackStandIn
from app.posting_queue import ChannelPostingQueue
from tests.conftest import BOT_TOKEN


@pytest.fixture
async def client(slack: SlackStandIn) -> AsyncWebClient:
    return AsyncWebClient(token=BOT_TOKEN, base_url=f"{slack.url}/api/")  # type: ignore[attr-defined]


@pytest.fixture
async def queue() -> AsyncIterator[ChannelPostingQueue]:
    queue = ChannelPostingQueue(interval=0.05)
    yield queue
    await queue.close()


def poster(
    client: AsyncWebClient, channel: str, text: str, sent_at: list[tuple[str, float]]
) -> Callable[[], Awaitable[Any]]:
    async def send() -> Any:
        sent_at.append((text, asyncio.get_running_loop().time()))
        return await client.chat_postMessage(channel=channel, text=text)

    return send


def posted_texts(slack: SlackStandIn, channel: str) -> list[str]:
    return [m["text"] for m in slack.messages.get(channel, []) if "thread_ts" not in m]


async def test_a_rate_limited_channel_gets_every_card_once_and_in_order(
    slack: SlackStandIn, client: AsyncWebClient, queue: ChannelPostingQueue
) -> None:
    slack.post_rate_per_channel = 4  # the queue (every 0.05 s) runs ahead of Slack: 429s
    sent: list[tuple[str, float]] = []
    texts = [f"card {n}" for n in range(4)]
    results = await asyncio.gather(
        *(queue.post("C1", poster(client, "C1", t, sent)) for t in texts)
    )
    assert [r["ok"] for r in results] == [True] * 4
    assert posted_texts(slack, "C1") == texts
    assert queue.rate_limited > 0
    assert len(slack.calls_to("chat.postMessage")) == 4 + queue.rate_limited


async def test_a_429_holds_the_channel_for_its_retry_after(
    slack: SlackStandIn, client: AsyncWebClient, queue: ChannelPostingQueue
) -> None:
    slack.fail_next("chat.postMessage", status=429, headers={"Retry-After": "1"})
    sent: list[tuple[str, float]] = []
    await asyncio.gather(
        queue.post("C1", poster(client, "C1", "first", sent)),
        queue.post("C1", poster(client, "C1", "second", sent)),
    )
    assert [text for text, _ in sent] == ["first", "first", "second"]
    assert sent[1][1] - sent[0][1] >= 1.0
    assert posted_texts(slack, "C1") == ["first", "second"]


async def test_posts_to_one_channel_keep_the_queues_pace(
    slack: SlackStandIn, client: AsyncWebClient
) -> None:
    queue = ChannelPostingQueue(interval=0.2)
    try:
        sent: list[tuple[str, float]] = []
        await asyncio.gather(
            *(queue.post("C1", poster(client, "C1", f"{n}", sent)) for n in range(3))
        )
        gaps = [b - a for (_, a), (_, b) in itertools.pairwise(sent)]
        assert all(gap >= 0.19 for gap in gaps), gaps
    finally:
        await queue.close()


async def test_one_channels_backlog_never_delays_another_channel(
    slack: SlackStandIn, client: AsyncWebClient
) -> None:
    queue = ChannelPostingQueue(interval=0.3)
    try:
        sent: list[tuple[str, float]] = []
        storm = [queue.submit("CSTORM", poster(client, "CSTORM", f"s{n}", sent)) for n in range(5)]
        await queue.post("COTHER", poster(client, "COTHER", "other", sent))
        assert posted_texts(slack, "COTHER") == ["other"]
        assert len(posted_texts(slack, "CSTORM")) <= 1  # the storm is still queued
        assert queue.backlog("CSTORM") >= 4
        await asyncio.gather(*storm)
        assert posted_texts(slack, "CSTORM") == [f"s{n}" for n in range(5)]
    finally:
        await queue.close()


async def test_an_error_other_than_a_rate_limit_goes_to_its_caller_and_the_lane_goes_on(
    slack: SlackStandIn, client: AsyncWebClient, queue: ChannelPostingQueue
) -> None:
    slack.fail_next("chat.postMessage", error="channel_not_found")
    sent: list[tuple[str, float]] = []
    failed = queue.submit("C1", poster(client, "C1", "lost", sent))
    kept = queue.submit("C1", poster(client, "C1", "kept", sent))
    with pytest.raises(SlackApiError) as error:
        await failed
    assert error.value.response["error"] == "channel_not_found"
    assert (await kept)["ok"]
    assert posted_texts(slack, "C1") == ["kept"]


async def test_a_withdrawn_post_is_never_made(slack: SlackStandIn, client: AsyncWebClient) -> None:
    queue = ChannelPostingQueue(interval=0.2)
    try:
        sent: list[tuple[str, float]] = []
        first = queue.submit("C1", poster(client, "C1", "first", sent))
        withdrawn = queue.submit("C1", poster(client, "C1", "withdrawn", sent))
        withdrawn.cancel()
        last = queue.submit("C1", poster(client, "C1", "last", sent))
        await asyncio.gather(first, last)
        assert posted_texts(slack, "C1") == ["first", "last"]
    finally:
        await queue.close()


async def test_closing_cancels_the_posts_not_yet_made(
    slack: SlackStandIn, client: AsyncWebClient
) -> None:
    queue = ChannelPostingQueue(interval=5)
    sent: list[tuple[str, float]] = []
    first = queue.submit("C1", poster(client, "C1", "first", sent))
    second = queue.submit("C1", poster(client, "C1", "second", sent))
    await first
    await queue.close()
    assert second.cancelled()
    assert posted_texts(slack, "C1") == ["first"]
    with pytest.raises(RuntimeError, match="closed"):
        queue.submit("C1", poster(client, "C1", "late", sent))
