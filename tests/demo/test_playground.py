"""The playground's page API, against `python -m app demo`: each thing the page offers
reaches the real bot through its endpoints and shows what the bot did."""

import time
from collections.abc import Callable
from typing import Any

import httpx

ALICE, BOB, NOBODY = "U0ALICE01", "U0BOB0002", "U0NOPD001"
State = dict[str, Any]


def slack(url: str, user: str, **action: Any) -> State:
    answer = httpx.post(f"{url}/demo/slack", json={"user": user, **action}, timeout=30)
    assert answer.status_code == 200, answer.text
    state: State = answer.json()
    return state


def pagerduty(url: str, user: str, **action: Any) -> State:
    answer = httpx.post(f"{url}/demo/pagerduty", json={"user": user, **action}, timeout=30)
    assert answer.status_code == 200, answer.text
    state: State = answer.json()
    return state


def wait_for(url: str, user: str, condition: Callable[[State], Any]) -> State:
    """The page's view for `user` once `condition` holds (the bot works after answering)."""
    deadline = time.monotonic() + 10
    while True:
        state: State = httpx.get(f"{url}/demo/state", params={"user": user}).json()
        if condition(state):
            return state
        assert time.monotonic() < deadline, f"never happened; the page showed:\n{state}"
        time.sleep(0.05)


def cards(state: State) -> list[dict[str, Any]]:
    return [m for m in state["messages"] if m.get("blocks") and not m.get("thread_ts")]


def incident(state: State, number: int) -> dict[str, Any]:
    [found] = [i for i in state["pagerduty"]["incidents"] if i["number"] == number]
    return found


def test_a_triggered_incident_gets_a_card_that_follows_pagerduty(playground: str) -> None:
    pagerduty(playground, ALICE, kind="trigger", title="disk full on db-7")
    state = wait_for(playground, ALICE, lambda s: any("disk full" in c["text"] for c in cards(s)))
    [new] = [i for i in state["pagerduty"]["incidents"] if i["title"] == "disk full on db-7"]

    pagerduty(playground, BOB, kind="acknowledged", incident_id=new["id"])

    state = wait_for(
        playground,
        ALICE,
        lambda s: any("disk full" in c["text"] and "acknowledged" in c["text"] for c in cards(s)),
    )
    assert incident(state, new["number"])["status"] == "acknowledged"
    # The page's own PagerDuty clicks are not listed as the bot's requests.
    assert all(r["method"] == "GET" for r in state["pagerduty"]["requests"])


def test_someone_pagerduty_does_not_know_is_refused_privately_and_nothing_changes(
    playground: str,
) -> None:
    slack(playground, NOBODY, kind="command", text="/incident ack 123")

    state = wait_for(playground, NOBODY, lambda s: s["ephemerals"])
    assert "nobody@example.com" in state["ephemerals"][0]["text"]
    assert incident(state, 123)["status"] == "triggered"
    assert not wait_for(playground, ALICE, lambda s: True)["ephemerals"]  # only theirs
    assert not [r for r in state["pagerduty"]["requests"] if r["method"] != "GET"]


def test_mentioning_the_bot_in_a_cards_thread_escalates_as_the_person(playground: str) -> None:
    slack(playground, ALICE, kind="command", text="/incident show 123")
    card = wait_for(playground, ALICE, cards)["messages"][0]

    slack(playground, ALICE, kind="say", text="@incident-bot escalate", thread_ts=card["ts"])

    state = wait_for(playground, ALICE, lambda s: incident(s, 123)["assignees"] == ["Bob Builder"])
    [put] = [r for r in state["pagerduty"]["requests"] if r["method"] == "PUT"]
    assert put["from"] == "alice@example.com"
    assert put["body"]["incident"]["escalation_level"] == 2


def test_a_message_shortcut_opens_its_modal_for_whoever_used_it(playground: str) -> None:
    slack(playground, ALICE, kind="command", text="/incident show 123")
    card = wait_for(playground, ALICE, cards)["messages"][0]
    slack(playground, BOB, kind="say", text="db failover did not help", thread_ts=card["ts"])
    reply = wait_for(playground, BOB, lambda s: len(s["messages"]) >= 2)["messages"][-1]

    slack(playground, BOB, kind="shortcut", callback_id="escalate_incident", ts=reply["ts"])

    state = wait_for(playground, BOB, lambda s: s["modal"] and "Escalate" in str(s["modal"]))
    assert wait_for(playground, ALICE, lambda s: True)["modal"] is None
    view = state["modal"]["view"]
    values = {"level": {"level_input": {"type": "plain_text_input", "value": "3"}}}
    values["note"] = {"note_input": {"type": "plain_text_input", "value": "paging Carol"}}
    slack(playground, BOB, kind="submit", view_id=view["id"], values=values)

    state = wait_for(playground, BOB, lambda s: incident(s, 123)["assignees"] == ["Carol Chen"])
    assert state["modal"] is None
    assert {r["from"] for r in state["pagerduty"]["requests"] if r["method"] != "GET"} == {
        "bob@example.com"
    }
