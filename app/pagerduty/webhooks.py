"""PagerDuty v3 webhooks: signature check and the envelope's shape.

`event.data` is one of several kinds, told apart by `data.type`: an `incident` itself, or an
`incident_note`, `incident_status_update` or `incident_responder` that names its incident in
`data.incident`. Other kinds (`service`, `pagey.ping`'s `ping`, ...) concern no card.

`X-PagerDuty-Signature` is `v1=<hex HMAC-SHA256 of the raw body>`, comma-separated while
secrets rotate; any one match against any configured secret is enough.
"""

import hashlib
import hmac
import json
import re
from datetime import datetime
from typing import Any, Literal, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from app.pagerduty.models import StatusUpdate

_SIGNATURE = re.compile(r"v1=[0-9a-f]{64}")


class WebhookRejected(Exception):
    """Not a delivery we accept; `status` is the HTTP answer (401, 400, 413)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def signature_is_valid(body: bytes, header: str | None, secrets: list[str]) -> bool:
    """Any header a stranger sends (`v1=é`, say) is just not a match, never an exception."""
    if not header or not secrets:
        return False
    offered = [
        part.strip()[3:]
        for part in header.split(",")
        if _SIGNATURE.fullmatch(part.strip())  # compare_digest raises on non-ASCII text
    ]
    expected = [hmac.new(s.encode(), body, hashlib.sha256).hexdigest() for s in secrets]
    # Compare every pair so the time taken does not reveal which one matched.
    matches = [hmac.compare_digest(o, e) for o in offered for e in expected]
    return any(matches)


class Reference(BaseModel):
    model_config = ConfigDict(extra="ignore")
    id: str = ""
    summary: str = ""


class IncidentData(BaseModel):
    """`data.type` "incident": the incident itself (webhook data says `number` and
    `assignees`; the REST object says `incident_number` and `assignments`)."""

    model_config = ConfigDict(extra="ignore")
    type: Literal["incident"]
    id: str

    @property
    def incident_id(self) -> str:
        return self.id

    @property
    def detail(self) -> str:
        return ""


class IncidentNoteData(BaseModel):
    """`incident.annotated`: `data.id` is the note's id, not the incident's."""

    model_config = ConfigDict(extra="ignore")
    type: Literal["incident_note"]
    incident: Reference
    content: str = ""

    @property
    def incident_id(self) -> str:
        return self.incident.id

    @property
    def detail(self) -> str:
        return self.content


class IncidentStatusUpdateData(BaseModel):
    """`incident.status_update_published`: `data.id` is the update's id; `message` may be
    `trimmed`; the docs' example carries no time (the event's `occurred_at` stands in)."""

    model_config = ConfigDict(extra="ignore")
    type: Literal["incident_status_update"]
    incident: Reference
    id: str | None = None
    message: str = ""
    created_at: datetime | None = None

    @property
    def incident_id(self) -> str:
        return self.incident.id

    @property
    def detail(self) -> str:
        return self.message


class IncidentResponderData(BaseModel):
    """`incident.responder.added` / `.replied`: a request to respond; no id of its own."""

    model_config = ConfigDict(extra="ignore")
    type: Literal["incident_responder"]
    incident: Reference
    user: Reference | None = None
    state: str = ""

    @property
    def incident_id(self) -> str:
        return self.incident.id

    @property
    def detail(self) -> str:
        who = self.user.summary if self.user else ""
        return f"{who} ({self.state})" if who and self.state else who or self.state


IncidentChange = IncidentData | IncidentNoteData | IncidentStatusUpdateData | IncidentResponderData
_KINDS: dict[str, type[IncidentChange]] = {
    "incident": IncidentData,
    "incident_note": IncidentNoteData,
    "incident_status_update": IncidentStatusUpdateData,
    "incident_responder": IncidentResponderData,
}


class WebhookEvent(BaseModel):
    """The parts of `{"event": {...}}` the bot uses; `data` is read by its `type`."""

    model_config = ConfigDict(extra="ignore")
    id: str
    event_type: str
    resource_type: str = ""
    occurred_at: datetime
    agent: Reference | None = None
    client: dict[str, Any] | None = None
    data: dict[str, Any] = {}
    _change: IncidentChange | None = PrivateAttr(default=None)

    @field_validator("data")
    @classmethod
    def _data_of_its_kind(cls, data: dict[str, Any]) -> dict[str, Any]:
        """Refused here, so a malformed known kind is a 400 that names `event.data.…`."""
        kind = _KINDS.get(str(data.get("type", "")))
        if kind is not None:
            kind.model_validate(data)
        return data

    @model_validator(mode="after")
    def _read_data(self) -> Self:
        kind = _KINDS.get(str(self.data.get("type", "")))
        self._change = kind.model_validate(self.data) if kind else None
        return self

    @property
    def incident_id(self) -> str | None:
        """The incident this event changed; None for kinds that concern no incident."""
        return (self._change.incident_id or None) if self._change else None

    @property
    def status_update(self) -> StatusUpdate | None:
        """The status update an `incident_status_update` event published, dated when the
        event occurred if its data says no time; None for other kinds."""
        if not isinstance(self._change, IncidentStatusUpdateData):
            return None
        update = self._change
        return StatusUpdate(
            id=update.id,
            message=update.message,
            created_at=update.created_at or self.occurred_at,
        )

    @property
    def detail(self) -> str:
        """What the event adds to its thread line: a note's text, a status update's
        message, a responder and their answer; empty for the incident's own events."""
        return self._change.detail if self._change else ""


class _Envelope(BaseModel):
    event: WebhookEvent


def parse_event(body: bytes | str) -> WebhookEvent:
    if _is_legacy_v2(body):
        raise WebhookRejected(
            400,
            "this is a v2 webhook (a `messages` list); the bot takes v3 webhook subscriptions "
            "only: create one in PagerDuty (Integrations > Generic Webhooks (v3))",
        )
    try:
        return _Envelope.model_validate_json(body).event
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors(include_input=False)
        )
        raise WebhookRejected(400, f"not a PagerDuty v3 webhook event ({problems})") from None


def _is_legacy_v2(body: bytes | str) -> bool:
    """V2 extensions post `{"messages": [...]}`; v3 subscriptions post `{"event": {...}}`."""
    try:
        document = json.loads(body)
    except ValueError:
        return False
    return isinstance(document, dict) and "messages" in document and "event" not in document
