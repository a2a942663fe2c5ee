"""Who and what the account has, as its read endpoints answer: users, services, escalation
policies and who is on call on them, priorities, abilities, webhook subscriptions."""

from __future__ import annotations

from typing import Any

from app.demo.pagerduty.account import Account
from app.demo.pagerduty.wire import Endpoint, RecordedRequest, not_found, page


def list_abilities(account: Account, rec: RecordedRequest) -> dict[str, Any]:
    return {"abilities": list(account.abilities)}


def list_webhook_subscriptions(account: Account, rec: RecordedRequest) -> dict[str, Any]:
    return page(rec, "webhook_subscriptions", list(account.webhook_subscriptions))


def list_users(account: Account, rec: RecordedRequest) -> dict[str, Any]:
    needle = (rec.query.get("query") or [""])[0].lower()
    users = [
        u
        for u in account.users.values()
        if needle in u["name"].lower() or needle in u["email"].lower()
    ]
    return {"users": users, "limit": 25, "offset": 0, "more": False, "total": None}


def get_user(account: Account, rec: RecordedRequest, user_id: str) -> dict[str, Any]:
    if user_id not in account.users:
        raise not_found()
    return {"user": account.users[user_id]}


def list_oncalls(account: Account, rec: RecordedRequest) -> dict[str, Any]:
    wanted = rec.query.get("escalation_policy_ids[]") or list(account.policies)
    user_filter = set(rec.query.get("user_ids[]", []))
    oncalls = [
        {
            "escalation_level": level,
            "user": account.user_ref(user_id),
            "escalation_policy": account.ref(
                "escalation_policy", pid, account.policies[pid]["name"]
            ),
            **_shift(account, pid, level),
        }
        for pid in wanted
        if pid in account.policies
        for level, user_ids in enumerate(account.policies[pid]["levels"], start=1)
        for user_id in user_ids
        if not user_filter or user_id in user_filter
    ]
    return {"oncalls": oncalls, "limit": 25, "offset": 0, "more": False, "total": None}


def _shift(account: Account, policy_id: str, level: int) -> dict[str, Any]:
    return account.shifts.get((policy_id, level), {"schedule": None, "start": None, "end": None})


def get_policy(account: Account, rec: RecordedRequest, policy_id: str) -> dict[str, Any]:
    if policy_id not in account.policies:
        raise not_found()
    policy = account.policies[policy_id]
    rules = [
        {
            "id": f"{policy_id}R{level}",
            "escalation_delay_in_minutes": 30,
            "targets": [account.user_ref(u) for u in user_ids],
        }
        for level, user_ids in enumerate(policy["levels"], start=1)
    ]
    body = {
        **account.ref("escalation_policy", policy_id, policy["name"]),
        "type": "escalation_policy",
        "name": policy["name"],
        "num_loops": 0,
        "escalation_rules": rules,
        "services": [],
        "teams": [],
    }
    return {"escalation_policy": body}


def list_policies(account: Account, rec: RecordedRequest) -> dict[str, Any]:
    needle = (rec.query.get("query") or [""])[0].lower()
    found = [
        get_policy(account, rec, pid)["escalation_policy"]
        for pid, policy in account.policies.items()
        if needle in policy["name"].lower()  # loose, like PagerDuty's `query`
    ]
    return page(rec, "escalation_policies", found)


def list_priorities(account: Account, rec: RecordedRequest) -> dict[str, Any]:
    return page(rec, "priorities", account.offered_priorities())


def list_services(account: Account, rec: RecordedRequest) -> dict[str, Any]:
    needle = (rec.query.get("query") or [""])[0].lower()
    found = [
        _service(account, s)
        for s in account.services
        if needle in account.services[s]["name"].lower()
    ]
    return page(rec, "services", found)


def get_service(account: Account, rec: RecordedRequest, service_id: str) -> dict[str, Any]:
    if service_id not in account.services:
        raise not_found()
    return {"service": _service(account, service_id)}


def _service(account: Account, service_id: str) -> dict[str, Any]:
    service = {k: v for k, v in account.services[service_id].items() if k != "policy_id"}
    if policy_id := account.services[service_id]["policy_id"]:
        name = account.policies[policy_id]["name"]
        service["escalation_policy"] = account.ref("escalation_policy", policy_id, name)
    return service


ENDPOINTS: tuple[Endpoint, ...] = (
    ("GET", "abilities", list_abilities),
    ("GET", "webhook_subscriptions", list_webhook_subscriptions),
    ("GET", "users", list_users),
    ("GET", "users/{}", get_user),
    ("GET", "oncalls", list_oncalls),
    ("GET", "escalation_policies", list_policies),
    ("GET", "escalation_policies/{}", get_policy),
    ("GET", "priorities", list_priorities),
    ("GET", "services", list_services),
    ("GET", "services/{}", get_service),
)
