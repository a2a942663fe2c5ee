"""`python -m app` itself, as a subprocess: what a person running the README sees."""

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from app.demo.pagerduty import PagerDutyStandIn
from app.demo.slack import SlackStandIn
from tests.conftest import BOT_TOKEN, PAGERDUTY_TOKEN, SIGNING_SECRET, free_port
from tests.test_socket_mode import SocketModeStandIn, socket_server  # noqa: F401 - a fixture

REPO = Path(__file__).resolve().parents[1]
# uvicorn shuts down gracefully on SIGTERM, then re-raises it: killed by it, by design.
STOPPED_CLEANLY = (0, -signal.SIGTERM)


@dataclass
class Process:
    url: str
    stderr: str = ""
    returncode: int | None = None


@asynccontextmanager
async def python_m_app(
    env: dict[str, str], tmp_path: Path, slack: SlackStandIn, pagerduty: PagerDutyStandIn
) -> AsyncIterator[Process]:
    """`python -m app` configured by environment variables only, pointed at the stand-ins;
    stopped with SIGTERM on exit, its stderr kept."""
    port = free_port()
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "PAGERDUTY_"))}
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "app",
        cwd=tmp_path,
        env={
            **clean,
            "PYTHONPATH": str(REPO),
            "HOST": "127.0.0.1",
            "PORT": str(port),
            "SLACK_BOT_TOKEN": BOT_TOKEN,
            "SLACK_API_URL": f"{slack.url}/api/",  # type: ignore[attr-defined]
            "PAGERDUTY_API_TOKEN": PAGERDUTY_TOKEN,
            "PAGERDUTY_API_URL": pagerduty.url,  # type: ignore[attr-defined]
            "DATABASE_URL": f"sqlite:///{tmp_path}/bot.db",
            **env,
        },
        stderr=asyncio.subprocess.PIPE,
    )
    process = Process(f"http://127.0.0.1:{port}")
    try:
        yield process
    finally:
        if child.returncode is None:
            child.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.wait_for(child.communicate(), timeout=30)
        process.stderr, process.returncode = stderr.decode(), child.returncode


async def wait_until_ready(url: str) -> None:
    async with httpx.AsyncClient() as http:
        for _ in range(300):
            try:
                if (await http.get(f"{url}/readyz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.05)
    raise AssertionError("python -m app never became ready")


async def test_python_m_app_in_socket_mode_connects_and_answers_a_command(
    tmp_path: Path,
    slack: SlackStandIn,
    pagerduty: PagerDutyStandIn,
    socket_server: SocketModeStandIn,  # noqa: F811
) -> None:
    env = {"SLACK_APP_TOKEN": "xapp-1-A0INCBOT1-test"}
    async with python_m_app(env, tmp_path, slack, pagerduty) as process:
        await asyncio.wait_for(socket_server.connected.wait(), timeout=20)
        await slack.wait_for(lambda s: len(s.responses) == 1, timeout=20)

    assert "no running event loop" not in process.stderr
    assert "Traceback" not in process.stderr
    assert process.returncode in STOPPED_CLEANLY
    assert socket_server.acks[0]["envelope_id"] == "57d6a792-4d35-4d0b-b6aa-3361493e1caf"
    assert "resolved" in slack.responses[0]["text"]


async def test_a_start_and_a_request_log_clean_json_lines_once_each(
    tmp_path: Path, slack: SlackStandIn, pagerduty: PagerDutyStandIn
) -> None:
    env = {"SLACK_SIGNING_SECRET": SIGNING_SECRET, "LOG_FORMAT": "json"}
    async with python_m_app(env, tmp_path, slack, pagerduty) as process:
        await wait_until_ready(process.url)
        async with httpx.AsyncClient() as http:
            await http.get(f"{process.url}/healthz")

    entries = [json.loads(line) for line in process.stderr.splitlines()]
    assert process.returncode in STOPPED_CLEANLY
    assert not [e for e in entries if "will be unused" in e["message"]]  # Bolt's token notice
    assert not [e for e in entries if e["logger"] == "alembic.runtime.plugins"]
    assert [e["message"] for e in entries if "Running upgrade" in e["message"]]  # a first start
    assert len([e for e in entries if "/healthz" in e["message"]]) == 1
    assert not [e for e in entries if "color_message" in e]
    assert not [e for e in entries if "\x1b[" in json.dumps(e)]


def test_the_http_bot_on_sqlite_builds_without_what_only_other_setups_need(
    tmp_path: Path,
) -> None:
    """Each of these is paid at every start by the setups that need it only: Socket Mode
    (SLACK_APP_TOKEN), PostgreSQL, migrating the store (SQLAlchemy under Alembic), YAML files
    (USER_MAP_FILE and the like)."""
    builds = (
        "import sys\n"
        "from app.settings import load_settings\n"
        "from app.web import create_app\n"
        "create_app(load_settings())\n"
        "optional = ('slack_sdk.socket_mode', 'asyncpg', 'sqlalchemy', 'alembic', 'yaml')\n"
        "print(sorted(m for m in sys.modules if m.startswith(optional)))\n"
    )
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "PAGERDUTY_"))}
    env = {
        **clean,
        "PYTHONPATH": str(REPO),
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "PAGERDUTY_API_TOKEN": PAGERDUTY_TOKEN,
        "DATABASE_URL": f"sqlite:///{tmp_path}/bot.db",
    }
    built = subprocess.run(  # noqa: S603 - our own code, in a fresh interpreter
        [sys.executable, "-c", builds], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert built.returncode == 0, built.stderr
    assert built.stdout.strip() == "[]"
