"""Slack's request signature, checked on whatever bytes a stranger sends.

`X-Slack-Signature` is `v0=<hex HMAC-SHA256 of "v0:{timestamp}:{raw body}">` and the
timestamp must be within five minutes of now. Headers and body are checked as bytes of a
known shape first, so a malformed one (non-ASCII digits, a 5,000-digit number, `v0=é`,
invalid UTF-8) is simply not signed: a 401 and one log line, never an exception.
"""

import hashlib
import hmac
import logging
import re
import time

logger = logging.getLogger(__name__)

MAX_AGE_SECONDS = 5 * 60
_TIMESTAMP = re.compile(r"[0-9]{1,12}")  # ASCII digits only; Unix seconds fit in 12
_SIGNATURE = re.compile(r"v0=[0-9a-f]{64}")


def signed_by_slack(
    secret: str, body: bytes, timestamp: str, signature: str, *, now: float | None = None
) -> bool:
    """True only for a fresh, matching signature; logs why otherwise (never the values)."""
    if not _TIMESTAMP.fullmatch(timestamp):
        return _refused("X-Slack-Request-Timestamp is missing or not a number")
    if abs((time.time() if now is None else now) - int(timestamp)) > MAX_AGE_SECONDS:
        return _refused("X-Slack-Request-Timestamp is more than 5 minutes from now")
    if not _SIGNATURE.fullmatch(signature):
        return _refused("X-Slack-Signature is missing or not v0=<64 hex digits>")
    base = b"v0:" + timestamp.encode("ascii") + b":" + body
    expected = "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, signature):
        return _refused("X-Slack-Signature does not match the body")
    return True


def _refused(reason: str) -> bool:
    logger.warning("slack request refused: %s", reason)
    return False
