"""Incident cards in Slack: where each one is, and posting or redrawing it.

One card per incident per channel. The index lives in memory for now, so after a restart
`/incident show` posts a fresh card rather than finding the old one.
"""

import logging
from dataclasses import dataclass
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from app.errors import SLACK_FAILURES, SlackUnavailable

logger = logging.getLogger(__name__)

_WHY = {
    "not_in_channel": "I'm not in this channel: invite me with `/invite @incident-bot`",
    "channel_not_found": "I can't see this channel (a private channel needs an invite)",
    "is_archived": "this channel is archived",
    "ratelimited": "Slack is rate-limiting me",
    "invalid_auth": "my Slack token is not valid; tell whoever runs incident-bot",
    "account_inactive": "my Slack token was revoked; tell whoever runs incident-bot",
}


@dataclass(frozen=True)
class CardRef:
    channel: str
    ts: str


def slack_error_reason(error: Exception) -> str:
    if not isinstance(error, SlackApiError):
        return "Slack did not answer"
    code = str(error.response.get("error", "unknown_error"))
    return _WHY.get(code, code)


class Cards:
    def __init__(self, client: AsyncWebClient) -> None:
        self._client = client
        self._cards: dict[str, dict[str, str]] = {}  # incident id -> channel -> ts

    def find(self, incident_id: str, channel: str) -> CardRef | None:
        ts = self._cards.get(incident_id, {}).get(channel)
        return CardRef(channel, ts) if ts else None

    def all_for(self, incident_id: str) -> list[CardRef]:
        return [CardRef(c, ts) for c, ts in self._cards.get(incident_id, {}).items()]

    def incident_for(self, channel: str, ts: str) -> str | None:
        for incident_id, cards in self._cards.items():
            if cards.get(channel) == ts:
                return incident_id
        return None

    def remember(self, incident_id: str, card: CardRef) -> None:
        self._cards.setdefault(incident_id, {})[card.channel] = card.ts

    async def post(self, channel: str, incident_id: str, card: dict[str, Any]) -> CardRef:
        try:
            response = await self._client.chat_postMessage(channel=channel, **card)
        except SLACK_FAILURES as error:
            raise SlackUnavailable(
                f"I could not post the card: {slack_error_reason(error)}."
            ) from None
        ref = CardRef(channel, str(response["ts"]))
        self.remember(incident_id, ref)
        return ref

    async def update(self, ref: CardRef, card: dict[str, Any]) -> None:
        try:
            await self._client.chat_update(channel=ref.channel, ts=ref.ts, **card)
        except SLACK_FAILURES as error:
            raise SlackUnavailable(
                f"I could not update the card: {slack_error_reason(error)}."
            ) from None

    async def update_quietly(self, ref: CardRef, card: dict[str, Any]) -> str | None:
        """Redraw a card after a change that already happened; returns the problem, if any,
        instead of raising, because the change must still be reported as done."""
        try:
            await self._client.chat_update(channel=ref.channel, ts=ref.ts, **card)
        except SLACK_FAILURES as error:
            logger.warning("chat.update failed", extra={"error": slack_error_reason(error)})
            return slack_error_reason(error)
        return None

    async def reply_quietly(self, ref: CardRef, text: str) -> str | None:
        """One line in the card's thread ("@alice acknowledged")."""
        try:
            await self._client.chat_postMessage(channel=ref.channel, thread_ts=ref.ts, text=text)
        except SLACK_FAILURES as error:
            logger.warning("thread reply failed", extra={"error": slack_error_reason(error)})
            return slack_error_reason(error)
        return None
