"""The normalize-corpus flow on a real Prefect server, reading and writing real files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from newsprep.config import RunOptions
from newsprep.flows.normalize_corpus import normalize_corpus

pytestmark = pytest.mark.usefixtures("prefect_server")


def _manifest(dest: Path) -> list[dict]:
    return [json.loads(line) for line in (dest / "_manifest.jsonl").read_text().splitlines()]


def test_smoke(tmp_path: Path, golden_raw: Path) -> None:
    src = tmp_path / "src"
    (src / "a").mkdir(parents=True)
    (src / "a" / "x.txt").write_bytes(golden_raw.read_bytes())
    (src / "bad.txt").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00binary")
    summary = normalize_corpus(str(src), str(tmp_path / "out"), options=RunOptions(workers=2))
    records = _manifest(tmp_path / "out")
    assert [r["status"] for r in records] == ["ok", "rejected"]
    assert summary["counts"]["ok"] == 1
