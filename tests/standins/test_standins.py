"""The stand-ins are only worth trusting if they fail the way the real services do."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import httpx
import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient
from starlette.responses import PlainTextResponse
from starlette.types import Receive, Scope, Send

from app.demo.pagerduty import (
    ACCEPT,
    PD_TEST_TOKEN,
    PagerDutyStandIn,
    seed_default,
)
from app.demo.server import serve_on_loopback
from app.demo.signing import (
    FORM,
    SLASH_COMMAND_FIELDS,
    sign_slack,
    signed_headers,
    slash_command_body,
)
from app.demo.slack import AUTH_TEST, AUTH_TEST_SCOPES, USER, SlackStandIn, seed_default_slack
from tests.standins.contracts import load_slack_sample
from tests.standins.spec import load_pagerduty_spec

PD_HEADERS = {
    "Accept": ACCEPT,
    "Authorization": f"Token token={PD_TEST_TOKEN}",
    "Content-Type": "application/json",
}
ALICE = {"From": "alice@example.com"}


@pytest.fixture
def pd() -> PagerDutyStandIn:
    spec = load_pagerduty_spec()
    if spec is None:
        pytest.skip("shared PagerDuty spec not found")
    standin = PagerDutyStandIn(validator=spec)
    seed_default(standin)
    return standin


@pytest.fixture
async def pd_client(pd: PagerDutyStandIn) -> AsyncIterator[httpx.AsyncClient]:
    async with (
        serve_on_loopback(pd.app) as base,
        httpx.AsyncClient(base_url=base, headers=PD_HEADERS) as client,
    ):
        yield client


@pytest.fixture
async def slack() -> AsyncIterator[tuple[SlackStandIn, str]]:
    standin = SlackStandIn()
    seed_default_slack(standin)
    async with serve_on_loopback(standin.app) as base:
        yield standin, base


@pytest.fixture
def web(slack: tuple[SlackStandIn, str]) -> AsyncWebClient:
    return AsyncWebClient(token="xoxb-test", base_url=f"{slack[1]}/api/")


def _update(**change: object) -> dict[str, object]:
    return {"incident": {"type": "incident_reference", **change}}


# -- server -----------------------------------------------------------------------------------


async def test_loopback_server_starts_fast_and_serves() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await PlainTextResponse("hi")(scope, receive, send)

    started = time.perf_counter()
    async with serve_on_loopback(app) as base:
        elapsed = time.perf_counter() - started
        async with httpx.AsyncClient() as client:
            assert (await client.get(base)).text == "hi"
    assert elapsed < 0.1
    assert base.startswith("http://127.0.0.1:")


# -- PagerDuty --------------------------------------------------------------------------------


async def test_spec_rejects_put_without_from(
    pd: PagerDutyStandIn, pd_client: httpx.AsyncClient
) -> None:
    response = await pd_client.put("/incidents/PT4KHLK", json=_update(status="acknowledged"))

    assert response.status_code == 400
    assert response.json()["error"]["code"] == 2001
    assert pd.incidents["PT4KHLK"]["status"] == "triggered"
    assert any("From" in v for v in pd.spec_violations)
    with pytest.raises(AssertionError, match="From"):
        pd.assert_no_spec_violations()


async def test_spec_accepts_documented_assignment_body(
    pd: PagerDutyStandIn, pd_client: httpx.AsyncClient
) -> None:
    body = _update(assignments=[{"assignee": {"id": "PBOB002", "type": "user_reference"}}])
    response = await pd_client.put("/incidents/PT4KHLK", json=body, headers=ALICE)

    pd.assert_no_spec_violations()
    assert response.status_code == 200
    assert [a["assignee"]["id"] for a in response.json()["incident"]["assignments"]] == ["PBOB002"]


async def test_loose_user_query_also_matches_mallory(
    pd: PagerDutyStandIn, pd_client: httpx.AsyncClient
) -> None:
    response = await pd_client.get("/users", params={"query": "alice@example.com"})

    assert {u["id"] for u in response.json()["users"]} == {"PALICE1", "PMAL004"}
    pd.assert_no_spec_violations()


async def test_oncalls_need_bracketed_array_params(
    pd: PagerDutyStandIn, pd_client: httpx.AsyncClient
) -> None:
    good = await pd_client.get("/oncalls", params={"escalation_policy_ids[]": ["PEPOL01"]})
    pd.assert_no_spec_violations()
    assert [(o["escalation_level"], o["user"]["id"]) for o in good.json()["oncalls"]] == [
        (1, "PALICE1"),
        (2, "PBOB002"),
        (3, "PCAROL3"),
    ]

    bad = await pd_client.get("/oncalls", params={"escalation_policy_ids": "PEPOL01"})
    assert bad.status_code == 400
    assert "escalation_policy_ids" in pd.spec_violations[0]


async def test_injected_429_is_recorded_but_not_applied(
    pd: PagerDutyStandIn, pd_client: httpx.AsyncClient
) -> None:
    pd.fail_next("PUT", "/incidents/", 429, headers={"ratelimit-reset": "1"})

    limited = await pd_client.put(
        "/incidents/PT4KHLK", json=_update(status="acknowledged"), headers=ALICE
    )
    assert limited.status_code == 429
    assert limited.headers["ratelimit-reset"] == "1"
    assert limited.json() == {"error": {"code": 2020, "message": "Rate Limit Exceeded"}}
    assert pd.incidents["PT4KHLK"]["status"] == "triggered"

    retried = await pd_client.put(
        "/incidents/PT4KHLK", json=_update(status="acknowledged"), headers=ALICE
    )
    assert retried.json()["incident"]["status"] == "acknowledged"
    assert [r.status for r in pd.requests_to("PUT", "/incidents/PT4KHLK")] == [429, 200]


async def test_dropped_and_hanging_requests(
    pd: PagerDutyStandIn, pd_client: httpx.AsyncClient
) -> None:
    pd.fail_next("GET", "/incidents", 200, close_connection=True)
    with pytest.raises(httpx.RemoteProtocolError):
        await pd_client.get("/incidents/PT4KHLK")

    pd.fail_next("GET", "/incidents", 503, hang=30)
    started = time.perf_counter()
    with pytest.raises(httpx.ReadTimeout):
        await pd_client.get("/incidents/PT4KHLK", timeout=0.2)
    assert time.perf_counter() - started < 1


async def test_wrong_token_is_401(pd: PagerDutyStandIn, pd_client: httpx.AsyncClient) -> None:
    response = await pd_client.get(
        "/incidents/PT4KHLK", headers={"Authorization": "Token token=nope"}
    )
    assert response.status_code == 401
    assert response.json() == {"error": {"code": 2006, "message": "Invalid Credentials"}}


async def test_sharp_edges_of_incident_updates(
    pd: PagerDutyStandIn, pd_client: httpx.AsyncClient
) -> None:
    put = pd_client.put
    assert (await pd_client.get("/incidents/123")).json()["incident"]["id"] == "PT4KHLK"
    assert (await put("/incidents/123", json=_update(status="resolved"), headers=ALICE)).is_error

    too_high = await put("/incidents/PT4KHLK", json=_update(escalation_level=4), headers=ALICE)
    assert too_high.status_code == 400
    assert "Escalation level 4 is invalid" in too_high.json()["error"]["errors"]

    escalated = await put("/incidents/PT4KHLK", json=_update(escalation_level=2), headers=ALICE)
    assert escalated.json()["incident"]["assignments"][0]["assignee"]["id"] == "PBOB002"

    resolved = _update(status="resolved", resolution="fixed db")
    assert (await put("/incidents/PT4KHLK", json=resolved, headers=ALICE)).status_code == 200
    again = await put("/incidents/PT4KHLK", json=resolved, headers=ALICE)
    assert again.json()["error"]["errors"] == ["Incident Already Resolved"]
    assert pd.resolutions["PT4KHLK"] == "fixed db"

    acked = await put("/incidents/PT4KHLK", json=_update(status="acknowledged"), headers=ALICE)
    assert acked.json()["incident"]["status"] == "acknowledged"
    assert pd.reopened == ["PT4KHLK"]

    note = await pd_client.post(
        "/incidents/PT4KHLK/notes", json={"note": {"content": "db fixed"}}, headers=ALICE
    )
    assert note.status_code == 200
    assert pd.notes["PT4KHLK"][0]["user"]["id"] == "PALICE1"
    pd.assert_no_spec_violations()


# -- Slack ------------------------------------------------------------------------------------


async def test_slack_web_api_answers_like_slack(
    slack: tuple[SlackStandIn, str], web: AsyncWebClient
) -> None:
    standin, _ = slack
    auth = await web.auth_test()
    assert auth["user_id"] == "U0INCBOT1"
    assert "chat:write" in auth.headers["x-oauth-scopes"]

    hidden = await web.users_info(user="U0HIDDEN1")
    assert "email" not in hidden["user"]["profile"]
    with pytest.raises(SlackApiError, match="user_not_found"):
        await web.users_info(user="U0NOBODY0")

    metadata = {"event_type": "incident_posted", "event_payload": {"incident_id": "PT4KHLK"}}
    posted = await web.chat_postMessage(
        channel="C0INCIDENTS", text="Incident #123", metadata=metadata
    )
    replies = await web.conversations_replies(channel="C0INCIDENTS", ts=posted["ts"])
    assert replies["messages"][0]["metadata"] == metadata
    assert standin.calls_to("chat.postMessage")[0].args["metadata"] == metadata
    assert standin.calls_to("auth.test")[0].headers["authorization"] == "Bearer xoxb-test"


async def test_slack_fault_injection(slack: tuple[SlackStandIn, str], web: AsyncWebClient) -> None:
    standin, _ = slack
    standin.fail_next("chat.postMessage", error="channel_not_found")
    with pytest.raises(SlackApiError, match="channel_not_found"):
        await web.chat_postMessage(channel="C0GONE", text="hi")

    standin.fail_next_from_sample(
        "chat.postMessage", load_slack_sample("web_api/error.ratelimited.response.json")
    )
    with pytest.raises(SlackApiError) as limited:
        await web.chat_postMessage(channel="C0INCIDENTS", text="hi")
    assert limited.value.response.status_code == 429
    assert limited.value.response.headers["retry-after"] == "1"

    assert (await web.chat_postMessage(channel="C0INCIDENTS", text="hi"))["ok"]


async def test_response_url_and_wait_for(slack: tuple[SlackStandIn, str]) -> None:
    standin, base = slack
    async with httpx.AsyncClient() as client:
        answer = await client.post(f"{base}/hooks/commands/T0G9PQBBK/1/abc", json={"text": "done"})
    assert answer.text == "ok"
    await standin.wait_for(lambda s: s.responses == [{"text": "done"}])

    with pytest.raises(AssertionError, match="response_url:"):
        await standin.wait_for(lambda s: bool(s.calls), timeout=0.05)


# -- signing ----------------------------------------------------------------------------------


def test_signing_matches_shared_test_vector() -> None:
    vector = load_slack_sample("requests/signature_test_vector.json")
    headers = sign_slack(
        vector["signing_secret"],
        vector["raw_body"].encode(),
        timestamp=int(vector["x_slack_request_timestamp"]),
    )
    assert headers["x-slack-signature"] == vector["expected_x_slack_signature"]


def test_signed_slash_command_passes_slack_sdk_verifier() -> None:
    body = slash_command_body("resolve 123", response_url="http://127.0.0.1:1/hooks/x")
    headers = signed_headers("s3cret", body, FORM)

    assert SignatureVerifier("s3cret").is_valid_request(body, headers)
    assert b"text=resolve+123" in body


def test_the_simulated_slack_answers_in_the_shapes_of_the_shared_samples() -> None:
    auth = load_slack_sample("web_api/auth.test.bot.json")
    headers = auth.pop("_response_headers")
    assert auth == AUTH_TEST
    assert headers["x-oauth-scopes"] == AUTH_TEST_SCOPES
    assert load_slack_sample("web_api/users.info.response.json")["user"] == USER
    command = load_slack_sample("requests/slash_command.incident_resolve.form.json")
    assert command == SLASH_COMMAND_FIELDS
