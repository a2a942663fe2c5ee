"""Every action attempted through the bot leaves one audit entry: who, what, which
incident, what came of it, when. Read back from the store the app wrote to."""

from app.demo.pagerduty import PagerDutyStandIn
from app.demo.slack import SlackStandIn
from app.store import AuditEntry, Store
from tests.conftest import Bot, posted_card


def summary(entries: list[AuditEntry]) -> list[tuple[str, str, str, str, str]]:
    return [(e.slack_user_id, e.verb, e.incident, e.outcome, e.detail) for e in reversed(entries)]


async def test_commands_are_audited_with_their_outcome(
    bot: Bot, pagerduty: PagerDutyStandIn, audit: Store
) -> None:
    await bot.reply_to("resolve 123 fixed")
    await bot.reply_to("resolve 123 again")
    await bot.reply_to("note 123 hi", user="U0NOPD001")
    pagerduty.fail_next("GET", "/incidents", 503, times=10)
    await bot.reply_to("escalate 123")

    assert summary(await audit.audit()) == [
        ("U0ALICE01", "resolve", "123", "done", ""),
        ("U0ALICE01", "resolve", "123", "refused", "NothingToDo"),
        ("U0NOPD001", "note", "123", "refused", "NotMapped"),
        ("U0ALICE01", "escalate", "123", "refused", "PagerDutyUnavailable"),
    ]
    assert all(e.at.tzinfo is not None for e in await audit.audit())


async def test_each_incident_of_a_multi_ack_is_audited(
    bot: Bot, pagerduty: PagerDutyStandIn, audit: Store
) -> None:
    pagerduty.add_incident(
        124, id="PINC124", title="db slow", service_id="PSVC001", policy_id="PEPOL01"
    )
    await bot.reply_to("ack 123 124 999", count=2)
    outcomes = {(e.incident, e.outcome) for e in await audit.audit()}
    assert outcomes == {("123", "done"), ("124", "done"), ("999", "refused")}


async def test_clicks_are_audited_by_incident_id(
    bot: Bot, slack: SlackStandIn, audit: Store
) -> None:
    from app.ids import ActionId

    await bot.command("show 123")
    await slack.wait_for(lambda s: len(s.calls_to("chat.postMessage")) == 1)
    await bot.click(posted_card(slack), ActionId.ACKNOWLEDGE, user="U0BOB0002")
    await slack.wait_for(lambda s: len(s.calls_to("chat.update")) == 1)

    [entry] = await audit.audit(incident="PT4KHLK")
    assert (entry.slack_user_id, entry.verb, entry.outcome) == ("U0BOB0002", "ack", "done")
