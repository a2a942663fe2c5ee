"""The simulators moved into app/ for the playground; what production must not carry
stays out of app/: openapi-core is a dev dependency, and tests/ is not shipped."""

import ast
from pathlib import Path

APP = Path(__file__).resolve().parents[2] / "app"


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = {
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    }
    names |= {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    return names


def test_no_module_of_the_app_imports_test_code_or_dev_dependencies() -> None:
    offenders = {
        f"{path.relative_to(APP.parent)}: {name}"
        for path in APP.rglob("*.py")
        for name in imported_modules(path)
        if name.split(".")[0] in {"tests", "openapi_core", "pytest", "playwright"}
    }
    assert not offenders
