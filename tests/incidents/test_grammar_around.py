"""The grammar of the verbs around an incident: targets and names read exactly, messages
and titles kept as typed, and any text answered by a parse or a usage message."""

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.errors import UsageError
from app.incidents.grammar import AROUND_VERBS, ParsedCommand, Verb, parse_command, parse_mention
from tests.incidents.test_grammar import slack_escaped

# A word of a name: no spaces, no quotes (those delimit the name).
_NAME_WORD = st.text(
    st.characters(blacklist_categories=("Z", "C"), blacklist_characters="\"“”'"),
    min_size=1,
    max_size=12,
)
_NAMES = st.lists(_NAME_WORD, min_size=1, max_size=5).map(" ".join)
_TYPED = st.text(min_size=1, max_size=300).map(str.strip).filter(bool)


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("ack mine", ParsedCommand(Verb.ACK_MINE)),
        ("ACK Mine", ParsedCommand(Verb.ACK_MINE)),
        ("mine", ParsedCommand(Verb.MINE)),
        ("oncall", ParsedCommand(Verb.ONCALL)),
        ("oncall SRE primary", ParsedCommand(Verb.ONCALL, target="SRE primary")),
        ("oncall “SRE primary”", ParsedCommand(Verb.ONCALL, target="SRE primary")),
        (
            "page 123 <@U0BOB0002|bob> PEPOL02 bob@example.com please join",
            ParsedCommand(
                Verb.PAGE,
                ("123",),
                targets=("<@U0BOB0002|bob>", "PEPOL02", "bob@example.com"),
                text="please join",
            ),
        ),
        (
            'page 123 Platform "SRE primary" db',
            ParsedCommand(Verb.PAGE, ("123",), targets=('"Platform"', '"SRE primary"'), text="db"),
        ),
        # After the first target a bare word starts the message.
        (
            "page 123 <@U0BOB0002> Platform help",
            ParsedCommand(Verb.PAGE, ("123",), targets=("<@U0BOB0002>",), text="Platform help"),
        ),
        (
            'trigger "R&amp;D API" down &amp; out',
            ParsedCommand(Verb.TRIGGER, target="R&D API", text="down & out"),
        ),
    ],
)
def test_the_verbs_around_an_incident_parse_as_documented(text: str, parsed: ParsedCommand) -> None:
    assert parse_command(text) == parsed


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("page 123", "Say whom to page"),
        ("update 123", "The status update is empty"),
        ("update 123    ", "The status update is empty"),
        ("trigger", "Say which service and what is wrong"),
        ('trigger "Checkout API"', "Say which service and what is wrong"),
        ('trigger "Checkout API down', "has no closing quote"),
        ("mine please", "`mine` takes nothing more"),
        ("ack mine 123", "`ack mine` takes nothing more"),
    ],
)
def test_bad_input_around_an_incident_gets_a_sentence(text: str, says: str) -> None:
    with pytest.raises(UsageError, match=says):
        parse_command(text)


def test_in_a_card_thread_page_and_update_act_on_the_cards_incident() -> None:
    assert parse_mention("page <@U0BOB0002> help", "PT4KHLK").refs == ("PT4KHLK",)
    assert parse_mention("update rolled back", "PT4KHLK").text == "rolled back"
    assert parse_mention("ack mine", "PT4KHLK") == ParsedCommand(Verb.ACK_MINE)


@given(_TYPED)
def test_a_page_message_arrives_exactly_as_typed(typed: str) -> None:
    parsed = parse_command(f"page 123 <@U0BOB0002|bob> msg: {slack_escaped(typed)}")
    assert parsed.text == f"msg: {typed}"


@given(_TYPED)
def test_a_status_update_and_a_title_arrive_exactly_as_typed(typed: str) -> None:
    assert parse_command(f"update 123 {slack_escaped(typed)}").text == typed
    assert parse_command(f'trigger "Checkout API" {slack_escaped(typed)}').text == typed


@given(_NAMES)
def test_any_quoted_name_is_read_whole(name: str) -> None:
    escaped = slack_escaped(name)
    assert parse_command(f'trigger "{escaped}" it broke').target == name
    assert parse_command(f"oncall “{escaped}”").target == name
    assert parse_command(f'page 123 "{escaped}"').targets == (f'"{name}"',)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from([*AROUND_VERBS, Verb.PAGE, Verb.UPDATE]), st.text(max_size=300))
def test_any_text_after_these_verbs_parses_or_gets_a_usage_message(verb: str, text: str) -> None:
    with contextlib.suppress(UsageError):
        parse_command(f"{verb} {text}")
