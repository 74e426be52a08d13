"""Fixtures of the run layer's tests."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from run_helpers import BROKEN, GOOD, SAMPLE


@pytest.fixture
def source(tmp_path: Path) -> Path:
    """Four sample articles and the binary one, under tmp/src."""
    src = tmp_path / "src"
    for article in [*GOOD[:4], BROKEN]:
        target = src / article.relative_to(SAMPLE)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(article, target)
    return src
