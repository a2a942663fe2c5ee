"""The stand-ins, in the benchmark's own process, with the clocks the report needs: when
each PagerDuty request arrived and when each note landed."""

from __future__ import annotations

import time
from collections import Counter

from starlette.requests import Request
from starlette.responses import Response

from app.demo.pagerduty import PagerDutyStandIn, RecordedRequest, seed_default
from app.demo.slack import SlackStandIn, seed_default_slack

SIGNING_SECRET = "bench-signing-secret-3c7e1a"  # noqa: S105 - a stand-in secret
BOT_TOKEN = "xoxb-bench-bot-token-81f0"  # noqa: S105
PAGERDUTY_TOKEN = "pd-bench-token"  # noqa: S105
INCIDENT_ID = "PT4KHLK"  # seed_default's incident #123


class TimedPagerDuty(PagerDutyStandIn):
    """The PagerDuty stand-in (no spec check: it costs ms per request in this process),
    stamping each request's arrival and each note's landing with `time.perf_counter()`."""

    def __init__(self, api_token: str) -> None:
        super().__init__(api_token=api_token)
        self.arrivals: list[float] = []
        self.landed: list[tuple[float, str]] = []

    async def _handle(self, request: Request) -> Response:
        self.arrivals.append(time.perf_counter())
        return await super()._handle(request)

    async def _answer(self, request: Request, raw: bytes, rec: RecordedRequest) -> Response:
        response = await super()._answer(request, raw, rec)
        if rec.method == "POST" and rec.path.endswith("/notes") and response.status_code < 300:
            self.landed.append((time.perf_counter(), _note_content(rec)))
        return response

    def note_posts(self) -> list[str]:
        """Contents of every note POST received, including any that were refused."""
        return [
            _note_content(r)
            for r in self.requests
            if r.method == "POST" and r.path.endswith("/notes")
        ]

    def request_mix(self) -> dict[str, int]:
        """Requests per `METHOD /path-shape`, ids and numbers folded, to see the call pattern."""
        mix: Counter[str] = Counter()
        for r in self.requests:
            shape = "/".join(
                "{id}" if part and (part.isdigit() or part.isupper()) else part
                for part in r.path.split("/")
            )
            mix[f"{r.method} {shape}"] += 1
        return dict(mix.most_common())

    def peak_per_minute(self) -> int:
        """Most requests in any 60 s window (PagerDuty allows 960/min per key)."""
        times, best, start = sorted(self.arrivals), 0, 0
        for end, t in enumerate(times):
            while t - times[start] > 60.0:
                start += 1
            best = max(best, end - start + 1)
        return best


def make_pagerduty(latency: float) -> TimedPagerDuty:
    pagerduty = TimedPagerDuty(PAGERDUTY_TOKEN)
    seed_default(pagerduty)
    pagerduty.latency = latency
    return pagerduty


def make_slack() -> SlackStandIn:
    slack = SlackStandIn()
    seed_default_slack(slack)
    return slack


def _note_content(rec: RecordedRequest) -> str:
    return str(((rec.json or {}).get("note") or {}).get("content", ""))
