"""How `python -m app` serves HTTP: uvicorn, with limits for when strangers reach it directly.

uvicorn bounds header size (h11, 16 KiB) and idle keep-alive (5 s) but not the rest, so:
- at most MAX_CONNECTIONS open connections (and fewer than the open-file limit, which is
  raised to its hard maximum at start): one more is answered 503 and closed at once;
- a request's headers must arrive within HEADER_TIMEOUT_SECONDS and its body within
  BODY_TIMEOUT_SECONDS after them (slowloris, one byte every two seconds): else it is closed;
- unfinished requests may hold MAX_UNFINISHED_REQUEST_BYTES in all: the one going over is
  closed (each is at most 1 MiB, see app.web);
- at most MAX_CONCURRENT_REQUESTS are handled at once; one more is answered 503.
Each refusal logs one line per kind per minute (app.logs.Throttle), never one per request.
"""

import asyncio
import logging
import resource
from dataclasses import dataclass
from typing import Any

import h11
import uvicorn
from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol

from app.settings import Settings

logger = logging.getLogger(__name__)

# File descriptors kept free for everything but client connections (database, Slack and
# PagerDuty clients, log files), so a full house of clients never starves them.
RESERVED_FILES = 32
_BUSY = b"HTTP/1.1 503 Service Unavailable\r\nconnection: close\r\ncontent-length: 0\r\n\r\n"
_TOO_SLOW = b"HTTP/1.1 408 Request Timeout\r\nconnection: close\r\ncontent-length: 0\r\n\r\n"
_REQUEST_INCOMPLETE = (h11.IDLE, h11.SEND_BODY)


@dataclass(frozen=True)
class Limits:
    max_connections: int
    max_concurrent_requests: int
    header_timeout: float
    body_timeout: float
    max_unfinished_request_bytes: int

    @classmethod
    def of(cls, settings: Settings, open_files: int) -> "Limits":
        return cls(
            max_connections=max(1, min(settings.max_connections, open_files - RESERVED_FILES)),
            max_concurrent_requests=settings.max_concurrent_requests,
            header_timeout=settings.header_timeout_seconds,
            body_timeout=settings.body_timeout_seconds,
            max_unfinished_request_bytes=settings.max_unfinished_request_bytes,
        )


def raise_open_file_limit() -> int:
    """Lift the soft RLIMIT_NOFILE to the hard one (allowed without privileges); the
    resulting soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = hard if hard != resource.RLIM_INFINITY else max(soft, 65536)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
            soft = wanted
        except (ValueError, OSError) as error:
            logger.warning("cannot raise the open-file limit from %d: %s", soft, error)
    return soft if soft != resource.RLIM_INFINITY else wanted


class _UnfinishedBytes:
    """Bytes received for requests not yet complete, across one server's connections."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.held = 0


def guarded_protocol(limits: Limits) -> type[H11Protocol]:
    """uvicorn's h11 protocol with the connection, time and memory limits above."""
    unfinished = _UnfinishedBytes(limits.max_unfinished_request_bytes)

    class GuardedH11Protocol(H11Protocol):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._deadline: asyncio.TimerHandle | None = None
            self._waiting_for = ""
            self._held = 0

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            if len(self.connections) > limits.max_connections:
                logger.warning(
                    "connection refused: %d open (MAX_CONNECTIONS)", limits.max_connections
                )
                self._refuse(_BUSY)
                return
            self._expect("headers", limits.header_timeout)

        def data_received(self, data: bytes) -> None:
            if self.transport.is_closing():
                return
            if self.conn.their_state in _REQUEST_INCOMPLETE:
                if not self._waiting_for:  # the next request on a kept-alive connection
                    self._expect("headers", limits.header_timeout)
                if unfinished.held + len(data) > unfinished.limit:
                    logger.warning(
                        "connection closed: unfinished requests hold over %d bytes"
                        " (MAX_UNFINISHED_REQUEST_BYTES)",
                        unfinished.limit,
                    )
                    self._refuse(_BUSY if self.conn.their_state is h11.IDLE else b"")
                    return
                unfinished.held += len(data)
                self._held += len(data)
            super().data_received(data)
            state = self.conn.their_state
            if state is h11.SEND_BODY and self._waiting_for != "body":
                self._expect("body", limits.body_timeout)
            elif state not in _REQUEST_INCOMPLETE:
                self._complete()

        def connection_lost(self, exc: Exception | None) -> None:
            self._complete()
            super().connection_lost(exc)

        def _expect(self, part: str, seconds: float) -> None:
            if self._deadline is not None:
                self._deadline.cancel()
            self._waiting_for = part
            self._deadline = self.loop.call_later(seconds, self._too_slow)

        def _too_slow(self) -> None:
            timeouts = {"headers": "HEADER_TIMEOUT_SECONDS", "body": "BODY_TIMEOUT_SECONDS"}
            logger.warning(
                "connection closed: request %s not received in time (%s)",
                self._waiting_for,
                timeouts[self._waiting_for],
            )
            # Before a request started, nothing else writes: a 408 tells a real client why.
            started = self.cycle is not None and not self.cycle.response_complete
            self._refuse(b"" if started else _TOO_SLOW)

        def _complete(self) -> None:
            """The request arrived (or the connection ended): stop its clock and budget."""
            if self._deadline is not None:
                self._deadline.cancel()
                self._deadline = None
            self._waiting_for = ""
            unfinished.held -= self._held
            self._held = 0

        def _refuse(self, answer: bytes) -> None:
            self._complete()
            if answer and self.conn.our_state is h11.IDLE:
                self.transport.write(answer)
            self.transport.close()

    return GuardedH11Protocol


class ConcurrentRequestLimit:
    """ASGI middleware: more than `limit` requests in progress and the next one gets 503."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit
        self.in_progress = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self.in_progress >= self.limit:
            logger.warning("request refused: %d in progress (MAX_CONCURRENT_REQUESTS)", self.limit)
            await send(
                {
                    "type": "http.response.start",
                    "status": 503,
                    "headers": [(b"content-type", b"text/plain"), (b"retry-after", b"1")],
                }
            )
            await send({"type": "http.response.body", "body": b"busy; retry shortly"})
            return
        self.in_progress += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_progress -= 1


def serve(web_app: ASGIApp, settings: Settings) -> None:
    limits = Limits.of(settings, raise_open_file_limit())
    if limits.max_connections < settings.max_connections:
        logger.warning(
            "MAX_CONNECTIONS lowered to %d to stay under the open-file limit",
            limits.max_connections,
        )
    uvicorn.run(
        ConcurrentRequestLimit(web_app, limits.max_concurrent_requests),
        host=settings.host,
        port=settings.port,
        http=guarded_protocol(limits),
        log_config=None,
        access_log=False,  # app.logs.RequestLog logs each request once, with its request id
        # Open requests get this long after SIGTERM; the actions they started then get
        # SHUTDOWN_GRACE_SECONDS more (see app.web's lifespan).
        timeout_graceful_shutdown=10,
    )
