"""The guest package stands alone: standard library and atelier.guest only, parseable as 3.11."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

GUEST = Path(__file__).resolve().parents[3] / "src" / "atelier" / "guest"
MODULES = sorted(GUEST.glob("*.py"))


def imported(tree: ast.AST) -> list[str]:
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, "relative imports break the boot bundle layout"
            names.append(node.module or "")
            if node.module == "atelier":
                names += [f"atelier.{alias.name}" for alias in node.names]
    return names


def allowed(name: str) -> bool:
    top = name.split(".")[0]
    return (
        name == "__future__" or top in sys.stdlib_module_names or name.startswith("atelier.guest")
    )


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.name)
def test_guest_module_imports_only_stdlib_and_itself(path: Path) -> None:
    tree = ast.parse(path.read_text(), filename=str(path), feature_version=(3, 11))
    bad = [name for name in imported(tree) if not allowed(name)]
    assert bad == [], f"{path.name} imports {bad}"


def test_the_package_root_shipped_in_the_bundle_imports_nothing() -> None:
    root = GUEST.parent / "__init__.py"
    assert imported(ast.parse(root.read_text())) == []


def test_guest_modules_exist() -> None:
    assert {"protocol.py", "agent.py", "init.py"} <= {p.name for p in MODULES}
