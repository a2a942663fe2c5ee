"""incident-bot: act on PagerDuty incidents from Slack, as yourself."""
