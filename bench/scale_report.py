"""Issue 15's targets beside what was measured, and how each figure grows with open cards."""

from __future__ import annotations

from typing import Any

STORM_OTHER_LIMIT_S = 5.0
STORM_LAST_LIMIT_S = 230.0
STORM_READS_LIMIT = 1.2
WEBHOOK_LIMIT_S = 1.0
READY_LIMIT_S = 1.0
RECONCILE_CALLS_LIMIT = 15
CHANGED_LIMIT_S = 30.0


def _fmt(value: object, unit: str = "") -> str:
    if value is None:
        return "n/a"
    return f"{value}{unit}"


def _beside_floor(run: dict[str, Any]) -> str:
    """The bare Bolt app's start just before, on the same machine: what no bot can beat."""
    floor = run.get("floor_ready_s")
    return f" (bare Bolt app: {floor} s)" if floor is not None else ""


def _ok(condition: bool) -> str:
    return "yes" if condition else "NO"


def _le(value: float | None, limit: float) -> bool:
    return value is not None and value <= limit


def scale_targets(results: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """(scenario, target, measured, met) rows for every scenario that ran."""
    rows: list[tuple[str, str, str, str]] = []
    if storm := results.get("storm"):
        name = f"storm {storm['size']} (+{storm['background']} open)"
        if "error" in storm:
            rows.append((name, "runs", storm["error"], "NO"))
        else:
            other, last = storm["other_channel_card_s"], storm["last_card_s"]
            reads, slowest = storm["pagerduty_reads_per_card"], storm["webhook_slowest_s"]
            once = storm["storm_cards_posted"] == storm["size"] and storm["duplicates"] == 0
            rows += [
                (
                    name,
                    f"other channel's card <= {STORM_OTHER_LIMIT_S:.0f} s",
                    _fmt(other, " s"),
                    _ok(_le(other, STORM_OTHER_LIMIT_S)),
                ),
                (
                    name,
                    "every card exactly once",
                    f"{storm['storm_cards_posted']}/{storm['size']} posted,"
                    f" {storm['duplicates']} doubled (waited {storm['waited_s']} s)",
                    _ok(once),
                ),
                (
                    name,
                    f"last card <= {STORM_LAST_LIMIT_S:.0f} s",
                    _fmt(last, " s"),
                    _ok(_le(last, STORM_LAST_LIMIT_S)),
                ),
                (
                    name,
                    f"PagerDuty reads per new card <= {STORM_READS_LIMIT}",
                    _fmt(reads),
                    _ok(reads <= STORM_READS_LIMIT),
                ),
                (
                    name,
                    f"every webhook answered < {WEBHOOK_LIMIT_S:.0f} s",
                    f"slowest {slowest} s, {storm['webhooks_not_2xx']} not 2xx",
                    _ok(slowest < WEBHOOK_LIMIT_S and storm["webhooks_not_2xx"] == 0),
                ),
            ]
    for run in results.get("restart", []):
        name, unchanged, changed = (
            f"restart {run['open_cards']} open",
            run["unchanged"],
            run["changed"],
        )
        window = f" (in {run['observed_s']:.0f} s)"
        rows += [
            (
                name,
                f"/readyz 200 < {READY_LIMIT_S:.0f} s",
                _fmt(unchanged["ready_s"], " s") + _beside_floor(unchanged),
                _ok(unchanged["ready_s"] is not None and unchanged["ready_s"] < READY_LIMIT_S),
            ),
            (
                name,
                f"none changed: <= {RECONCILE_CALLS_LIMIT} PagerDuty calls",
                f"{unchanged['pagerduty_calls']}{window}",
                _ok(unchanged["pagerduty_calls"] <= RECONCILE_CALLS_LIMIT),
            ),
            (
                name,
                "none changed: 0 chat.update",
                f"{unchanged['chat_updates']}{window}",
                _ok(unchanged["chat_updates"] == 0),
            ),
            (
                name,
                f"5 changed: redrawn within {CHANGED_LIMIT_S:.0f} s",
                f"{changed['redrawn']}/5, last {_fmt(changed['last_redrawn_s'], ' s')}",
                _ok(_le(changed["last_redrawn_s"], CHANGED_LIMIT_S)),
            ),
            (
                name,
                "5 changed: no other card redrawn",
                f"{changed['other_cards_redrawn']}{window}",
                _ok(changed["other_cards_redrawn"] == 0 and changed["redrawn"] == 5),
            ),
        ]
    if crash := results.get("crash"):
        name = f"crash, {crash['events']} stored events"
        ready = crash["ready_after_kill_s"]
        rows += [
            (
                name,
                f"ready < {READY_LIMIT_S:.0f} s after restart",
                _fmt(ready, " s") + _beside_floor(crash),
                _ok(ready is not None and ready < READY_LIMIT_S),
            ),
            (
                name,
                "every event applied, none twice",
                f"{crash['applied']}/{crash['events']} applied, {crash['applied_twice']} twice,"
                f" {crash['still_pending']} pending after {crash['waited_s']} s",
                _ok(crash["applied"] == crash["events"] and crash["applied_twice"] == 0),
            ),
            (
                name,
                f"SIGTERM in catch-up exits within {crash['grace_s']:.0f} s",
                _fmt(crash["sigterm_exit_s"], " s")
                + (" (SIGKILLed)" if crash["sigterm_forced"] else ""),
                _ok(not crash["sigterm_forced"] and _le(crash["sigterm_exit_s"], crash["grace_s"])),
            ),
        ]
    if replicas := results.get("replicas"):
        name = "two replicas"
        if "skipped" in replicas or "error" in replicas:
            why = replicas.get("skipped") or replicas.get("error")
            rows.append((name, "action on A, webhook on B", str(why), "n/a"))
        else:
            lines, kept = (
                replicas["acknowledged_lines_in_thread"],
                replicas["last_action_after_restart"],
            )
            rows += [
                (
                    name,
                    "one line in the card's thread",
                    f"{lines}: {'; '.join(replicas['thread'])[:80]}",
                    _ok(lines == 1),
                ),
                (name, "last action survives a restart", _fmt(kept), _ok(kept is True)),
            ]
    return rows


def growth(results: dict[str, Any]) -> list[str]:
    """How each restart figure moves from the fewest to the most open cards measured."""
    runs = sorted(results.get("restart", []), key=lambda r: r["open_cards"])
    if len(runs) < 2:
        return []
    low, high = runs[0], runs[-1]
    figures = [
        ("ready s (none changed)", "unchanged", "ready_s"),
        ("PagerDuty calls (none changed)", "unchanged", "pagerduty_calls"),
        ("chat.update (none changed)", "unchanged", "chat_updates"),
        ("SIGTERM exit s", "unchanged", "sigterm_exit_s"),
        ("last of 5 changed redrawn s", "changed", "last_redrawn_s"),
        ("other cards redrawn (5 changed)", "changed", "other_cards_redrawn"),
    ]
    head = f"growth with open cards: {low['open_cards']} -> {high['open_cards']}"
    lines = [head, "-" * len(head)]
    for label, part, key in figures:
        lines.append(f"  {label:34} {_fmt(low[part][key]):>8} -> {_fmt(high[part][key]):>8}")
    return lines


def scale_table(results: dict[str, Any]) -> str:
    rows = scale_targets(results)
    if not rows:
        return ""
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    header = ("scenario", "target", "measured", "met")
    widths = [max(w, len(h)) for w, h in zip(widths, header, strict=False)]
    lines = ["issue 15: storms, restarts, big teams (targets of issue 15)"]
    for row in [header, *rows]:
        cells = [row[i].ljust(widths[i]) for i in range(3)]
        lines.append("  ".join([*cells, row[3]]).rstrip())
    return "\n".join([*lines, "", *growth(results)]).rstrip()
