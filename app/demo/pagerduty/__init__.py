"""PagerDuty REST API v2 stand-in, strict where the real API is and sharp where it bites.

Every request can be checked against PagerDuty's published OpenAPI spec (tests inject the
validator), so the bot cannot pass tests with a request the real API would refuse. State
changes copy PagerDuty's real semantics, including the surprising ones (acknowledging a
resolved incident reopens it).

Where things are:
- wire.py: the HTTP side for every endpoint: recorded requests, checks, injected faults,
  PagerDuty's error envelope, routing, pagination;
- account.py: what the account holds, how tests seed it, the references answers are made of;
- directory.py: users, services, escalation policies, on-call, priorities, abilities,
  webhook subscriptions (read endpoints);
- incidents.py: get, list, update, bulk update, notes, create, snooze, merge;
- responding.py: responder requests and status updates;
- seeds.py: the shared worlds (`seed_default`, `seed_responding`);
- standin.py: `PagerDutyStandIn`, the account served on the wire.
"""

from app.demo.pagerduty.seeds import seed_default, seed_responding
from app.demo.pagerduty.standin import PagerDutyStandIn
from app.demo.pagerduty.wire import (
    ACCEPT,
    API_URL,
    PD_TEST_TOKEN,
    WEB_URL,
    PagerDutyError,
    RecordedRequest,
    RequestValidator,
)

__all__ = [
    "ACCEPT",
    "API_URL",
    "PD_TEST_TOKEN",
    "WEB_URL",
    "PagerDutyError",
    "PagerDutyStandIn",
    "RecordedRequest",
    "RequestValidator",
    "seed_default",
    "seed_responding",
]
