"""The worlds tests and the playground start from."""

from __future__ import annotations

from app.demo.pagerduty.account import Account


def seed_default(pd: Account) -> None:
    """The world the bot's tests share: one incident, a three-level policy, a decoy user."""
    pd.add_user("PALICE1", "Alice Example", "alice@example.com")
    pd.add_user("PBOB002", "Bob Builder", "bob@example.com")
    pd.add_user("PCAROL3", "Carol Chen", "carol@example.com")
    pd.add_user("PMAL004", "Mallory", "malice@example.com")  # loose query "alice@..." hits her
    pd.add_service("PSVC001", "Checkout API", policy_id="PEPOL01")
    pd.add_escalation_policy(
        "PEPOL01", "Checkout escalation", [["PALICE1"], ["PBOB002"], ["PCAROL3"]]
    )
    pd.add_incident(
        123,
        id="PT4KHLK",
        title="checkout API error rate high",
        service_id="PSVC001",
        policy_id="PEPOL01",
    )
    for id, name in [("PPRIO01", "P1"), ("PPRIO02", "P2"), ("PPRIO03", "P3")]:
        pd.add_priority(id, name)
    pd.add_webhook_subscription("https://incident-bot.example.com/pagerduty/webhooks")


def seed_responding(pd: Account) -> None:
    """Beyond the default world: a second team, two policies sharing a name, a disabled
    service, shifts with schedules, and more of Alice's incidents."""
    pd.add_escalation_policy("PEPOL02", "Payments", [["PBOB002"], ["PCAROL3"]])
    pd.add_escalation_policy("PEPOL03", "Platform", [["PCAROL3"]])
    pd.add_escalation_policy("PEPOL04", "platform", [["PBOB002"]])  # same name, any case
    pd.add_escalation_policy("PEPOL05", "Platform v2", [["PALICE1"]])  # `query` hits it too
    pd.add_service("PSVC002", "Payments API", policy_id="PEPOL02")
    pd.add_service("PSVC003", "Legacy billing", status="disabled", policy_id="PEPOL02")
    pd.set_shift("PEPOL01", 1, "PSCHED1", "Checkout primary", "2030-01-01T09:00:00Z")
    pd.set_shift("PEPOL01", 2, "PSCHED2", "Checkout secondary", "2030-01-02T09:00:00Z")
    pd.add_incident(
        124,
        id="PQ2OLD0",
        title="disk filling on checkout-db",
        service_id="PSVC001",
        policy_id="PEPOL01",
        status="acknowledged",
        created_at="2026-01-01T10:00:00Z",
    )
    pd.add_incident(
        125,
        id="PRESOLV",
        title="yesterday's outage",
        service_id="PSVC001",
        policy_id="PEPOL01",
        status="resolved",
    )
    pd.add_incident(
        126,
        id="PPAY126",
        title="payments latency",
        service_id="PSVC002",
        policy_id="PEPOL02",
    )
