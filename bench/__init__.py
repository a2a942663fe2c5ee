"""Load benchmark for incident-bot: ack latency against Bolt's own floor, and whether every
PagerDuty write still lands, while PagerDuty is slow. Run `python -m bench --help`."""
