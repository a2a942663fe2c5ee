"""PagerDuty REST API v2: one client, its models and its errors."""
