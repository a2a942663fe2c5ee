"""`python -m app demo`: the real bot, a simulated Slack workspace and PagerDuty account,
and a page at `/` that plays a Slack channel, with PagerDuty in a side panel.

The simulators are the ones the tests use (`app.demo.slack`, `app.demo.pagerduty`), each on
a loopback port of its own: the bot calls PagerDuty while it starts (catch-up), before this
server listens, so they cannot be routes of this server. The page talks to `/demo/*` here;
whatever it does reaches the bot as Slack or PagerDuty would send it: HTTP requests to the
bot's own endpoints, signed with the bot's secrets. Nothing here knows the bot's internals.
"""

import itertools
import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode

import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from app.demo.pagerduty import PagerDutyStandIn
from app.demo.signing import (
    FORM,
    JSON,
    events_body,
    interactivity_body,
    sign_pagerduty,
    signed_headers,
    slash_command_body,
)
from app.demo.slack import BOT_USER_ID, TEAM_ID, SlackStandIn

CHANNEL = {"id": "C0INCIDENTS", "name": "incidents"}
PEOPLE = [
    {"id": "U0ALICE01", "name": "alice", "label": "Alice (on call)"},
    {"id": "U0BOB0002", "name": "bob", "label": "Bob"},
    {"id": "U0NOPD001", "name": "nobody", "label": "Someone not in PagerDuty"},
]
# The playground's own requests to the simulated PagerDuty (its web UI, as it were) carry
# this header, so the panel lists only the bot's.
UI_HEADER = "x-playground"


@dataclass
class Ephemeral:
    """A message only `user` sees (chat.postEphemeral, response_url, a command's answer)."""

    ts: str
    user: str
    text: str
    blocks: list[dict[str, Any]] = field(default_factory=list)
    thread_ts: str | None = None


class Playground:
    def __init__(
        self,
        slack: SlackStandIn,
        pagerduty: PagerDutyStandIn,
        *,
        bot_url: str,
        slack_url: str,
        pagerduty_url: str,
        signing_secret: str,
        webhook_secret: str,
    ) -> None:
        self.slack, self.pagerduty = slack, pagerduty
        self._bot = httpx.AsyncClient(base_url=bot_url, timeout=30)
        self._pagerduty_ui = httpx.AsyncClient(base_url=pagerduty_url, timeout=30)
        self._slack_url = slack_url
        self._signing_secret, self._webhook_secret = signing_secret, webhook_secret
        self._ids = itertools.count(1)
        self._numbers = itertools.count(200)
        self.ephemerals: list[Ephemeral] = []
        self._folded_ephemeral_calls = 0
        self._folded_hooks = 0
        self._closed_views: set[str] = set()
        self._view_errors: dict[str, dict[str, str]] = {}

    async def aclose(self) -> None:
        await self._bot.aclose()
        await self._pagerduty_ui.aclose()

    # -- the page's endpoints ------------------------------------------------------------

    async def page_state(self, request: Request) -> Response:
        user = request.query_params.get("user", PEOPLE[0]["id"])
        return JSONResponse(self.state(user))

    async def slack_action(self, request: Request) -> Response:
        action: dict[str, Any] = await request.json()
        user = str(action.get("user") or PEOPLE[0]["id"])
        kind = action.get("kind")
        if kind == "command":
            await self.command(user, str(action.get("text", "")))
        elif kind == "click":
            await self.click(user, str(action["ts"]), str(action["action_id"]))
        elif kind == "submit":
            await self.submit(user, str(action["view_id"]), action.get("values", {}))
        elif kind == "close":
            self._closed_views.add(str(action["view_id"]))
        elif kind == "say":
            await self.say(user, str(action.get("text", "")), action.get("thread_ts"))
        elif kind == "shortcut":
            await self.shortcut(user, str(action["callback_id"]), str(action["ts"]))
        else:
            return JSONResponse({"error": f"unknown action {kind!r}"}, status_code=400)
        return JSONResponse(self.state(user))

    async def pagerduty_action(self, request: Request) -> Response:
        action: dict[str, Any] = await request.json()
        user = str(action.get("user") or PEOPLE[0]["id"])
        kind = action.get("kind")
        if kind == "trigger":
            await self.trigger(str(action.get("title") or "something is on fire"))
        elif kind in ("acknowledged", "resolved"):
            await self.change_in_pagerduty(str(action["incident_id"]), kind, user)
        else:
            return JSONResponse({"error": f"unknown action {kind!r}"}, status_code=400)
        return JSONResponse(self.state(user))

    # -- Slack, as the people in the channel use it ----------------------------------------

    async def command(self, user: str, text: str) -> None:
        """`/incident text`, as Slack posts it; an answer in Slack's 3 s is shown to `user`."""
        text = text.strip().removeprefix("/incident").strip()
        body = slash_command_body(
            text,
            user_id=user,
            channel_id=CHANNEL["id"],
            response_url=self._hook_url("commands", user),
        )
        fields = dict(_form_fields(body), trigger_id=self._trigger(user), user_name=_name(user))
        answer = await self._to_slack_endpoint(urlencode(fields).encode(), FORM)
        if answer.content:
            reply = _json_or_text(answer)
            self._add_ephemeral(user, str(reply.get("text", "")), reply.get("blocks") or [])

    async def click(self, user: str, ts: str, action_id: str) -> None:
        message = self._message(ts)
        [button] = [
            element
            for block in message.get("blocks", [])
            if block.get("type") == "actions"
            for element in block["elements"]
            if element.get("action_id") == action_id
        ]
        payload = self._interaction("block_actions", user)
        payload |= {
            "container": {
                "type": "message",
                "message_ts": ts,
                "channel_id": CHANNEL["id"],
                "is_ephemeral": False,
            },
            "message": message,
            "state": {"values": {}},
            "response_url": self._hook_url("actions", user),
            "actions": [{**button, "block_id": button.get("block_id", ""), "action_ts": ts}],
        }
        await self._to_slack_endpoint(interactivity_body(payload), FORM)

    async def submit(self, user: str, view_id: str, values: dict[str, Any]) -> None:
        view = self.slack.views[view_id]
        payload = self._interaction("view_submission", user)
        payload["view"] = {**view, "state": {"values": values}}
        answer = await self._to_slack_endpoint(interactivity_body(payload), FORM)
        reply = _json_or_text(answer) if answer.content else {}
        if reply.get("response_action") == "errors":
            self._view_errors[view_id] = dict(reply.get("errors", {}))
        elif reply.get("response_action") == "update":
            self._view_errors.pop(view_id, None)
            self.slack.views[view_id] = {**reply["view"], "id": view_id, "trigger_id": ""}
            self.slack.views[view_id]["trigger_id"] = view.get("trigger_id")
        elif answer.status_code == 200:
            self._closed_views.add(view_id)

    async def say(self, user: str, text: str, thread_ts: str | None) -> None:
        """A message in the channel or a card's thread; mentioning the bot sends it the
        `app_mention` event (the one event it subscribes to)."""
        text = text.replace("@incident-bot", f"<@{BOT_USER_ID}>")
        message = self.slack.add_message(
            CHANNEL["id"], self.slack.new_ts(), text, thread_ts=thread_ts, user=user, bot_id=None
        )
        if f"<@{BOT_USER_ID}>" not in text:
            return
        event = {
            "type": "app_mention",
            "text": text,
            "user": user,
            "ts": message["ts"],
            "team": TEAM_ID,
            "channel": CHANNEL["id"],
            "event_ts": message["ts"],
            **({"thread_ts": thread_ts} if thread_ts else {}),
        }
        envelope = {
            "token": "legacy-verification-token",
            "team_id": TEAM_ID,
            "api_app_id": "A0INCBOT1",
            "event": event,
            "type": "event_callback",
            "event_id": f"Ev{next(self._ids):010d}",
            "event_time": int(float(message["ts"])),
            "authorizations": [{"team_id": TEAM_ID, "user_id": BOT_USER_ID, "is_bot": True}],
        }
        await self._to_slack_endpoint(events_body(envelope), JSON)

    async def shortcut(self, user: str, callback_id: str, ts: str) -> None:
        """A message shortcut from a message's ⋮ menu."""
        payload = self._interaction("message_action", user)
        payload |= {
            "callback_id": callback_id,
            "message_ts": ts,
            "message": self._message(ts),
            "response_url": self._hook_url("app", user),
            "action_ts": self.slack.new_ts(),
        }
        await self._to_slack_endpoint(interactivity_body(payload), FORM)

    # -- PagerDuty, as its web UI and its webhooks ------------------------------------------

    async def trigger(self, title: str) -> None:
        """A new incident on Checkout API (an alert fired), announced by webhook."""
        number = next(self._numbers)
        while any(i["incident_number"] == number for i in self.pagerduty.incidents.values()):
            number = next(self._numbers)
        incident_id = f"PDEMO{number}"
        self.pagerduty.add_incident(
            number, id=incident_id, title=title[:200], service_id="PSVC001", policy_id="PEPOL01"
        )
        await self._webhook("incident.triggered", incident_id, None)

    async def change_in_pagerduty(self, incident_id: str, status: str, user: str) -> None:
        """Someone acknowledges or resolves it in PagerDuty itself (as the PagerDuty user of
        the current person, or Bob for someone PagerDuty does not know)."""
        slack_email = self.slack.users.get(user, {}).get("profile", {}).get("email")
        known = {p["email"] for p in self.pagerduty.users.values()}
        email = slack_email if slack_email in known else "bob@example.com"
        answer = await self._pagerduty_ui.put(
            f"/incidents/{incident_id}",
            json={"incident": {"type": "incident_reference", "status": status}},
            headers={
                "authorization": f"Token token={self.pagerduty.api_token}",
                "accept": "application/vnd.pagerduty+json;version=2",
                "from": email,
                UI_HEADER: "pagerduty-web-ui",
            },
        )
        if answer.status_code == 200:
            agent = next(u["id"] for u in self.pagerduty.users.values() if u["email"] == email)
            await self._webhook(f"incident.{status}", incident_id, agent)

    async def _webhook(self, event_type: str, incident_id: str, agent: str | None) -> None:
        body = self.pagerduty.webhook_body(event_type, incident_id, agent)
        headers = sign_pagerduty(self._webhook_secret, body)
        await self._bot.post("/pagerduty/webhooks", content=body, headers=headers)

    # -- what the page shows ----------------------------------------------------------------

    def state(self, user: str) -> dict[str, Any]:
        self._fold_ephemerals()
        messages = sorted(self.slack.messages.get(CHANNEL["id"], []), key=lambda m: float(m["ts"]))
        return {
            "me": user,
            "people": PEOPLE,
            "bot": BOT_USER_ID,
            "names": {u: info["name"] for u, info in self.slack.users.items()}
            | {BOT_USER_ID: "incident-bot"},
            "channel": CHANNEL,
            "messages": messages,
            "ephemerals": [vars(e) for e in self.ephemerals if e.user == user],
            "modal": self._modal_of(user),
            "pagerduty": {
                "incidents": [
                    {
                        "id": i["id"],
                        "number": i["incident_number"],
                        "title": i["title"],
                        "status": i["status"],
                        "assignees": [a["assignee"]["summary"] for a in i["assignments"]],
                    }
                    for i in sorted(
                        self.pagerduty.incidents.values(), key=lambda i: -i["incident_number"]
                    )
                ],
                "requests": [
                    {
                        "method": r.method,
                        "path": r.path,
                        "from": r.headers.get("from", ""),
                        "status": r.status,
                        "body": r.json,
                    }
                    for r in self.pagerduty.requests
                    if UI_HEADER not in r.headers
                ][-60:],
            },
        }

    def _modal_of(self, user: str) -> dict[str, Any] | None:
        mine = [
            view
            for view in self.slack.views.values()
            if view["id"] not in self._closed_views
            and str(view.get("trigger_id") or "").endswith(f".{user}.playground")
        ]
        if not mine:
            return None
        view = mine[-1]
        return {"view": view, "errors": self._view_errors.get(view["id"], {})}

    def _fold_ephemerals(self) -> None:
        """Turn what the bot sent privately (or, via response_url, publicly) into the page's
        messages, once each."""
        calls = self.slack.calls_to("chat.postEphemeral")
        for call in calls[self._folded_ephemeral_calls :]:
            args = call.args
            self._add_ephemeral(
                str(args.get("user", "")),
                str(args.get("text", "")),
                args.get("blocks") or [],
                args.get("thread_ts"),
            )
        self._folded_ephemeral_calls = len(calls)
        hooks = list(zip(self.slack.hook_paths, self.slack.responses, strict=True))
        for path, body in hooks[self._folded_hooks :]:
            user = path.split("/")[1] if "/" in path else ""
            if body.get("delete_original"):
                continue
            if body.get("response_type") == "in_channel":
                message = self.slack.add_message(
                    CHANNEL["id"], self.slack.new_ts(), str(body.get("text", ""))
                )
                if body.get("blocks"):
                    message["blocks"] = body["blocks"]
            else:
                self._add_ephemeral(user, str(body.get("text", "")), body.get("blocks") or [])
        self._folded_hooks = len(hooks)

    # -- plumbing -------------------------------------------------------------------------

    def _add_ephemeral(
        self, user: str, text: str, blocks: list[dict[str, Any]], thread_ts: str | None = None
    ) -> None:
        self.ephemerals.append(Ephemeral(self.slack.new_ts(), user, text, blocks, thread_ts))

    async def _to_slack_endpoint(self, body: bytes, content_type: str) -> httpx.Response:
        headers = signed_headers(self._signing_secret, body, content_type)
        answer = await self._bot.post("/slack/events", content=body, headers=headers)
        self._fold_ephemerals()
        return answer

    def _hook_url(self, kind: str, user: str) -> str:
        return f"{self._slack_url}/hooks/{kind}/{user}/{next(self._ids)}"

    def _trigger(self, user: str) -> str:
        """Slack's trigger_id, carrying whose click it was so their modal opens for them."""
        return f"{next(self._ids)}.{user}.playground"

    def _interaction(self, kind: str, user: str) -> dict[str, Any]:
        return {
            "type": kind,
            "user": {"id": user, "username": _name(user), "name": _name(user), "team_id": TEAM_ID},
            "api_app_id": "A0INCBOT1",
            "token": "legacy-verification-token",
            "trigger_id": self._trigger(user),
            "team": {"id": TEAM_ID, "domain": "acme-sre"},
            "enterprise": None,
            "is_enterprise_install": False,
            "channel": CHANNEL,
        }

    def _message(self, ts: str) -> dict[str, Any]:
        for message in self.slack.messages.get(CHANNEL["id"], []):
            if message["ts"] == ts:
                return dict(message)
        raise KeyError(ts)


def _name(user: str) -> str:
    return next((p["name"] for p in PEOPLE if p["id"] == user), user.lower())


def _form_fields(body: bytes) -> dict[str, str]:
    return dict(parse_qsl(body.decode(), keep_blank_values=True))


def _json_or_text(answer: httpx.Response) -> dict[str, Any]:
    try:
        reply = answer.json()
    except json.JSONDecodeError:
        return {"text": answer.text}
    return reply if isinstance(reply, dict) else {"text": answer.text}
