"""The use cases: understand what a person asked for and do it to a PagerDuty incident.
One concept a module: `grammar` (words), `person` (who asks, from which workspace), `intake`
(the one pipeline), `actions` (what is done, on a fresh read), `locks`, `escalation`,
`cards` (Slack messages of an incident), `outcomes` (how a result is said) and `sync`
(webhooks and the reconciler)."""
