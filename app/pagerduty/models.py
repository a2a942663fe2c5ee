"""The parts of PagerDuty's REST objects the bot reads. Unknown fields are ignored, so a
new PagerDuty field never breaks us."""

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class Reference(_Model):
    id: str
    type: str = ""
    summary: str = ""
    html_url: str | None = None


class Assignment(_Model):
    assignee: Reference


class Acknowledgement(_Model):
    at: datetime
    acknowledger: Reference


IncidentStatus = Literal["triggered", "acknowledged", "resolved"]
Urgency = Literal["high", "low"]


class ConferenceBridge(_Model):
    conference_url: str | None = None
    conference_number: str | None = None


class PendingAction(_Model):
    """What PagerDuty will do by itself: `unacknowledge` at the end of a snooze, for one."""

    type: str
    at: datetime


class Responder(_Model):
    """Someone asked to join (`incidents_responders`); `state` is pending until they answer."""

    state: Literal["pending", "joined", "declined", "user_cancelled"]
    user: Reference
    requester: Reference | None = None
    message: str = ""


class ResolveReason(_Model):
    """Why PagerDuty resolved an incident: today only `merge_resolve_reason`."""

    type: str = ""
    incident: Reference | None = None  # the incident it was merged into


class Incident(_Model):
    id: str
    incident_number: int
    title: str
    status: IncidentStatus
    urgency: str = "high"
    html_url: str
    created_at: datetime
    service: Reference
    escalation_policy: Reference
    assignments: list[Assignment] = []
    acknowledgements: list[Acknowledgement] = []
    last_status_change_at: datetime | None = None
    last_status_change_by: Reference | None = None
    priority: Reference | None = None
    # Only present when asked for (`include[]=conference_bridge`) and when one is set.
    conference_bridge: ConferenceBridge | None = None
    pending_actions: list[PendingAction] = []
    # Only on accounts with responder requests (the `coordinated_responding` ability).
    incidents_responders: list[Responder] = []
    resolve_reason: ResolveReason | None = None

    @property
    def merged_into(self) -> Reference | None:
        reason = self.resolve_reason
        if self.status != "resolved" or reason is None or reason.type != "merge_resolve_reason":
            return None
        return reason.incident

    @property
    def assignee_ids(self) -> set[str]:
        return {a.assignee.id for a in self.assignments}

    @property
    def snoozed_until(self) -> datetime | None:
        """A snoozed incident is an acknowledged one that PagerDuty will unacknowledge."""
        if self.status != "acknowledged":
            return None
        ends = [a.at for a in self.pending_actions if a.type == "unacknowledge"]
        return min(ends) if ends else None

    @property
    def pending_responders(self) -> list[Responder]:
        return [r for r in self.incidents_responders if r.state == "pending"]


class User(_Model):
    id: str
    name: str
    email: str
    html_url: str | None = None


class EscalationRule(_Model):
    id: str = ""
    escalation_delay_in_minutes: int = 0
    targets: list[Reference] = []


class EscalationPolicy(_Model):
    id: str
    name: str = ""
    summary: str = ""
    escalation_rules: list[EscalationRule] = []


class OnCall(_Model):
    escalation_level: int
    user: Reference
    escalation_policy: Reference | None = None
    schedule: Reference | None = None  # None: the level names the user directly
    start: datetime | None = None
    end: datetime | None = None  # None: on call until someone changes the policy


class Priority(_Model):
    """One of the account's priorities (`GET /priorities` lists them most severe first)."""

    id: str
    name: str
    description: str = ""

    def reference(self) -> dict[str, str]:
        return {"id": self.id, "type": "priority_reference"}


ServiceStatus = Literal["active", "warning", "critical", "maintenance", "disabled"]


class Service(_Model):
    id: str
    name: str
    status: ServiceStatus = "active"
    escalation_policy: Reference | None = None
    html_url: str | None = None

    @property
    def disabled(self) -> bool:
        """A disabled service refuses new incidents."""
        return self.status == "disabled"


class ResponderRequest(_Model):
    id: str | None = None
    requester: Reference | None = None
    message: str = ""
    targets: list[Reference] = Field(default=[], validation_alias="responder_request_targets")

    @field_validator("targets", mode="before")
    @classmethod
    def _unwrap(cls, value: object) -> object:
        """Each target arrives wrapped: `{"responder_request_target": {...}}`."""
        if isinstance(value, list):
            return [
                t.get("responder_request_target", t) if isinstance(t, dict) else t for t in value
            ]
        return value


class StatusUpdate(_Model):
    id: str | None = None
    message: str
    created_at: datetime | None = None
    sender: Reference | None = None


class BulkUpdate(_Model):
    """The answer to `PUT /incidents`: what changed, and the ids PagerDuty left out."""

    updated: list[Incident]
    failed_ids: list[str]


class Note(_Model):
    id: str | None = None
    content: str


class DeliveryMethod(_Model):
    url: str = ""
    # PagerDuty sets it after repeated rejected deliveries (a wrong secret, say).
    temporarily_disabled: bool = False


class WebhookSubscription(_Model):
    id: str
    active: bool = True
    delivery_method: DeliveryMethod = DeliveryMethod()

    @property
    def delivering(self) -> bool:
        return self.active and not self.delivery_method.temporarily_disabled
