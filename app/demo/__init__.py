"""The playground (`python -m app demo`) and the simulated Slack and PagerDuty it runs
against; the tests run the bot against the same simulators."""
