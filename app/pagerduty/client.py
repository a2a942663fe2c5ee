"""The one PagerDuty REST client: one `httpx.AsyncClient` for the life of the process.

Every request first waits for the rate budget (a leaky bucket under PagerDuty's 960
requests/min per key), so a storm of clicks queues here instead of drawing 429s. Work
nobody is waiting for (webhook processing, the reconciler) uses `background()`, a view of
the same client that also passes a smaller bucket, so it can never take the whole budget
from a person's click.

Retries (tenacity) cover what PagerDuty tells us to retry: 408, 429 (waiting for
`ratelimit-reset`), 5xx, timeouts and dropped connections; bounded in attempts and in
each wait. A request that may already have reached PagerDuty is never sent again when
sending it twice would act twice (a note POST); that caller hears "may have landed".
"""

import asyncio
import copy
import logging
import time
from contextvars import ContextVar
from typing import Any

import httpx
from aiolimiter import AsyncLimiter
from pydantic import SecretStr
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential_jitter,
)

from app.errors import BotError
from app.metrics import PAGERDUTY_CALLS
from app.mrkdwn import escape
from app.pagerduty.errors import (
    IncidentNotFound,
    PagerDutyMisconfigured,
    PagerDutyRejected,
    PagerDutyUnavailable,
)
from app.pagerduty.models import (
    EscalationPolicy,
    Incident,
    IncidentStatus,
    Note,
    OnCall,
    User,
    WebhookSubscription,
)
from app.pagerduty.operations import ResponderOperations

logger = logging.getLogger(__name__)


class WritesSent:
    """How many writes one person's request has sent to PagerDuty, so that a request
    stopped by a shutdown can say whether anything there may have changed."""

    def __init__(self) -> None:
        self.count = 0


# The tally of the request being worked on, set where requests are reported
# (app/listeners/reporting.py). A context variable because the work runs through several
# calls and, for `ack 123 124`, `asyncio.gather`: each gathered task gets a copy of the
# context, and the copy holds the same tally.
WRITES_SENT: ContextVar[WritesSent | None] = ContextVar("pagerduty_writes_sent", default=None)

_RETRYABLE_STATUS = {408, 429, 500, 502, 503, 504}

# Errors raised before the request could have left this process.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
_MAX_USER_PAGES = 5
# PagerDuty's classic pagination stops at offset 10,000; a reconcile never needs more.
_MAX_OPEN_LISTED = 10_000  # 100 pages: far more open incidents than any team works on
_OPEN_STATUSES: tuple[IncidentStatus, ...] = ("triggered", "acknowledged")


class _Transient(Exception):
    """An attempt that may succeed if tried again."""

    def __init__(self, reason: str, *, wait_hint: float | None = None, sent: bool) -> None:
        super().__init__(reason)
        self.wait_hint = wait_hint
        self.sent = sent


def _error_detail(response: httpx.Response) -> str:
    """PagerDuty's `{"error": {"message", "errors"}}` as one line (both `errors` formats)."""
    try:
        error = response.json().get("error") or {}
    except ValueError:
        return response.text[:200] or f"HTTP {response.status_code}"
    message = str(error.get("message") or f"HTTP {response.status_code}")
    errors = error.get("errors")
    if isinstance(errors, dict):
        details = [f"{field}: {'; '.join(map(str, v))}" for field, v in errors.items()]
    elif isinstance(errors, list):
        details = [str(e) for e in errors]
    else:
        details = []
    return f"{message} ({'; '.join(details)})" if details else message


class _Connections:
    """The one `httpx.AsyncClient`, shared with the background view. Making it loads the CA
    bundle (~0.1 s of CPU), which a restart need not finish before the bot says it is
    ready: `open` makes it on a worker thread once the bot is serving (else the first
    request makes it)."""

    def __init__(self, **options: Any) -> None:
        self._options = options
        self._client: httpx.AsyncClient | None = None

    @property
    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(**self._options)
        return self._client

    async def open(self) -> None:
        if self._client is not None:
            return
        try:
            made = await asyncio.to_thread(httpx.AsyncClient, **self._options)
        except Exception:  # the first request makes it again, and says why it cannot
            return
        await self._keep(made)

    async def _keep(self, made: httpx.AsyncClient) -> None:
        if self._client is None:
            self._client = made
        else:  # a request made one meanwhile
            await made.aclose()

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()


class PagerDutyClient(ResponderOperations):
    def __init__(
        self,
        api_url: str,
        token: SecretStr,
        *,
        timeout: float = 15.0,  # PagerDuty can take 10 s in a storm; that is still an answer
        attempts: int = 4,
        backoff_seconds: float = 0.5,
        max_wait_seconds: float = 20.0,
        requests_per_second: float = 15.0,  # 900/min: PagerDuty allows 960/min per key
        background_share: float = 1 / 3,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._http = _Connections(
            base_url=api_url.rstrip("/"),
            headers={
                "Authorization": f"Token token={token.get_secret_value()}",
                "Accept": "application/vnd.pagerduty+json;version=2",
                "Content-Type": "application/json",
            },
            timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)),
            transport=transport,
        )
        self._background_budget = AsyncLimiter(requests_per_second * background_share, 1)
        # Every request passes each of these in turn (the background view adds its own).
        self._budgets: tuple[AsyncLimiter, ...] = (AsyncLimiter(requests_per_second, 1),)
        self._attempts = attempts
        self._max_wait = max_wait_seconds
        self._backoff = wait_exponential_jitter(
            multiplier=backoff_seconds, max=max_wait_seconds, jitter=backoff_seconds
        )

    def background(self) -> "PagerDutyClient":
        """This client for work nobody waits on: same connection pool and overall budget,
        plus the smaller background bucket first."""
        view = copy.copy(self)
        view._budgets = (self._background_budget, *self._budgets)
        return view

    async def open(self) -> None:
        """Make the connection pool off the event loop, so the first action need not."""
        await self._http.open()

    async def aclose(self) -> None:
        await self._http.aclose()

    # --- reads -----------------------------------------------------------------------

    async def get_incident(self, ref: str) -> Incident:
        """`ref` is an incident id or its number: PagerDuty's GET accepts both. The bridge
        is only sent when asked for."""
        data = await self._request(
            "GET",
            f"/incidents/{ref}",
            params={"include[]": "conference_bridge"},
            not_found=IncidentNotFound(ref),
        )
        return Incident.model_validate(data["incident"])

    async def list_open_incidents(self) -> list[Incident]:
        """Every triggered or acknowledged incident, 100 per request (one request per 100
        open incidents, however many cards): what a bulk reconcile compares cards with.

        Offset pages can shift while incidents change: one resolved between two pages can
        push another past the page boundary, so absence from this list is a hint to read
        that incident (`get_incident`), not proof that it is resolved. Duplicates are dropped."""
        listed = await self.list_incidents(statuses=_OPEN_STATUSES, at_most=_MAX_OPEN_LISTED)
        return list({incident.id: incident for incident in listed}.values())

    async def find_user_by_email(self, email: str) -> User | None:
        """The user whose email is exactly `email` (any case). `query` matches loosely,
        so the first hit may be someone else."""
        wanted = email.strip().lower()
        for page in range(_MAX_USER_PAGES):
            data = await self._request(
                "GET", "/users", params={"query": wanted, "limit": 100, "offset": page * 100}
            )
            for user in data.get("users", []):
                if str(user.get("email", "")).lower() == wanted:
                    return User.model_validate(user)
            if not data.get("more"):
                break
        return None

    async def get_user(self, user_id: str) -> User:
        data = await self._request(
            "GET",
            f"/users/{user_id}",
            not_found=PagerDutyRejected(f"PagerDuty has no user {user_id}."),
        )
        return User.model_validate(data["user"])

    async def get_escalation_policy(self, policy_id: str) -> EscalationPolicy:
        data = await self._request(
            "GET",
            f"/escalation_policies/{policy_id}",
            not_found=PagerDutyRejected(f"PagerDuty has no escalation policy {policy_id}."),
        )
        return EscalationPolicy.model_validate(data["escalation_policy"])

    async def list_oncalls(self, policy_id: str) -> list[OnCall]:
        """Who is on call now at each level of the policy."""
        data = await self._request(
            "GET", "/oncalls", params={"escalation_policy_ids[]": policy_id, "limit": 100}
        )
        return [OnCall.model_validate(entry) for entry in data.get("oncalls", [])]

    async def list_abilities(self) -> list[str]:
        """The account's abilities: the cheapest call that proves the key works."""
        data = await self._request("GET", "/abilities")
        return [str(ability) for ability in data.get("abilities", [])]

    async def list_webhook_subscriptions(self) -> list[WebhookSubscription]:
        """Every v3 webhook subscription of the account (doctor looks for ours)."""
        subscriptions: list[WebhookSubscription] = []
        while True:
            data = await self._request(
                "GET", "/webhook_subscriptions", params={"limit": 100, "offset": len(subscriptions)}
            )
            page = data.get("webhook_subscriptions", [])
            subscriptions += [WebhookSubscription.model_validate(entry) for entry in page]
            if not data.get("more") or not page:
                return subscriptions

    # --- writes, always as a person ---------------------------------------------------

    async def update_incident(self, incident_id: str, as_email: str, **changes: Any) -> Incident:
        """PUT /incidents/{id}. Setting a status, level or assignees is idempotent, so a
        retry after a timeout cannot act twice."""
        data = await self._request(
            "PUT",
            f"/incidents/{incident_id}",
            json={"incident": {"type": "incident_reference", **changes}},
            as_email=as_email,
            not_found=IncidentNotFound(incident_id),
        )
        return Incident.model_validate(data["incident"])

    async def add_note(self, incident_id: str, as_email: str, content: str) -> Note:
        data = await self._request(
            "POST",
            f"/incidents/{incident_id}/notes",
            json={"note": {"content": content}},
            as_email=as_email,
            not_found=IncidentNotFound(incident_id),
            resend_after_send=False,  # a second POST would add a second note
        )
        return Note.model_validate(data["note"])

    # --- the one place requests are made ----------------------------------------------

    def _wait(self, state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        if isinstance(error, _Transient) and error.wait_hint is not None:
            return min(max(error.wait_hint, 0.0), self._max_wait)
        return float(self._backoff(state))

    async def _request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: dict[str, Any] | None = None,
        as_email: str | None = None,
        not_found: BotError | None = None,
        resend_after_send: bool = True,
    ) -> dict[str, Any]:
        headers = {"From": as_email} if as_email else None
        write = method != "GET"
        maybe_landed = False

        def may_retry(error: BaseException) -> bool:
            nonlocal maybe_landed
            if not isinstance(error, _Transient):
                return False
            maybe_landed = maybe_landed or (write and error.sent)
            return resend_after_send or not error.sent

        try:
            async for attempt in AsyncRetrying(
                stop=stop_after_attempt(self._attempts),
                wait=self._wait,
                retry=retry_if_exception(may_retry),
                reraise=True,
            ):
                with attempt:
                    return await self._send_once(method, path, params, json, headers, not_found)
        except _Transient as error:
            logger.warning(
                "pagerduty gave up", extra={"method": method, "path": path, "reason": str(error)}
            )
            raise PagerDutyUnavailable(may_have_landed=maybe_landed) from None
        raise AssertionError("unreachable: tenacity either returns or raises")  # pragma: no cover

    @staticmethod
    def _observe(method: str, path: str, result: str, started: float) -> None:
        seconds = time.perf_counter() - started
        PAGERDUTY_CALLS.labels(method, result).observe(seconds)
        logger.info(
            "pagerduty %s %s: %s",
            method,
            path,
            result,
            extra={"duration_ms": round(seconds * 1000, 1)},
        )

    async def _send_once(
        self,
        method: str,
        path: str,
        params: dict[str, Any] | None,
        json: dict[str, Any] | None,
        headers: dict[str, str] | None,
        not_found: BotError | None,
    ) -> dict[str, Any]:
        for budget in self._budgets:
            await budget.acquire()
        if method != "GET" and (writes := WRITES_SENT.get()) is not None:
            writes.count += 1
        started = time.perf_counter()
        try:
            response = await self._http.client.request(
                method, path, params=params, json=json, headers=headers
            )
        except _NOT_SENT as error:
            self._observe(method, path, "error", started)
            raise _Transient(f"cannot connect: {type(error).__name__}", sent=False) from None
        except httpx.TransportError as error:
            self._observe(method, path, "timeout", started)
            raise _Transient(f"no answer: {type(error).__name__}", sent=True) from None
        self._observe(method, path, f"{response.status_code // 100}xx", started)

        status = response.status_code
        if status in _RETRYABLE_STATUS:
            reset = response.headers.get("ratelimit-reset")
            hint = float(reset) if status == 429 and reset and reset.isdigit() else None
            # 429 means PagerDuty did not act; any other failure may have been half-done.
            raise _Transient(f"HTTP {status}", wait_hint=hint, sent=status != 429)
        if status in (401, 403):
            detail = _error_detail(response)
            logger.error(
                "pagerduty refused our credentials: %s",
                "PAGERDUTY_API_TOKEN is invalid or revoked; create a new REST API key"
                if status == 401
                else "the REST API key lacks access; use a full-access (not read-only) key",
                extra={"status": status, "detail": detail, "path": path},
            )
            raise PagerDutyMisconfigured(status, detail)
        if status == 404 and not_found is not None:
            raise not_found
        if status >= 400:
            detail = escape(_error_detail(response))
            raise PagerDutyRejected(f"PagerDuty refused: {detail}", status=status, detail=detail)
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            # Garbage with a 2xx: a write may well have happened.
            raise PagerDutyUnavailable(may_have_landed=method != "GET")
        return body
