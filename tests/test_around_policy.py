"""POLICY_FILE and the audit trail for the verbs around an incident: each verb is held to
its rules (by the urgency of what it opens or changes), refusals are audited with the
rule, and a verb without an incident records what it changed."""

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from app.demo.pagerduty import PagerDutyStandIn, seed_responding
from app.demo.slack import SlackStandIn
from app.ids import Shortcut
from app.settings import Settings
from app.store import Store
from tests.conftest import Bot, cards_posted, running_bot
from tests.listeners.test_around_listeners import submit_page_oncall
from tests.listeners.test_threads import shortcut_payload
from tests.test_around_incident import INCIDENT_123, reads_only, refused, reply_in
from tests.test_policy import audit_rows


@pytest.fixture(autouse=True)
def world(pagerduty: PagerDutyStandIn) -> None:
    seed_responding(pagerduty)


AROUND_POLICY = """\
channels: [C0INCIDENTS]
rules:
  - verbs: [trigger, "ack mine", page]
    urgency: high
    allow:
      users: [U0BOB0002]
  - verbs: [oncall]
    allow:
      users: [U0BOB0002]
"""


@pytest.fixture
async def policed(settings: Settings, slack: SlackStandIn, tmp_path: Path) -> AsyncIterator[Bot]:
    policy = tmp_path / "policy.yml"
    policy.write_text(AROUND_POLICY)
    async with running_bot(settings.model_copy(update={"policy_file": policy}), slack) as bot:
        yield bot


@pytest.mark.parametrize(
    ("text", "verb", "rule"),
    [
        ('trigger "Checkout API" db down', "trigger", 1),
        ("ack mine", "ack mine", 1),
        ("page 123 <@U0CAROL03|carol>", "page", 1),
        ("oncall Payments", "oncall", 2),
    ],
)
async def test_each_verb_is_held_to_the_policy_and_its_refusal_audited(
    policed: Bot, pagerduty: PagerDutyStandIn, settings: Settings, text: str, verb: str, rule: int
) -> None:
    reply = await refused(policed, text)

    assert f"lets only <@U0BOB0002> {verb}" in reply
    assert reads_only(pagerduty)
    assert await audit_rows(settings) == [(verb, "refused", f"NotAllowed (rule {rule})")]


async def test_a_verb_without_an_incident_is_held_to_the_policys_channels_and_audited(
    policed: Bot, pagerduty: PagerDutyStandIn, settings: Settings
) -> None:
    reply = await reply_in(policed, "C0RANDOM", "mine")

    assert "only in <#C0INCIDENTS>" in reply["text"]
    assert pagerduty.requests == []
    assert await audit_rows(settings) == [("mine", "refused", "NotAllowed (channels)")]


async def test_a_low_urgency_trigger_is_outside_a_high_urgency_rule(
    policed: Bot, pagerduty: PagerDutyStandIn, slack: SlackStandIn
) -> None:
    await policed.interact(shortcut_payload(Shortcut.PAGE_ONCALL, policed))
    await slack.wait_for(lambda s: len(s.calls_to("views.update")) == 1)
    view = slack.calls_to("views.update")[0].args["view"]

    await submit_page_oncall(policed, view, title="minor: typo on page", service="PSVC001")

    await slack.wait_for(lambda s: len(cards_posted(s)) == 1)
    [create] = pagerduty.requests_to("POST", "/incidents")
    assert create.json["incident"]["urgency"] == "low"


async def test_a_done_verb_without_an_incident_is_audited_with_what_it_changed(
    bot: Bot, settings: Settings
) -> None:
    await bot.reply_to("mine")
    await bot.reply_to('trigger "Checkout API" db down')

    assert await audit_rows(settings) == [("mine", "done", ""), ("trigger", "done", "")]
    store = Store(settings.database_url)
    await store.open()
    newest = (await store.audit())[0]
    await store.close()
    assert newest.incident.startswith("PNEW")


async def test_ack_mine_acknowledges_what_the_policy_allows_and_names_the_rest(
    policed: Bot, pagerduty: PagerDutyStandIn
) -> None:
    pagerduty.add_incident(
        128, id="PLOW128", title="a low one", service_id="PSVC001", policy_id="PEPOL01"
    )
    pagerduty.incidents["PLOW128"]["urgency"] = "low"

    public, private = await policed.reply_to("ack mine", count=2)

    [put] = pagerduty.writes
    assert [i["id"] for i in put.json["incidents"]] == ["PLOW128"]
    assert "acknowledged 1 of their incident(s)" in public["text"]
    assert "nothing was done to #123" in private["text"]
    assert pagerduty.incidents[INCIDENT_123]["status"] == "triggered"
