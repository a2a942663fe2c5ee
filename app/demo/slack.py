"""Slack Web API and response_url stand-in, fed by the shared Slack contract samples.

It answers slack_sdk's AsyncWebClient exactly as it calls Slack (GET with query args,
form or JSON POSTs, bearer token), records every call, and injects Slack-shaped failures.
"""

from __future__ import annotations

import asyncio
import copy
import itertools
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from app.demo.server import pause, peer

BOT_USER_ID = "U0INCBOT1"
BOT_ID = "B0INCBOT1"
TEAM_ID = "T0G9PQBBK"
# Slack's own answers, as the shared samples (../shared/contracts/slack/web_api) record them;
# tests/standins/test_standins.py keeps these copies equal to the samples.
AUTH_TEST: dict[str, Any] = {
    "ok": True,
    "url": "https://acme-sre.slack.com/",
    "team": "ACME SRE",
    "user": "incident-bot",
    "team_id": TEAM_ID,
    "user_id": BOT_USER_ID,
    "bot_id": BOT_ID,
    "is_enterprise_install": False,
}
AUTH_TEST_SCOPES = (
    "commands,chat:write,app_mentions:read,channels:history,groups:history,users:read"
)
USER: dict[str, Any] = {
    "id": "U0ALICE01",
    "team_id": TEAM_ID,
    "name": "alice",
    "deleted": False,
    "real_name": "Alice Example",
    "tz": "Europe/Berlin",
    "tz_label": "Central European Time",
    "tz_offset": 3600,
    "is_admin": False,
    "is_owner": False,
    "is_bot": False,
    "is_app_user": False,
    "updated": 1678000000,
    "profile": {
        "real_name": "Alice Example",
        "display_name": "alice",
        "email": "alice@example.com",
        "team": TEAM_ID,
    },
}
_JSON_FIELDS = frozenset({"blocks", "attachments", "metadata", "view", "user_auth_blocks"})


@dataclass
class SlackCall:
    """One Web API call; ``args`` merges query, form and JSON, with JSON form fields decoded."""

    method: str
    args: dict[str, Any]
    headers: dict[str, str]
    peer: str = ""  # the caller's address and port: one per connection


@dataclass
class _Fault:
    method: str
    status: int
    body: dict[str, Any]
    headers: dict[str, str] | None
    times: int


class SlackStandIn:
    """A Slack workspace the bot can call; tests seed users/messages and read back calls."""

    def __init__(self, bot_token: str | None = None) -> None:
        self.bot_token = bot_token  # None: any bearer token is accepted
        self.latency = 0.0
        self.calls: list[SlackCall] = []
        self.responses: list[dict[str, Any]] = []
        self.hook_paths: list[str] = []  # where each of `responses` was posted (its user)
        self.hook_peers: list[str] = []  # and from which connection
        self.views: dict[str, dict[str, Any]] = {}  # open modals by view id, with trigger_id
        self.users: dict[str, dict[str, Any]] = {}
        self.messages: dict[str, list[dict[str, Any]]] = {}
        self.socket_url: str | None = None
        self.groups: dict[str, list[str]] = {}  # user group id -> member user ids
        # auth.test's `x-oauth-scopes`; None: what the shared sample says (no users:read.email).
        self.granted_scopes: list[str] | None = None
        # Fields auth.test answers beyond the shared sample (e.g. an Enterprise Grid install's).
        self.auth_test_fields: dict[str, Any] = {}
        self._faults: list[_Fault] = []
        # Posts per second per channel before chat.postMessage answers 429 + Retry-After,
        # as Slack does (about 1); None: no limit.
        self.post_rate_per_channel: float | None = None
        self._last_post_at: dict[str, float] = {}
        self._ts = itertools.count(int(time.time()) * 1_000_000)
        self.app = Starlette(
            routes=[
                Route("/api/{method}", self._api, methods=["GET", "POST"]),
                Route("/hooks/{rest:path}", self._hook, methods=["POST"]),
            ]
        )

    # -- seeding ---------------------------------------------------------------------------

    def set_user(self, user_id: str, email: str | None, name: str = "user") -> None:
        """Add or replace a user; ``email=None`` mimics a workspace that hides emails."""
        user = copy.deepcopy(USER)
        user.update(id=user_id, name=name, real_name=name.title())
        user["profile"].update(real_name=name.title(), display_name=name, email=email)
        if email is None:
            del user["profile"]["email"]
        self.users[user_id] = user

    def add_message(
        self,
        channel: str,
        ts: str,
        text: str,
        metadata: dict[str, Any] | None = None,
        thread_ts: str | None = None,
        user: str = BOT_USER_ID,
        bot_id: str | None = BOT_ID,
    ) -> dict[str, Any]:
        """Put a message in a channel so conversations.replies can find it."""
        message: dict[str, Any] = {"type": "message", "text": text, "user": user, "ts": ts}
        message["team"] = TEAM_ID
        optional = {"bot_id": bot_id, "thread_ts": thread_ts, "metadata": metadata}
        message.update({k: v for k, v in optional.items() if v is not None})
        self.messages.setdefault(channel, []).append(message)
        return message

    # -- fault injection and inspection ------------------------------------------------------

    def fail_next(
        self,
        method: str,
        *,
        error: str | None = None,
        status: int = 200,
        headers: dict[str, str] | None = None,
        times: int = 1,
    ) -> None:
        """The next ``times`` calls to ``method`` fail the way Slack fails: ``ok: false``."""
        body = {"ok": False, "error": error or ("ratelimited" if status == 429 else "fatal_error")}
        self._faults.append(_Fault(method, status, body, headers, times))

    def fail_next_from_sample(self, method: str, data: dict[str, Any], *, times: int = 1) -> None:
        """Fail with a Slack sample's answer, honouring its ``_http_status``/headers."""
        body = {k: v for k, v in data.items() if not k.startswith("_")}
        status, headers = data.get("_http_status", 200), data.get("_response_headers")
        self._faults.append(_Fault(method, status, body, headers, times))

    def calls_to(self, method: str) -> list[SlackCall]:
        return [c for c in self.calls if c.method == method]

    async def wait_for(
        self,
        predicate: Callable[[SlackStandIn], bool],
        timeout: float = 5.0,  # noqa: ASYNC109 - the failure message must list what did arrive
    ) -> None:
        """Wait until the bot's background work shows up here; fail with what did."""
        deadline = asyncio.get_running_loop().time() + timeout
        while not predicate(self):
            if asyncio.get_running_loop().time() >= deadline:
                summary = self.summary()
                raise AssertionError(f"Slack condition not met within {timeout}s.\n{summary}")
            await asyncio.sleep(0.01)

    def summary(self) -> str:
        calls = [f"  {c.method} {json.dumps(c.args, default=str)[:300]}" for c in self.calls]
        hooks = [f"  {json.dumps(r)[:300]}" for r in self.responses]
        return "\n".join(["Web API calls:", *(calls or ["  (none)"]), "response_url:", *hooks])

    # -- HTTP ------------------------------------------------------------------------------

    async def _api(self, request: Request) -> Response:
        method = request.path_params["method"]
        args = await _arguments(request)
        headers = {k.lower(): v for k, v in request.headers.items()}
        self.calls.append(SlackCall(method, args, headers, peer(request)))
        await pause(request, self.latency)
        if fault := self._take_fault(method):
            return JSONResponse(fault.body, fault.status, headers=fault.headers)
        if method == "chat.postMessage" and (wait := self._post_rate_wait(args)):
            body = {"ok": False, "error": "ratelimited"}
            return JSONResponse(body, 429, headers={"Retry-After": str(math.ceil(wait))})
        auth = request.headers.get("authorization", "")
        if not auth.startswith("Bearer ") and "token" not in args:
            return JSONResponse({"ok": False, "error": "not_authed"})
        token = auth.removeprefix("Bearer ") if auth else args.get("token")
        if self.bot_token and token != self.bot_token:
            return JSONResponse({"ok": False, "error": "invalid_auth"})
        if method == "auth.test":
            scopes = self.granted_scopes
            headers = {
                "x-oauth-scopes": ",".join(scopes) if scopes is not None else AUTH_TEST_SCOPES
            }
            return JSONResponse(AUTH_TEST | self.auth_test_fields, headers=headers)
        handler = getattr(self, "_" + method.replace(".", "_"), None)
        return JSONResponse(handler(args) if handler else {"ok": True})

    async def _hook(self, request: Request) -> Response:
        self.responses.append(json.loads(await request.body() or b"{}"))
        self.hook_paths.append(request.path_params["rest"])
        self.hook_peers.append(peer(request))
        return PlainTextResponse("ok")

    def _take_fault(self, method: str) -> _Fault | None:
        for fault in self._faults:
            if fault.method == method:
                fault.times -= 1
                if fault.times <= 0:
                    self._faults.remove(fault)
                return fault
        return None

    def _post_rate_wait(self, args: dict[str, Any]) -> float:
        """Seconds until `args`'s channel may post again; 0 (and the post counted) if now."""
        if self.post_rate_per_channel is None:
            return 0.0
        channel, now = str(args.get("channel", "")), time.monotonic()
        last = self._last_post_at.get(channel)
        if last is not None and (wait := last + 1 / self.post_rate_per_channel - now) > 0:
            return wait
        self._last_post_at[channel] = now
        return 0.0

    def new_ts(self) -> str:
        """A fresh message timestamp, later than every earlier one."""
        micros = next(self._ts)
        return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"

    # -- Web API methods ---------------------------------------------------------------------

    def _users_info(self, args: dict[str, Any]) -> dict[str, Any]:
        user = self.users.get(args.get("user", ""))
        return {"ok": True, "user": user} if user else {"ok": False, "error": "user_not_found"}

    def _users_lookupByEmail(self, args: dict[str, Any]) -> dict[str, Any]:
        email = str(args.get("email", "")).lower()
        for user in self.users.values():
            if str(user["profile"].get("email", "")).lower() == email:
                return {"ok": True, "user": user}
        return {"ok": False, "error": "users_not_found"}

    def _chat_postMessage(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = args.get("channel", "")
        text, metadata, thread_ts = (
            args.get("text", ""),
            args.get("metadata"),
            args.get("thread_ts"),
        )
        message = self.add_message(channel, self.new_ts(), text, metadata, thread_ts)
        message["app_id"] = "A0INCBOT1"
        if "blocks" in args:
            message["blocks"] = args["blocks"]
        return {"ok": True, "channel": channel, "ts": message["ts"], "message": message}

    def _chat_update(self, args: dict[str, Any]) -> dict[str, Any]:
        channel, ts = args.get("channel", ""), args.get("ts", "")
        message = next((m for m in self.messages.get(channel, []) if m["ts"] == ts), None)
        if message is None:
            return {"ok": False, "error": "message_not_found"}
        message.update({k: args[k] for k in ("text", "blocks", "metadata") if k in args})
        message["edited"] = {"user": BOT_ID, "ts": self.new_ts()}
        text = message["text"]
        return {"ok": True, "channel": channel, "ts": ts, "text": text, "message": message}

    def _chat_postEphemeral(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "message_ts": self.new_ts()}

    def _chat_getPermalink(self, args: dict[str, Any]) -> dict[str, Any]:
        channel, ts = args.get("channel", ""), str(args.get("message_ts", ""))
        link = f"https://acme-sre.slack.com/archives/{channel}/p{ts.replace('.', '')}"
        return {"ok": True, "channel": channel, "permalink": link}

    def _conversations_history(self, args: dict[str, Any]) -> dict[str, Any]:
        """The channel's messages (not thread replies), newest first, one page; metadata
        only with `include_all_metadata`, as Slack does."""
        channel = args.get("channel", "")
        limit = int(args.get("limit") or 100)
        with_metadata = str(args.get("include_all_metadata", "")).lower() in {"1", "true"}
        top = [m for m in self.messages.get(channel, []) if m.get("thread_ts") in (None, m["ts"])]
        newest = sorted(top, key=lambda m: float(m["ts"]), reverse=True)[:limit]
        if not with_metadata:
            newest = [{k: v for k, v in m.items() if k != "metadata"} for m in newest]
        return {
            "ok": True,
            "messages": newest,
            "has_more": False,
            "response_metadata": {"next_cursor": ""},
        }

    def _conversations_replies(self, args: dict[str, Any]) -> dict[str, Any]:
        channel, ts = args.get("channel", ""), str(args.get("ts", ""))
        in_channel = self.messages.get(channel, [])
        parent = next((m for m in in_channel if m["ts"] == ts), None)
        if parent is None:
            return {"ok": False, "error": "thread_not_found"}
        replies = [m for m in in_channel if m.get("thread_ts") == ts and m is not parent]
        if replies:
            parent = {**parent, "thread_ts": ts, "reply_count": len(replies)}
        messages = [parent, *sorted(replies, key=lambda m: float(m["ts"]))]
        return {
            "ok": True,
            "messages": messages,
            "has_more": False,
            "response_metadata": {"next_cursor": ""},
        }

    def _views_open(self, args: dict[str, Any]) -> dict[str, Any]:
        view = {**(args.get("view") or {}), "id": args.get("view_id") or f"V{next(self._ts)}"}
        earlier = self.views.get(view["id"], {})
        view["trigger_id"] = args.get("trigger_id") or earlier.get("trigger_id")
        self.views[view["id"]] = view
        return {"ok": True, "view": view}

    _views_update = _views_open
    _views_push = _views_open

    def _usergroups_users_list(self, args: dict[str, Any]) -> dict[str, Any]:
        members = self.groups.get(str(args.get("usergroup")))
        if members is None:
            return {"ok": False, "error": "no_such_subteam"}
        return {"ok": True, "users": members}

    def _apps_connections_open(self, args: dict[str, Any]) -> dict[str, Any]:
        """Socket Mode: where the bot should open its WebSocket (`socket_url`)."""
        if self.socket_url is None:
            return {"ok": False, "error": "invalid_auth"}
        return {"ok": True, "url": self.socket_url}


async def _arguments(request: Request) -> dict[str, Any]:
    """Slack accepts args as query, form or JSON; normalise to one decoded dict."""
    args: dict[str, Any] = dict(request.query_params)
    raw = await request.body()
    if request.headers.get("content-type", "").startswith("application/json"):
        args.update(json.loads(raw or b"{}"))
    elif raw:
        args.update(parse_qsl(raw.decode(), keep_blank_values=True))
    for key in _JSON_FIELDS & args.keys():
        if isinstance(args[key], str) and args[key][:1] in ("[", "{"):
            args[key] = json.loads(args[key])
    return args


def seed_default_slack(slack: SlackStandIn) -> None:
    """Slack users matching the PagerDuty seed, plus the awkward ones."""
    slack.set_user("U0ALICE01", "alice@example.com", name="alice")
    slack.set_user("U0BOB0002", "bob@example.com", name="bob")
    slack.set_user("U0CAROL03", "carol@example.com", name="carol")
    slack.set_user("U0HIDDEN1", None, name="hidden")
    slack.set_user("U0NOPD001", "nobody@example.com", name="nobody")  # not in PagerDuty
