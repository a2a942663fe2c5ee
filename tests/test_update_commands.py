"""The update verbs end to end (`priority`, `urgency`, `title`, `bridge`, `reassign` to a
policy, `snooze`, `merge`): signed slash commands through the real app, against the
PagerDuty stand-in (every request checked against PagerDuty's spec). Every refusal is
checked for its sentence *and* for zero writes."""

from pathlib import Path

import pytest

from app.demo.pagerduty import PagerDutyStandIn, seed_responding
from app.demo.slack import SlackStandIn
from app.settings import Settings
from tests.conftest import Bot, cards_posted, posted_card, running_bot
from tests.listeners.test_threads import mention, thread_replies
from tests.test_incident_command import INCIDENT_123, incident, refused
from tests.test_webhooks import webhook


@pytest.fixture(autouse=True)
def responding_world(pagerduty: PagerDutyStandIn) -> None:
    seed_responding(pagerduty)


def writes(pagerduty: PagerDutyStandIn) -> list[tuple[str, str]]:
    return [(w.method, w.path) for w in pagerduty.writes]


# --- priority ----------------------------------------------------------------------------


async def test_priority_sets_the_accounts_priority_by_name_in_any_case(
    bot: Bot, pagerduty: PagerDutyStandIn
) -> None:
    [reply] = await bot.reply_to("priority 123 p2")

    [put] = pagerduty.writes
    assert put.json == {
        "incident": {
            "type": "incident_reference",
            "priority": {"id": "PPRIO02", "type": "priority_reference"},
        }
    }
    assert put.headers["from"] == "alice@example.com"
    assert reply["response_type"] == "in_channel"
    assert reply["text"].startswith("Alice Example changed the priority of <https://")
    assert reply["text"].endswith(" to P2.")
    assert incident(pagerduty)["priority"]["name"] == "P2"


async def test_an_unknown_priority_lists_the_valid_ones_and_writes_nothing(
    bot: Bot, pagerduty: PagerDutyStandIn
) -> None:
    text = await refused(bot, "priority 123 P9")

    assert "`P9` is not a priority" in text
    assert "`P1`, `P2`, `P3`" in text
    assert pagerduty.writes == []


async def test_an_account_without_priorities_says_so_and_writes_nothing(
    bot: Bot, pagerduty: PagerDutyStandIn
) -> None:
    pagerduty.priorities_enabled = False

    text = await refused(bot, "priority 123 P1")

    assert "Priorities are turned off" in text
    assert pagerduty.writes == []


async def test_setting_the_priority_the_incident_has_writes_nothing(
    bot: Bot, pagerduty: PagerDutyStandIn
) -> None:
    await bot.reply_to("priority 123 P1")

    text = await refused(bot, "priority 123 p1")

    assert "already P1" in text
    assert len(pagerduty.writes) == 1


async def test_the_accounts_priorities_are_read_once_for_several_changes(
    bot: Bot, pagerduty: PagerDutyStandIn
) -> None:
    await bot.reply_to("priority 123 P1")
    await bot.reply_to("priority 124 P3")

    assert len(pagerduty.requests_to("GET", "/priorities")) == 1


# --- urgency, title ------------------------------------------------------------------------


async def test_urgency_sets_high_or_low(bot: Bot, pagerduty: PagerDutyStandIn) -> None:
    [reply] = await bot.reply_to("urgency 123 LOW")

    [put] = pagerduty.writes
    assert put.json == {"incident": {"type": "incident_reference", "urgency": "low"}}
    assert reply["text"].endswith(" to low.")
    assert incident(pagerduty)["urgency"] == "low"


async def test_an_urgency_other_than_high_or_low_is_refused(
    bot: Bot, pagerduty: PagerDutyStandIn
) -> None:
    text = await refused(bot, "urgency 123 medium")

    assert "`medium` is not an urgency" in text
    assert "`high` or `low`" in text
    assert pagerduty.requests == []


async def test_title_renames_the_incident_and_says_what_it_was(
    bot: Bot, pagerduty: PagerDutyStandIn
) -> None:
    [reply] = await bot.reply_to("title 123 checkout down in eu-west")

    [put] = pagerduty.writes
    assert put.json == {
        "incident": {"type": "incident_reference", "title": "checkout down in eu-west"}
    }
    assert "|#123 checkout down in eu-west>" in reply["text"]
    assert "(was “checkout API error rate high”)" in reply["text"]


async def test_a_title_goes_to_pagerduty_as_typed_and_is_escaped_when_echoed(
    bot: Bot, pagerduty: PagerDutyStandIn
) -> None:
    # Slack sends `&`, `<` and `>` escaped; spacing is the person's.
    [reply] = await bot.reply_to("title 123 checkout &amp; payments  &lt;!channel&gt;")

    [put] = pagerduty.writes
    assert put.json["incident"]["title"] == "checkout & payments  <!channel>"
    assert "<!channel>" not in reply["text"]
    assert "checkout &amp; payments  &lt;!channel&gt;" in reply["text"]


async def test_an_empty_title_is_refused(bot: Bot, pagerduty: PagerDutyStandIn) -> None:
    text = await refused(bot, "title 123")

    assert "The new title is empty" in text
    assert pagerduty.requests == []


# --- bridge ---------------------------------------------------------------------------------


async def test_bridge_sets_the_conference_link_and_number_and_the_card_shows_them(
    bot: Bot, pagerduty: PagerDutyStandIn, slack: SlackStandIn
) -> None:
    await bot.command("show 123")
    await slack.wait_for(lambda s: len(cards_posted(s)) == 1)

    [reply] = await bot.reply_to("bridge 123 <https://meet.example.com/abc> +1 (555) 0100,,123#")

    [put] = pagerduty.writes
    assert put.json["incident"]["conference_bridge"] == {
        "conference_url": "https://meet.example.com/abc",
        "conference_number": "+1 (555) 0100,,123#",
    }
    assert "<https://meet.example.com/abc|https://meet.example.com/abc>" in reply["text"]
    await slack.wait_for(lambda s: len(s.calls_to("chat.update")) == 1)
    [update] = slack.calls_to("chat.update")
    fields = [f["text"] for f in update.args["blocks"][0]["fields"]]
    assert (
        "*Conference bridge*\n<https://meet.example.com/abc|Join> · +1 (555) 0100,,123#" in fields
    )


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("bridge 123 http://meet.example.com/abc", "is not an https link"),
        ("bridge 123 meet.example.com", "is not an https link"),
        ("bridge 123 https://meet.example.com/abc 555-CALL-NOW", "is not a dial-in number"),
        ("bridge 123", "A conference bridge is an `https://` link"),
    ],
)
async def test_a_bridge_without_https_or_with_letters_in_the_number_is_refused(
    bot: Bot, pagerduty: PagerDutyStandIn, text: str, said: str
) -> None:
    assert said in await refused(bot, text)
    assert pagerduty.requests == []


# --- reassign to an escalation policy -------------------------------------------------------


async def test_reassign_to_a_quoted_policy_name_hands_the_incident_to_that_team(
    bot: Bot, pagerduty: PagerDutyStandIn
) -> None:
    [reply] = await bot.reply_to('reassign 123 "payments"')

    [put] = pagerduty.writes
    assert put.json == {
        "incident": {
            "type": "incident_reference",
            "escalation_policy": {"id": "PEPOL02", "type": "escalation_policy_reference"},
        }
    }
    # The team's first level must act now: mentioned. Alice did it: named.
    assert reply["text"].startswith("Alice Example reassigned")
    assert reply["text"].endswith(" to Payments (<@U0BOB0002>).")


async def test_reassign_to_a_policy_by_id(bot: Bot, pagerduty: PagerDutyStandIn) -> None:
    await bot.reply_to("reassign 123 PEPOL02")

    [put] = pagerduty.writes
    assert put.json["incident"]["escalation_policy"]["id"] == "PEPOL02"


async def test_a_policy_name_in_curly_quotes_shared_by_two_policies_lists_their_ids(
    bot: Bot, pagerduty: PagerDutyStandIn
) -> None:
    text = await refused(bot, "reassign 123 \u201cPlatform\u201d")

    assert "2 escalation policies are named `Platform`" in text
    assert "`PEPOL03`, `PEPOL04`" in text
    assert "PEPOL05" not in text  # "Platform v2" only matched PagerDuty's loose query
    assert pagerduty.writes == []


async def test_a_word_that_is_no_person_and_no_policy_names_all_three_forms(
    bot: Bot, pagerduty: PagerDutyStandIn
) -> None:
    text = await refused(bot, "reassign 123 nosuchteam")

    assert "`nosuchteam` is neither a person nor an escalation policy" in text
    assert "`@alice`" in text
    assert "`alice@example.com`" in text
    assert "id or exact name" in text
    assert pagerduty.writes == []


async def test_reassigning_to_the_policy_it_already_has_writes_nothing(
    bot: Bot, pagerduty: PagerDutyStandIn
) -> None:
    text = await refused(bot, 'reassign 123 "Checkout escalation"')

    assert "already with Checkout escalation" in text
    assert pagerduty.writes == []


# --- snooze -----------------------------------------------------------------------------------


async def test_snooze_of_an_acknowledged_incident_says_until_when_in_each_readers_zone(
    bot: Bot, pagerduty: PagerDutyStandIn
) -> None:
    [reply] = await bot.reply_to("snooze 124 1h30m")

    [post] = pagerduty.writes
    assert (post.method, post.path, post.json) == (
        "POST",
        "/incidents/PQ2OLD0/snooze",
        {"duration": 5400},
    )
    assert post.headers["from"] == "alice@example.com"
    assert reply["text"].startswith("Alice Example snoozed <https://")
    assert " until <!date^" in reply["text"]
    assert pagerduty.incidents["PQ2OLD0"]["pending_actions"][0]["type"] == "unacknowledge"


async def test_snoozing_a_triggered_incident_acknowledges_it_first_as_the_same_person(
    bot: Bot, pagerduty: PagerDutyStandIn
) -> None:
    public, private = await bot.reply_to("snooze 123 30m", count=2)

    assert writes(pagerduty) == [
        ("PUT", f"/incidents/{INCIDENT_123}"),
        ("POST", f"/incidents/{INCIDENT_123}/snooze"),
    ]
    ack, snooze = pagerduty.writes
    assert ack.json == {"incident": {"type": "incident_reference", "status": "acknowledged"}}
    assert ack.headers["from"] == snooze.headers["from"] == "alice@example.com"
    assert "it was triggered, so it was acknowledged first" in public["text"]
    assert private["response_type"] == "ephemeral"
    assert "I acknowledged it as you first" in private["text"]


async def test_a_resolved_incident_is_not_snoozed(bot: Bot, pagerduty: PagerDutyStandIn) -> None:
    text = await refused(bot, "snooze 125 1h")

    assert "already resolved" in text
    assert "cannot be snoozed" in text
    assert pagerduty.writes == []


async def test_the_same_snooze_twice_writes_once(bot: Bot, pagerduty: PagerDutyStandIn) -> None:
    await bot.reply_to("snooze 124 2h")

    text = await refused(bot, "snooze 124 2h")

    assert "already snoozed until" in text
    assert len(pagerduty.writes) == 1


@pytest.mark.parametrize(
    ("duration", "said"),
    [
        ("0m", "at least 1 minute"),
        ("8d", "at most 7 days"),
        ("soon", "`soon` is not a duration"),
        ("-1h", "`-1h` is not a duration"),
    ],
)
async def test_a_snooze_outside_one_minute_to_seven_days_is_refused(
    bot: Bot, pagerduty: PagerDutyStandIn, duration: str, said: str
) -> None:
    assert said in await refused(bot, f"snooze 124 {duration}")
    assert pagerduty.requests == []


# --- merge --------------------------------------------------------------------------------------


async def test_merge_reads_every_incident_then_merges_the_sources_into_the_last(
    bot: Bot, pagerduty: PagerDutyStandIn
) -> None:
    [reply] = await bot.reply_to("merge 124 #126 into 123")

    [put] = pagerduty.writes
    assert (put.method, put.path) == ("PUT", f"/incidents/{INCIDENT_123}/merge")
    assert put.json == {
        "source_incidents": [
            {"id": "PQ2OLD0", "type": "incident_reference"},
            {"id": "PPAY126", "type": "incident_reference"},
        ]
    }
    reads = [r.path for r in pagerduty.requests if r.method == "GET" and "incidents" in r.path]
    assert {"/incidents/124", "/incidents/126"} <= set(reads)
    assert reply["text"].startswith("Alice Example merged into <https://")
    assert "#124 disk filling on checkout-db, #126 payments latency" in reply["text"]
    assert pagerduty.merged_into == {"PQ2OLD0": INCIDENT_123, "PPAY126": INCIDENT_123}


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("merge 123 into 123", "cannot be merged into itself"),
        ("merge PT4KHLK into 123", "cannot be merged into itself"),
        ("merge 124 into 125", "already resolved"),
        ("merge 124 123", "Say which incident to merge into"),
        ("merge " + " ".join(str(n) for n in range(200, 221)) + " into 123", "at most 20"),
    ],
)
async def test_merge_into_itself_into_a_resolved_incident_or_with_21_sources_is_refused(
    bot: Bot, pagerduty: PagerDutyStandIn, text: str, said: str
) -> None:
    assert said in await refused(bot, text)
    assert pagerduty.writes == []


async def test_pagerdutys_refusal_to_merge_incidents_without_alerts_is_said_in_words(
    bot: Bot, pagerduty: PagerDutyStandIn
) -> None:
    pagerduty.without_alerts.add("PQ2OLD0")

    text = await refused(bot, "merge 124 into 123")

    assert "PagerDuty refused the merge, so nothing was merged" in text
    assert "only merges incidents that have alerts" in text
    assert pagerduty.merged_into == {}


async def test_merged_cards_say_where_they_went_without_buttons_and_the_target_is_redrawn(
    bot: Bot, pagerduty: PagerDutyStandIn, slack: SlackStandIn
) -> None:
    await bot.command("show 124")
    await slack.wait_for(lambda s: len(cards_posted(s)) == 1)
    await bot.command("show 123")
    await slack.wait_for(lambda s: len(cards_posted(s)) == 2)
    source, target = posted_card(slack, 0), posted_card(slack, 1)

    await bot.reply_to("merge 124 into 123")

    await slack.wait_for(lambda s: len(s.calls_to("chat.update")) == 2)
    updates = {c.args["ts"]: c.args for c in slack.calls_to("chat.update")}
    merged = updates[source["ts"]]
    assert [b["type"] for b in merged["blocks"]] == ["section"]
    assert (
        "was merged into <https://acme.pagerduty.com/incidents/PT4KHLK|#123"
        in (merged["blocks"][0]["text"]["text"])
    )
    assert any(b["type"] == "actions" for b in updates[target["ts"]]["blocks"])


async def test_pagerdutys_resolved_event_for_a_merged_incident_keeps_its_card_merged(
    bot: Bot, pagerduty: PagerDutyStandIn, slack: SlackStandIn
) -> None:
    await bot.command("show 124")
    await slack.wait_for(lambda s: len(cards_posted(s)) == 1)
    source = posted_card(slack, 0)
    await bot.reply_to("merge 124 into 123")
    await slack.wait_for(lambda s: len(s.calls_to("chat.update")) == 1)

    response = await bot.webhook(webhook("incident.resolved", incident_id="PQ2OLD0"))

    assert response.status_code == 202
    await slack.wait_for(lambda s: len(s.calls_to("chat.update")) == 2)
    redrawn = slack.calls_to("chat.update")[-1].args
    assert redrawn["ts"] == source["ts"]
    assert [b["block_id"] for b in redrawn["blocks"]] == ["incident_merged"]
    assert (
        "merged into <https://acme.pagerduty.com/incidents/PT4KHLK|[#123]"
        in (redrawn["blocks"][0]["text"]["text"])
    )


@pytest.mark.parametrize(
    ("verb", "command"),
    [
        ("priority", "priority 123 P1"),
        ("urgency", "urgency 123 low"),
        ("title", "title 123 renamed"),
        ("bridge", "bridge 123 https://meet.example.com/abc"),
        ("snooze", "snooze 124 1h"),
        ("merge", "merge 124 into 123"),
        ("reassign", "reassign 123 PEPOL02"),
    ],
)
async def test_policy_rules_name_the_new_verbs_and_hold_them_on_the_fresh_read(
    settings: Settings,
    slack: SlackStandIn,
    pagerduty: PagerDutyStandIn,
    tmp_path: Path,
    verb: str,
    command: str,
) -> None:
    policy = tmp_path / "policy.yml"
    policy.write_text(f"rules:\n  - verbs: [{verb}]\n    allow: {{users: [U0BOB0002]}}\n")
    configured = settings.model_copy(update={"policy_file": policy})

    async with running_bot(configured, slack) as policed:
        text = await refused(policed, command)

    assert f"Policy rule 1 lets only <@U0BOB0002> {verb}" in text
    assert pagerduty.writes == []


@pytest.mark.parametrize(
    ("said", "write"),
    [
        ("snooze 2h", ("POST", f"/incidents/{INCIDENT_123}/snooze")),
        ("priority p3", ("PUT", f"/incidents/{INCIDENT_123}")),
        ("urgency low", ("PUT", f"/incidents/{INCIDENT_123}")),
        ("title db &amp; cache down", ("PUT", f"/incidents/{INCIDENT_123}")),
        ("bridge https://meet.example.com/x", ("PUT", f"/incidents/{INCIDENT_123}")),
        ('reassign "Payments"', ("PUT", f"/incidents/{INCIDENT_123}")),
        ("merge into 126", ("PUT", "/incidents/PPAY126/merge")),
    ],
)
async def test_a_mention_in_a_cards_thread_updates_that_cards_incident(
    bot: Bot,
    slack: SlackStandIn,
    pagerduty: PagerDutyStandIn,
    card_thread: None,
    said: str,
    write: tuple[str, str],
) -> None:
    response = await bot.event(mention(said))

    assert response.status_code == 200
    await slack.wait_for(lambda s: len(thread_replies(s)) >= 1)
    assert writes(pagerduty)[-1] == write
    assert all(w.headers["from"] == "bob@example.com" for w in pagerduty.writes)
    assert thread_replies(slack)[-1]["text"].startswith("Bob Builder ")
