"""The layers import only downwards: import-linter's contract in pyproject.toml.

tasks/ and flows/ are installed as newsprep.tasks and newsprep.flows, and import-linter
only sees the modules under a package's own folder; so the contract is checked on a copy
of the package laid out as installed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def layers() -> list[str]:
    config = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    (contract,) = config["tool"]["importlinter"]["contracts"]
    return contract["layers"]


def installed_layout(root: Path) -> Path:
    """A copy of the package as it is installed: newsprep/, with tasks/ and flows/ in it."""
    ignore = shutil.ignore_patterns("__pycache__", "sample")
    package = root / "newsprep"
    shutil.copytree(REPO / "newsprep", package, ignore=ignore)
    shutil.copytree(REPO / "tasks", package / "tasks", ignore=ignore)
    shutil.copytree(REPO / "flows", package / "flows", ignore=ignore)
    return package


def lint_imports(root: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", str(REPO / "pyproject.toml")],
        cwd=root, env=env, capture_output=True, text=True, timeout=120,
    )


@pytest.fixture
def package(tmp_path: Path) -> Path:
    return installed_layout(tmp_path)


def test_the_layers_import_only_downwards(package: Path) -> None:
    result = lint_imports(package.parent)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 kept, 0 broken" in result.stdout


def test_an_upward_import_breaks_the_contract(package: Path) -> None:
    """The check can fail: a reader that imports the run layer is caught."""
    refs = package / "tasks" / "io" / "refs.py"
    refs.write_text(refs.read_text() + "\nfrom newsprep.run.ledger import index  # noqa\n")
    result = lint_imports(package.parent)
    assert result.returncode != 0
    assert "newsprep.tasks.io.refs -> newsprep.run.ledger.index" in result.stdout


def test_every_module_is_in_a_layer(package: Path) -> None:
    """A module outside every layer would escape the contract (say, a new tasks/x.py)."""
    named = [name.strip() for layer in layers() for name in layer.replace("|", ":").split(":")]
    modules = [
        ".".join(path.relative_to(package.parent).with_suffix("").parts)
        for path in package.rglob("*.py")
    ]
    outside = [
        module for module in modules
        if not module.endswith("__init__")
        and not any(module == n or module.startswith(n + ".") for n in named)
    ]
    assert outside == []
