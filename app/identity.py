"""Slack user -> verified PagerDuty user (DESIGN section 3).

The email comes from USER_MAP_FILE or, failing that, the Slack profile; PagerDuty must
then know a user with exactly that email. A person can never name their own identity,
so nobody can act as someone else by typing an address.
"""

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from cachetools import TTLCache
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from app.errors import SLACK_FAILURES, NotMapped, SlackUnavailable, slack_error_reason
from app.mrkdwn import escape
from app.pagerduty.client import PagerDutyClient
from app.pagerduty.errors import PagerDutyError
from app.pagerduty.models import Reference, User
from app.settings import ConfigError, read_yaml_mapping
from app.single_flight import SingleFlight

logger = logging.getLogger(__name__)

HOW_TO_GET_MAPPED = (
    "Ask your PagerDuty admin to give your PagerDuty user the same email as your Slack "
    "profile, or ask whoever runs incident-bot to map you in USER_MAP_FILE."
)


@dataclass(frozen=True)
class VerifiedUser:
    slack_user_id: str
    pagerduty: User
    source: Literal["user map", "Slack profile"]

    @property
    def email(self) -> str:
        return self.pagerduty.email


def load_user_map(path: Path | None) -> dict[str, str]:
    """`users: {U012AB3CD: alice@example.com}`; raise `ConfigError` on anything else."""
    if path is None:
        return {}
    users = read_yaml_mapping(path, "USER_MAP_FILE", "'users'").get("users") or {}
    if not isinstance(users, dict):
        raise ConfigError([f"USER_MAP_FILE ({path}): 'users' must map Slack user ids to emails"])
    problems = [
        f"USER_MAP_FILE ({path}): entry {key!r} must be a Slack user id mapped to an email"
        for key, value in users.items()
        if not (isinstance(key, str) and isinstance(value, str) and "@" in value)
    ]
    if problems:
        raise ConfigError(problems)
    return {str(key): str(value).strip() for key, value in users.items()}


class IdentityResolver:
    def __init__(
        self,
        pagerduty: PagerDutyClient,
        slack: AsyncWebClient,
        user_map: Mapping[str, str],
        ttl_seconds: float,
    ) -> None:
        self._pagerduty = pagerduty
        self._slack = slack
        self._user_map = dict(user_map)
        # Only successes are cached: someone who just got mapped works at once.
        self._cache: TTLCache[str, VerifiedUser] = TTLCache(maxsize=10_000, ttl=ttl_seconds)
        self._lookups: SingleFlight[tuple[str, str], VerifiedUser] = SingleFlight()
        self._mentions: TTLCache[str, str] = TTLCache(maxsize=10_000, ttl=ttl_seconds)

    async def mention_of(self, user: User) -> str:
        """`<@U…>` for a PagerDuty user who must act now (a reassign target, a new assignee),
        so Slack notifies them; their name when no Slack user has their email."""
        cached = self._mentions.get(user.id)
        if cached is not None:
            return cached
        email = user.email.lower()
        slack_id = next((s for s, e in self._user_map.items() if e.lower() == email), None)
        if slack_id is None:
            try:
                found = await self._slack.users_lookupByEmail(email=user.email)
                slack_id = str((found.get("user") or {}).get("id") or "") or None
            except SLACK_FAILURES as error:
                logger.debug("no Slack user for a PagerDuty user: %s", slack_error_reason(error))
        mention = f"<@{slack_id}>" if slack_id else escape(user.name)
        self._mentions[user.id] = mention
        return mention

    async def mentions_of(self, users: Iterable[Reference], *, actor: VerifiedUser) -> str:
        """'<@U…>, <@U…>' for PagerDuty user references (assignees); the actor among them
        is named, not mentioned."""
        mentions = []
        for ref in users:
            if ref.id == actor.pagerduty.id:
                mentions.append(escape(actor.pagerduty.name))
                continue
            try:
                mentions.append(await self.mention_of(await self._pagerduty.get_user(ref.id)))
            except PagerDutyError:
                mentions.append(escape(ref.summary))
        return ", ".join(mentions)

    async def resolve(self, slack_user_id: str, *, who: str = "You") -> VerifiedUser:
        """Raise `NotMapped` (saying why and how to fix it) unless PagerDuty confirms."""
        cached = self._cache.get(slack_user_id)
        if cached is not None:
            return cached
        return await self._lookups.run(
            (slack_user_id, who), lambda: self._verify(slack_user_id, who)
        )

    async def _verify(self, slack_user_id: str, who: str) -> VerifiedUser:
        source: Literal["user map", "Slack profile"]
        if slack_user_id in self._user_map:
            email, source = self._user_map[slack_user_id], "user map"
        else:
            email, source = await self._profile_email(slack_user_id, who), "Slack profile"
        user = await self._pagerduty.find_user_by_email(email)
        if user is None:
            logger.info("unmapped user", extra={"slack_user": slack_user_id, "source": source})
            raise NotMapped(
                f"{who} cannot act on PagerDuty incidents yet: the email {escape(email)} (from the "
                f"{source}) matches no PagerDuty user, so nothing was sent to PagerDuty. "
                + HOW_TO_GET_MAPPED
            )
        verified = VerifiedUser(slack_user_id, user, source)
        self._cache[slack_user_id] = verified
        return verified

    async def _profile_email(self, slack_user_id: str, who: str) -> str:
        try:
            response = await self._slack.users_info(user=slack_user_id)
        except SlackApiError as error:
            code = error.response.get("error", "unknown_error")
            if code == "user_not_found":
                raise NotMapped(f"Slack does not know user {escape(slack_user_id)}.") from None
            if code == "missing_scope":
                raise NotMapped(
                    "incident-bot cannot read Slack profile emails (its Slack app lacks the "
                    "users:read.email scope), so nothing was sent to PagerDuty. Please tell "
                    "whoever runs incident-bot."
                ) from None
            logger.warning("users.info failed", extra={"error": code})
            raise SlackUnavailable(
                f"Slack did not tell the bot who you are ({escape(code)}); nothing was sent to "
                "PagerDuty. Try again in a minute."
            ) from None
        user = response.get("user") or {}
        if user.get("is_bot") or user.get("deleted"):
            raise NotMapped(f"{who} is a bot or a deactivated Slack user; only people can act.")
        email = (user.get("profile") or {}).get("email")
        if not email:
            whose = "your" if who == "You" else f"{who}'s"
            raise NotMapped(
                f"Slack does not share {whose} email "
                "with the bot (hidden profile email or a guest account), so nothing was "
                "sent to PagerDuty. Ask whoever runs incident-bot to map you in USER_MAP_FILE."
            )
        return str(email)
