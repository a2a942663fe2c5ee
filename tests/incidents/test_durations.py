"""Snooze durations are open-ended input: whatever is typed, the answer is a number of
seconds from 1 minute to 7 days, or a sentence saying what is wrong (never a crash)."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.errors import UsageError
from app.incidents.grammar import Verb, parse_command
from app.incidents.words import parse_duration

MINUTE, DAY = 60, 24 * 3600


@st.composite
def spelled(draw: st.DrawFn) -> tuple[str, int]:
    """A duration as someone types it (`1d`, `2H30m`, `90m`), and its seconds."""
    days, hours, minutes = (draw(st.integers(0, limit)) for limit in (9, 200, 20_000))
    parts = [(days, "d"), (hours, "h"), (minutes, "m")]
    shown = [(n, unit) for n, unit in parts if n or draw(st.booleans())]
    if not shown:
        shown = [(minutes, "m")]
    token = "".join(f"{n}{draw(st.sampled_from([unit, unit.upper()]))}" for n, unit in shown)
    return token, sum(n * {"d": DAY, "h": 3600, "m": MINUTE}[unit] for n, unit in shown)


@given(spelled())
def test_a_spelled_duration_is_its_seconds_or_refused_for_its_range(case: tuple[str, int]) -> None:
    token, seconds = case
    if MINUTE <= seconds <= 7 * DAY:
        assert parse_duration(token) == seconds
        return
    with pytest.raises(UsageError) as refused:
        parse_duration(token)
    assert ("at least 1 minute" in refused.value.message) == (seconds < MINUTE)
    assert ("at most 7 days" in refused.value.message) == (seconds > 7 * DAY)


@given(st.text(max_size=40))
def test_any_text_is_a_duration_in_range_or_a_sentence_that_escapes_it(token: str) -> None:
    said = ""
    try:
        seconds = parse_duration(token)
    except UsageError as error:
        said = error.message
    if said:
        assert "<" not in said
        assert said.endswith(".")
    else:
        assert MINUTE <= seconds <= 7 * DAY


@given(st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=30))
def test_a_snooze_command_with_any_duration_parses_or_says_why(token: str) -> None:
    try:
        command = parse_command(f"snooze 123 {token}")
    except UsageError:
        return
    assert command.verb is Verb.SNOOZE
    assert command.seconds is not None
    assert MINUTE <= command.seconds <= 7 * DAY


def test_the_issues_examples_are_what_they_say() -> None:
    assert [parse_duration(t) for t in ("30m", "2h", "1h30m", "1d", "7d", "1m")] == [
        1800,
        7200,
        5400,
        DAY,
        7 * DAY,
        MINUTE,
    ]
