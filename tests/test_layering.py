"""The dependency rules of DESIGN.md, checked on the import statements of every module."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PROJECT = {"models", "harness", "suites", "reports"}


def imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


def modules(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


@pytest.mark.parametrize("path", modules("models"), ids=lambda p: str(p.relative_to(ROOT)))
def test_models_import_only_the_standard_library_and_models(path):
    for name in imports(path):
        top = name.split(".")[0]
        assert top == "models" or top in sys.stdlib_module_names, f"{path}: imports {name}"


@pytest.mark.parametrize("path", modules("models"), ids=lambda p: str(p.relative_to(ROOT)))
def test_models_do_no_io(path):
    forbidden = {"socket", "subprocess", "os", "time", "random", "secrets", "threading"}
    for name in imports(path):
        assert name.split(".")[0] not in forbidden, f"{path}: imports {name} (models are pure)"
    assert "open(" not in path.read_text(), f"{path}: opens files (models are pure)"


@pytest.mark.parametrize("path", modules("harness/emulator"), ids=lambda p: str(p.relative_to(ROOT)))
def test_emulator_is_independent_of_models_and_wire(path):
    for name in imports(path):
        assert not name.startswith(("models", "harness.wire")), (
            f"{path}: imports {name}; the emulator must stay an independent implementation")


@pytest.mark.parametrize("path", modules("harness"), ids=lambda p: str(p.relative_to(ROOT)))
def test_harness_does_not_import_suites(path):
    for name in imports(path):
        if name.split(".")[0] == "suites":
            # Only the top-level commands load the suites they run.
            assert path.name in ("cli.py", "hunt.py"), f"{path}: imports {name} (suites -> harness, not back)"
