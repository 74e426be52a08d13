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


def contracts() -> list[dict]:
    config = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    return config["tool"]["importlinter"]["contracts"]


def layers(package: str = "newsprep") -> list[str]:
    """The layers of the contract for `package`: the whole package's (its top layer is
    the CLI), or the run layer's (every layer under newsprep.run)."""
    (contract,) = [
        c for c in contracts() if c["type"] == "layers" and (
            "newsprep.cli" in c["layers"][0] if package == "newsprep"
            else all(layer.startswith(package + ".") for layer in c["layers"])
        )
    ]
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
    assert f"{len(contracts())} kept, 0 broken" in result.stdout


def test_an_upward_import_breaks_the_contract(package: Path) -> None:
    """The check can fail: a reader that imports the run layer is caught."""
    refs = package / "tasks" / "io" / "refs.py"
    refs.write_text(refs.read_text() + "\nfrom newsprep.run.ledger import index  # noqa\n")
    result = lint_imports(package.parent)
    assert result.returncode != 0
    assert "newsprep.tasks.io.refs -> newsprep.run.ledger.index" in result.stdout


def test_a_prefect_import_in_the_engine_breaks_the_contract(package: Path) -> None:
    """Workers and the ledger never import Prefect: the forbidden contract catches it,
    also through another module."""
    batch = package / "run" / "engine" / "batch.py"
    batch.write_text(batch.read_text() + "\nimport prefect.futures  # noqa\n")
    records = package / "run" / "ledger" / "records.py"
    records.write_text(records.read_text() + "\nfrom newsprep.run.orchestration import report\n")
    result = lint_imports(package.parent)
    assert result.returncode != 0
    assert "newsprep.run.engine.batch -> prefect (l." in result.stdout
    assert "newsprep.run.ledger.records -> newsprep.run.orchestration.report" in result.stdout


@pytest.mark.e2e
def test_the_session_and_the_workers_load_no_prefect_module() -> None:
    """What the contract promises, in a fresh interpreter: importing the session, the
    engine and the ledger loads no Prefect module."""
    code = (
        "import sys, newsprep.run.session, newsprep.run.engine.pool, newsprep.run.ledger.manifest;"
        "print(sorted(m for m in sys.modules if m == 'prefect' or m.startswith('prefect.')))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize("under", ["newsprep", "newsprep.run"])
def test_every_module_is_in_a_layer(package: Path, under: str) -> None:
    """A module outside every layer would escape the contract (say, a new tasks/x.py, or
    a new run/x.py)."""
    named = [
        name.strip() for layer in layers(under) for name in layer.replace("|", ":").split(":")
    ]
    modules = [
        ".".join(path.relative_to(package.parent).with_suffix("").parts)
        for path in package.rglob("*.py")
    ]
    modules = [m for m in modules if m.startswith(under + ".") and m != under + ".__init__"]
    outside = [
        module for module in modules
        if not module.endswith("__init__")
        and not any(module == n or module.startswith(n + ".") for n in named)
    ]
    assert outside == []


def test_only_the_prefect_adapters_may_import_prefect() -> None:
    """The forbidden contract covers every part of the run layer but orchestration/, so a
    new module of run/ (which must be in a layer, above) is Prefect-free unless it is put
    with the adapters."""
    (forbidden,) = [c for c in contracts() if c["type"] == "forbidden"]
    parts = {name.strip() for layer in layers("newsprep.run") for name in layer.split(":")}
    assert set(forbidden["source_modules"]) == parts - {"newsprep.run.orchestration"}
    assert forbidden["forbidden_modules"] == ["prefect"]
