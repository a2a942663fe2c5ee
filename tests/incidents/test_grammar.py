"""The grammar alone: text kept as typed, Slack's three escapes decoded, the thread-ref rule,
and hostile words answered by a usage message (the benchmark measures how fast)."""

from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.errors import UsageError
from app.incidents.grammar import Verb, mentioned_verb, parse_command, parse_mention
from app.incidents.words import as_typed

_SLACK_ESCAPES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}


def slack_escaped(typed: str) -> str:
    return "".join(_SLACK_ESCAPES.get(char, char) for char in typed)


def test_slack_escapes_are_decoded_once_and_nothing_else_is() -> None:
    assert as_typed("db &amp; cache &lt;3 &gt;_&lt;") == "db & cache <3 >_<"
    assert as_typed("&amp;lt; &quot; &#39;") == "&lt; &quot; &#39;"


def test_a_note_keeps_its_line_breaks_spacing_and_code_fences() -> None:
    text = 'saw this:\n```\nTraceback (most recent call last):\n  File  "x"\n```\n  done'
    assert parse_command(f"note 123 {text}").text == text


def test_a_resolution_and_an_escalation_note_are_kept_as_typed() -> None:
    assert parse_command("resolve 123 fixed  db\n&amp; cache").text == "fixed  db\n& cache"
    escalated = parse_command("escalate 123 2 over\nto you")
    assert (escalated.level, escalated.text) == (2, "over\nto you")


def test_a_mention_in_a_card_thread_that_names_an_incident_acts_on_that_one() -> None:
    assert parse_mention("resolve 456", "PT4KHLK").refs == ("456",)
    assert parse_mention("ack 456", "PT4KHLK").refs == ("456",)
    assert parse_mention("note #456 fixed", "PT4KHLK").refs == ("456",)


def test_a_mention_in_a_card_thread_that_names_none_acts_on_the_card() -> None:
    parsed = parse_mention("resolve fixed it", "PT4KHLK")
    assert (parsed.refs, parsed.text) == (("PT4KHLK",), "fixed it")
    assert parse_mention("ack", "PT4KHLK").refs == ("PT4KHLK",)


def test_a_shouted_word_in_a_card_thread_is_text_not_an_incident_id() -> None:
    parsed = parse_mention("note DATABASE down again", "PT4KHLK")
    assert (parsed.refs, parsed.text) == (("PT4KHLK",), "DATABASE down again")
    assert parse_mention("note PT4KHL9 down", "PQ0RIJJ").refs == ("PT4KHL9",)  # an id has digits


def test_a_bare_number_after_escalate_in_a_card_thread_is_the_level() -> None:
    parsed = parse_mention("escalate 2", "PT4KHLK")
    assert (parsed.refs, parsed.level) == (("PT4KHLK",), 2)
    named = parse_mention("escalate #456 2", "PT4KHLK")
    assert (named.refs, named.level) == (("456",), 2)
    assert parse_mention("escalate 456", None).refs == ("456",)


def _refusal_of(parse: Callable[[str], object], text: str) -> str:
    """The usage message, or "" when it parsed; any other exception fails the test."""
    try:
        parse(text)
    except UsageError as refusal:
        return str(refusal)
    return ""


_ADVERSARIAL = [
    "a@" + "." * 40_000 + "@",
    "<@U0ALICE01|" * 3_300,
    "9" * 40_000,
    "#" + "1" * 40_000,
    "<https://" + "a" * 40_000,
    "P" * 40_000,
    "level" + "1" * 40_000,
    "&amp;" * 8_000,
]


@pytest.mark.parametrize("word", _ADVERSARIAL, ids=lambda w: w[:12])
@pytest.mark.parametrize(
    "template",
    [
        "{w}",
        "{v} {w}",
        "{v} 123 {w}",
        "{v} 123 level {w}",
        "{v} {w} {w}",
    ],
)
@pytest.mark.parametrize("verb", [*Verb, "acknowledge"])
def test_a_40000_character_word_anywhere_gets_a_usage_message_or_a_parse(
    word: str, template: str, verb: str
) -> None:
    text = template.format(v=verb, w=word)
    for parse in (
        parse_command,
        lambda t: parse_mention(t, None),
        lambda t: parse_mention(t, "PT4KHLK"),
    ):
        refusal = _refusal_of(parse, text)
        assert len(refusal) < 4_000  # never the whole word echoed back


@settings(max_examples=200, deadline=None)
@given(st.text(min_size=1, max_size=400).map(str.strip).filter(bool))
def test_any_note_text_arrives_exactly_as_typed(typed: str) -> None:
    assert parse_command(f"note 123 {slack_escaped(typed)}").text == typed


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300), st.one_of(st.none(), st.just("PT4KHLK")))
def test_parsing_any_text_raises_nothing_but_a_usage_error(text: str, thread: str | None) -> None:
    for parse in (parse_command, lambda t: parse_mention(t, thread)):
        _refusal_of(parse, text)


VERB_WORDS = st.sampled_from([*Verb, "ack mine", "ACK", "Resolve", "nonsense", ""])


@settings(max_examples=300, deadline=None)
@given(VERB_WORDS, st.text(max_size=100))
def test_the_verb_known_before_the_thread_is_read_is_the_one_the_mention_runs(
    first: str, rest: str
) -> None:
    """A stranger's mention is refused under this verb before the thread is read."""
    text = f"{first} {rest}"
    try:
        parsed = parse_mention(text, "PT4KHLK").verb
    except UsageError:
        return
    assert mentioned_verb(text) == (Verb.ACK if parsed is Verb.ACK_MINE else parsed)
