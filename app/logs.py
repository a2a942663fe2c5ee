"""Logging: JSON lines for machines or plain lines for a terminal. Whatever a library logs,
a line never carries a known secret, an email address or a token, never forges a second
line, and one noisy condition cannot flood the output."""

import json
import logging
import re
import sys
import time
import uuid
from collections.abc import Iterable
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from slack_bolt.logger.messages import warning_client_prioritized_and_token_skipped
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Set per HTTP request; Bolt's listener tasks copy the context, so the PagerDuty and Slack
# calls a click causes log the same id as the click.
REQUEST_ID: ContextVar[str] = ContextVar("request_id", default="-")

# Attributes every LogRecord has; anything else came in through `extra=`. uvicorn adds
# `color_message`, the same text with ANSI colours: noise in a JSON line.
_STANDARD = set(vars(logging.makeLogRecord({}))) | {
    "message",
    "asctime",
    "taskName",
    "color_message",
}

# Shorter "secrets" would redact ordinary words ("s[redacted]ttings"); settings refuse them.
MIN_SECRET_LENGTH = 8
# Bounded runs keep these linear on hostile text (no run is rescanned more than 64 chars).
_EMAIL = re.compile(r"[\w.+-]{1,64}(?:@|%40)[\w-]{1,63}(?:\.[\w-]{1,63}){1,8}", re.IGNORECASE)
_TOKEN = re.compile(
    r"\b(?:xox[a-z]|xapp)-[\w-]{4,}|\b(?:bearer\s+|token=)[\w.~+/=-]{8,}", re.IGNORECASE
)
# C0 and C1 controls, DEL and Unicode line breaks: each could start a forged log line.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")

# Loggers whose lines one stranger can repeat at will (asyncio's "Too many open files",
# uvicorn's "Invalid HTTP request", our connection limits): one line per kind per interval.
THROTTLED_LOGGERS = ("asyncio", "uvicorn.error", "app.serving")
THROTTLE_SECONDS = 60.0


def escape_controls(text: str) -> str:
    r"""`\x0a`, `\x1b`, `\u2028` instead of the characters themselves. (Not the
    unicode_escape codec: importing it opens a file, which fails when file handles ran out,
    which is exactly when asyncio logs most.)"""
    return _CONTROL.sub(_escaped, text)


def _escaped(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


class JsonFormatter(logging.Formatter):
    """One JSON object per line; json.dumps escapes every control character."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update({k: v for k, v in vars(record).items() if k not in _STANDARD})
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = record.stack_info
        return json.dumps(entry, default=str)


class ConsoleFormatter(logging.Formatter):
    """`time level [request id] logger: message`, escaped to one line; a traceback follows
    on indented lines, so no line of it can pass for a record of its own."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s [%(request_id)s] %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        record.message = record.getMessage()
        record.asctime = self.formatTime(record, self.datefmt)
        if not hasattr(record, "request_id"):
            record.request_id = REQUEST_ID.get()
        lines = [escape_controls(self.formatMessage(record))]
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        for block in (record.exc_text, record.stack_info):
            lines += [f"    {escape_controls(line)}" for line in (block or "").splitlines()]
        return "\n".join(lines)


class Redact(logging.Filter):
    """Last line of defence: known secrets (whole values of MIN_SECRET_LENGTH or more),
    email addresses and tokens are replaced in the message, every `extra=` field and the
    traceback, at every level."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        kept = sorted({s for s in secrets if len(s) >= MIN_SECRET_LENGTH}, key=len, reverse=True)
        self._secrets = re.compile("|".join(map(re.escape, kept))) if kept else None

    def scrub(self, text: str) -> str:
        if self._secrets is not None:
            text = self._secrets.sub("[redacted]", text)
        return _TOKEN.sub("[token]", _EMAIL.sub("[email]", text))

    def _scrub_value(self, value: object) -> object:
        if isinstance(value, str):
            return self.scrub(value)
        if isinstance(value, dict):
            return {self.scrub(str(k)): self._scrub_value(v) for k, v in value.items()}
        if isinstance(value, list | tuple | set):
            return [self._scrub_value(v) for v in value]
        if value is None or isinstance(value, bool | int | float):
            return value
        return self.scrub(str(value))

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = self.scrub(record.getMessage()), None
        extras = [key for key in vars(record) if key not in _STANDARD]
        for key in extras:
            setattr(record, key, self._scrub_value(getattr(record, key)))
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.scrub(record.exc_text)
        if record.stack_info:
            record.stack_info = self.scrub(record.stack_info)
        return True


class Throttle(logging.Filter):
    """At most one record per (logger, message template, exception type) per `seconds`
    from THROTTLED_LOGGERS; the next one that passes says how many were held back."""

    def __init__(self, seconds: float = THROTTLE_SECONDS) -> None:
        super().__init__()
        self._seconds = seconds
        self._last: dict[tuple[str, str, str], tuple[float, int]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith(THROTTLED_LOGGERS):
            return True
        kind = type(record.exc_info[1]).__name__ if record.exc_info else ""
        key = (record.name, str(record.msg), kind)
        now = time.monotonic()
        last, held = self._last.get(key, (float("-inf"), 0))
        if now - last < self._seconds:
            self._last[key] = (last, held + 1)
            return False
        self._last[key] = (now, 0)
        if held:
            record.msg = f"{record.getMessage()} ({held} more like this held back)"
            record.args = None
        return True


class DropBoltTokenNotice(logging.Filter):
    """Bolt warns that `token` is unused whenever SLACK_BOT_TOKEN is in the environment,
    because we hand it our own client (which carries that very token): not news."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() != warning_client_prioritized_and_token_skipped()


class AddRequestId(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = REQUEST_ID.get()
        return True


class RequestLog:
    """ASGI middleware: a request id for everything the request causes, and one log line
    per request (method, path, status, duration)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.logger = logging.getLogger("app.http")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        REQUEST_ID.set(uuid.uuid4().hex[:12])
        started, status = time.perf_counter(), 500

        async def send_and_note_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note_status)
        finally:
            self.logger.info(
                "%s %s %s",
                scope["method"],
                scope["path"],
                status,
                extra={"duration_ms": round((time.perf_counter() - started) * 1000, 1)},
            )


def log_handler(fmt: str, secrets: Iterable[str], stream: Any = None) -> logging.Handler:
    """The one handler `configure_logging` installs (tests attach it to a buffer)."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.addFilter(Throttle())
    handler.addFilter(AddRequestId())
    handler.addFilter(DropBoltTokenNotice())
    handler.addFilter(Redact(secrets))
    handler.setFormatter(JsonFormatter() if fmt == "json" else ConsoleFormatter())
    return handler


def configure_logging(level: str, fmt: str, secrets: Iterable[str]) -> None:
    logging.basicConfig(level=level, handlers=[log_handler(fmt, secrets)], force=True)
    # httpx logs every request line, query string included (`?query=alice%40…`), at INFO.
    logging.getLogger("httpx").setLevel(logging.DEBUG if level == "DEBUG" else logging.WARNING)
    # Alembic announces each of its plugins at INFO on every migration; the upgrades it runs
    # ("Running upgrade 0001 -> 0002") stay.
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
