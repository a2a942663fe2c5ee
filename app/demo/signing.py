"""Build Slack requests exactly as Slack signs and encodes them, so the bot's verifier runs."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from typing import Any
from urllib.parse import quote, urlencode

# A slash command's full field set, as the shared sample
# (../shared/contracts/slack/requests/slash_command.incident_resolve.form.json) records it.
SLASH_COMMAND_FIELDS = {
    "token": "legacy-verification-token",
    "team_id": "T0G9PQBBK",
    "team_domain": "acme-sre",
    "channel_id": "C0INCIDENTS",
    "channel_name": "incidents",
    "user_id": "U0ALICE01",
    "user_name": "alice",
    "command": "/incident",
    "text": "resolve 123 fixed db",
    "api_app_id": "A0INCBOT1",
    "is_enterprise_install": "false",
    "response_url": "https://hooks.slack.com/commands/T0G9PQBBK/5111111111111/AbCdEfGhIjKlMnOpQrStUvWx",
    "trigger_id": "5111111111111.4222222222222.0123456789abcdef0123456789abcdef",
}
FORM = "application/x-www-form-urlencoded"
JSON = "application/json"


def sign_slack(secret: str, body: bytes, timestamp: int | None = None) -> dict[str, str]:
    """Slack's v0 signature headers over the exact body bytes."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    base = b"v0:" + ts.encode() + b":" + body
    digest = hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    return {"x-slack-request-timestamp": ts, "x-slack-signature": f"v0={digest}"}


def new_trigger_id() -> str:
    """A `trigger_id` in Slack's shape; Slack gives every command and interaction its own
    (the bot acts once per trigger, so tests that repeat a request need fresh ones)."""
    return f"{secrets.randbelow(10**13)}.4222222222222.{secrets.token_hex(16)}"


def signed_headers(
    secret: str, body: bytes, content_type: str, *, timestamp: int | None = None
) -> dict[str, str]:
    """Everything Slack sends with a request: content type plus signature."""
    return {"content-type": content_type, **sign_slack(secret, body, timestamp)}


def slash_command_body(
    text: str,
    *,
    user_id: str = "U0ALICE01",
    channel_id: str = "C0INCIDENTS",
    response_url: str,
    command: str = "/incident",
) -> bytes:
    """A slash command form body, starting from the shared sample's full field set."""
    fields = dict(SLASH_COMMAND_FIELDS)
    fields.update(
        text=text,
        user_id=user_id,
        channel_id=channel_id,
        response_url=response_url,
        command=command,
        trigger_id=new_trigger_id(),
    )
    return urlencode(fields).encode()


def interactivity_body(payload: dict[str, Any]) -> bytes:
    """Interactivity arrives as a form with one ``payload`` field holding JSON."""
    return b"payload=" + quote(json.dumps(payload)).encode()


def events_body(event_envelope: dict[str, Any]) -> bytes:
    """Events API bodies are raw JSON."""
    return json.dumps(event_envelope).encode()


def sign_pagerduty(secret: str, body: bytes) -> dict[str, str]:
    """PagerDuty's v3 webhook headers: `X-PagerDuty-Signature: v1=<hmac-sha256 hex>`."""
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {"content-type": "application/json", "x-pagerduty-signature": f"v1={digest}"}
