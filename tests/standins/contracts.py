"""Where the shared, read-only API contracts live, so stand-ins never copy them in."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest


def _locate() -> tuple[Path, Path | None]:
    """Honour CONTRACTS_DIR, else look next to the repo: <repo>/../shared/contracts."""
    env = os.environ.get("CONTRACTS_DIR")
    repo_root = Path(__file__).resolve().parents[2]
    candidate = Path(env) if env else repo_root.parent / "shared" / "contracts"
    return candidate, (candidate if candidate.is_dir() else None)


_SEARCHED, CONTRACTS_DIR = _locate()
"""The contracts directory, or None when this checkout has no shared contracts."""


def load_slack_sample(relpath: str) -> dict[str, Any]:
    """A fresh copy of a Slack sample (e.g. ``web_api/auth.test.bot.json``); skips if absent."""
    path = CONTRACTS_DIR / "slack" / relpath if CONTRACTS_DIR else None
    if path is None or not path.is_file():
        pytest.skip(f"shared Slack contracts not found at {_SEARCHED / 'slack'}: {relpath}")
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data
