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
    """A 4xx other than 401/403/404: the request was wrong; retrying will not help.
    `status` and `detail` (PagerDuty's reason, escaped) let a caller explain a known one."""

    def __init__(self, message: str, *, status: int | None = None, detail: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.detail = detail


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


class PrioritiesDisabled(PagerDutyError):
    """The account has no priorities: turned off, or not in its plan."""

    def __init__(self) -> None:
        super().__init__(
            "Priorities are turned off for this PagerDuty account, so an incident cannot be "
            "given one. A PagerDuty admin can turn them on under Incident Priority Settings."
        )


class ResponderRequestsUnavailable(PagerDutyError):
    """402 on a responder request: the account lacks `coordinated_responding`."""

    def __init__(self) -> None:
        super().__init__(
            "This PagerDuty account cannot add responders to an incident (its plan does not "
            "include responder requests), so nobody was paged."
        )


class MergeRefused(PagerDutyError):
    """400 on a merge: most often a source incident without alerts."""

    def __init__(self, detail: str) -> None:
        super().__init__(
            "PagerDuty refused the merge, so nothing was merged. It only merges incidents "
            "that have alerts (or were opened by hand in PagerDuty), into an open incident. "
            f"PagerDuty said: {detail}"
        )
        self.detail = detail
