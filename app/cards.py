"""Incident cards in Slack: where each one is (in the store), and posting or redrawing it.
One card per incident per channel."""

import logging
from collections.abc import Awaitable
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from app.errors import SLACK_FAILURES, SlackUnavailable
from app.store import CardRef, Store

logger = logging.getLogger(__name__)

_WHY = {
    "not_in_channel": "I'm not in this channel: invite me with `/invite @incident-bot`",
    "channel_not_found": "I can't see this channel (a private channel needs an invite)",
    "is_archived": "this channel is archived",
    "ratelimited": "Slack is rate-limiting me",
    "invalid_auth": "my Slack token is not valid; tell whoever runs incident-bot",
    "account_inactive": "my Slack token was revoked; tell whoever runs incident-bot",
}


def slack_error_reason(error: Exception) -> str:
    if not isinstance(error, SlackApiError):
        return "Slack did not answer"
    code = str(error.response.get("error", "unknown_error"))
    return _WHY.get(code, code)


class Cards:
    def __init__(self, client: AsyncWebClient, store: Store) -> None:
        self._client = client
        self.store = store

    async def post(self, channel: str, incident_id: str, card: dict[str, Any]) -> CardRef:
        try:
            response = await self._client.chat_postMessage(channel=channel, **card)
        except SLACK_FAILURES as error:
            raise SlackUnavailable(
                f"I could not post the card: {slack_error_reason(error)}."
            ) from None
        ref = CardRef(channel, str(response["ts"]))
        await self.store.replace_card(incident_id, ref)
        return ref

    async def update(self, ref: CardRef, card: dict[str, Any]) -> None:
        if problem := await self.update_quietly(ref, card):
            raise SlackUnavailable(f"I could not update the card: {problem}.")

    async def update_quietly(self, ref: CardRef, card: dict[str, Any]) -> str | None:
        """Redraw a card after a change that already happened; returns the problem, if any,
        instead of raising, because the change must still be reported as done."""
        return await self._problem_of(
            "chat.update", self._client.chat_update(channel=ref.channel, ts=ref.ts, **card)
        )

    async def reply_quietly(self, ref: CardRef, text: str) -> str | None:
        """One line in the card's thread ("@alice acknowledged")."""
        return await self._problem_of(
            "thread reply",
            self._client.chat_postMessage(channel=ref.channel, thread_ts=ref.ts, text=text),
        )

    @staticmethod
    async def _problem_of(what: str, call: Awaitable[Any]) -> str | None:
        try:
            await call
        except SLACK_FAILURES as error:
            logger.warning("%s failed", what, extra={"error": slack_error_reason(error)})
            return slack_error_reason(error)
        return None
