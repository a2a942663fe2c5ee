"""Prometheus metrics, served at GET /metrics. Labels are small closed sets (verbs,
outcomes, status classes), never incident ids or user ids."""

from prometheus_client import Counter, Histogram

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
