"""POLICY_FILE: where the bot acts, and who may do what. Without a file, any mapped user may
do anything PagerDuty lets them.

    channels: [C0INCIDENTS, C0CHECKOUT]    # the bot acts only here (omit: anywhere)
    rules:                                 # every rule that applies must allow the person
      - verbs: [resolve]
        urgency: high                      # optional: only incidents of this urgency
        allow:
          groups: [S0SRE]                  # Slack user group ids
          users: [U0ALICE01]               # Slack user ids
"""

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cachetools import TTLCache
from slack_sdk.web.async_client import AsyncWebClient

from app.errors import SLACK_FAILURES, NotAllowed
from app.incidents.grammar import POLICY_VERBS, Verb
from app.settings import ConfigError, read_yaml_mapping

logger = logging.getLogger(__name__)

URGENCIES = frozenset({"high", "low"})


@dataclass(frozen=True)
class Rule:
    number: int  # 1-based, as a person counts the rules in the file
    verbs: frozenset[Verb]
    urgency: str | None
    users: frozenset[str]
    groups: frozenset[str]

    def applies(self, verb: Verb, urgency: str) -> bool:
        return verb in self.verbs and self.urgency in (None, urgency)

    def refusal(self, verb: Verb, number: int | None) -> NotAllowed:
        who = [f"user group {g}" for g in sorted(self.groups)]
        who += [f"<@{u}>" for u in sorted(self.users)]
        which = f"{self.urgency}-urgency incidents" if self.urgency else "incidents"
        what = f" to #{number}" if number is not None else ""
        return NotAllowed(
            f"Policy rule {self.number} lets only {', '.join(who)} {verb} {which}, so "
            f"nothing was done{what}. Ask one of them, or whoever runs incident-bot.",
            rule=self.number,
        )


class GroupDirectory:
    """Who is in a Slack user group (`usergroups.users.list`), remembered for 5 minutes."""

    def __init__(self, slack: AsyncWebClient) -> None:
        self._slack = slack
        self._members: TTLCache[str, frozenset[str]] = TTLCache(maxsize=1000, ttl=300)

    async def members(self, group: str) -> frozenset[str]:
        cached = self._members.get(group)
        if cached is not None:
            return cached
        try:
            response = await self._slack.usergroups_users_list(usergroup=group)
        except SLACK_FAILURES as error:
            # Fail closed: when membership cannot be read, the rule cannot be satisfied.
            logger.warning("usergroups.users.list failed for %s: %s", group, error)
            return frozenset()
        members = frozenset(str(u) for u in response.get("users") or [])
        self._members[group] = members
        return members


@dataclass(frozen=True)
class Policy:
    channels: frozenset[str] | None = None
    rules: tuple[Rule, ...] = field(default_factory=tuple)

    def check_channel(self, channel: str) -> None:
        if self.channels is not None and channel not in self.channels:
            raise NotAllowed(
                "The policy lets me act only in "
                + ", ".join(f"<#{c}>" for c in sorted(self.channels))
                + "; nothing was done here.",
                rule=0,
            )

    async def check(
        self,
        *,
        verb: Verb,
        urgency: str,
        number: int | None,
        slack_user_id: str,
        groups: GroupDirectory,
    ) -> None:
        for rule in self.rules:
            if not rule.applies(verb, urgency) or slack_user_id in rule.users:
                continue
            for group in rule.groups:
                if slack_user_id in await groups.members(group):
                    break
            else:
                raise rule.refusal(verb, number)


def load_policy(path: Path | None) -> Policy:
    if path is None:
        return Policy()
    where = f"POLICY_FILE ({path})"
    document = read_yaml_mapping(path, "POLICY_FILE", "'channels' and/or 'rules'")
    problems: list[str] = []
    channels = document.get("channels")
    if channels is not None and not _ids(channels, "C", "G"):
        problems.append(f"{where}: 'channels' must be a list of Slack channel ids")
    rules = [_rule(n, raw, where, problems) for n, raw in enumerate(document.get("rules") or [], 1)]
    if problems:
        raise ConfigError(problems)
    return Policy(
        frozenset(channels) if channels is not None else None,
        tuple(r for r in rules if r is not None),
    )


def _ids(value: Any, *prefixes: str) -> bool:
    return isinstance(value, list) and all(
        isinstance(v, str) and v.startswith(prefixes) for v in value
    )


def _rule(number: int, raw: Any, where: str, problems: list[str]) -> Rule | None:
    here = f"{where} rule {number}"
    if not isinstance(raw, dict):
        problems.append(f"{here} must be a mapping with 'verbs' and 'allow'")
        return None
    verbs, urgency, allow = raw.get("verbs"), raw.get("urgency"), raw.get("allow") or {}
    if not isinstance(verbs, list) or not verbs or not set(verbs) <= POLICY_VERBS:
        problems.append(f"{here}: 'verbs' must list some of {', '.join(sorted(POLICY_VERBS))}")
    if urgency is not None and urgency not in URGENCIES:
        problems.append(f"{here}: 'urgency' must be high or low")
    users, groups = allow.get("users") or [], allow.get("groups") or []
    if not _ids(users, "U", "W") or not _ids(groups, "S") or not (users or groups):
        problems.append(
            f"{here}: 'allow' must name Slack user ids (users: [U…]) and/or user group "
            "ids (groups: [S…])"
        )
    if problems:
        return None
    return Rule(
        number,
        frozenset(Verb(v) for v in verbs or []),
        urgency,
        frozenset(users),
        frozenset(groups),
    )
