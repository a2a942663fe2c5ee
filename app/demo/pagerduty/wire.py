"""PagerDuty's side of the HTTP conversation, whatever the endpoint: every request recorded,
checked (spec, JSON, token, Accept) and routed, or answered with an injected fault; errors in
PagerDuty's envelope; pagination as PagerDuty pages.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any, Protocol

from starlette.applications import Starlette
from starlette.datastructures import Headers, QueryParams
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from app.demo.server import DroppedConnectionResponse, pause, peer

API_URL = "https://api.pagerduty.com"
WEB_URL = "https://acme.pagerduty.com"
ACCEPT = "application/vnd.pagerduty+json;version=2"
PD_TEST_TOKEN = "pd-test-token"  # noqa: S105 - the simulated account's own key
_DEFAULT_ERRORS = {
    401: (2006, "Invalid Credentials"),
    404: (2100, "Not Found"),
    429: (2020, "Rate Limit Exceeded"),
}

Answer = dict[str, Any] | Response  # a dict is sent as JSON with 200
Endpoint = tuple[str, str, Callable[..., Answer]]
"""(method, path pattern such as ``incidents/{}/notes``, handler): the handler gets the
recorded request, then what each ``{}`` matched. The endpoint modules' handlers take the
account first; standin.py binds it."""


@dataclass
class RecordedRequest:
    """One request as the stand-in received it (recorded even when it was rejected)."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    json: Any
    status: int = 0  # what the stand-in answered
    peer: str = ""  # the caller's address and port: one per connection


@dataclass
class _Fault:
    method: str
    path_prefix: str
    status: int
    body: dict[str, Any] | str | None
    headers: dict[str, str] | None
    times: int
    hang: float | None
    close_connection: bool


class RequestValidator(Protocol):
    """Checks a request against PagerDuty's published spec; tests inject one (the spec and
    openapi-core are test-only), the playground runs without."""

    def __call__(
        self, method: str, path: str, query: QueryParams, headers: Headers, body: bytes
    ) -> list[str]: ...


class PagerDutyError(Exception):
    """Raised by handlers; becomes a PagerDuty-shaped error answer with nothing applied."""

    def __init__(self, status: int, code: int, message: str, *errors: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.errors = status, code, message, list(errors)

    def response(self) -> JSONResponse:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.errors:
            error["errors"] = self.errors
        return JSONResponse({"error": error}, status_code=self.status)


def invalid(*errors: str) -> PagerDutyError:
    return PagerDutyError(400, 2001, "Invalid Input Provided", *errors)


def not_found() -> PagerDutyError:
    return PagerDutyError(404, 2100, "Not Found")


def timestamp(at: datetime | None = None) -> str:
    """A time as PagerDuty writes it; by default now."""
    return (datetime.now(UTC) if at is None else at).strftime("%Y-%m-%dT%H:%M:%SZ")


def page(rec: RecordedRequest, key: str, items: list[dict[str, Any]]) -> dict[str, Any]:
    """One page of ``items`` by the request's ``limit`` and ``offset`` (classic pagination)."""
    limit = int((rec.query.get("limit") or ["25"])[0])
    offset = int((rec.query.get("offset") or ["0"])[0])
    one_page = items[offset : offset + limit]
    more = offset + limit < len(items)
    return {key: one_page, "limit": limit, "offset": offset, "more": more, "total": None}


class Wire:
    """The HTTP front of the stand-in: ``app`` serves ``endpoints``; tests read ``requests``,
    inject faults and slow it down (``latency``)."""

    def __init__(
        self, api_token: str, validator: RequestValidator | None, endpoints: list[Endpoint]
    ) -> None:
        self.api_token = api_token
        self.validator = validator
        self.latency = 0.0
        self.requests: list[RecordedRequest] = []
        self.spec_violations: list[str] = []
        self._faults: list[_Fault] = []
        self._endpoints = endpoints
        self.app = Starlette(
            routes=[Route("/{path:path}", self._handle, methods=["GET", "POST", "PUT", "DELETE"])]
        )

    # -- fault injection and assertions ------------------------------------------------------

    def fail_next(
        self,
        method: str,
        path_prefix: str,
        status: int,
        *,
        body: dict[str, Any] | str | None = None,
        headers: dict[str, str] | None = None,
        times: int = 1,
        hang: float | None = None,
        close_connection: bool = False,
    ) -> None:
        """Answer the next ``times`` matching requests with this instead; state is untouched."""
        fault = _Fault(
            method.upper(), path_prefix, status, body, headers, times, hang, close_connection
        )
        self._faults.append(fault)

    @property
    def writes(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.method != "GET"]

    def requests_to(self, method: str, path: str) -> list[RecordedRequest]:
        return [r for r in self.requests if r.method == method.upper() and r.path == path]

    def assert_no_spec_violations(self) -> None:
        assert not self.spec_violations, "PagerDuty would reject:\n" + "\n".join(
            self.spec_violations
        )

    # -- request pipeline ----------------------------------------------------------------------

    async def _handle(self, request: Request) -> Response:
        raw = await request.body()
        try:
            parsed = json.loads(raw) if raw else None
        except ValueError:
            parsed = None  # the spec check reports it
        recorded = RecordedRequest(
            method=request.method,
            # Relative to where the stand-in is mounted (the playground serves it under a prefix).
            path="/" + request.path_params["path"],
            query={k: request.query_params.getlist(k) for k in request.query_params},
            headers={k.lower(): v for k, v in request.headers.items()},
            json=parsed,
            peer=peer(request),
        )
        self.requests.append(recorded)
        await pause(request, self.latency)
        response = await self._answer(request, raw, recorded)
        recorded.status = response.status_code
        return response

    async def _answer(self, request: Request, raw: bytes, rec: RecordedRequest) -> Response:
        problems = (
            self.validator(rec.method, rec.path, request.query_params, request.headers, raw)
            if self.validator
            else []
        )
        if problems:
            target = f"{rec.method} {rec.path}?{request.url.query}".rstrip("?")
            self.spec_violations.extend(f"{target}: {p}" for p in problems)
            return invalid(*problems).response()
        if raw and rec.json is None:
            return invalid("Malformed JSON body").response()  # even without a spec
        if rec.headers.get("authorization") != f"Token token={self.api_token}":
            return PagerDutyError(401, 2006, "Invalid Credentials").response()
        if rec.headers.get("accept") != ACCEPT:
            self.spec_violations.append(f"{rec.method} {rec.path}: Accept must be {ACCEPT}")
            return PagerDutyError(406, 2001, f"Accept header must be {ACCEPT}").response()
        if fault := self._take_fault(rec):
            return await self._fault_response(request, fault)
        for method, pattern, handler in self._endpoints:
            parts, want = rec.path.strip("/").split("/"), pattern.split("/")
            if method != rec.method or len(parts) != len(want):
                continue
            if all(w in ("{}", p) for w, p in zip(want, parts, strict=True)):
                args = [p for w, p in zip(want, parts, strict=True) if w == "{}"]
                try:
                    answer = handler(rec, *args)
                    return answer if isinstance(answer, Response) else JSONResponse(answer)
                except PagerDutyError as err:
                    return err.response()
        return PagerDutyError(404, 2100, "Not Found", "not implemented by the stand-in").response()

    def _take_fault(self, rec: RecordedRequest) -> _Fault | None:
        for fault in self._faults:
            if fault.method == rec.method and rec.path.startswith(fault.path_prefix):
                fault.times -= 1
                if fault.times <= 0:
                    self._faults.remove(fault)
                return fault
        return None

    async def _fault_response(self, request: Request, fault: _Fault) -> Response:
        if fault.hang:
            await pause(request, fault.hang)
        if fault.close_connection:
            return DroppedConnectionResponse(status_code=fault.status, headers=fault.headers)
        if isinstance(fault.body, str):
            media = "application/json"
            return Response(fault.body, fault.status, headers=fault.headers, media_type=media)
        body = fault.body
        if body is None:
            code, message = _DEFAULT_ERRORS.get(fault.status, (0, HTTPStatus(fault.status).phrase))
            body = {"error": {"code": code, "message": message}}
        return JSONResponse(body, fault.status, headers=fault.headers)
