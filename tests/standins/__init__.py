"""In-process stand-ins for PagerDuty and Slack, served on real loopback sockets.

The bot's real HTTP clients (httpx, slack_sdk/aiohttp) talk to these over TCP, so
tests exercise serialisation, headers, retries and timeouts exactly as in production.
"""
