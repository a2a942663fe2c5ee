"""Who is acting: the Slack person behind a request and the workspace Slack says they are
from. Every way in builds it with `Person.of(body)` and the intake requires it, so no way
in can forget the workspace and skip the Slack Connect check (a channel shared with another
organisation lets its people use the bot's buttons, commands and shortcuts too)."""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Person:
    slack_user_id: str
    # Their workspace (or Grid organisation), where the request says it. None only when
    # Slack sent none: an explicit `Person(id, None)`, never a default.
    team_id: str | None

    @classmethod
    def of(cls, body: Mapping[str, Any]) -> "Person":
        """The person behind any Slack request body: `user.id` and `user.team_id`
        (interactivity: buttons, menus, modals, shortcuts), the event's `user` and its
        `user_team`, `user_profile.team` or `team` (Events API), `user_id` and `user_team`
        or `team_id` (slash commands)."""
        user, event = body.get("user"), body.get("event")
        if isinstance(user, Mapping):
            person, team = user.get("id"), user.get("team_id")
        elif isinstance(event, Mapping):
            profile = event.get("user_profile")
            person = event.get("user")
            team = (
                event.get("user_team")
                or (profile.get("team") if isinstance(profile, Mapping) else None)
                or event.get("team")
            )
        else:
            person, team = body.get("user_id"), body.get("user_team") or body.get("team_id")
        if not (isinstance(person, str) and person):
            raise ValueError("A Slack request without the person who sent it.")
        return cls(person, team if isinstance(team, str) and team else None)
