"""The parts of PagerDuty's REST objects the bot reads. Unknown fields are ignored, so a
new PagerDuty field never breaks us."""

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict


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

    @property
    def assignee_ids(self) -> set[str]:
        return {a.assignee.id for a in self.assignments}


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


class Note(_Model):
    id: str | None = None
    content: str
