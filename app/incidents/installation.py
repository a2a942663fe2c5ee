"""Who the bot is in Slack, from `auth.test` (asked once, then remembered): which messages
are its own (only those are cards) and which people it acts for (its own workspace or
Grid organisation, plus the workspaces SLACK_ALLOWED_TEAM_IDS lists)."""

import asyncio
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from slack_sdk.web.async_client import AsyncWebClient

from app.errors import SLACK_FAILURES, OutsideWorkspace, SlackUnavailable, slack_error_reason


@dataclass(frozen=True)
class Installation:
    bot_user_id: str
    bot_id: str
    team_ids: frozenset[str]  # the installing workspace, its Grid org, the allowed ones

    def posted(self, message: Mapping[str, Any]) -> bool:
        """Whether the bot itself posted `message` (a person's or another app's may carry
        the very same metadata)."""
        bot_id, user = message.get("bot_id"), message.get("user")
        return bool((bot_id and bot_id == self.bot_id) or (user and user == self.bot_user_id))

    def check_team(self, team_id: str | None) -> None:
        """Refuse a person Slack says belongs to another workspace (a Slack Connect channel
        is shared with other organisations); `None`: the request did not say."""
        if team_id is not None and team_id not in self.team_ids:
            raise OutsideWorkspace(
                "You're in a Slack workspace this incident-bot doesn't act for (this channel "
                "is shared with another organisation), so nothing was sent to PagerDuty. Ask "
                "someone from the bot's own workspace, or its admin to add your workspace to "
                "SLACK_ALLOWED_TEAM_IDS."
            )


class InstallationLookup:
    def __init__(self, slack: AsyncWebClient, allowed_team_ids: Iterable[str] = ()) -> None:
        self._slack = slack
        self._allowed = frozenset(allowed_team_ids)
        self._known: Installation | None = None
        self._asking = asyncio.Lock()

    async def get(self) -> Installation:
        """`auth.test` the first time (a failure is not remembered: the next request asks
        again)."""
        async with self._asking:
            if self._known is None:
                self._known = await self._ask()
            return self._known

    async def _ask(self) -> Installation:
        try:
            response = await self._slack.auth_test()
        except SLACK_FAILURES as error:
            raise SlackUnavailable(
                f"I couldn't ask Slack who I am ({slack_error_reason(error)}), so nothing was "
                "changed. Try again in a moment."
            ) from None
        home = {response.get("team_id"), response.get("enterprise_id")}
        return Installation(
            bot_user_id=str(response.get("user_id") or ""),
            bot_id=str(response.get("bot_id") or ""),
            team_ids=frozenset(team for team in home if team) | self._allowed,
        )
