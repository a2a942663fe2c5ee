"""`python -m app demo` itself, started as the README starts it."""

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import free_port
from tests.test_entry_point import REPO


@pytest.fixture
def playground(tmp_path: Path) -> Iterator[str]:
    """`python -m app demo` on a free port, as the README starts it; its URL."""
    port = free_port()
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "PAGERDUTY_"))}
    log = (tmp_path / "playground.log").open("w")
    child = subprocess.Popen(
        [sys.executable, "-m", "app", "demo"],
        cwd=tmp_path,
        env={**clean, "PYTHONPATH": str(REPO), "PORT": str(port), "HOST": "127.0.0.1"},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{url}/readyz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert child.poll() is None, (tmp_path / "playground.log").read_text()
            assert time.monotonic() < deadline, "the playground never became ready"
            time.sleep(0.1)
        yield url
    finally:
        child.send_signal(signal.SIGTERM)
        child.wait(timeout=30)
        log.close()
