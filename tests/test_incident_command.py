"""`/incident` end to end: signed slash commands through the real app, PagerDuty and Slack
stand-ins behind it. Every refusal is checked for its message *and* for zero writes."""

import asyncio

import pytest

from app.demo.pagerduty import PagerDutyStandIn
from app.demo.slack import SlackStandIn
from app.settings import Settings
from tests.conftest import Bot, running_bot, store_held_elsewhere, without_background_writes

INCIDENT_123 = "PT4KHLK"


def incident(pagerduty: PagerDutyStandIn, incident_id: str = INCIDENT_123) -> dict:  # type: ignore[type-arg]
    return pagerduty.incidents[incident_id]


async def refused(bot: Bot, text: str, *, user: str = "U0ALICE01") -> str:
    """Send a command expected to be refused: one ephemeral reply, returned as text."""
    [reply] = await bot.reply_to(text, user=user)
    assert reply["response_type"] == "ephemeral", reply
    return str(reply["text"])


# --- the happy paths -------------------------------------------------------------------


async def test_resolve_sends_one_put_as_the_user_and_announces_it_in_the_channel(
    bot: Bot, pagerduty: PagerDutyStandIn
) -> None:
    [reply] = await bot.reply_to("resolve 123 fixed db")

    [put] = pagerduty.writes
    assert (put.method, put.path) == ("PUT", f"/incidents/{INCIDENT_123}")
    assert put.headers["from"] == "alice@example.com"
    assert put.json == {
        "incident": {"type": "incident_reference", "status": "resolved", "resolution": "fixed db"}
    }
    assert reply["response_type"] == "in_channel"
    # Alice is named, not mentioned: nobody is pinged for what they did themselves.
    assert reply["text"].startswith("Alice Example resolved")
    assert "<@U0ALICE01>" not in reply["text"]
    assert "#123" in reply["text"]
    assert "fixed db" in reply["text"]
    assert incident(pagerduty)["status"] == "resolved"


@pytest.mark.pagerduty_client(timeout=15)
async def test_slack_is_answered_before_a_10_s_pagerduty_answers(
    bot: Bot, pagerduty: PagerDutyStandIn, slack: SlackStandIn
) -> None:
    await bot.reply_to("whoami")  # identity verified and cached, so one slow read remains
    pagerduty.latency = 10.0
    # Slack's own deadline is 3 s; the ack must not wait for PagerDuty at all.
    response = await asyncio.wait_for(bot.command("ack 123"), timeout=3)
    assert response.status_code == 200
    assert pagerduty.writes == []  # the incident read is still in flight
    pagerduty.latency = 0.0

    await slack.wait_for(lambda s: len(s.responses) == 2, timeout=30)
    assert "acknowledged" in slack.responses[1]["text"]
    assert len(pagerduty.writes) == 1


async def test_ack_acknowledges_a_triggered_incident(bot: Bot, pagerduty: PagerDutyStandIn) -> None:
    [reply] = await bot.reply_to("ACK #123")

    [put] = pagerduty.writes
    assert put.json == {"incident": {"type": "incident_reference", "status": "acknowledged"}}
    assert reply["response_type"] == "in_channel"
    assert "acknowledged" in reply["text"]


async def test_ack_of_several_incidents_acks_each_and_explains_the_rest(
    bot: Bot, pagerduty: PagerDutyStandIn
) -> None:
    pagerduty.add_incident(
        124, id="PINC124", title="db slow", service_id="PSVC001", policy_id="PEPOL01"
    )
    pagerduty.add_incident(
        125,
        id="PINC125",
        title="old",
        service_id="PSVC001",
        policy_id="PEPOL01",
        status="resolved",
    )

    replies = await bot.reply_to("acknowledge 123 PINC124 125", count=2)

    assert sorted(w.path for w in pagerduty.writes) == ["/incidents/PINC124", "/incidents/PT4KHLK"]
    public = next(r for r in replies if r["response_type"] == "in_channel")
    private = next(r for r in replies if r["response_type"] == "ephemeral")
    assert "#123" in public["text"]
    assert "#124" in public["text"]
    assert "125" in private["text"]
    assert "re-open" in private["text"]
    assert pagerduty.reopened == []


async def test_escalate_without_level_goes_to_the_next_level(
    bot: Bot, pagerduty: PagerDutyStandIn
) -> None:
    [reply] = await bot.reply_to("escalate 123")

    [put] = pagerduty.writes
    assert put.json == {"incident": {"type": "incident_reference", "escalation_level": 2}}
    assert "level 2" in reply["text"]
    assert "(<@U0BOB0002>)" in reply["text"]  # the new assignee must act: mentioned


async def test_escalate_with_level_and_note_writes_both(
    bot: Bot, pagerduty: PagerDutyStandIn
) -> None:
    [reply] = await bot.reply_to("escalate 123 3 db is down hard")

    put, post = pagerduty.writes
    assert put.json["incident"]["escalation_level"] == 3
    assert (post.method, post.path) == ("POST", f"/incidents/{INCIDENT_123}/notes")
    assert post.json == {"note": {"content": "db is down hard"}}
    assert "db is down hard" in reply["text"]


async def test_escalate_at_the_last_level_says_so_and_writes_nothing(
    bot: Bot, pagerduty: PagerDutyStandIn
) -> None:
    pagerduty.add_incident(
        126, id="PINC126", title="x", service_id="PSVC001", policy_id="PEPOL01", level=3
    )
    text = await refused(bot, "escalate 126")
    assert "last level (3)" in text
    assert pagerduty.writes == []


async def test_escalate_when_the_level_is_ambiguous_asks_and_shows_who_is_on_call(
    bot: Bot, pagerduty: PagerDutyStandIn
) -> None:
    # Reassigned by hand to someone on call at no level: the current level is unknowable.
    pagerduty.add_user("PDAVE05", "Dave Day", "dave@example.com")
    pagerduty.add_incident(
        127,
        id="PINC127",
        title="x",
        service_id="PSVC001",
        policy_id="PEPOL01",
        assignee_ids=["PDAVE05"],
    )
    text = await refused(bot, "escalate 127")
    assert "Say which level" in text
    assert "level 1: Alice Example; level 2: Bob Builder; level 3: Carol Chen" in text
    assert pagerduty.writes == []


async def test_reassign_to_a_mentioned_user_assigns_their_pagerduty_user(
    bot: Bot, pagerduty: PagerDutyStandIn
) -> None:
    [reply] = await bot.reply_to("reassign 123 <@U0CAROL03|carol>")

    [put] = pagerduty.writes
    assert put.json["incident"]["assignments"] == [
        {"assignee": {"id": "PCAROL3", "type": "user_reference"}}
    ]
    assert put.headers["from"] == "alice@example.com"
    assert "to <@U0CAROL03>" in reply["text"]  # the reassign target must act: mentioned


async def test_reassign_by_email_uses_the_exact_pagerduty_user(
    bot: Bot, pagerduty: PagerDutyStandIn
) -> None:
    await bot.reply_to("reassign 123 bob@example.com")
    [put] = pagerduty.writes
    assert put.json["incident"]["assignments"][0]["assignee"]["id"] == "PBOB002"


async def test_note_adds_a_pagerduty_note_as_the_user(
    bot: Bot, pagerduty: PagerDutyStandIn
) -> None:
    [reply] = await bot.reply_to("note PT4KHLK restarted the primary")

    [post] = pagerduty.writes
    assert post.json == {"note": {"content": "restarted the primary"}}
    assert post.headers["from"] == "alice@example.com"
    assert reply["response_type"] == "in_channel"


async def test_a_pagerduty_link_works_as_a_ref(bot: Bot, pagerduty: PagerDutyStandIn) -> None:
    await bot.reply_to("ack <https://acme.pagerduty.com/incidents/PT4KHLK>")
    assert [w.path for w in pagerduty.writes] == [f"/incidents/{INCIDENT_123}"]


async def test_whoami_names_the_verified_pagerduty_user(
    bot: Bot, pagerduty: PagerDutyStandIn
) -> None:
    text = await refused(bot, "whoami")
    assert "Alice Example" in text
    assert "alice@example.com" in text
    assert pagerduty.writes == []


async def test_help_lists_every_verb(bot: Bot, pagerduty: PagerDutyStandIn) -> None:
    text = await refused(bot, "help")
    for verb in ("ack", "resolve", "escalate", "reassign", "note", "whoami"):
        assert f"/incident {verb}" in text
    assert pagerduty.requests == []


async def test_user_text_is_escaped_so_it_cannot_ping_the_channel(
    bot: Bot, pagerduty: PagerDutyStandIn
) -> None:
    [reply] = await bot.reply_to("resolve 123 <!channel> fixed & done")
    assert "<!channel>" not in reply["text"]
    assert "&lt;!channel&gt; fixed &amp; done" in reply["text"]
    # PagerDuty gets the words as typed.
    assert pagerduty.writes[0].json["incident"]["resolution"] == "<!channel> fixed & done"


# --- bad input: a clear ephemeral answer and no PagerDuty write -------------------------


async def test_empty_text_gets_usage(bot: Bot, pagerduty: PagerDutyStandIn) -> None:
    text = await refused(bot, "")
    assert "/incident resolve" in text
    assert pagerduty.requests == []


async def test_unknown_verb_is_named(bot: Bot, pagerduty: PagerDutyStandIn) -> None:
    text = await refused(bot, "snoze 123")
    assert "I don't know `snoze`" in text
    assert pagerduty.requests == []


async def test_missing_ref_is_explained(bot: Bot, pagerduty: PagerDutyStandIn) -> None:
    text = await refused(bot, "resolve")
    assert "needs an incident" in text
    assert pagerduty.requests == []


@pytest.mark.parametrize(
    ("ref", "expected"),
    [
        ("abc", "`abc` is not an incident"),
        ("-1", "`-1` is not an incident"),
        ("#", "`#` is not an incident"),
        ("12x", "`12x` is not an incident"),
        ("https://evil.example.com/incidents/PT4KHLK", "is not a PagerDuty incident link"),
    ],
)
async def test_malformed_ref_is_named(
    bot: Bot, pagerduty: PagerDutyStandIn, ref: str, expected: str
) -> None:
    text = await refused(bot, f"resolve {ref}")
    assert expected in text
    assert pagerduty.requests == []


async def test_unknown_incident_says_pagerduty_has_none(
    bot: Bot, pagerduty: PagerDutyStandIn
) -> None:
    text = await refused(bot, "resolve 999")
    assert "PagerDuty has no incident `999`" in text
    assert pagerduty.writes == []


async def test_ack_of_an_acknowledged_incident_says_by_whom(
    bot: Bot, pagerduty: PagerDutyStandIn
) -> None:
    await bot.reply_to("ack 123", user="U0BOB0002")
    text = await refused(bot, "ack 123")
    assert "already acknowledged by Bob Builder" in text
    assert len(pagerduty.writes) == 1  # Bob's only


async def test_ack_of_a_resolved_incident_never_reopens_it(
    bot: Bot, pagerduty: PagerDutyStandIn
) -> None:
    await bot.reply_to("resolve 123", user="U0BOB0002")
    text = await refused(bot, "ack 123")
    assert "already resolved by Bob Builder" in text
    assert "re-open" in text
    assert len(pagerduty.writes) == 1
    assert pagerduty.reopened == []


async def test_resolve_of_a_resolved_incident_says_so_and_writes_nothing(
    bot: Bot, pagerduty: PagerDutyStandIn
) -> None:
    await bot.reply_to("resolve 123")
    text = await refused(bot, "resolve 123 again")
    assert "already resolved by Alice Example" in text
    assert len(pagerduty.writes) == 1


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ("0", "`0` is not an escalation level"),
        ("-2", "`-2` is not an escalation level"),
        ("1.5", "`1.5` is not an escalation level"),
        ("level two", "`two` is not an escalation level"),
        ("5", "has 3 level(s); there is no level 5"),
    ],
)
async def test_escalate_with_a_bad_level_is_refused(
    bot: Bot, pagerduty: PagerDutyStandIn, args: str, expected: str
) -> None:
    text = await refused(bot, f"escalate 123 {args}")
    assert expected in text
    assert pagerduty.writes == []


async def test_reassign_to_someone_without_a_pagerduty_user_is_refused(
    bot: Bot, pagerduty: PagerDutyStandIn
) -> None:
    text = await refused(bot, "reassign 123 <@U0NOPD001|nobody>")
    assert "@nobody cannot act on PagerDuty incidents" in text
    assert "nobody@example.com" in text
    assert pagerduty.writes == []


async def test_reassign_to_an_unknown_email_is_refused(
    bot: Bot, pagerduty: PagerDutyStandIn
) -> None:
    text = await refused(bot, "reassign 123 ghost@example.com")
    assert "No PagerDuty user has the email ghost@example.com" in text
    assert pagerduty.writes == []


async def test_note_without_text_is_refused(bot: Bot, pagerduty: PagerDutyStandIn) -> None:
    text = await refused(bot, "note 123")
    assert "The note is empty" in text
    assert pagerduty.requests == []


async def test_text_longer_than_the_limit_is_refused(bot: Bot, pagerduty: PagerDutyStandIn) -> None:
    text = await refused(bot, "note 123 " + "x" * 2001)
    assert "2001 characters long; the limit is 2000" in text
    assert pagerduty.requests == []


async def test_actor_without_a_pagerduty_user_is_told_how_to_get_mapped(
    bot: Bot, pagerduty: PagerDutyStandIn
) -> None:
    text = await refused(bot, "ack 123", user="U0NOPD001")
    assert "nobody@example.com" in text
    assert "matches no PagerDuty user" in text
    assert "USER_MAP_FILE" in text
    assert pagerduty.writes == []


async def test_actor_whose_slack_email_is_hidden_is_told_why(
    bot: Bot, pagerduty: PagerDutyStandIn
) -> None:
    text = await refused(bot, "ack 123", user="U0HIDDEN1")
    assert "Slack does not share your email" in text
    assert pagerduty.requests == []


async def test_a_loose_pagerduty_match_is_never_taken_for_the_user(
    bot: Bot, pagerduty: PagerDutyStandIn, slack: SlackStandIn
) -> None:
    # PagerDuty's query for "lice@example.com" returns Alice and Mallory; neither is exact.
    slack.set_user("U0LICE001", "lice@example.com")
    text = await refused(bot, "ack 123", user="U0LICE001")
    assert "matches no PagerDuty user" in text
    assert pagerduty.writes == []


@pytest.mark.parametrize("status", [401, 403])
async def test_pagerduty_refusing_our_key_says_the_bot_is_misconfigured(
    bot: Bot, pagerduty: PagerDutyStandIn, status: int, caplog: pytest.LogCaptureFixture
) -> None:
    pagerduty.fail_next("GET", "/incidents", status, times=5)
    text = await refused(bot, "ack 123")
    assert "misconfigured" in text
    assert pagerduty.writes == []
    assert "PAGERDUTY_API_TOKEN" in caplog.text or "full-access" in caplog.text


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
async def test_pagerduty_failing_a_read_beyond_the_retry_budget_changed_nothing(
    bot: Bot, pagerduty: PagerDutyStandIn, status: int
) -> None:
    pagerduty.fail_next("GET", "/incidents", status, times=10)
    text = await refused(bot, "ack 123")
    assert "PagerDuty did not answer; nothing was changed" in text
    assert pagerduty.writes == []
    assert len(pagerduty.requests_to("GET", "/incidents/123")) == 3  # bounded


async def test_pagerduty_timing_out_a_write_says_it_may_have_landed(
    bot: Bot, pagerduty: PagerDutyStandIn
) -> None:
    pagerduty.fail_next("PUT", "/incidents", 200, hang=3.0, times=10)
    text = await refused(bot, "resolve 123")
    assert "may or may not" in text


async def test_a_note_that_timed_out_is_never_sent_twice(
    bot: Bot, pagerduty: PagerDutyStandIn
) -> None:
    pagerduty.fail_next("POST", "/incidents", 200, hang=3.0, times=10)
    text = await refused(bot, "note 123 restarted it")
    assert "may or may not" in text
    assert len(pagerduty.requests_to("POST", f"/incidents/{INCIDENT_123}/notes")) == 1


async def test_a_forged_signature_is_rejected_and_nothing_happens(
    bot: Bot, pagerduty: PagerDutyStandIn, slack: SlackStandIn
) -> None:
    from app.demo.signing import signed_headers, slash_command_body

    body = slash_command_body("resolve 123", response_url=bot.response_url)
    headers = signed_headers("not-the-secret", body, "application/x-www-form-urlencoded")
    response = await bot.http.post("/slack/events", content=body, headers=headers)

    assert response.status_code == 401
    await asyncio.sleep(0.1)
    assert pagerduty.requests == []
    assert slack.responses == []


async def test_a_storm_from_one_person_looks_them_and_the_incident_up_once(
    bot: Bot, pagerduty: PagerDutyStandIn, slack: SlackStandIn
) -> None:
    pagerduty.latency = 0.1  # the lookups overlap
    responses = await asyncio.gather(*(bot.command(f"note 123 storm {n}") for n in range(20)))

    assert {r.status_code for r in responses} == {200}
    await slack.wait_for(lambda s: len(s.responses) == 20)
    assert len(slack.calls_to("users.info")) == 1
    assert len(pagerduty.requests_to("GET", "/users")) == 1
    # One read tells the number's id and is every note's fresh read; none by id after it.
    assert len(pagerduty.requests_to("GET", "/incidents/123")) == 1
    assert pagerduty.requests_to("GET", f"/incidents/{INCIDENT_123}") == []
    assert sorted(n["content"] for n in pagerduty.notes[INCIDENT_123]) == sorted(
        f"storm {n}" for n in range(20)
    )


async def test_notes_share_a_read_only_while_it_is_in_flight(
    bot: Bot, pagerduty: PagerDutyStandIn, slack: SlackStandIn
) -> None:
    pagerduty.latency = 0.1
    await asyncio.gather(*(bot.command(f"note {INCIDENT_123} storm {n}") for n in range(10)))
    await slack.wait_for(lambda s: len(s.responses) == 10)
    assert len(pagerduty.requests_to("GET", f"/incidents/{INCIDENT_123}")) == 1

    # A note after that read finished reads the incident again: nothing is kept.
    await bot.reply_to(f"note {INCIDENT_123} later")
    assert len(pagerduty.requests_to("GET", f"/incidents/{INCIDENT_123}")) == 2
    assert len(pagerduty.notes[INCIDENT_123]) == 11


# --- text exactly as typed (Slack escapes `&`, `<`, `>` in command text) ----------------


async def test_slack_escapes_in_a_resolution_reach_pagerduty_decoded_and_slack_escaped_once(
    bot: Bot, pagerduty: PagerDutyStandIn
) -> None:
    [reply] = await bot.reply_to("resolve 123 fixed db &amp; cache &lt;3")

    [put] = pagerduty.writes
    assert put.json["incident"]["resolution"] == "fixed db & cache <3"
    assert "fixed db &amp; cache &lt;3" in reply["text"]
    assert "&amp;amp;" not in reply["text"]


async def test_a_multi_line_note_reaches_pagerduty_with_its_line_breaks(
    bot: Bot, pagerduty: PagerDutyStandIn
) -> None:
    await bot.reply_to("note 123 restarted:\n```\nerror: x &gt; y\n    at main\n```")

    [post] = pagerduty.writes
    assert post.json == {"note": {"content": "restarted:\n```\nerror: x > y\n    at main\n```"}}


# --- the store down ----------------------------------------------------------------------


async def test_a_command_while_the_store_is_down_is_answered_in_words_and_does_nothing(
    bot: Bot, settings: Settings, pagerduty: PagerDutyStandIn, slack: SlackStandIn
) -> None:
    """Slack never retries a command and shows only "dispatch_failed" for a 500."""
    async with store_held_elsewhere(settings.database_url):
        response = await bot.command("ack 123")

    assert response.status_code == 200
    assert response.json()["response_type"] == "ephemeral"
    assert "cannot reach its database just now, so it did nothing" in response.json()["text"]
    assert pagerduty.writes == []
    assert (await bot.command("ack 123")).status_code == 200  # the retry, once it is back
    await slack.wait_for(lambda s: len(s.responses) == 1)
    assert [w.json["incident"]["status"] for w in pagerduty.writes] == ["acknowledged"]


async def test_an_action_that_loses_the_store_before_its_write_says_it_did_nothing(
    settings: Settings, pagerduty: PagerDutyStandIn, slack: SlackStandIn
) -> None:
    async with running_bot(without_background_writes(settings), slack) as bot:
        pagerduty.latency = 0.1  # the incident's reads are in flight when the store goes
        response = await bot.command("ack 123")
        assert response.status_code == 200
        async with store_held_elsewhere(settings.database_url):
            # Its writes (noting "about to acknowledge" first) each wait, then give up.
            await slack.wait_for(lambda s: len(s.responses) == 1, timeout=30)

    [told] = slack.responses
    assert told["response_type"] == "ephemeral"
    assert "cannot reach its database just now, so it did nothing" in told["text"]
    assert pagerduty.writes == []


async def test_an_action_done_in_pagerduty_is_reported_done_though_the_store_then_fails(
    settings: Settings, pagerduty: PagerDutyStandIn, slack: SlackStandIn
) -> None:
    async with running_bot(without_background_writes(settings), slack) as bot:
        pagerduty.latency = 0.5
        response = await bot.command("ack 123")
        assert response.status_code == 200
        await slack.wait_for(lambda _: len(pagerduty.writes) == 1)  # the PUT is on its way
        async with store_held_elsewhere(settings.database_url):
            await slack.wait_for(lambda s: len(s.responses) == 1, timeout=30)

    [told] = slack.responses
    assert told["response_type"] == "in_channel"
    assert "acknowledged" in told["text"]
    assert [w.json["incident"]["status"] for w in pagerduty.writes] == ["acknowledged"]
