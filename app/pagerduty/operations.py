"""PagerDuty calls beyond acknowledge/resolve/escalate/note: the account's priorities,
policies and services by name, someone's incidents, and the writes a responder makes
around an incident (snooze, merge, responders, status updates, bulk updates, create).

A mixin of `PagerDutyClient`, so every call goes through its one `_request` (rate budget,
bounded retries, "may have landed"). Each POST that would act twice if sent twice says
`resend_after_send=False`; PUTs set a state and may be re-sent.
"""

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from app.errors import BotError
from app.pagerduty.errors import (
    IncidentNotFound,
    MergeRefused,
    PagerDutyRejected,
    PrioritiesDisabled,
    ResponderRequestsUnavailable,
)
from app.pagerduty.models import (
    BulkUpdate,
    EscalationPolicy,
    Incident,
    IncidentStatus,
    Priority,
    Reference,
    ResponderRequest,
    Service,
    StatusUpdate,
    Urgency,
)

PAGE_SIZE = 100  # PagerDuty's largest page
BULK_LIMIT = 250  # PUT /incidents answers 413 beyond this
MAX_SNOOZE_SECONDS = 7 * 24 * 3600  # the spec's maximum for POST /incidents/{id}/snooze
_MAX_NAME_PAGES = 5  # `query` matches loosely; 500 near-misses is plenty to look through


class _Transport(Protocol):
    """What these calls need from `PagerDutyClient`."""

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
    ) -> dict[str, Any]: ...

    async def update_incident(
        self, incident_id: str, as_email: str, **changes: Any
    ) -> Incident: ...


async def _named(client: _Transport, path: str, key: str, name: str) -> list[dict[str, Any]]:
    """Every `key` object whose name is exactly `name`, ignoring case; `query` alone would
    also return "Checkout API v2" for "Checkout API"."""
    wanted = name.strip().casefold()
    found = []
    for page in range(_MAX_NAME_PAGES):
        params = {"query": name.strip(), "limit": PAGE_SIZE, "offset": page * PAGE_SIZE}
        data = await client._request("GET", path, params=params)
        found += [o for o in data.get(key, []) if str(o.get("name", "")).casefold() == wanted]
        if not data.get("more"):
            break
    return found


class ResponderOperations:
    # --- reads ---------------------------------------------------------------------------

    async def list_priorities(self: _Transport) -> list[Priority]:
        """The account's priorities, most severe first. An account with priorities turned
        off answers an empty list (or 402 without them in its plan): `PrioritiesDisabled`."""
        try:
            data = await self._request("GET", "/priorities", params={"limit": PAGE_SIZE})
        except PagerDutyRejected as error:
            if error.status == 402:
                raise PrioritiesDisabled() from None
            raise
        priorities = [Priority.model_validate(p) for p in data.get("priorities", [])]
        if not priorities:
            raise PrioritiesDisabled()
        return priorities

    async def find_escalation_policies(self: _Transport, name: str) -> list[EscalationPolicy]:
        """Every policy named exactly `name` (any case): none, one, or several to list."""
        found = await _named(self, "/escalation_policies", "escalation_policies", name)
        return [EscalationPolicy.model_validate(p) for p in found]

    async def search_escalation_policies(
        self: _Transport, query: str, limit: int = PAGE_SIZE
    ) -> list[EscalationPolicy]:
        """Policies whose name contains `query` as PagerDuty matches it (loosely): for
        suggestions as someone types, never to decide which policy was meant."""
        params = {"query": query.strip(), "limit": limit}
        data = await self._request("GET", "/escalation_policies", params=params)
        return [EscalationPolicy.model_validate(p) for p in data.get("escalation_policies", [])]

    async def find_services(self: _Transport, name: str) -> list[Service]:
        """Every service named exactly `name` (any case), disabled ones included."""
        found = await _named(self, "/services", "services", name)
        return [Service.model_validate(s) for s in found]

    async def get_service(self: _Transport, service_id: str) -> Service:
        data = await self._request(
            "GET",
            f"/services/{service_id}",
            not_found=PagerDutyRejected(f"PagerDuty has no service {service_id}."),
        )
        return Service.model_validate(data["service"])

    async def list_incidents(
        self: _Transport,
        *,
        user_ids: Sequence[str] = (),
        statuses: Sequence[IncidentStatus] = (),
        at_most: int = 1000,
    ) -> list[Incident]:
        """Incidents assigned to any of `user_ids` in any of `statuses`, newest first,
        reading pages until PagerDuty has no more or `at_most` are in hand."""
        incidents: list[Incident] = []
        while len(incidents) < at_most:
            params: dict[str, Any] = {
                "user_ids[]": list(user_ids),
                "statuses[]": list(statuses),
                "sort_by": "created_at:desc",
                "limit": min(PAGE_SIZE, at_most - len(incidents)),
                "offset": len(incidents),
            }
            data = await self._request("GET", "/incidents", params=params)
            page = [Incident.model_validate(i) for i in data.get("incidents", [])]
            incidents += page
            if not page or not data.get("more"):
                break
        return incidents

    # --- typed changes to one incident (PUT /incidents/{id}) --------------------------------

    async def set_priority(
        self: _Transport, incident_id: str, as_email: str, priority: Priority
    ) -> Incident:
        return await self.update_incident(incident_id, as_email, priority=priority.reference())

    async def reassign_to_policy(
        self: _Transport, incident_id: str, as_email: str, policy_id: str
    ) -> Incident:
        """Hands the incident to another escalation policy, which starts at its first level."""
        policy = {"id": policy_id, "type": "escalation_policy_reference"}
        return await self.update_incident(incident_id, as_email, escalation_policy=policy)

    async def set_conference_bridge(
        self: _Transport, incident_id: str, as_email: str, url: str, number: str | None = None
    ) -> Incident:
        bridge = {"conference_url": url}
        if number:
            bridge["conference_number"] = number
        return await self.update_incident(incident_id, as_email, conference_bridge=bridge)

    # --- other writes, always as a person ----------------------------------------------------

    async def update_incidents(
        self: _Transport, as_email: str, changes: Mapping[str, Mapping[str, Any]]
    ) -> BulkUpdate:
        """One `PUT /incidents` per 250 incidents; `changes` maps an incident id to its fields
        (`{"PT4KHLK": {"status": "acknowledged"}}`). PagerDuty documents only the
        all-succeeded answer; an incident missing from it was not updated: `failed_ids`."""
        items = [{"id": i, "type": "incident_reference", **c} for i, c in changes.items()]
        updated: list[Incident] = []
        for start in range(0, len(items), BULK_LIMIT):
            batch = {"incidents": items[start : start + BULK_LIMIT]}
            data = await self._request("PUT", "/incidents", json=batch, as_email=as_email)
            updated += [Incident.model_validate(i) for i in data.get("incidents", [])]
        done = {i.id for i in updated}
        return BulkUpdate(updated=updated, failed_ids=[i for i in changes if i not in done])

    async def snooze(self: _Transport, incident_id: str, as_email: str, seconds: int) -> Incident:
        """Only an acknowledged incident can be snoozed; PagerDuty refuses a triggered one."""
        if not 1 <= seconds <= MAX_SNOOZE_SECONDS:
            raise ValueError(f"a snooze lasts 1 to {MAX_SNOOZE_SECONDS} seconds, not {seconds}")
        data = await self._request(
            "POST",
            f"/incidents/{incident_id}/snooze",
            json={"duration": seconds},
            as_email=as_email,
            not_found=IncidentNotFound(incident_id),
            resend_after_send=False,  # a second snooze restarts the clock and logs twice
        )
        return Incident.model_validate(data["incident"])

    async def merge(
        self: _Transport, target_id: str, source_ids: Sequence[str], as_email: str
    ) -> Reference:
        """Moves the sources' alerts into the open target and resolves the sources. The
        answer is only a reference to the target: read it again to draw it."""
        sources = [{"id": s, "type": "incident_reference"} for s in source_ids]
        try:
            data = await self._request(
                "PUT",
                f"/incidents/{target_id}/merge",
                json={"source_incidents": sources},
                as_email=as_email,
                not_found=IncidentNotFound(target_id),
                # Sent again after it landed, the sources are already gone: the person
                # would read a confusing refusal instead of "may have landed".
                resend_after_send=False,
            )
        except PagerDutyRejected as error:
            if error.status == 400:
                raise MergeRefused(error.detail) from None
            raise
        return Reference.model_validate(data["incident"])

    async def create_responder_request(
        self: _Transport,
        incident_id: str,
        as_email: str,
        requester_id: str,
        message: str,
        *,
        user_ids: Sequence[str] = (),
        policy_ids: Sequence[str] = (),
    ) -> ResponderRequest:
        """Pages each user and escalation policy to join the incident."""
        targets = [("user_reference", u) for u in user_ids]
        targets += [("escalation_policy_reference", p) for p in policy_ids]
        if not targets:
            raise ValueError("a responder request needs at least one user or policy")
        body = {
            "requester_id": requester_id,
            "message": message,
            "responder_request_targets": [
                {"responder_request_target": {"id": id, "type": kind}} for kind, id in targets
            ],
        }
        try:
            data = await self._request(
                "POST",
                f"/incidents/{incident_id}/responder_requests",
                json=body,
                as_email=as_email,
                not_found=IncidentNotFound(incident_id),
                resend_after_send=False,  # a second request pages everyone again
            )
        except PagerDutyRejected as error:
            if error.status == 402:
                raise ResponderRequestsUnavailable() from None
            raise
        return ResponderRequest.model_validate(data["responder_request"])

    async def create_status_update(
        self: _Transport, incident_id: str, as_email: str, message: str
    ) -> StatusUpdate:
        data = await self._request(
            "POST",
            f"/incidents/{incident_id}/status_updates",
            json={"message": message},
            as_email=as_email,
            not_found=IncidentNotFound(incident_id),
            resend_after_send=False,  # a second POST notifies every subscriber again
        )
        return StatusUpdate.model_validate(data["status_update"])

    async def create_incident(
        self: _Transport,
        as_email: str,
        title: str,
        service_id: str,
        *,
        urgency: Urgency | None = None,
        priority_id: str | None = None,
        incident_key: str | None = None,
    ) -> Incident:
        """Opens an incident on the service, as the person. With an `incident_key`, PagerDuty
        refuses a second open incident with that key, so a double submit opens one."""
        incident: dict[str, Any] = {
            "type": "incident",
            "title": title,
            "service": {"id": service_id, "type": "service_reference"},
        }
        if urgency:
            incident["urgency"] = urgency
        if priority_id:
            incident["priority"] = {"id": priority_id, "type": "priority_reference"}
        if incident_key:
            incident["incident_key"] = incident_key
        data = await self._request(
            "POST",
            "/incidents",
            json={"incident": incident},
            as_email=as_email,
            resend_after_send=False,  # a second POST would open a second incident
        )
        return Incident.model_validate(data["incident"])
