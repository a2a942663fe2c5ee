"""POLICY_FILE: where the bot acts and who may use each verb; refusals are ephemeral, name
the rule, write nothing and are audited."""

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from app.demo.pagerduty import PagerDutyStandIn
from app.demo.slack import SlackStandIn
from app.ids import ActionId
from app.policy import load_policy
from app.settings import ConfigError, Settings
from app.store import Store
from tests.conftest import Bot, posted_card, running_bot

POLICY = """\
channels: [C0INCIDENTS]
rules:
  - verbs: [resolve]
    urgency: high
    allow:
      groups: [S0SRE]
  - verbs: [reassign]
    allow:
      users: [U0CAROL03]
"""


@pytest.fixture
async def policed(settings: Settings, slack: SlackStandIn, tmp_path: Path) -> AsyncIterator[Bot]:
    policy = tmp_path / "policy.yml"
    policy.write_text(POLICY)
    slack.groups["S0SRE"] = ["U0BOB0002"]
    async with running_bot(settings.model_copy(update={"policy_file": policy}), slack) as bot:
        yield bot


async def refused(bot: Bot, text: str, user: str = "U0ALICE01") -> str:
    [reply] = await bot.reply_to(text, user=user)
    assert reply["response_type"] == "ephemeral"
    return str(reply["text"])


async def test_anyone_mapped_may_acknowledge(policed: Bot, pagerduty: PagerDutyStandIn) -> None:
    await policed.reply_to("ack 123")
    assert len(pagerduty.writes) == 1


async def test_only_the_group_may_resolve_a_high_urgency_incident(
    policed: Bot, pagerduty: PagerDutyStandIn
) -> None:
    text = await refused(policed, "resolve 123")
    assert "Policy rule 1 lets only user group S0SRE resolve high-urgency incidents" in text
    assert pagerduty.writes == []

    await policed.reply_to("resolve 123", user="U0BOB0002")  # Bob is in S0SRE
    assert [w.json["incident"]["status"] for w in pagerduty.writes] == ["resolved"]


async def test_a_low_urgency_incident_is_not_covered_by_the_high_urgency_rule(
    policed: Bot, pagerduty: PagerDutyStandIn
) -> None:
    pagerduty.add_incident(
        300,
        id="PLOW300",
        title="disk 80%",
        service_id="PSVC001",
        policy_id="PEPOL01",
        urgency="low",
    )
    await policed.reply_to("resolve 300")
    assert len(pagerduty.writes) == 1


async def test_a_rule_naming_users_refuses_everyone_else(
    policed: Bot, pagerduty: PagerDutyStandIn
) -> None:
    text = await refused(policed, "reassign 123 <@U0BOB0002|bob>")
    assert "Policy rule 2" in text
    assert pagerduty.writes == []


async def test_outside_the_policys_channels_the_bot_does_nothing(
    policed: Bot, pagerduty: PagerDutyStandIn, slack: SlackStandIn
) -> None:
    from app.demo.signing import signed_headers, slash_command_body
    from tests.conftest import SIGNING_SECRET

    body = slash_command_body("ack 123", channel_id="C0RANDOM", response_url=policed.response_url)
    headers = signed_headers(SIGNING_SECRET, body, "application/x-www-form-urlencoded")
    await policed.http.post("/slack/events", content=body, headers=headers)

    await slack.wait_for(lambda s: len(s.responses) == 1)
    assert "only in <#C0INCIDENTS>" in slack.responses[0]["text"]
    assert pagerduty.requests == []


async def test_a_card_click_is_held_to_the_same_rules(
    policed: Bot, pagerduty: PagerDutyStandIn, slack: SlackStandIn
) -> None:
    await policed.command("show 123")
    await slack.wait_for(lambda s: len(s.calls_to("chat.postMessage")) == 1)
    await policed.click(posted_card(slack), ActionId.ESCALATE, user="U0ALICE01")
    await slack.wait_for(lambda s: len(s.calls_to("chat.update")) == 1)
    assert len(pagerduty.writes) == 1  # escalate has no rule: anyone mapped may


async def test_refusals_are_audited_with_the_rule(policed: Bot, settings: Settings) -> None:
    await refused(policed, "resolve 123")
    store = Store(settings.database_url)
    await store.open()
    [entry] = await store.audit()
    await store.close()
    assert (entry.verb, entry.outcome, entry.detail) == (
        "resolve",
        "refused",
        "NotAllowed (rule 1)",
    )


async def test_when_group_membership_cannot_be_read_the_rule_refuses(
    policed: Bot, pagerduty: PagerDutyStandIn, slack: SlackStandIn
) -> None:
    slack.fail_next("usergroups.users.list", error="missing_scope")
    text = await refused(policed, "resolve 123", user="U0BOB0002")
    assert "Policy rule 1" in text
    assert pagerduty.writes == []


@pytest.mark.parametrize(
    ("document", "problem"),
    [
        ("channels: general\n", "'channels' must be a list of Slack channel ids"),
        ("rules:\n  - verbs: [explode]\n    allow: {users: [U1]}\n", "'verbs' must list"),
        ("rules:\n  - verbs: [ack]\n    urgency: medium\n    allow: {users: [U1]}\n", "'urgency'"),
        ("rules:\n  - verbs: [ack]\n", "'allow' must name"),
        ("rules:\n  - verbs: [ack]\n    allow: {groups: [sre]}\n", "'allow' must name"),
        ("- just a list\n", "must be a mapping"),
    ],
)
def test_a_malformed_policy_is_refused_at_start(
    tmp_path: Path, document: str, problem: str
) -> None:
    path = tmp_path / "policy.yml"
    path.write_text(document)
    with pytest.raises(ConfigError) as error:
        load_policy(path)
    assert any(problem in p for p in error.value.problems)


# --- every way in is held to the policy and audited (issue: one pipeline) ----------------


async def audit_rows(settings: Settings) -> list[tuple[str, str, str]]:
    store = Store(settings.database_url)
    await store.open()
    entries = await store.audit()
    await store.close()
    return [(e.verb, e.outcome, e.detail) for e in reversed(entries)]


async def test_a_channel_refusal_of_a_slash_command_is_audited(
    policed: Bot, pagerduty: PagerDutyStandIn, slack: SlackStandIn, settings: Settings
) -> None:
    from app.demo.signing import signed_headers, slash_command_body
    from tests.conftest import SIGNING_SECRET

    body = slash_command_body(
        "note 123 hi", channel_id="C0RANDOM", response_url=policed.response_url
    )
    headers = signed_headers(SIGNING_SECRET, body, "application/x-www-form-urlencoded")
    await policed.http.post("/slack/events", content=body, headers=headers)
    await slack.wait_for(lambda s: len(s.responses) == 1)

    assert await audit_rows(settings) == [("note", "refused", "NotAllowed (channels)")]
    assert pagerduty.requests == []


async def test_a_channel_refusal_of_a_mention_is_audited(
    policed: Bot, pagerduty: PagerDutyStandIn, slack: SlackStandIn, settings: Settings
) -> None:
    from tests.listeners.test_threads import mention

    envelope = mention("ack 123", thread_ts=None)
    envelope["event"]["channel"] = "C0RANDOM"
    await policed.event(envelope)
    await slack.wait_for(lambda s: len(s.calls_to("chat.postEphemeral")) == 1)

    assert "only in <#C0INCIDENTS>" in slack.calls_to("chat.postEphemeral")[0].args["text"]
    assert await audit_rows(settings) == [("ack", "refused", "NotAllowed (channels)")]
    assert pagerduty.requests == []


async def test_show_is_held_to_a_rule_for_show(
    settings: Settings, slack: SlackStandIn, pagerduty: PagerDutyStandIn, tmp_path: Path
) -> None:
    policy = tmp_path / "show-policy.yml"
    policy.write_text("rules:\n  - verbs: [show]\n    allow: {users: [U0BOB0002]}\n")
    configured = settings.model_copy(update={"policy_file": policy})
    async with running_bot(configured, slack) as bot:
        text = await refused(bot, "show 123")
    assert "Policy rule 1 lets only <@U0BOB0002> show incidents" in text
    assert slack.calls_to("chat.postMessage") == []
    assert await audit_rows(settings) == [("show", "refused", "NotAllowed (rule 1)")]


async def test_show_is_refused_to_an_unmapped_person(
    bot: Bot, slack: SlackStandIn, settings: Settings
) -> None:
    text = await refused(bot, "show 123", user="U0NOPD001")
    assert "cannot act on PagerDuty incidents yet" in text
    assert slack.calls_to("chat.postMessage") == []
    assert await audit_rows(settings) == [("show", "refused", "NotMapped")]
