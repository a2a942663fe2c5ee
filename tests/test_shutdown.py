"""Graceful shutdown: requests stop, actions already started finish and tell their person."""

import asyncio
import signal

import httpx

from app.demo.pagerduty import PagerDutyStandIn
from app.demo.signing import signed_headers, slash_command_body
from app.demo.slack import SlackStandIn
from app.settings import Settings
from tests.conftest import SIGNING_SECRET, running_bot
from tests.test_restart import bot_process, bot_process_env


async def test_an_action_in_flight_at_shutdown_finishes_and_reports(
    settings: Settings, slack: SlackStandIn, pagerduty: PagerDutyStandIn
) -> None:
    async with running_bot(settings, slack) as bot:
        pagerduty.latency = 0.3
        response = await bot.command("resolve 123 done")
        assert response.status_code == 200
        assert pagerduty.writes == []  # still reading when the shutdown begins

    assert [w.json["incident"]["status"] for w in pagerduty.writes] == ["resolved"]
    assert "resolved" in slack.responses[-1]["text"]


async def test_sigterm_lets_the_process_finish_what_it_acknowledged(
    slack: SlackStandIn, pagerduty: PagerDutyStandIn, tmp_path: object
) -> None:
    env = bot_process_env(slack, pagerduty, tmp_path)  # type: ignore[arg-type]
    async with bot_process(env) as (process, url):
        pagerduty.latency = 0.5
        body = slash_command_body(
            "note 123 handing over",
            response_url=f"{slack.url}/hooks/commands/sigterm",  # type: ignore[attr-defined]
        )
        headers = signed_headers(SIGNING_SECRET, body, "application/x-www-form-urlencoded")
        async with httpx.AsyncClient(base_url=url) as http:
            response = await http.post("/slack/events", content=body, headers=headers)
        assert response.status_code == 200
        process.send_signal(signal.SIGTERM)
        # uvicorn shuts down gracefully, then re-raises SIGTERM so the exit status says why.
        assert await asyncio.wait_for(process.wait(), timeout=30) == -signal.SIGTERM

    [note] = pagerduty.writes
    assert note.json == {"note": {"content": "handing over"}}
    assert "added a note" in slack.responses[-1]["text"]


async def test_an_action_still_running_after_the_grace_period_is_stopped_and_says_so(
    settings: Settings, slack: SlackStandIn, pagerduty: PagerDutyStandIn
) -> None:
    hurried = settings.model_copy(update={"shutdown_grace_seconds": 0.2})
    async with running_bot(hurried, slack, timeout=10) as bot:
        pagerduty.latency = 5.0
        response = await bot.command("resolve 123 done")
        assert response.status_code == 200

    assert pagerduty.writes == []  # it was still reading the incident
    [told] = [r["text"] for r in slack.responses]
    assert "stopped this before sending anything to PagerDuty, so nothing changed" in told


async def test_an_action_stopped_while_its_write_is_in_flight_says_to_check_pagerduty(
    settings: Settings, slack: SlackStandIn, pagerduty: PagerDutyStandIn
) -> None:
    pagerduty.add_incident(
        124, id="PINC124", title="db slow", service_id="PSVC001", policy_id="PEPOL01"
    )
    hurried = settings.model_copy(update={"shutdown_grace_seconds": 0.3})
    async with running_bot(hurried, slack, timeout=10) as bot:
        pagerduty.fail_next("PUT", "/incidents/", 500, hang=5.0, times=2)
        # Two incidents at once: the pipeline gathers one task per incident.
        response = await bot.command("ack 123 124")
        assert response.status_code == 200
        await asyncio.sleep(0.1)  # both reads answered; both writes on the wire

    assert len(pagerduty.writes) == 2
    [told] = [r["text"] for r in slack.responses]
    assert "stopped before it finished this. Check the incident in PagerDuty" in told
