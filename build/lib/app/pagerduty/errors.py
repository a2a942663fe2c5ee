"""What can go wrong talking to PagerDuty; see `app.errors` for the whole hierarchy."""

from app.errors import BotError


class PagerDutyError(BotError):
    """PagerDuty refused or failed; `message` says what the person should know."""


class IncidentNotFound(PagerDutyError):
    def __init__(self, ref: str) -> None:
        super().__init__(
            f"PagerDuty has no incident `{ref}` (it may have been merged or deleted). "
            "Check the number and try again."
        )


class PagerDutyRejected(PagerDutyError):
    """A 4xx other than 401/403/404: the request was wrong; retrying will not help."""


class PagerDutyMisconfigured(PagerDutyError):
    """401/403: the bot's own key or account, not the person's doing."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(
            "The bot's PagerDuty access is misconfigured, so nothing was changed. "
            "Please tell whoever runs incident-bot (the log says what to fix)."
        )
        self.status = status
        self.detail = detail


class PagerDutyUnavailable(PagerDutyError):
    """Retries exhausted. `may_have_landed` tells whether a write might have happened."""

    def __init__(self, *, may_have_landed: bool) -> None:
        if may_have_landed:
            message = (
                "PagerDuty did not answer in time, so the change *may or may not* have been "
                "made. Check the incident in PagerDuty before trying again."
            )
        else:
            message = "PagerDuty did not answer; nothing was changed. Try again in a minute."
        super().__init__(message)
        self.may_have_landed = may_have_landed
