"""Targets, the printed table and the JSON: one `results` dict feeds all three, so the
table and the file can never disagree."""

from __future__ import annotations

from typing import Any

from bench.parse_stall import PARSE_STALL_LIMIT_MS

ACK_P99_LIMIT_MS = 50.0
FLOOR_RATIO_LIMIT = 3.0
WRITE_LAG_LIMIT_S = 90.0
BURST_SLOWEST_LIMIT_MS = 3000.0
RSS_LIMIT_MB = 150.0
READY_LIMIT_S = 2.0


def _fmt(value: object, unit: str = "") -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.1f}{unit}"
    return f"{value}{unit}"


def targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Each target with what was measured and whether it was met."""
    floor, bot = results["floor"], results["bot"]
    bot_p99, ratio = bot["ack_ms"]["p99"], results["bot_p99_over_floor_p99"]
    writes, burst = results["writes"], results["burst"]
    lag = writes["last_write_after_load_end_s"]
    complete = writes["missing"] == 0 and writes["duplicates"] == 0
    rss, ready = results["bot_peak_rss_mb"], results["bot_start_to_ready_s"]
    checks = [
        (
            f"steady: bot ack p99 <= {ACK_P99_LIMIT_MS:.0f} ms",
            bot_p99 is not None and bot_p99 <= ACK_P99_LIMIT_MS,
            f"{_fmt(bot_p99)} ms",
        ),
        (
            f"steady: bot p99 <= {FLOOR_RATIO_LIMIT:.0f}x floor p99",
            ratio is not None and ratio <= FLOOR_RATIO_LIMIT,
            f"{_fmt(ratio)}x ({_fmt(bot_p99)} vs {_fmt(floor['ack_ms']['p99'])} ms)",
        ),
        (
            "writes: every intended note made exactly once",
            complete,
            f"{writes['made']}/{writes['intended']} made, {writes['duplicates']} duplicates,"
            f" {writes['missing']} missing",
        ),
        (
            f"writes: last within {WRITE_LAG_LIMIT_S:.0f} s of load end",
            complete and lag is not None and lag <= WRITE_LAG_LIMIT_S,
            f"{_fmt(lag)} s" + ("" if complete else f" (incomplete after {writes['waited_s']} s)"),
        ),
        (
            "burst: every request answered 200",
            burst["answered_200"] == burst["requests"],
            f"{burst['answered_200']}/{burst['requests']}",
        ),
        (
            f"burst: none slower than {BURST_SLOWEST_LIMIT_MS / 1000:.0f} s",
            burst["ack_ms"]["max"] is not None
            and burst["ack_ms"]["max"] <= BURST_SLOWEST_LIMIT_MS
            and burst["errors"] == 0,
            f"slowest {_fmt(burst['ack_ms']['max'])} ms, {burst['errors']} errors",
        ),
        (
            f"bot peak RSS < {RSS_LIMIT_MB:.0f} MB",
            rss is not None and rss < RSS_LIMIT_MB,
            f"{_fmt(rss)} MB",
        ),
        (
            f"bot start -> /readyz < {READY_LIMIT_S:.0f} s",
            ready < READY_LIMIT_S,
            f"{ready:.2f} s",
        ),
        (
            "the longest event-loop stall while such input is parsed"
            f" (40,000-character hostile words) < {PARSE_STALL_LIMIT_MS:.0f} ms",
            results["parse_stall_ms"] < PARSE_STALL_LIMIT_MS,
            f"{results['parse_stall_ms']} ms",
        ),
    ]
    return [{"target": name, "met": bool(met), "measured": got} for name, met, got in checks]


def table(results: dict[str, Any]) -> str:
    cfg = results["config"]
    lines = [
        f"incident-bot benchmark: PagerDuty latency {cfg['pagerduty_latency_s']} s, "
        f"{cfg['rate']}/s for {cfg['seconds']} s, burst {cfg['burst']} at concurrency "
        f"{cfg['burst_concurrency']}; {results['pinning']}",
        "",
        f"{'steady load':<22}{'requests':>9}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}"
        f"{'max ms':>9}{'errors':>8}{'CPU ms/req':>12}",
    ]
    for key, label in (("floor", "floor (Bolt ack only)"), ("bot", "bot")):
        row = results[key]
        ack = row["ack_ms"]
        lines.append(
            f"{label:<22}{row['requests']:>9}{_fmt(ack['p50']):>9}{_fmt(ack['p95']):>9}"
            f"{_fmt(ack['p99']):>9}{_fmt(ack['max']):>9}{row['errors']:>8}"
            f"{_fmt(row['cpu_ms_per_request']):>12}"
        )
    lines.append(
        f"bot p99 / floor p99: {_fmt(results['bot_p99_over_floor_p99'])}x; bot's slowest was "
        f"sent {_fmt(results['bot']['slowest_sent_at_s'])} s into the load; generator lag max "
        f"{_fmt(results['bot']['send_lag_max_ms'])} ms"
    )
    w = results["writes"]
    lines += [
        "",
        f"PagerDuty note writes (steady load): intended {w['intended']}, made {w['made']}, "
        f"duplicates {w['duplicates']}, missing {w['missing']}",
        f"  last write {_fmt(w['last_write_after_load_end_s'])} s after load end "
        f"(waited up to {w['waited_s']} s); landing rate after load end "
        f"{_fmt(w['landed_per_s_after_load_end'])}/s",
        f"  PagerDuty requests: {results['pagerduty']['requests']} "
        f"(peak {results['pagerduty']['peak_per_minute']}/min; PagerDuty allows 960/min) "
        f"{results['pagerduty']['mix']}",
    ]
    replies = results["slack_replies"]
    lines.append(
        f"  Slack replies via response_url: {replies['by_type']}; refusals: "
        f"{replies['refusals'] or 'none'}"
    )
    b = results["burst"]
    lines += [
        "",
        f"burst: {b['requests']} requests at concurrency {cfg['burst_concurrency']}: "
        f"{b['answered_200']} answered 200, p50 {_fmt(b['ack_ms']['p50'])} ms, "
        f"p99 {_fmt(b['ack_ms']['p99'])} ms, slowest {_fmt(b['ack_ms']['max'])} ms, "
        f"errors {b['errors']} {b['error_kinds'] or ''}",
        "",
        f"bot peak RSS: {_fmt(results['bot_peak_rss_mb'])} MB "
        f"(floor: {_fmt(results['floor_peak_rss_mb'])} MB)",
        f"start -> /readyz: bot {results['bot_start_to_ready_s']:.2f} s "
        f"(floor {results['floor_start_to_ready_s']:.2f} s); bot SIGTERM -> exit "
        f"{_fmt(results['bot_stop']['seconds'])} s"
        + (
            f" (SIGKILLed after {results['bot_stop']['cap']:.0f} s)"
            if results["bot_stop"]["forced"]
            else ""
        ),
        f"  burst notes made in PagerDuty: {b.get('notes_landed_by_end', '?')}/{b['requests']}"
        f" when the burst's last answer came, {b.get('notes_landed_by_exit', '?')}/"
        f"{b['requests']} when the bot had exited (actions in flight finish after SIGTERM)",
        "",
        "targets:",
    ]
    lines += [
        f"  {'PASS' if t['met'] else 'MISS'}  {t['target']}: {t['measured']}"
        for t in results["targets"]
    ]
    return "\n".join(lines)
