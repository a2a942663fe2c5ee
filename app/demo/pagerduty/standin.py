"""The stand-in as tests and the playground use it: the account, served on PagerDuty's wire."""

from __future__ import annotations

from functools import partial

from app.demo.pagerduty import directory, incidents, responding
from app.demo.pagerduty.account import Account
from app.demo.pagerduty.wire import PD_TEST_TOKEN, Endpoint, RequestValidator, Wire


class PagerDutyStandIn(Account, Wire):
    """Stateful PagerDuty: seed it, point the bot at it, then assert on state and requests."""

    def __init__(
        self, api_token: str = PD_TEST_TOKEN, validator: RequestValidator | None = None
    ) -> None:
        Account.__init__(self)
        endpoints: list[Endpoint] = [
            (method, pattern, partial(handler, self))  # each endpoint acts on this account
            for method, pattern, handler in (
                *directory.ENDPOINTS,
                *incidents.ENDPOINTS,
                *responding.ENDPOINTS,
            )
        ]
        Wire.__init__(self, api_token, validator, endpoints)

    def reply_to_responder_request(self, incident_id: str, user_id: str, state: str) -> None:
        """What the paged person does in PagerDuty: ``joined`` or ``declined``."""
        responding.reply_to_responder_request(self, incident_id, user_id, state)
