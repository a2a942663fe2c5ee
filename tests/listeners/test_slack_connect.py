"""Slack Connect: a channel shared with another organisation lets its people use every
command, button, menu, modal and shortcut the bot has. The bot acts only for its own
workspace (or Grid organisation) and those SLACK_ALLOWED_TEAM_IDS lists; everyone else is
refused on every way in, told why, and audited, before anything reaches PagerDuty."""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode

import pytest

from app.demo.pagerduty import PagerDutyStandIn, seed_responding
from app.demo.signing import signed_headers, slash_command_body
from app.demo.slack import SlackStandIn
from app.ids import ActionId, BlockId, InputActionId, MenuChoice, Shortcut
from app.settings import Settings
from app.store import Store
from tests.conftest import SIGNING_SECRET, Bot, running_bot, show_card
from tests.listeners.test_around_listeners import (
    button_of,
    click_ephemeral,
    opened_modal,
    submit_page_oncall,
)
from tests.listeners.test_more_menu import choose, element, menu_modal, picked, text
from tests.listeners.test_threads import mention, shortcut_payload

OTHER_ORG = "T0OTHERORG"
PARTNER = "U0PARTNER1"  # a person of OTHER_ORG
PARTNER_GRID = {"id": "E0PARTNER1", "name": "Partner Corp"}
REFUSED = "workspace this incident-bot doesn't act for"


def command_from(bot: Bot, text: str, **fields: str) -> tuple[bytes, dict[str, str]]:
    """A signed `/incident` as Slack sends it, with some fields as another workspace's."""
    body = slash_command_body(text, user_id="U0ALICE01", response_url=bot.response_url)
    body = urlencode({**dict(parse_qsl(body.decode())), **fields}).encode()
    return body, signed_headers(SIGNING_SECRET, body, "application/x-www-form-urlencoded")


@dataclass
class Stranger:
    """A partner's engineer in a shared channel, as Slack describes them: in a workspace of
    their own (`grid=False`: the request's `team` stays the channel's host, only the person's
    own fields say otherwise) or in an Enterprise Grid organisation of their own. Their
    email is a PagerDuty user's, so the workspace check is all that stands in their way."""

    grid: bool
    pagerduty: PagerDutyStandIn
    requests_before: int = 0  # PagerDuty requests before the stranger's own

    def takes_over(self, bot: Bot) -> None:
        """Every interaction `bot` sends from now on is the stranger's."""
        self.requests_before = len(self.pagerduty.requests)
        original = bot.interact

        async def from_outside(payload: dict[str, Any]) -> Any:
            payload["user"] = {"id": PARTNER, "username": "dana", "team_id": OTHER_ORG}
            if self.grid:  # as an org-wide install sends it: no `team`, an `enterprise`
                payload.update(team=None, enterprise=PARTNER_GRID, is_enterprise_install=True)
            return await original(payload)

        bot.interact = from_outside  # type: ignore[method-assign]

    async def command(self, bot: Bot, words: str) -> None:
        self.requests_before = len(self.pagerduty.requests)
        grid = {"team_id": OTHER_ORG, "enterprise_id": PARTNER_GRID["id"]}
        team = grid if self.grid else {"user_team": OTHER_ORG}  # team_id: the host's
        body, headers = command_from(bot, words, user_id=PARTNER, user_name="dana", **team)
        assert (await bot.http.post("/slack/events", content=body, headers=headers)).is_success

    async def mention(self, bot: Bot, words: str) -> None:
        self.requests_before = len(self.pagerduty.requests)
        envelope = mention(words, user=PARTNER)
        envelope["is_ext_shared_channel"] = True
        if self.grid:
            envelope["enterprise_id"] = PARTNER_GRID["id"]
            envelope["event"].update(team=OTHER_ORG, user_profile={"team": OTHER_ORG})
        else:  # the event's `team` is the host's; `user_team` is the person's
            envelope["event"]["user_team"] = OTHER_ORG
        assert (await bot.event(envelope)).is_success


WayIn = Callable[[Bot, SlackStandIn, Stranger], Awaitable[None]]


async def by_command(bot: Bot, slack: SlackStandIn, stranger: Stranger) -> None:
    await stranger.command(bot, "note 123 from outside")


async def by_mention(bot: Bot, slack: SlackStandIn, stranger: Stranger) -> None:
    await stranger.mention(bot, "ack")


async def by_card_button(bot: Bot, slack: SlackStandIn, stranger: Stranger) -> None:
    card = await show_card(bot, slack)
    stranger.takes_over(bot)
    await bot.click(card, ActionId.ACKNOWLEDGE, user=PARTNER)


async def by_more_menu(bot: Bot, slack: SlackStandIn, stranger: Stranger) -> None:
    card = await show_card(bot, slack)
    stranger.takes_over(bot)
    await choose(bot, card, MenuChoice.SNOOZE, user=PARTNER)


async def by_modal_button(bot: Bot, slack: SlackStandIn, stranger: Stranger) -> None:
    """The Resolve button itself: its modal would open without asking PagerDuty."""
    card = await show_card(bot, slack)
    stranger.takes_over(bot)
    await bot.click(card, ActionId.RESOLVE, user=PARTNER)


async def by_card_modal(bot: Bot, slack: SlackStandIn, stranger: Stranger) -> None:
    """The Resolve button's modal (it opens without asking PagerDuty), submitted."""
    await bot.click(await show_card(bot, slack), ActionId.RESOLVE)
    await slack.wait_for(lambda s: len(s.calls_to("views.open")) == 1)
    stranger.takes_over(bot)
    values = {BlockId.RESOLUTION: text(InputActionId.RESOLUTION, "rolled back")}
    await bot.submit(slack.calls_to("views.open")[0].args["view"], values, user=PARTNER)


async def by_more_menu_modal(bot: Bot, slack: SlackStandIn, stranger: Stranger) -> None:
    view = await menu_modal(bot, slack, MenuChoice.URGENCY)
    stranger.takes_over(bot)
    urgency = picked(InputActionId.URGENCY, "radio_buttons", "low")
    await bot.submit(view, {BlockId.URGENCY: urgency}, user=PARTNER)


async def by_add_to_notes_shortcut(bot: Bot, slack: SlackStandIn, stranger: Stranger) -> None:
    stranger.takes_over(bot)
    await bot.interact(shortcut_payload(Shortcut.ADD_NOTE, bot, user=PARTNER))


async def by_escalate_shortcut(bot: Bot, slack: SlackStandIn, stranger: Stranger) -> None:
    stranger.takes_over(bot)
    await bot.interact(shortcut_payload(Shortcut.ESCALATE, bot, user=PARTNER))


async def by_escalate_modal(bot: Bot, slack: SlackStandIn, stranger: Stranger) -> None:
    await bot.interact(shortcut_payload(Shortcut.ESCALATE, bot))
    await slack.wait_for(lambda s: len(s.calls_to("views.update")) == 1)
    stranger.takes_over(bot)
    values = {BlockId.LEVEL: text(InputActionId.LEVEL, "2")}
    await bot.submit(slack.calls_to("views.update")[0].args["view"], values, user=PARTNER)


async def by_share_oncall(bot: Bot, slack: SlackStandIn, stranger: Stranger) -> None:
    [answer] = await bot.reply_to('oncall "Checkout escalation"')
    stranger.takes_over(bot)
    await click_ephemeral(bot, button_of(answer["blocks"], ActionId.SHARE_ONCALL), user=PARTNER)


async def by_page_oncall_shortcut(bot: Bot, slack: SlackStandIn, stranger: Stranger) -> None:
    """Opening the modal: it would list the account's services."""
    stranger.takes_over(bot)
    await bot.interact(shortcut_payload(Shortcut.PAGE_ONCALL, bot, user=PARTNER))


async def by_page_oncall(bot: Bot, slack: SlackStandIn, stranger: Stranger) -> None:
    view = await opened_modal(bot, slack)
    stranger.takes_over(bot)
    await submit_page_oncall(bot, view, title="checkout is down for us", service="PSVC001")


# Each way in, and the verb its refusal is audited under.
WAYS_IN: dict[str, tuple[WayIn, str]] = {
    "command": (by_command, "note"),
    "mention": (by_mention, "ack"),
    "card button": (by_card_button, "ack"),
    "More menu": (by_more_menu, "snooze"),
    "Resolve button": (by_modal_button, "resolve"),
    "card modal": (by_card_modal, "resolve"),
    "More menu modal": (by_more_menu_modal, "urgency"),
    "add to notes shortcut": (by_add_to_notes_shortcut, "note"),
    "escalate shortcut": (by_escalate_shortcut, "escalate"),
    "escalate modal": (by_escalate_modal, "escalate"),
    "share on-call": (by_share_oncall, "oncall"),
    "page on-call shortcut": (by_page_oncall_shortcut, "trigger"),
    "page on-call": (by_page_oncall, "trigger"),
}


def told(slack: SlackStandIn) -> list[str]:
    """Everything a person was told: response_url answers, ephemerals, modal notices."""
    return (
        [str(response["text"]) for response in slack.responses]
        + [str(call.args["text"]) for call in slack.calls_to("chat.postEphemeral")]
        + [
            str(block["text"]["text"])
            for call in slack.calls_to("views.update")
            for block in call.args["view"]["blocks"]
            if isinstance(block.get("text"), dict)
        ]
    )


@pytest.mark.parametrize("grid", [False, True], ids=["own workspace", "own Grid org"])
@pytest.mark.parametrize("way", WAYS_IN)
async def test_a_person_of_another_organisation_is_refused_on_every_way_in_and_audited(
    way: str,
    grid: bool,
    bot: Bot,
    slack: SlackStandIn,
    pagerduty: PagerDutyStandIn,
    audit: Store,
    card_thread: None,
) -> None:
    seed_responding(pagerduty)
    slack.set_user(PARTNER, "carol@example.com", name="dana")  # PagerDuty knows the email
    stranger = Stranger(grid, pagerduty)
    send, verb = WAYS_IN[way]

    await send(bot, slack, stranger)

    await slack.wait_for(lambda s: any(REFUSED in line for line in told(s)))
    [refusal] = [line for line in told(slack) if REFUSED in line]
    assert "SLACK_ALLOWED_TEAM_IDS" in refusal
    assert not any(REFUSED in str(c.args) for c in slack.calls_to("chat.postMessage"))
    assert pagerduty.requests[stranger.requests_before :] == []
    refused = [e for e in await audit.audit() if e.outcome != "done"]
    assert [(e.slack_user_id, e.verb, e.outcome, e.detail) for e in refused] == [
        (PARTNER, verb, "refused", "OutsideWorkspace")
    ]


async def test_a_strangers_mention_in_a_thread_is_refused_before_the_thread_is_read(
    bot: Bot, slack: SlackStandIn, pagerduty: PagerDutyStandIn, card_thread: None
) -> None:
    """Reading a thread costs a Tier 3 Slack call that the bot's own cards need."""
    await Stranger(grid=False, pagerduty=pagerduty).mention(bot, "ack")

    await slack.wait_for(lambda s: any(REFUSED in line for line in told(s)))
    assert slack.calls_to("conversations.replies") == []


@pytest.mark.parametrize("button", [ActionId.RESOLVE, ActionId.REASSIGN])
async def test_a_strangers_click_on_a_modal_button_opens_no_form_to_fill_in(
    button: ActionId, bot: Bot, slack: SlackStandIn, pagerduty: PagerDutyStandIn
) -> None:
    card = await show_card(bot, slack)
    Stranger(grid=False, pagerduty=pagerduty).takes_over(bot)

    await bot.click(card, button, user=PARTNER)

    await slack.wait_for(lambda s: any(REFUSED in line for line in told(s)))
    assert slack.calls_to("views.open") == []


@pytest.mark.parametrize(
    "user_fields",
    [{"user_team": OTHER_ORG}, {"user_profile": {"team": OTHER_ORG}}, {"team": OTHER_ORG}],
    ids=["user_team", "user_profile.team", "team"],
)
async def test_each_field_an_event_names_the_persons_workspace_in_is_read(
    bot: Bot,
    slack: SlackStandIn,
    pagerduty: PagerDutyStandIn,
    card_thread: None,
    user_fields: dict[str, Any],
) -> None:
    envelope = mention("ack")
    envelope["event"].update(user_fields)
    envelope["is_ext_shared_channel"] = True

    await bot.event(envelope)

    await slack.wait_for(lambda s: len(s.calls_to("chat.postEphemeral")) == 1)
    assert REFUSED in slack.calls_to("chat.postEphemeral")[0].args["text"]
    assert pagerduty.requests == []


async def test_a_workspace_in_slack_allowed_team_ids_is_acted_for(
    settings: Settings, slack: SlackStandIn, pagerduty: PagerDutyStandIn
) -> None:
    allowed = settings.model_copy(update={"slack_allowed_team_ids": f"T0PARTNER1, {OTHER_ORG}"})
    async with running_bot(allowed, slack) as bot:
        body, headers = command_from(bot, "note 123 from a partner", team_id=OTHER_ORG)
        await bot.http.post("/slack/events", content=body, headers=headers)
        await slack.wait_for(lambda s: len(s.responses) == 1)

    [note] = pagerduty.writes
    assert note.json == {"note": {"content": "from a partner"}}


async def test_a_grid_organisations_own_id_is_acted_for(
    settings: Settings, slack: SlackStandIn, pagerduty: PagerDutyStandIn
) -> None:
    slack.auth_test_fields = {"team_id": "T0HOME0001", "enterprise_id": "E0ACMEORG"}
    async with running_bot(settings, slack) as bot:
        body, headers = command_from(bot, "note 123 from the org", team_id="E0ACMEORG")
        await bot.http.post("/slack/events", content=body, headers=headers)
        await slack.wait_for(lambda s: len(s.responses) == 1)

    assert [w.json for w in pagerduty.writes] == [{"note": {"content": "from the org"}}]


def policy_suggestion(view: dict[str, Any], typed: str) -> dict[str, Any]:
    """The options request Slack sends as someone types in the team modal's select."""
    return {
        "type": "block_suggestion",
        "user": {"id": "U0ALICE01", "username": "alice", "team_id": "T0G9PQBBK"},
        "container": {"type": "view", "view_id": "V0MODAL01"},
        "api_app_id": "A0INCBOT1",
        "token": "legacy-verification-token",
        "action_id": InputActionId.POLICY.value,
        "block_id": BlockId.POLICY.value,
        "value": typed,
        "team": {"id": "T0G9PQBBK", "domain": "acme-sre"},
        "enterprise": None,
        "is_enterprise_install": False,
        "view": {**view, "id": "V0MODAL01"},
    }


@pytest.mark.parametrize("grid", [False, True], ids=["own workspace", "own Grid org"])
async def test_the_team_select_suggests_no_policy_to_a_person_of_another_organisation(
    grid: bool, bot: Bot, slack: SlackStandIn, pagerduty: PagerDutyStandIn, audit: Store
) -> None:
    seed_responding(pagerduty)
    view = await menu_modal(bot, slack, MenuChoice.TEAM)
    assert element(view, BlockId.POLICY)["type"] == "external_select"
    stranger = Stranger(grid, pagerduty)
    stranger.takes_over(bot)

    answer = await bot.interact(policy_suggestion(view, "platf"))

    assert answer.status_code == 200
    assert answer.json() == {"options": []}
    assert pagerduty.requests[stranger.requests_before :] == []
    refused = [e for e in await audit.audit() if e.outcome != "done"]
    assert [(e.slack_user_id, e.verb, e.outcome, e.detail) for e in refused] == [
        (PARTNER, "reassign", "refused", "OutsideWorkspace")
    ]


async def test_the_team_select_suggests_policies_to_a_person_of_the_bots_own_workspace(
    bot: Bot, slack: SlackStandIn, pagerduty: PagerDutyStandIn, audit: Store
) -> None:
    seed_responding(pagerduty)
    view = await menu_modal(bot, slack, MenuChoice.TEAM)
    before = len(pagerduty.requests)

    answer = await bot.interact(policy_suggestion(view, "platf"))

    assert [o["value"] for o in answer.json()["options"]] == ["PEPOL03", "PEPOL04", "PEPOL05"]
    assert [r.path for r in pagerduty.requests[before:]] == ["/escalation_policies"]
    assert [e for e in await audit.audit() if e.outcome != "done"] == []


async def test_the_page_oncall_shortcut_offers_the_services_to_a_person_of_the_own_workspace(
    bot: Bot, slack: SlackStandIn, pagerduty: PagerDutyStandIn, audit: Store
) -> None:
    """The other half of its refusal above: the same request from home fills the modal."""
    seed_responding(pagerduty)

    view = await opened_modal(bot, slack)

    [picker] = [b for b in view["blocks"] if b.get("block_id") == BlockId.SERVICE]
    assert [o["value"] for o in picker["element"]["options"]] == ["PSVC001"]
    assert "/services/PSVC001" in [r.path for r in pagerduty.requests]
    assert [e for e in await audit.audit() if e.outcome != "done"] == []


@pytest.mark.parametrize("shortcut", [Shortcut.ESCALATE, Shortcut.ADD_NOTE])
async def test_a_thread_shortcut_of_another_organisation_is_refused_before_the_thread_is_read(
    shortcut: Shortcut, bot: Bot, slack: SlackStandIn, pagerduty: PagerDutyStandIn
) -> None:
    """On a message in no card's thread, too: the stranger hears the one refusal, and the
    bot reads nothing (of Slack or PagerDuty) on their behalf."""
    Stranger(grid=False, pagerduty=pagerduty).takes_over(bot)

    await bot.interact(shortcut_payload(shortcut, bot, user=PARTNER))

    await slack.wait_for(lambda s: any(REFUSED in line for line in told(s)))
    assert slack.calls_to("conversations.replies") == []
    assert pagerduty.requests == []
