"""Command parsing is pure: every accepted spelling and every refusal, without a server."""

import pytest

from app.errors import UsageError
from app.incidents.grammar import ParsedCommand, Verb, parse_command
from app.incidents.words import MAX_TEXT_CHARS, parse_ref


@pytest.mark.parametrize(
    ("token", "ref"),
    [
        ("123", "123"),
        ("#123", "123"),
        ("PT4KHLK", "PT4KHLK"),
        ("Q0RIJJZL24RC6W", "Q0RIJJZL24RC6W"),
        ("https://acme.pagerduty.com/incidents/PT4KHLK", "PT4KHLK"),
        ("https://acme.eu.pagerduty.com/incidents/Q0RIJJZL24RC6W/", "Q0RIJJZL24RC6W"),
        ("<https://acme.pagerduty.com/incidents/PT4KHLK>", "PT4KHLK"),
        ("<https://acme.pagerduty.com/incidents/PT4KHLK|link>", "PT4KHLK"),
    ],
)
def test_every_documented_ref_spelling_parses(token: str, ref: str) -> None:
    assert parse_ref(token) == ref


@pytest.mark.parametrize(
    "token",
    [
        "abc",
        "-1",
        "#",
        "12x",
        "0",
        "#0",
        "pt4khlk",
        "https://evil.example.com/incidents/PT4KHLK",
        "https://pagerduty.com.evil.example/incidents/PT4KHLK",
        "<@U0ALICE01>",
    ],
)
def test_malformed_refs_are_refused(token: str) -> None:
    with pytest.raises(UsageError):
        parse_ref(token)


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("help", ParsedCommand(Verb.HELP)),
        ("WhoAmI", ParsedCommand(Verb.WHOAMI)),
        ("Acknowledge 1 2 #1", ParsedCommand(Verb.ACK, ("1", "2"))),
        ("resolve 123 fixed  db", ParsedCommand(Verb.RESOLVE, ("123",), text="fixed  db")),
        ("escalate 123", ParsedCommand(Verb.ESCALATE, ("123",))),
        ("escalate 123 2", ParsedCommand(Verb.ESCALATE, ("123",), level=2)),
        ("escalate 123 level 2 db down", ParsedCommand(Verb.ESCALATE, ("123",), 2, "db down")),
        ("escalate 123 level=3", ParsedCommand(Verb.ESCALATE, ("123",), level=3)),
        ("escalate 123 db is down", ParsedCommand(Verb.ESCALATE, ("123",), text="db is down")),
        (
            "reassign 1 <@U0BOB0002|bob>",
            ParsedCommand(Verb.REASSIGN, ("1",), target="<@U0BOB0002|bob>"),
        ),
        (
            "reassign 1 bob@example.com",
            ParsedCommand(Verb.REASSIGN, ("1",), target="bob@example.com"),
        ),
        ("NOTE 1 hello <!here>", ParsedCommand(Verb.NOTE, ("1",), text="hello <!here>")),
        ("reassign 1 PEPOL02", ParsedCommand(Verb.REASSIGN, ("1",), policy="PEPOL02")),
        (
            "reassign 1 \u201cSRE primary\u201d",
            ParsedCommand(Verb.REASSIGN, ("1",), policy="SRE primary"),
        ),
        ("priority 1 sev-2", ParsedCommand(Verb.PRIORITY, ("1",), text="sev-2")),
        ("urgency 1 Low", ParsedCommand(Verb.URGENCY, ("1",), text="low")),
        ("snooze #1 1h30m", ParsedCommand(Verb.SNOOZE, ("1",), seconds=5400)),
        (
            "merge 2 PQ2OLD0 into #1",
            ParsedCommand(Verb.MERGE, ("1",), sources=("2", "PQ2OLD0")),
        ),
        (
            "bridge 1 <https://meet.example.com/a?b=1> +1 555 0100",
            ParsedCommand(
                Verb.BRIDGE, ("1",), text="https://meet.example.com/a?b=1", dial_in="+1 555 0100"
            ),
        ),
    ],
)
def test_commands_parse(text: str, parsed: ParsedCommand) -> None:
    assert parse_command(text) == parsed


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "Tell me what to do"),
        ("   ", "Tell me what to do"),
        ("fix 123", "I don't know `fix`"),
        ("ack", "`ack` needs an incident"),
        ("escalate 123 level", "Say which level"),
        ("escalate 123 0", "`0` is not an escalation level"),
        ("reassign 123", "Say to whom"),
        ("reassign 123 <@U1> extra", "Reassign to one person"),
        ("note 123", "The note is empty"),
        ("ack " + " ".join(str(n) for n in range(1, 30)), "at most 20"),
        ("resolve 1 " + "y" * (MAX_TEXT_CHARS + 1), "the limit is 2000"),
        ("<!channel> 123", "`&lt;!channel&gt;`"),
    ],
)
def test_bad_commands_name_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(UsageError) as refused:
        parse_command(text)
    assert message in refused.value.message
