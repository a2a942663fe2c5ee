"""The intake, the one pipeline every way in runs, driven directly (no HTTP) against the
stand-ins: channel -> identity -> policy -> audit -> act -> redraw -> Reply."""

from collections.abc import AsyncIterator, Callable, Coroutine
from pathlib import Path
from typing import Any

import pytest

from app.blocks.card import CardState
from app.demo.pagerduty import PagerDutyStandIn
from app.demo.slack import SlackStandIn
from app.errors import NotAllowed, NotMapped, OutsideWorkspace, UsageError
from app.incidents.grammar import ParsedCommand, Verb
from app.incidents.intake import Intake, Request, Way
from app.incidents.person import Person
from app.service import Service
from app.settings import Settings
from app.store import AuditEntry, CardRef
from tests.conftest import CARD_TS, fast_pagerduty_client

ALICE = "U0ALICE01"
HOME = "T0G9PQBBK"  # the workspace the bot is installed in (auth.test)
AS_ALICE = Person(ALICE, HOME)
CARD = CardRef("C0INCIDENTS", CARD_TS)
SEEN = CardState("PT4KHLK", "triggered", 1, 123, "checkout API error rate high")


def with_policy(settings: Settings, tmp_path: Path, document: str) -> Service:
    """The whole service as `python -m app` builds it, with this POLICY_FILE."""
    policy_file = tmp_path / "policy.yml"
    policy_file.write_text(document)
    configured = settings.model_copy(update={"policy_file": policy_file})
    return Service.build(configured, pagerduty=fast_pagerduty_client(configured))


@pytest.fixture
async def service(settings: Settings, tmp_path: Path) -> AsyncIterator[Service]:
    service = with_policy(settings, tmp_path, "{}\n")
    async with service.running():
        yield service


async def audit(service: Service) -> list[AuditEntry]:
    return list(reversed(await service.store.audit()))


async def test_a_command_acts_as_the_verified_person_and_announces_it(
    service: Service, pagerduty: PagerDutyStandIn
) -> None:
    reply = await service.intake.command("ack 123", person=AS_ALICE, channel="C0INCIDENTS")

    assert reply.public == [
        "Alice Example acknowledged <https://acme.pagerduty.com/incidents/PT4KHLK"
        "|#123 checkout API error rate high>."
    ]
    [write] = pagerduty.writes
    assert write.headers["from"] == "alice@example.com"
    [entry] = await audit(service)
    assert (entry.verb, entry.incident, entry.outcome) == ("ack", "123", "done")


async def test_a_click_speaks_through_the_card_not_the_channel(
    service: Service, slack: SlackStandIn, card_thread: None
) -> None:
    reply = await service.intake.click(Verb.ACK, person=AS_ALICE, seen=SEEN, card=CARD)

    assert reply.public == []
    assert [c.args["ts"] for c in slack.calls_to("chat.update")] == [CARD_TS]
    [line] = [c.args for c in slack.calls_to("chat.postMessage") if c.args.get("thread_ts")]
    assert line["text"] == "Alice Example acknowledged"


def every_way_in(
    intake: Intake, channel: str, person: Person = AS_ALICE
) -> dict[str, Callable[[], Coroutine[Any, Any, Any]]]:
    """One request of each way in, by `person` from `channel`."""
    return {
        "command": lambda: intake.command("note 123 hi", person=person, channel=channel),
        "mention": lambda: intake.mention(
            "<@U0INCBOT1> ack 123",
            bot_user_id="U0INCBOT1",
            person=person,
            channel=channel,
            thread_ts=None,
        ),
        "button": lambda: intake.click(
            Verb.ACK, person=person, seen=SEEN, card=CardRef(channel, CARD_TS)
        ),
        "modal": lambda: intake.click(
            Verb.RESOLVE,
            person=person,
            seen=SEEN,
            card=CardRef(channel, CARD_TS),
            way=Way.MODAL,
            text="fixed",
        ),
        "shortcut note": lambda: intake.add_message_to_notes(
            person=person, channel=channel, message={"ts": CARD_TS, "text": "look"}
        ),
        "escalate shortcut": lambda: intake.escalation_preview(
            person=person, channel=channel, thread_ts=CARD_TS
        ),
        "escalate modal": lambda: intake.escalate_in_thread(
            person=person, channel=channel, incident_id="PT4KHLK", level=None, note=""
        ),
        "More menu": lambda: intake.menu_form(
            Verb.SNOOZE, person=person, seen=SEEN, card=CardRef(channel, CARD_TS)
        ),
        "More menu modal": lambda: intake.submit(
            ParsedCommand(Verb.URGENCY, ("PT4KHLK",), text="low"),
            person=person,
            seen=SEEN,
            card=CardRef(channel, CARD_TS),
        ),
        "share on-call": lambda: intake.share_oncall(
            person=person, channel=channel, policy_ids=("PEPOL01",)
        ),
        "page on-call shortcut": lambda: intake.services_to_page(person=person, channel=channel),
        "page on-call": lambda: intake.page_oncall_about(
            person=person,
            channel=channel,
            message_ts=CARD_TS,
            service="PSVC001",
            title="checkout is down",
            urgency="high",
        ),
        "show": lambda: intake.command("show 123", person=person, channel=channel),
    }


WAYS = list(every_way_in(None, "").keys())  # type: ignore[arg-type]


@pytest.mark.parametrize("way", WAYS)
async def test_a_channel_refusal_from_every_way_in_is_audited_and_sends_nothing(
    way: str,
    settings: Settings,
    tmp_path: Path,
    pagerduty: PagerDutyStandIn,
    slack: SlackStandIn,
    card_thread: None,
) -> None:
    refusing = with_policy(settings, tmp_path, "channels: [C0CHECKOUT]\n")
    async with refusing.running():
        with pytest.raises(NotAllowed, match="only in <#C0CHECKOUT>"):
            await every_way_in(refusing.intake, "C0INCIDENTS")[way]()
        entries = await audit(refusing)

    assert [(e.slack_user_id, e.outcome, e.detail) for e in entries] == [
        (ALICE, "refused", "NotAllowed (channels)")
    ]
    assert pagerduty.writes == []
    assert slack.calls_to("chat.postMessage") == []


@pytest.mark.parametrize("way", WAYS)
async def test_a_person_of_another_workspace_is_refused_on_every_way_in_and_audited(
    way: str, service: Service, pagerduty: PagerDutyStandIn, slack: SlackStandIn, card_thread: None
) -> None:
    partner = Person("U0PARTNER1", "T0OTHERORG")
    with pytest.raises(OutsideWorkspace, match="SLACK_ALLOWED_TEAM_IDS"):
        await every_way_in(service.intake, "C0INCIDENTS", partner)[way]()

    assert [(e.slack_user_id, e.outcome, e.detail) for e in await audit(service)] == [
        ("U0PARTNER1", "refused", "OutsideWorkspace")
    ]
    assert pagerduty.requests == []
    assert slack.calls_to("chat.postMessage") == []


async def test_the_team_selects_suggestions_are_for_the_bots_own_workspace_alone(
    service: Service, pagerduty: PagerDutyStandIn
) -> None:
    """An options request names no channel: the workspace is all there is to check."""
    partner = Person("U0PARTNER1", "T0OTHERORG")
    with pytest.raises(OutsideWorkspace):
        await service.intake.policies_matching("checkout", person=partner)
    assert pagerduty.requests == []

    found = await service.intake.policies_matching("checkout", person=AS_ALICE)

    assert found == [("PEPOL01", "Checkout escalation")]
    assert [(e.slack_user_id, e.verb, e.outcome) for e in await audit(service)] == [
        ("U0PARTNER1", "reassign", "refused")
    ]


async def test_show_is_refused_by_a_policy_rule_for_show(
    settings: Settings, tmp_path: Path, pagerduty: PagerDutyStandIn, slack: SlackStandIn
) -> None:
    rule = "rules:\n  - verbs: [show]\n    allow: {users: [U0BOB0002]}\n"
    service = with_policy(settings, tmp_path, rule)
    async with service.running():
        with pytest.raises(NotAllowed, match="Policy rule 1 lets only <@U0BOB0002> show"):
            await service.intake.command("show 123", person=AS_ALICE, channel="C0INCIDENTS")
        await service.intake.command(
            "show 123", person=Person("U0BOB0002", HOME), channel="C0INCIDENTS"
        )
        entries = await audit(service)

    assert [(e.slack_user_id, e.verb, e.outcome) for e in entries] == [
        (ALICE, "show", "refused"),
        ("U0BOB0002", "show", "done"),
    ]
    assert len(slack.calls_to("chat.postMessage")) == 1  # Bob's card only


async def test_show_is_refused_for_an_unmapped_person(
    service: Service, slack: SlackStandIn
) -> None:
    with pytest.raises(NotMapped):
        await service.intake.command(
            "show 123", person=Person("U0NOPD001", HOME), channel="C0INCIDENTS"
        )
    [entry] = await audit(service)
    assert (entry.verb, entry.outcome, entry.detail) == ("show", "refused", "NotMapped")
    assert slack.calls_to("chat.postMessage") == []


async def test_help_and_whoami_need_no_incident_and_write_no_audit(service: Service) -> None:
    helped = await service.intake.command("help", person=AS_ALICE, channel="C0INCIDENTS")
    me = await service.intake.command("whoami", person=AS_ALICE, channel="C0INCIDENTS")
    assert "/incident ack" in helped.private[0]
    assert "alice@example.com" in me.private[0]
    assert await audit(service) == []


async def test_a_malformed_command_never_reaches_pagerduty(
    service: Service, pagerduty: PagerDutyStandIn
) -> None:
    with pytest.raises(UsageError, match="I don't know `explode`"):
        await service.intake.command("explode 123", person=AS_ALICE, channel="C0INCIDENTS")
    assert pagerduty.requests == []


# --- verbs without an incident (issue 17) -------------------------------------------------


async def test_a_verb_without_an_incident_runs_the_same_pipeline_and_is_audited(
    service: Service, pagerduty: PagerDutyStandIn
) -> None:
    request = Request(ParsedCommand(Verb.ACK_MINE), AS_ALICE, "C0INCIDENTS", Way.COMMAND)
    reply = await service.intake.handle(request)

    assert reply.public == [
        "<@U0ALICE01> acknowledged 1 of their incident(s): "
        "<https://acme.pagerduty.com/incidents/PT4KHLK|#123 checkout API error rate high>."
    ]
    [write] = pagerduty.writes
    assert (write.method, write.path, write.headers["from"]) == (
        "PUT",
        "/incidents",
        "alice@example.com",
    )
    [entry] = await audit(service)
    assert (entry.verb, entry.incident, entry.outcome) == ("ack mine", "PT4KHLK", "done")


async def test_a_verb_without_an_incident_from_an_unmapped_person_writes_nothing(
    service: Service, pagerduty: PagerDutyStandIn
) -> None:
    with pytest.raises(NotMapped):
        await service.intake.command(
            "mine", person=Person("U0NOPD001", HOME), channel="C0INCIDENTS"
        )

    assert pagerduty.requests_to("GET", "/incidents") == []
    [entry] = await audit(service)
    assert (entry.verb, entry.incident, entry.outcome) == ("mine", "", "refused")
