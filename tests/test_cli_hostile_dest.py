"""Issue #19 classes 4 and 5, as a user meets them: `newsprep run` in a subprocess on real
files, reporting to the session's Prefect server. An empty or wrong SOURCE must not cost
the corpus; one corrupted manifest line must not sink every rerun."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import ledger
import pytest
from test_cli import newsprep, sample_source

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("prefect_server")]


def outputs(dest: Path) -> list[str]:
    return sorted(str(p.relative_to(dest)) for p in dest.rglob("*.txt"))


def records(dest: Path) -> dict[str, dict]:
    return {record["id"]: record for record in ledger.records(dest)}


def test_an_empty_source_does_not_delete_the_corpus(tmp_path: Path) -> None:
    src, dest = sample_source(tmp_path / "src", articles=4), tmp_path / "out"
    assert newsprep("run", str(src), str(dest), cwd=tmp_path).returncode == 0
    written, before = outputs(dest), ledger.ledger_bytes(dest)
    assert len(written) == 4 and before  # a ledger to keep

    shutil.rmtree(src)
    src.mkdir()  # an empty folder: an unmounted disk looks so
    result = newsprep("run", str(src), str(dest), cwd=tmp_path)
    assert result.returncode == 2, result.stderr[-3000:]
    errors = [line for line in result.stderr.splitlines() if line.startswith("newsprep: error")]
    assert errors == [
        f"newsprep: error: SOURCE {src} lists no file: all 4 articles in DEST would go; kept "
        "them, removed none (an empty folder, an unmounted disk or a wrong prefix looks so); "
        "if they are meant to go, run again with --allow-removal"
    ]
    assert "Traceback" not in result.stderr
    assert "  since the last run: 0 new, 0 changed, 4 gone (kept: removal refused), 0 unchanged\n" \
        in result.stderr
    assert outputs(dest) == written
    assert ledger.ledger_bytes(dest) == before
    summary = json.loads((dest / "_run.json").read_text())
    assert summary["removed_files"] == 0 and summary["removal_refused"].startswith("SOURCE")

    allowed = newsprep("run", str(src), str(dest), "--allow-removal", cwd=tmp_path)
    assert allowed.returncode == 0, allowed.stderr[-3000:]
    assert outputs(dest) == [] and records(dest) == {}


def test_a_run_that_would_remove_most_of_the_corpus_stops(tmp_path: Path) -> None:
    src, dest = sample_source(tmp_path / "src", articles=4), tmp_path / "out"
    assert newsprep("run", str(src), str(dest), cwd=tmp_path).returncode == 0
    written = outputs(dest)
    sources = sorted(src.rglob("*.txt"))
    for path in sources[:3]:  # 3 of 4 gone: more than max_removal_fraction (0.5)
        path.unlink()
    result = newsprep("run", str(src), str(dest), cwd=tmp_path)
    assert result.returncode == 2, result.stderr[-3000:]
    assert "3 of DEST's 4 articles are gone from SOURCE" in result.stderr
    assert "max_removal_fraction=0.5" in result.stderr
    assert "  since the last run: 0 new, 0 changed, 3 gone (kept: removal refused), 1 unchanged\n" \
        in result.stderr
    assert outputs(dest) == written and len(records(dest)) == 4

    # a higher limit lets them go
    higher = newsprep("run", str(src), str(dest), "--max-removal-fraction", "0.8", cwd=tmp_path)
    assert higher.returncode == 0, higher.stderr[-3000:]
    assert len(outputs(dest)) == 1 and len(records(dest)) == 1


def test_a_jsonl_file_cut_short_keeps_its_articles(tmp_path: Path) -> None:
    """A feed of 10 articles truncated to its first 3 lines (a partial download), beside 8
    articles in folders: DEST would shrink by less than half, but the file lost 7 of its
    10, so they are kept and the command exits 2 naming the file."""
    src, dest = sample_source(tmp_path / "src", articles=8), tmp_path / "out"
    lines = [
        json.dumps({"id": f"n{number}", "text": f"Story {number}: the council met on Monday "
                    "and voted for the new road to the port."}) + "\n"
        for number in range(10)
    ]
    feed = src / "feed.jsonl"
    feed.write_text("".join(lines))
    assert newsprep("run", str(src), str(dest), cwd=tmp_path).returncode == 0
    written = outputs(dest)
    assert len(written) == 18

    feed.write_text("".join(lines[:3]))
    result = newsprep("run", str(src), str(dest), cwd=tmp_path)
    assert result.returncode == 2, result.stderr[-3000:]
    errors = [line for line in result.stderr.splitlines() if line.startswith("newsprep: error")]
    assert errors == [
        "newsprep: error: feed.jsonl holds 3 articles now, against the 10 DEST holds from it "
        "(more than max_removal_fraction=0.5 of one JSONL file or archive would go); kept "
        "them, removed none (a file cut short, a partial download looks so); if they are "
        "meant to go, run again with --allow-removal"
    ]
    assert outputs(dest) == written and len(records(dest)) == 18

    allowed = newsprep("run", str(src), str(dest), "--allow-removal", cwd=tmp_path)
    assert allowed.returncode == 0, allowed.stderr[-3000:]
    assert len(outputs(dest)) == 11 and len(records(dest)) == 11


def test_one_article_gone_of_four_is_removed_as_before(tmp_path: Path) -> None:
    src, dest = sample_source(tmp_path / "src", articles=4), tmp_path / "out"
    assert newsprep("run", str(src), str(dest), cwd=tmp_path).returncode == 0
    sorted(src.rglob("*.txt"))[0].unlink()
    result = newsprep("run", str(src), str(dest), cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert len(outputs(dest)) == 3 and "removed 1 stale files" in result.stderr


def test_a_corrupted_manifest_line_costs_one_article_not_every_rerun(tmp_path: Path) -> None:
    src, dest = sample_source(tmp_path / "src", articles=4), tmp_path / "out"
    assert newsprep("run", str(src), str(dest), cwd=tmp_path).returncode == 0
    damaged_id = ledger.records(dest)[1]["id"]
    manifest = ledger.ledger_file_holding(dest, damaged_id)
    lines = manifest.read_bytes().splitlines(keepends=True)
    [number] = [n for n, line in enumerate(lines) if json.loads(line)["id"] == damaged_id]
    damaged = lines[number][:40] + b"\xff" + lines[number][41:]  # a stray non-UTF-8 byte
    manifest.write_bytes(b"".join([*lines[:number], damaged, *lines[number + 1:]]))

    for rerun in (1, 2):
        result = newsprep("run", str(src), str(dest), cwd=tmp_path)
        assert result.returncode == 0, result.stderr[-3000:]
        assert "Traceback" not in result.stderr and "UnicodeDecodeError" not in result.stderr
        found = records(dest)
        assert len(found) == 4
        if rerun == 1:
            warnings = [line for line in result.stderr.splitlines() if "unreadable line" in line]
            assert len(warnings) == 1, result.stderr[-3000:]
            where = f"{manifest}: 1 unreadable line(s) left out (line {number + 1}: not UTF-8"
            assert where in warnings[0]
            assert found[damaged_id]["status"] == "ok"  # processed again
            assert sorted(r["status"] for r in found.values()) == ["ok", "skipped", "skipped",
                                                                   "skipped"]
        else:  # the rewritten manifest is whole again
            assert "unreadable line" not in result.stderr
            assert {r["status"] for r in found.values()} == {"skipped"}
    # kept beside the part that held it
    assert manifest.with_name(manifest.stem + ".unreadable").read_bytes() == damaged
