"""`python -m bench`: Bolt's floor, then the bot, under the same open-loop slash-command
load while PagerDuty is slow; then a burst at the bot ("slash"). Then issue 15's scenarios
(bench/scale.py): a storm of new incidents, restarts with 100 and 1,000 open cards, a crash
with stored events, two replicas (PostgreSQL, from TEST_DATABASE_URL). Prints tables and
writes JSON. `--scenarios` picks which run.

Order matters: floor and bot are measured one after the other on the same core, so the
ratio compares like with like; the write count waits for the bot's backlog to drain.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from app.demo.server import serve_on_loopback
from app.demo.slack import SlackStandIn
from bench import load, scale
from bench.parse_stall import longest_parse_stall_ms
from bench.report import table, targets
from bench.scale_report import scale_table
from bench.servers import (
    STOP_CAP_S,
    Server,
    bot_env,
    free_port,
    pin_this_process,
    start_server,
)
from bench.world import SIGNING_SECRET, TimedPagerDuty, make_pagerduty, make_slack
from tests.standins.contracts import CONTRACTS_DIR

WARM_UP_REQUESTS = 5
SCENARIOS = ("slash", "storm", "restart", "crash", "replicas")
# The bot may take this long after SIGTERM by design: uvicorn's 10 s for open requests,
# then SHUTDOWN_GRACE_SECONDS (default 20 s) for the actions they started; +5 s to exit.
BOT_STOP_CAP_S = 35.0


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("bench-results.json"))
    parser.add_argument("--pagerduty-latency", type=float, default=2.0, help="seconds")
    parser.add_argument("--rate", type=float, default=20.0, help="slash commands per second")
    parser.add_argument("--seconds", type=float, default=30.0, help="steady load duration")
    parser.add_argument("--burst", type=int, default=300, help="burst size")
    parser.add_argument("--burst-concurrency", type=int, default=100)
    parser.add_argument(
        "--write-wait", type=float, default=120.0, help="max seconds to wait for writes"
    )
    parser.add_argument(
        "--scenarios",
        default="all",
        help=f"comma-separated, of {', '.join(SCENARIOS)}; or all (the default)",
    )
    parser.add_argument("--storm-size", type=int, default=200, help="incidents at once")
    parser.add_argument("--storm-background", type=int, default=0, help="open cards already there")
    parser.add_argument("--storm-wait", type=float, default=240.0, help="max seconds")
    parser.add_argument("--open-cards", default="100,1000", help="restart sizes, comma-separated")
    parser.add_argument(
        "--observe", type=float, default=30.0, help="seconds watched after each restart"
    )
    parser.add_argument(
        "--ready-cap", type=float, default=30.0, help="max seconds to wait for /readyz"
    )
    parser.add_argument("--crash-events", type=int, default=300)
    parser.add_argument("--crash-wait", type=float, default=120.0, help="max seconds")
    args = parser.parse_args(argv)
    chosen = SCENARIOS if args.scenarios == "all" else tuple(args.scenarios.split(","))
    if unknown := set(chosen) - set(SCENARIOS):
        parser.error(f"unknown scenarios: {', '.join(sorted(unknown))}")
    args.chosen = chosen
    return args


async def run_scale(args: argparse.Namespace) -> dict[str, Any]:
    """Issue 15's scenarios, one after the other, each on a world of its own."""
    results: dict[str, Any] = {}
    if "storm" in args.chosen:
        _log(f"storm: {args.storm_size} incidents at once (up to {args.storm_wait:.0f} s)")
        results["storm"] = await scale.storm(
            args.storm_size, args.storm_background, args.storm_wait, args.ready_cap
        )
    if "restart" in args.chosen:
        results["restart"] = []
        for size in (int(n) for n in args.open_cards.split(",")):
            _log(f"restart: {size} open cards, twice ({args.observe:.0f} s watched each)")
            results["restart"].append(await scale.restart(size, args.observe, args.ready_cap))
    if "crash" in args.chosen:
        _log(f"crash: SIGKILL with {args.crash_events} stored events")
        results["crash"] = await scale.crash(args.crash_events, args.crash_wait, args.ready_cap)
    if "replicas" in args.chosen:
        _log("replicas: an action on A, its webhook on B")
        results["replicas"] = await scale.replicas(30.0, args.ready_cap)
    return results


def _log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


async def _measure_steady(
    server: Server, texts: list[str], response_url: str, rate: float
) -> tuple[load.Phase, dict[str, Any]]:
    """Warm up, then the open-loop phase; returns the phase and its summary with CPU cost."""
    warm = load.sign_commands(
        ["help"] * WARM_UP_REQUESTS, secret=SIGNING_SECRET, response_url=response_url
    )
    signed = load.sign_commands(texts, secret=SIGNING_SECRET, response_url=response_url)
    url = f"{server.url}/slack/events"
    async with load.session(pool=100) as http:
        await load.warm_up(http, url, warm)
        cpu_before = server.cpu_seconds()
        phase = await load.open_loop(http, url, signed, rate, server.name)
        cpu = server.cpu_seconds() - cpu_before
    summary = phase.summary()
    summary["cpu_ms_per_request"] = round(cpu * 1000 / max(1, len(texts)), 3)
    return phase, summary


async def _wait_for_writes(
    pagerduty: TimedPagerDuty, intended: set[str], load_end: float, wait: float
) -> dict[str, Any]:
    """Wait until every intended note has landed or `wait` s after the load ended."""
    deadline, next_note = load_end + wait, time.perf_counter() + 10
    while time.perf_counter() < deadline:
        landed = {content for _, content in pagerduty.landed if content in intended}
        if len(landed) == len(intended):
            break
        if time.perf_counter() >= next_note:
            _log(f"writes landed: {len(landed)}/{len(intended)}")
            next_note += 10
        await asyncio.sleep(0.1)
    counts = Counter(c for _, c in pagerduty.landed if c in intended)
    posts = Counter(c for c in pagerduty.note_posts() if c in intended)
    times = [t for t, c in pagerduty.landed if c in intended]
    after_end = [t for t in times if t > load_end]
    waited = min(wait, time.perf_counter() - load_end)
    made = len(counts)
    return {
        "intended": len(intended),
        "posts_received": sum(posts.values()),
        "made": made,
        "duplicates": sum(n - 1 for n in counts.values()),
        "missing": len(intended) - made,
        "last_write_after_load_end_s": round(max(times) - load_end, 2) if times else None,
        "landed_during_load": len(times) - len(after_end),
        "landed_per_s_after_load_end": round(len(after_end) / waited, 3) if waited else None,
        "waited_s": round(waited, 1),
    }


def _burst_notes_landed(pagerduty: TimedPagerDuty) -> int:
    return sum(content.startswith("bench burst ") for _, content in pagerduty.landed)


def _slack_replies(slack: SlackStandIn) -> dict[str, Any]:
    """What people were told via response_url: the announcements, and any refusals
    (ephemeral replies other than the warm-up's usage text), a few quoted."""
    kinds = Counter(str(r.get("response_type", "none")) for r in slack.responses)
    refusals = Counter(
        str(r.get("text", ""))[:200]
        for r in slack.responses
        if r.get("response_type") == "ephemeral" and "*Act on PagerDuty" not in str(r.get("text"))
    )
    return {"by_type": dict(kinds), "refusals": dict(refusals.most_common(5))}


async def run(args: argparse.Namespace) -> dict[str, Any]:
    pinning = pin_this_process()
    _log(pinning.note)
    pagerduty, slack = make_pagerduty(args.pagerduty_latency), make_slack()
    total = round(args.rate * args.seconds)
    texts = [f"note 123 bench {n}" for n in range(total)]
    intended = {f"bench {n}" for n in range(total)}
    results: dict[str, Any] = {
        "config": {
            "pagerduty_latency_s": args.pagerduty_latency,
            "rate": args.rate,
            "seconds": args.seconds,
            "burst": args.burst,
            "burst_concurrency": args.burst_concurrency,
            "write_wait_s": args.write_wait,
            "cpus": sorted(os.sched_getaffinity(0)) if not pinning.enabled else None,
        },
        "pinning": pinning.note,
    }
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="incident-bot-bench-") as tmp:
        workdir = Path(tmp)
        async with (
            serve_on_loopback(pagerduty.app) as pagerduty_url,
            serve_on_loopback(slack.app) as slack_url,
        ):
            response_url = f"{slack_url}/hooks/commands/T0G9PQBBK/5111111111111/AbCdEf"
            servers: list[Server] = []
            try:
                floor_port, bot_port = free_port(), free_port()
                floor_args = ["bench.floor", "--port", str(floor_port)]
                floor_args += ["--signing-secret", SIGNING_SECRET]
                floor_args += ["--slack-api-url", f"{slack_url}/api/"]
                floor = await start_server(
                    "floor", floor_args, dict(os.environ), floor_port, workdir, pinning
                )
                servers.append(floor)
                env = bot_env(slack_url, pagerduty_url, workdir, bot_port)
                bot = await start_server("bot", ["app"], env, bot_port, workdir, pinning)
                servers.append(bot)
                _log(f"ready: floor {floor.ready_seconds:.2f} s, bot {bot.ready_seconds:.2f} s")
                results["floor_start_to_ready_s"] = round(floor.ready_seconds, 3)
                results["bot_start_to_ready_s"] = round(bot.ready_seconds, 3)

                _log(f"floor: {total} commands at {args.rate}/s")
                _, results["floor"] = await _measure_steady(floor, texts, response_url, args.rate)
                results["floor_peak_rss_mb"] = floor.peak_rss_mb()
                await floor.stop()

                _log(f"bot: {total} commands at {args.rate}/s")
                bot_phase, results["bot"] = await _measure_steady(
                    bot, texts, response_url, args.rate
                )
                floor_p99, bot_p99 = (
                    results["floor"]["ack_ms"]["p99"],
                    results["bot"]["ack_ms"]["p99"],
                )
                results["bot_p99_over_floor_p99"] = (
                    round(bot_p99 / floor_p99, 2) if floor_p99 and bot_p99 is not None else None
                )

                _log(f"waiting up to {args.write_wait:.0f} s for the bot's PagerDuty writes")
                results["writes"] = await _wait_for_writes(
                    pagerduty, intended, bot_phase.ended, args.write_wait
                )

                _log(f"burst: {args.burst} commands at concurrency {args.burst_concurrency}")
                burst_signed = load.sign_commands(
                    [f"note 123 bench burst {n}" for n in range(args.burst)],
                    secret=SIGNING_SECRET,
                    response_url=response_url,
                )
                async with load.session(pool=args.burst_concurrency) as http:
                    burst = await load.burst(
                        http,
                        f"{bot.url}/slack/events",
                        burst_signed,
                        args.burst_concurrency,
                        "burst",
                    )
                results["burst"] = burst.summary()
                burst_notes = _burst_notes_landed(pagerduty)
                results["burst"]["notes_landed_by_end"] = burst_notes
                results["bot_peak_rss_mb"] = bot.peak_rss_mb()
                results["bot_log_tail"] = bot.log_tail(10)
            finally:
                for server in servers:
                    cap = BOT_STOP_CAP_S if server.name == "bot" else STOP_CAP_S
                    await server.stop(cap)
                    results[f"{server.name}_stop"] = {
                        "seconds": server.stop_seconds,
                        "forced": server.stop_forced,
                        "cap": cap,
                    }
    if "burst" in results:
        results["burst"]["notes_landed_by_exit"] = _burst_notes_landed(pagerduty)
    results["pagerduty"] = {
        "requests": len(pagerduty.requests),
        "peak_per_minute": pagerduty.peak_per_minute(),
        "mix": pagerduty.request_mix(),
    }
    results["slack_replies"] = _slack_replies(slack)
    results["wall_seconds"] = round(time.perf_counter() - started, 1)
    results["parse_stall_ms"] = await longest_parse_stall_ms()
    results["targets"] = targets(results)
    return results


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    if CONTRACTS_DIR is None:  # the Slack stand-in builds its answers from these samples
        print("python -m bench: shared contracts not found; set CONTRACTS_DIR", file=sys.stderr)
        return 2
    results: dict[str, Any] = {}
    if "slash" in args.chosen:
        results = asyncio.run(run(args))
        print(table(results))
    if scale_results := asyncio.run(run_scale(args)) if set(args.chosen) - {"slash"} else {}:
        results["scale"] = scale_results
        print(scale_table(scale_results))
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    took = f" ({results['wall_seconds']} s)" if "wall_seconds" in results else ""
    _log(f"wrote {args.out}{took}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
