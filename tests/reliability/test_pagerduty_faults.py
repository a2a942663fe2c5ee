"""PagerDuty failing a *write*, through the real app: a slash `resolve` (PUT), a slash
`note` (POST) and an Acknowledge click on a card (PUT). For each failure the person reads
the sentence that is true for it, the attempts are bounded (3 with the test client), and a
note that may have landed is never posted again.

(Read failures on slash commands and write timeouts on slash commands are covered in
tests/test_incident_command.py; client-level behaviour in tests/pagerduty/test_client.py.)
"""

import asyncio
from dataclasses import dataclass
from typing import Any

import pytest

from app.demo.pagerduty import PagerDutyStandIn
from app.demo.slack import SlackStandIn
from app.ids import ActionId
from tests.conftest import Bot, posted_card

INCIDENT = "PT4KHLK"
ATTEMPTS = 3  # fast_pagerduty_client's budget
NOTHING_CHANGED = "PagerDuty did not answer; nothing was changed. Try again in a minute."
MAY_HAVE = "the change *may or may not* have been made"
REFUSED = "PagerDuty refused: Invalid Input Provided"


@dataclass(frozen=True)
class Fault:
    name: str
    status: int
    headers: dict[str, str] | None = None
    body: Any = None
    hang: float | None = None
    close_connection: bool = False
    pagerduty_acted_maybe: bool = True  # False: PagerDuty said it did not act (429)
    retried: bool = True
    shown: str = ""  # extra text the person must read (400s: PagerDuty's reason)
    times: int = 10

    def inject(self, pagerduty: PagerDutyStandIn, method: str) -> None:
        pagerduty.fail_next(
            method,
            "/incidents",
            self.status,
            body=self.body,
            headers=self.headers,
            times=self.times,
            hang=self.hang,
            close_connection=self.close_connection,
        )


def _error(errors: object) -> dict[str, Any]:
    return {"error": {"code": 2001, "message": "Invalid Input Provided", "errors": errors}}


FAULTS = [
    Fault("429_with_ratelimit_reset", 429, {"ratelimit-reset": "1"}, pagerduty_acted_maybe=False),
    Fault("429_without_ratelimit_reset", 429, pagerduty_acted_maybe=False),
    Fault("408", 408),
    Fault("500", 500),
    Fault("502", 502),
    Fault("503", 503),
    Fault("504", 504),
    Fault("connection_reset", 200, close_connection=True),
    Fault("malformed_json_on_200", 200, body="{not json", retried=False),
    Fault(
        "400_errors_as_a_list",
        400,
        body=_error(["Incident Already Resolved", "<!channel>"]),
        pagerduty_acted_maybe=False,
        retried=False,
        shown="(Incident Already Resolved; &lt;!channel&gt;)",
    ),
    Fault(
        "400_errors_as_field_lists",
        400,
        body=_error({"status": ["is not allowed"], "resolution": ["too long", "empty"]}),
        pagerduty_acted_maybe=False,
        retried=False,
        shown="(status: is not allowed; resolution: too long; empty)",
    ),
]
HANG = Fault("30_s_hang", 200, hang=30)  # cut by the test client's 1 s timeout


def expected_message(fault: Fault) -> str:
    if fault.status == 400:
        return REFUSED
    return MAY_HAVE if fault.pagerduty_acted_maybe else NOTHING_CHANGED


@dataclass
class Entry:
    """One way in: how to act, which write it makes, and how to tell it landed."""

    name: str
    method: str
    path: str = f"/incidents/{INCIDENT}"


RESOLVE = Entry("slash_resolve", "PUT")
NOTE = Entry("slash_note", "POST", f"/incidents/{INCIDENT}/notes")
CLICK = Entry("card_acknowledge_click", "PUT")


async def act(entry: Entry, bot: Bot, slack: SlackStandIn) -> str:
    """Do it; return the one message the person reads."""
    before = len(slack.responses)
    if entry is CLICK:
        response = await bot.click(posted_card(slack), ActionId.ACKNOWLEDGE)
    elif entry is NOTE:
        response = await bot.command("note 123 restarted the primary")
    else:
        response = await bot.command("resolve 123 fixed db")
    assert response.status_code == 200
    await slack.wait_for(lambda s: len(s.responses) > before, timeout=10)
    await asyncio.sleep(0.1)  # anything else it would (wrongly) do shows up now
    [reply] = slack.responses[before:]
    assert reply["response_type"] == "ephemeral", reply
    return str(reply["text"])


async def prepare(entry: Entry, bot: Bot, slack: SlackStandIn) -> None:
    """Identity verified and, for a click, the card posted: only the write is left."""
    await bot.reply_to("whoami")
    if entry is CLICK:
        await bot.command("show 123")
        await slack.wait_for(lambda s: len(s.calls_to("chat.postMessage")) == 1)


def expected_attempts(entry: Entry, fault: Fault) -> int:
    if not fault.retried:
        return 1
    if entry is NOTE and fault.pagerduty_acted_maybe:
        return 1  # a note that may have landed is never sent again
    return ATTEMPTS


def assert_state_unchanged(pagerduty: PagerDutyStandIn) -> None:
    # The stand-in applies nothing on an injected fault: any change would be a second write.
    assert pagerduty.incidents[INCIDENT]["status"] == "triggered"
    assert pagerduty.notes[INCIDENT] == []
    assert pagerduty.reopened == []


@pytest.mark.parametrize("fault", FAULTS, ids=lambda f: f.name)
@pytest.mark.parametrize("entry", [RESOLVE, NOTE, CLICK], ids=lambda e: e.name)
async def test_a_failing_write_tells_the_truth_is_bounded_and_never_duplicates_a_note(
    bot: Bot, pagerduty: PagerDutyStandIn, slack: SlackStandIn, entry: Entry, fault: Fault
) -> None:
    await prepare(entry, bot, slack)
    fault.inject(pagerduty, entry.method)

    text = await act(entry, bot, slack)

    assert expected_message(fault) in text
    if fault.shown:
        assert fault.shown in text  # PagerDuty's reason, either format, escaped
    assert len(pagerduty.writes) == expected_attempts(entry, fault)
    assert {(w.method, w.path) for w in pagerduty.writes} == {(entry.method, entry.path)}
    assert_state_unchanged(pagerduty)


async def test_a_30_s_hang_on_a_click_is_cut_retried_within_budget_and_may_have_landed(
    bot: Bot, pagerduty: PagerDutyStandIn, slack: SlackStandIn
) -> None:
    await prepare(CLICK, bot, slack)
    HANG.inject(pagerduty, "PUT")

    text = await act(CLICK, bot, slack)

    assert MAY_HAVE in text
    assert len(pagerduty.requests_to("PUT", f"/incidents/{INCIDENT}")) == ATTEMPTS
    assert_state_unchanged(pagerduty)


@pytest.mark.parametrize("fault", [FAULTS[5], FAULTS[7]], ids=lambda f: f.name)
async def test_a_click_whose_incident_read_fails_changed_nothing_and_writes_nothing(
    bot: Bot, pagerduty: PagerDutyStandIn, slack: SlackStandIn, fault: Fault
) -> None:
    await prepare(CLICK, bot, slack)
    fault.inject(pagerduty, "GET")

    text = await act(CLICK, bot, slack)

    assert NOTHING_CHANGED in text  # a GET never changes anything, however it failed
    assert len(pagerduty.requests_to("GET", f"/incidents/{INCIDENT}")) == ATTEMPTS
    assert pagerduty.writes == []


@pytest.mark.parametrize("status", [502, 429])
async def test_a_click_whose_write_fails_twice_then_lands_acknowledges_once(
    bot: Bot, pagerduty: PagerDutyStandIn, slack: SlackStandIn, status: int
) -> None:
    await prepare(CLICK, bot, slack)
    pagerduty.fail_next("PUT", "/incidents", status, times=2)

    response = await bot.click(posted_card(slack), ActionId.ACKNOWLEDGE)

    assert response.status_code == 200
    await slack.wait_for(lambda s: len(s.calls_to("chat.update")) == 1)
    await slack.wait_for(lambda s: len(s.calls_to("chat.postMessage")) == 2)  # thread line
    await asyncio.sleep(0.1)
    assert len(pagerduty.writes) == ATTEMPTS
    acks = pagerduty.incidents[INCIDENT]["acknowledgements"]
    assert [a["acknowledger"]["id"] for a in acks] == ["PALICE1"]
    assert slack.responses[1:] == []  # nothing went wrong, so nothing private to say


async def test_a_note_rate_limited_twice_is_retried_and_lands_exactly_once(
    bot: Bot, pagerduty: PagerDutyStandIn, slack: SlackStandIn
) -> None:
    await prepare(NOTE, bot, slack)
    pagerduty.fail_next("POST", "/incidents", 429, headers={"ratelimit-reset": "0"}, times=2)

    [reply] = await bot.reply_to("note 123 restarted the primary")

    assert reply["response_type"] == "in_channel"
    assert len(pagerduty.requests_to("POST", f"/incidents/{INCIDENT}/notes")) == ATTEMPTS
    assert [n["content"] for n in pagerduty.notes[INCIDENT]] == ["restarted the primary"]


async def test_a_note_that_failed_with_a_5xx_is_not_resent_even_when_the_next_try_would_work(
    bot: Bot, pagerduty: PagerDutyStandIn, slack: SlackStandIn
) -> None:
    await prepare(NOTE, bot, slack)
    pagerduty.fail_next("POST", "/incidents", 500, times=1)  # the retry would succeed

    text = await act(NOTE, bot, slack)

    assert MAY_HAVE in text
    assert len(pagerduty.requests_to("POST", f"/incidents/{INCIDENT}/notes")) == 1
    assert pagerduty.notes[INCIDENT] == []
