"""Serve an ASGI app on a real loopback port inside the test's own event loop.

Real sockets let the bot's production HTTP clients (httpx, aiohttp) run unmodified;
sharing the test's loop keeps stand-in state inspectable without locks.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import AsyncIterator, Iterator, Mapping

import uvicorn
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

_STARTUP_TIMEOUT = 5.0
logger = logging.getLogger(__name__)


class DropConnection(Exception):
    """Raised after the status line is sent, so uvicorn closes the socket mid-answer."""


class DroppedConnectionResponse(Response):
    """Sends the headers, then kills the connection: what a crashing proxy looks like."""

    def __init__(self, status_code: int = 200, headers: Mapping[str, str] | None = None) -> None:
        # A promised-but-missing body makes clients see a truncated answer, not an empty one.
        super().__init__(b"{", status_code, headers, "application/json")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send(
            {"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers}
        )
        raise DropConnection


class _HideDroppedConnections(logging.Filter):
    """uvicorn logs every app exception; a deliberate drop is not worth a traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], DropConnection))


class _LoopbackServer(uvicorn.Server):
    """uvicorn.Server that leaves Ctrl-C to pytest and notices should_exit within 10 ms."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

    async def main_loop(self) -> None:
        counter = 0
        while not await self.on_tick(counter):
            counter = (counter + 1) % 864_000
            await asyncio.sleep(0.01)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        """uvicorn's shutdown minus its fixed 100 ms nap; tests stop servers constantly."""
        for server in self.servers:
            server.close()
        for connection in list(self.server_state.connections):
            connection.shutdown()  # closes idle keep-alive connections, finishes busy ones
        try:  # uvicorn offers no event for "all connections gone", hence the polling
            async with asyncio.timeout(self.config.timeout_graceful_shutdown):
                while self.server_state.connections or self.server_state.tasks:  # noqa: ASYNC110
                    await asyncio.sleep(0.002)
        except TimeoutError:
            logger.warning("stand-in still busy at teardown; cancelling its requests")
            for task in self.server_state.tasks:
                task.cancel()
        await self.lifespan.shutdown()


def peer(request: Request) -> str:
    """The caller's address and port: one per connection."""
    return f"{request.client.host}:{request.client.port}" if request.client else ""


async def pause(request: Request, seconds: float) -> None:
    """Sleep like a slow server, but stop early once the client has hung up."""
    if seconds <= 0:
        return

    async def client_gone() -> None:
        while (await request.receive())["type"] != "http.disconnect":
            pass

    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(client_gone(), timeout=seconds)


@contextlib.asynccontextmanager
async def serve_on_loopback(asgi_app: ASGIApp) -> AsyncIterator[str]:
    """Run ``asgi_app`` on 127.0.0.1:<free port>; yields the base URL, stops it on exit."""
    error_logger = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, _HideDroppedConnections) for f in error_logger.filters):
        error_logger.addFilter(_HideDroppedConnections())

    # proto must be IPPROTO_TCP or asyncio skips TCP_NODELAY and every keep-alive answer
    # stalls 40 ms on Nagle + delayed ACK.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        asgi_app,
        log_level="warning",
        log_config=None,  # records propagate to pytest's capture instead of raw stderr
        access_log=False,
        lifespan="off",
        http="h11",  # same protocol whether or not httptools happens to be installed
        ws="none",
        timeout_graceful_shutdown=1,  # a request a test left hanging must not stall teardown
    )
    server = _LoopbackServer(config)
    task = asyncio.create_task(server.serve(sockets=[sock]), name=f"loopback:{port}")
    try:
        async with asyncio.timeout(_STARTUP_TIMEOUT):
            while not server.started:
                if task.done():
                    task.result()  # surfaces the startup exception
                    raise RuntimeError("uvicorn exited before it started serving")
                await asyncio.sleep(0.001)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
        sock.close()
