"""The servers under test as real subprocesses (`python -m app`, `python -m bench.floor`),
optionally pinned to one core, with the /proc figures the report needs."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from bench.world import BOT_TOKEN, PAGERDUTY_TOKEN, SIGNING_SECRET

REPO = Path(__file__).resolve().parents[1]
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
STOP_CAP_S = 15.0  # after SIGTERM, a server still running this long is SIGKILLed


@dataclass(frozen=True)
class Pinning:
    """Which core the servers get and which the load generator keeps; None: unpinned."""

    server_core: int | None
    bench_core: int | None
    note: str

    @property
    def enabled(self) -> bool:
        return self.server_core is not None


def pin_this_process() -> Pinning:
    """Servers on one core, this process (load + stand-ins) on another, so neither steals
    the other's CPU and the numbers measure the server, not the load generator."""
    cores = sorted(os.sched_getaffinity(0))
    if shutil.which("taskset") is None:
        return Pinning(None, None, "unpinned: taskset not found")
    if len(cores) < 2:
        return Pinning(None, None, f"unpinned: only {len(cores)} core available")
    os.sched_setaffinity(0, {cores[1]})
    return Pinning(cores[0], cores[1], f"servers on core {cores[0]}, bench on core {cores[1]}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    name: str
    process: asyncio.subprocess.Process
    url: str
    log: Path
    started_at: float  # perf_counter just before exec
    ready_seconds: float = 0.0
    stop_seconds: float | None = None  # SIGTERM -> exit
    stop_forced: bool = False  # still running `cap` s after SIGTERM, so SIGKILLed

    @property
    def pid(self) -> int:
        return self.process.pid

    def peak_rss_mb(self) -> float | None:
        """VmHWM: the process's peak resident set, from /proc."""
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
        return None

    def cpu_seconds(self) -> float:
        """User + system CPU time so far (includes its threads, e.g. aiosqlite's)."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS

    def log_tail(self, lines: int = 30) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        return ""

    async def stop(self, cap: float = STOP_CAP_S) -> None:
        """SIGTERM (uvicorn's graceful stop), then SIGKILL if it lingers past `cap` s."""
        if self.process.returncode is not None:
            return
        started = time.perf_counter()
        self.process.send_signal(signal.SIGTERM)
        try:
            async with asyncio.timeout(cap):
                await self.process.wait()
        except TimeoutError:
            self.process.kill()
            await self.process.wait()
            self.stop_forced = True
        self.stop_seconds = round(time.perf_counter() - started, 2)


async def start_server(
    name: str,
    module_args: list[str],
    env: dict[str, str],
    port: int,
    workdir: Path,
    pinning: Pinning,
) -> Server:
    """Exec the server and return once GET /readyz answers 200 (timed from just before
    exec). It runs from `workdir` with the repo on PYTHONPATH, so no developer `.env` leaks in."""
    log = workdir / f"{name}.log"
    prefix = ["taskset", "-c", str(pinning.server_core)] if pinning.enabled else []
    full_env = {**env, "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1"}
    with log.open("wb") as sink:
        started = time.perf_counter()
        process = await asyncio.create_subprocess_exec(
            *prefix,
            sys.executable,
            "-m",
            *module_args,
            env=full_env,
            cwd=workdir,
            stdout=sink,
            stderr=sink,
        )
    server = Server(name, process, f"http://127.0.0.1:{port}", log, started)
    timeout = aiohttp.ClientTimeout(total=1.0)
    async with aiohttp.ClientSession(timeout=timeout) as http:
        deadline = started + 30.0
        while time.perf_counter() < deadline:
            if process.returncode is not None:
                raise RuntimeError(f"{name} exited with {process.returncode}:\n{server.log_tail()}")
            with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                async with http.get(f"{server.url}/readyz") as response:
                    if response.status == 200:
                        server.ready_seconds = time.perf_counter() - started
                        return server
            await asyncio.sleep(0.01)
    await server.stop()
    raise RuntimeError(f"{name} was not ready within 30 s:\n{server.log_tail()}")


def bot_env(slack_url: str, pagerduty_url: str, workdir: Path, port: int) -> dict[str, str]:
    """The bot's configuration, as tests/test_restart.py sets it, quiet at WARNING."""
    inherited = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "PAGERDUTY_"))}
    return {
        **inherited,
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": f"{slack_url}/api/",
        "PAGERDUTY_API_TOKEN": PAGERDUTY_TOKEN,
        "PAGERDUTY_API_URL": pagerduty_url,
        "DATABASE_URL": f"sqlite:///{workdir}/bot.db",
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "LOG_LEVEL": "WARNING",
        "LOG_FORMAT": "json",
    }
