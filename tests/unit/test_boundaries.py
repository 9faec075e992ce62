"""Who may import whom: the payment service reaches the sandbox gateways over HTTP only (issue
13), and no service imports another's code (they talk by messages)."""

from __future__ import annotations

import ast

import pytest

from deploy.processes import ROOT
from shared.config import SANDBOX, SERVICES


def imported_modules(package: str) -> dict[str, set[str]]:
    """Every module a package's Python files import, by file."""
    found: dict[str, set[str]] = {}
    for path in (ROOT / "services" / package).rglob("*.py"):
        tree = ast.parse(path.read_text(), str(path))
        names = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
        names |= {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
        found[str(path.relative_to(ROOT))] = names
    return found


@pytest.mark.parametrize("service", SERVICES)
def test_no_service_imports_another_nor_the_sandbox(service: str) -> None:
    others = [name for name in (*SERVICES, SANDBOX) if name != service]
    crossings = {path: sorted(name for name in names if any(name.startswith(f"services.{o}") for o in others))
                 for path, names in imported_modules(service).items()}
    assert {path: names for path, names in crossings.items() if names} == {}


def test_the_check_finds_a_crossing_when_there_is_one() -> None:
    """The sandbox stands on the payment service's domain (its notifications' kinds, card
    rules): the walk sees those imports, so an empty answer above means something."""
    assert any(name.startswith("services.payment") for names in imported_modules(SANDBOX).values() for name in names)
