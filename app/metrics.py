"""Prometheus metrics, served at GET /metrics to a scraper holding METRICS_TOKEN. Labels are
small closed sets (verbs, outcomes, status classes), never incident ids or user ids."""

import hmac

from prometheus_client import Counter, Histogram
from pydantic import SecretStr

ACTIONS = Counter(
    "incidentbot_actions_total",
    "Actions attempted through the bot, by verb and outcome (done, refused, failed).",
    ["verb", "outcome"],
)
PAGERDUTY_CALLS = Histogram(
    "incidentbot_pagerduty_request_seconds",
    "PagerDuty REST calls by method and result (2xx, 4xx, 5xx, timeout, error).",
    ["method", "result"],
)
SLACK_CALLS = Histogram(
    "incidentbot_slack_call_seconds",
    "Slack Web API calls by method and result (ok or Slack's error code).",
    ["method", "result"],
)
WEBHOOK_EVENTS = Counter(
    "incidentbot_webhook_events_total",
    "PagerDuty webhook deliveries by outcome (accepted, duplicate, rejected, processed, ...).",
    ["outcome"],
)
DEDUPE_HITS = Counter(
    "incidentbot_dedupe_hits_total",
    "Requests dropped as repeats (Slack event retries, webhook redeliveries).",
    ["kind"],
)
UNMAPPED_REFUSALS = Counter(
    "incidentbot_unmapped_refusals_total",
    "Actions refused because the Slack user has no verified PagerDuty user.",
)


def scrape_allowed(authorization: str | None, token: SecretStr | None) -> bool:
    """`Authorization: Bearer <METRICS_TOKEN>`, compared in constant time; never without one."""
    scheme, _, offered = (authorization or "").partition(" ")
    if token is None or scheme.lower() != "bearer" or not offered.isascii():
        return False
    return hmac.compare_digest(offered.strip().encode(), token.get_secret_value().encode())
