"""The load generator: pre-signed slash commands, sent open-loop on a fixed timetable (a slow
answer never delays the next send, as with real Slack users) or as a bounded burst."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

import aiohttp

from app.demo.signing import FORM, signed_headers, slash_command_body

SLACK_DEADLINE = 3.0  # Slack shows the user an error for anything answered later
CLIENT_TIMEOUT = 10.0


@dataclass(frozen=True)
class Signed:
    body: bytes
    headers: dict[str, str]


@dataclass
class Shot:
    """One request's fate. `latency` is send -> full answer; `lag` is how late the send
    started against its timetable slot (the generator's own health, not the server's)."""

    latency: float | None = None
    status: int | None = None
    error: str | None = None
    lag: float = 0.0
    sent_at: float = 0.0  # perf_counter at send

    @property
    def ok(self) -> bool:
        return self.status == 200 and self.latency is not None and self.latency <= SLACK_DEADLINE


@dataclass
class Phase:
    name: str
    shots: list[Shot] = field(default_factory=list)
    started: float = 0.0
    ended: float = 0.0  # every answer (or failure) is in

    def summary(self) -> dict[str, object]:
        latencies = sorted(s.latency for s in self.shots if s.latency is not None)
        errors = [s for s in self.shots if not s.ok]
        answered = [s for s in self.shots if s.latency is not None]
        slowest = max(answered, key=lambda s: s.latency or 0.0, default=None)
        kinds: dict[str, int] = {}
        for s in errors:
            kind = s.error or (f"HTTP {s.status}" if s.status != 200 else "answered > 3 s")
            kinds[kind] = kinds.get(kind, 0) + 1
        return {
            "requests": len(self.shots),
            "answered_200": sum(s.status == 200 for s in self.shots),
            "errors": len(errors),
            "error_kinds": kinds,
            "ack_ms": {
                "p50": _ms(percentile(latencies, 50)),
                "p95": _ms(percentile(latencies, 95)),
                "p99": _ms(percentile(latencies, 99)),
                "max": _ms(latencies[-1] if latencies else None),
            },
            # When the slowest answer was sent, into the phase: a start-up spike or a stall?
            "slowest_sent_at_s": round(slowest.sent_at - self.started, 3) if slowest else None,
            "send_lag_max_ms": _ms(max((s.lag for s in self.shots), default=0.0)),
            "seconds": round(self.ended - self.started, 3),
        }


def percentile(sorted_values: list[float], pct: float) -> float | None:
    """Nearest-rank percentile: an observed value, never an interpolation."""
    if not sorted_values:
        return None
    rank = max(1, -(-len(sorted_values) * pct // 100))
    return sorted_values[int(rank) - 1]


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 2)


def sign_commands(texts: list[str], *, secret: str, response_url: str) -> list[Signed]:
    """Sign everything before the clock starts; Slack's 5-minute window covers the run."""
    signed = []
    for text in texts:
        body = slash_command_body(text, user_id="U0ALICE01", response_url=response_url)
        signed.append(Signed(body, signed_headers(secret, body, FORM)))
    return signed


def session(pool: int) -> aiohttp.ClientSession:
    """One client for a whole phase: keep-alive pool as large as the concurrency."""
    connector = aiohttp.TCPConnector(limit=pool, limit_per_host=pool, ttl_dns_cache=None)
    return aiohttp.ClientSession(
        connector=connector,
        timeout=aiohttp.ClientTimeout(total=CLIENT_TIMEOUT),
        skip_auto_headers=("User-Agent",),
    )


async def _send(http: aiohttp.ClientSession, url: str, request: Signed, shot: Shot) -> None:
    started = shot.sent_at = time.perf_counter()
    try:
        async with http.post(url, data=request.body, headers=request.headers) as response:
            await response.read()
            shot.status = response.status
    except (aiohttp.ClientError, TimeoutError) as error:
        shot.error = type(error).__name__
        return
    shot.latency = time.perf_counter() - started


async def open_loop(
    http: aiohttp.ClientSession, url: str, requests: list[Signed], rate: float, name: str
) -> Phase:
    """Send request i at start + i/rate whatever the earlier ones are doing."""
    phase = Phase(name, [Shot() for _ in requests])
    loop = asyncio.get_running_loop()
    tasks: list[asyncio.Task[None]] = []
    phase.started = time.perf_counter()
    start = loop.time() + 0.05
    for i, (request, shot) in enumerate(zip(requests, phase.shots, strict=True)):
        slot = start + i / rate
        delay = slot - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        shot.lag = max(0.0, loop.time() - slot)
        tasks.append(asyncio.create_task(_send(http, url, request, shot)))
    await asyncio.gather(*tasks)
    phase.ended = time.perf_counter()
    return phase


async def burst(
    http: aiohttp.ClientSession, url: str, requests: list[Signed], concurrency: int, name: str
) -> Phase:
    """All requests at once, at most `concurrency` in flight (a storm of clicks)."""
    phase = Phase(name, [Shot() for _ in requests])
    queue = list(zip(requests, phase.shots, strict=True))
    queue.reverse()

    async def worker() -> None:
        while queue:
            request, shot = queue.pop()
            await _send(http, url, request, shot)

    phase.started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    phase.ended = time.perf_counter()
    return phase


async def warm_up(http: aiohttp.ClientSession, url: str, requests: list[Signed]) -> None:
    """A few unmeasured requests first, so Bolt's one-off auth.test and connection setup
    are not counted as load."""
    for request in requests:
        await _send(http, url, request, Shot())
