"""`Person.of`: who is acting, read from each kind of Slack request body."""

import pytest

from app.incidents.person import Person
from tests.standins.contracts import load_slack_sample


@pytest.mark.parametrize(
    ("sample", "person"),
    [
        ("block_actions.acknowledge_button.payload.json", Person("U0ALICE01", "T0G9PQBBK")),
        ("view_submission.payload.json", Person("W111", "T111")),
        ("message_action.escalate_on_thread_reply.payload.json", Person("U0ALICE01", "T0G9PQBBK")),
        ("slash_command.docs_example.form.json", Person("U2147483697", "T0001")),
        ("event.app_mention.escalate_in_thread.json", Person("U0BOB0002", "T0G9PQBBK")),
    ],
    ids=["button", "modal", "message shortcut", "slash command", "mention"],
)
def test_each_kind_of_request_names_its_person_and_their_workspace(
    sample: str, person: Person
) -> None:
    assert Person.of(load_slack_sample(f"requests/{sample}")) == person


def test_the_persons_own_workspace_wins_over_the_hosts() -> None:
    """In a shared channel `team_id` (and an event's `team`) may be the host workspace's."""
    command = {"user_id": "U0PARTNER1", "team_id": "T0HOST0001", "user_team": "T0PARTNER1"}
    event = {"event": {"user": "U0PARTNER1", "team": "T0HOST0001", "user_team": "T0PARTNER1"}}
    click = {"user": {"id": "U0PARTNER1", "team_id": "T0PARTNER1"}, "team": {"id": "T0HOST0001"}}
    assert {Person.of(body) for body in (command, event, click)} == {
        Person("U0PARTNER1", "T0PARTNER1")
    }


def test_an_org_wide_click_with_no_team_keeps_the_persons_workspace() -> None:
    click = {"user": {"id": "W0ALICE01", "team_id": "T0G9PQBBK"}, "team": None}
    assert Person.of(click) == Person("W0ALICE01", "T0G9PQBBK")


def test_a_request_that_names_no_workspace_says_so_with_none() -> None:
    assert Person.of({"user": {"id": "U0ALICE01"}}) == Person("U0ALICE01", None)
    assert Person.of({"user_id": "U0ALICE01", "team_id": ""}) == Person("U0ALICE01", None)


def test_a_request_without_a_person_is_refused_rather_than_acting_for_nobody() -> None:
    with pytest.raises(ValueError, match="without the person"):
        Person.of({"event": {"type": "app_mention", "bot_id": "B0OTHERAPP"}})
