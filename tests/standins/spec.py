"""PagerDuty's published OpenAPI spec as the PagerDuty stand-in's request validator.

The spec lives in the shared contracts (never copied into the repo) and openapi-core is a
dev dependency, so this stays in tests; the stand-in accepts it as an injected validator.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass

from openapi_core import Config, OpenAPI
from openapi_core.datatypes import RequestParameters
from openapi_core.templating.paths.exceptions import PathError
from openapi_core.templating.paths.finders import APICallPathFinder
from openapi_core.validation.request.exceptions import SecurityValidationError
from starlette.datastructures import Headers, QueryParams

from app.demo.pagerduty import API_URL
from tests.standins.contracts import CONTRACTS_DIR


@dataclass
class _SpecRequest:
    """openapi-core's Request protocol, pinned to the spec's server instead of loopback."""

    method: str
    path: str
    parameters: RequestParameters
    body: bytes | None
    content_type: str
    host_url: str = API_URL


def _describe(err: Exception) -> str:
    """openapi-core hides the useful part (which field, why) in the exception's cause."""
    cause = err.__cause__
    if cause is None:
        return str(err)
    details = [e.message for e in getattr(cause, "schema_errors", None) or ()] or [str(cause)]
    return f"{str(err).removesuffix(f': {cause}')}: {'; '.join(details)}"


class SpecValidator:
    """Every problem PagerDuty's spec finds in a request (`RequestValidator`)."""

    def __init__(self, spec: OpenAPI) -> None:
        self.spec = spec

    def __call__(
        self, method: str, path: str, query: QueryParams, headers: Headers, body: bytes
    ) -> list[str]:
        spec_request = _SpecRequest(
            method=method.lower(),
            path=path,
            parameters=RequestParameters(query=query, header=headers),
            body=body or None,
            content_type=headers.get("content-type", "application/octet-stream"),
        )
        errors = self.spec.iter_request_errors(spec_request)
        problems = [_describe(e) for e in errors if not isinstance(e, SecurityValidationError)]
        # openapi-core ignores undeclared query params; PagerDuty silently ignores them too,
        # which turns `escalation_policy_ids=X` (no brackets) into "every policy".
        try:
            found = APICallPathFinder(self.spec.spec).find(
                spec_request.method, API_URL + spec_request.path
            )
        except PathError:
            return problems
        known = {
            p["name"]
            for level in (found.path, found.operation)
            if "parameters" in level
            for p in level / "parameters"
            if p["in"] == "query"
        }
        problems += [f"Unknown query parameter: {k}" for k in query if k not in known]
        return problems


@functools.cache
def load_pagerduty_spec() -> SpecValidator | None:
    """PagerDuty's spec, loaded once per session; None when the shared contracts are absent."""
    path = CONTRACTS_DIR / "pagerduty" / "rest-openapiv3.json" if CONTRACTS_DIR else None
    if path is None or not path.is_file():
        return None
    spec = json.loads(path.read_text(encoding="utf-8"))
    # Every *Reference schema inherits readOnly `id`/`type` from Tag/allOf/0, so openapi-core
    # would reject the documented `{"assignee": {"id": ..., "type": "user_reference"}}` body.
    base = spec["components"]["schemas"]["Tag"]["allOf"][0]["properties"]
    for name in ("id", "type"):
        base[name].pop("readOnly", None)
    # The spec itself fails openapi-spec-validator; validating requests against it works.
    return SpecValidator(OpenAPI.from_dict(spec, config=Config(spec_validator_cls=None)))
