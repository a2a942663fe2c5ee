"""Errors a person should read.

Every failure the bot can explain is a ``BotError`` carrying ``message``: the sentence a
tired responder sees in Slack, as mrkdwn already safe to post (no secrets; any text we did
not write is escaped with ``app.mrkdwn.escape`` where the message is built).
One error handler (``app.bolt``) turns them into Slack messages; anything else is a bug,
logged with its traceback, and the person hears only that something broke.

    BotError
    ├── UsageError              the command was malformed; nothing was sent to PagerDuty
    ├── NotMapped               the Slack user has no verified PagerDuty user (app.identity)
    ├── NotAllowed              POLICY_FILE forbids it here or to this person (app.policy)
    ├── NothingToDo             the incident is already in the asked-for state; no write
    ├── NeedsLevel              escalate cannot tell the current level; asks for one
    ├── Busy                    another action on the incident holds it too long; try again
    ├── StoppedByShutdown       the process stopped before the action finished
    ├── SlackUnavailable        Slack failed where we needed it (a thread, a card, a profile)
    └── PagerDutyError          PagerDuty refused or failed (app.pagerduty.errors)
        ├── IncidentNotFound        404
        ├── PagerDutyRejected       400 and other 4xx: PagerDuty's own reason is shown
        ├── PagerDutyMisconfigured  401/403: our token or account, not the person
        ├── PagerDutyUnavailable    429/5xx/timeouts beyond the retry budget
        ├── PrioritiesDisabled      the account has no priorities (off, or not in its plan)
        ├── ResponderRequestsUnavailable  402: the plan lacks coordinated responding
        └── MergeRefused            400 on a merge, in words
"""

from typing import TYPE_CHECKING

from aiohttp import ClientError
from slack_sdk.errors import SlackApiError

if TYPE_CHECKING:
    from app.pagerduty.models import Incident


class BotError(Exception):
    """A failure with a sentence for the person who asked."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UsageError(BotError):
    """The command could not be understood; nothing was sent to PagerDuty."""


class NotMapped(BotError):
    """A Slack user without a verified PagerDuty user."""


class OutsideWorkspace(BotError):
    """A person from a Slack workspace the bot does not act for (Slack Connect)."""


class NotAllowed(BotError):
    """The authorization policy refuses; `rule` is the rule's number (0: the channels)."""

    def __init__(self, message: str, rule: int) -> None:
        super().__init__(message)
        self.rule = rule


class NothingToDo(BotError):
    """The incident is already where the person wanted it; writing would change nothing
    or, worse, re-open it. Carries the fresh incident so a stale card can be redrawn."""

    def __init__(self, message: str, incident: "Incident | None" = None) -> None:
        super().__init__(message)
        self.incident = incident


class NeedsLevel(BotError):
    """The current escalation level is ambiguous; the person must name one."""


class Busy(BotError):
    """Another replica's action on the same incident did not finish in time."""


class StoppedByShutdown(BotError):
    """An action cut short because the process is stopping (after its grace period)."""


class SlackUnavailable(BotError):
    """Slack's Web API failed where we needed an answer from it (the webhook worker
    retries the event later)."""


# What a Slack Web API call can raise: Slack's "ok": false, or no answer at all.
SLACK_FAILURES = (SlackApiError, ClientError, TimeoutError)

_WHY = {
    "not_in_channel": "I'm not in this channel: invite me with `/invite @incident-bot`",
    "channel_not_found": "I can't see this channel (a private channel needs an invite)",
    "is_archived": "this channel is archived",
    "ratelimited": "Slack is rate-limiting me",
    "invalid_auth": "my Slack token is not valid; tell whoever runs incident-bot",
    "account_inactive": "my Slack token was revoked; tell whoever runs incident-bot",
}


def slack_error_reason(error: Exception) -> str:
    """One of `SLACK_FAILURES`, as a person reads it."""
    if not isinstance(error, SlackApiError):
        return "Slack did not answer"
    code = str(error.response.get("error", "unknown_error"))
    return _WHY.get(code, code)
