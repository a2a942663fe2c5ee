"""PagerDuty v3 webhooks: signature check and the envelope's shape.

`X-PagerDuty-Signature` is `v1=<hex HMAC-SHA256 of the raw body>`, comma-separated while
secrets rotate; any one match against any configured secret is enough.
"""

import hashlib
import hmac
import re
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

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


class WebhookEvent(BaseModel):
    """The parts of `{"event": {...}}` the bot uses. Incident data here says `number` and
    `assignees` (the REST object says `incident_number` and `assignments`)."""

    model_config = ConfigDict(extra="ignore")
    id: str
    event_type: str
    resource_type: str = ""
    occurred_at: datetime
    agent: Reference | None = None
    client: dict[str, Any] | None = None
    data: dict[str, Any] = {}

    @property
    def incident_id(self) -> str | None:
        if self.resource_type != "incident" and not self.event_type.startswith("incident."):
            return None
        value = self.data.get("id")
        return value if isinstance(value, str) and value else None

    @property
    def service_id(self) -> str | None:
        service = self.data.get("service") or {}
        value = service.get("id") if isinstance(service, dict) else None
        return value if isinstance(value, str) else None


class _Envelope(BaseModel):
    event: WebhookEvent


def parse_event(body: bytes | str) -> WebhookEvent:
    try:
        return _Envelope.model_validate_json(body).event
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors(include_input=False)
        )
        raise WebhookRejected(400, f"not a PagerDuty v3 webhook event ({problems})") from None
