"""The one door through which tests read a DEST's ledger (its per-article records), so
a change of the ledger's layout on disk is a change here, not in every test."""

from __future__ import annotations

import json
from pathlib import Path

import fsspec

from newsprep.run.ledger.reader import ledger_files, read_records

# The run's own bookkeeping at the top of DEST, left out when tests compare DEST trees.
# `_manifest.unreadable` is not among them: tests check it. The journal is a file on
# local disk and a prefix of objects on S3; `_ledger/` holds the ledger's parts.
_BOOKKEEPING = ("_manifest.jsonl", "_manifest.journal", "_run.json", "_ledger")


def records(dest: str | Path) -> list[dict]:
    """DEST's records (a local path or an fsspec URL), one dict per article, ordered by
    id as the package's reader yields them."""
    return [record.to_dict() for record in read_records(str(dest))]


def is_ledger_file(relative: str) -> bool:
    """Whether RELATIVE (a posix path relative to DEST) is one of the run's bookkeeping
    files rather than part of the corpus."""
    return relative.split("/", 1)[0] in _BOOKKEEPING


def corpus_files(dest: Path) -> dict[str, bytes]:
    """DEST's corpus on local disk, its bookkeeping left out: relative path -> bytes."""
    return {
        str(p.relative_to(dest)): p.read_bytes()
        for p in sorted(dest.rglob("*"))
        if p.is_file() and not is_ledger_file(p.relative_to(dest).as_posix())
    }


def ledger_bytes(dest: str | Path) -> dict[str, bytes]:
    """The bytes of each file that holds DEST's records, by URL: to check that a run
    left the ledger as it was."""
    return {url: fsspec.url_to_fs(url)[0].cat_file(url) for url in ledger_files(str(dest))}


def ledger_file_holding(dest: Path, article_id: str) -> Path:
    """The local file whose line holds ARTICLE_ID's record, for tests that damage it."""
    for url in ledger_files(str(dest)):
        path = Path(fsspec.url_to_fs(url)[1])
        for line in path.read_bytes().splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict) and record.get("id") == article_id:
                return path
    raise LookupError(f"no ledger file under {dest} holds a record of {article_id!r}")


def journaled(dest: Path) -> int:
    """Records a run has made durable so far: per part, the lines of the part or of the
    journal beside it, whichever has more (a first run's part is its journal compacted)."""
    folder = Path(dest) / "_ledger"
    if not folder.is_dir():
        return 0
    lines: dict[str, int] = {}
    for path in folder.iterdir():
        name, suffix = path.name.rsplit(".", 1) if "." in path.name else (path.name, "")
        if suffix in ("jsonl", "journal") and path.is_file():
            try:
                count = path.read_bytes().count(b"\n")
            except FileNotFoundError:
                continue  # renamed into place, or removed, as we looked
            lines[name] = max(lines.get(name, 0), count)
    return sum(lines.values())


def journals(dest: Path) -> list[Path]:
    """Journals with records in them, left by a run that did not finish."""
    folder = Path(dest) / "_ledger"
    return [
        path for path in folder.glob("*.journal*")
        if path.is_dir() or path.stat().st_size
    ] if folder.is_dir() else []


def journal_lines(dest: Path) -> int:
    """Records in the journals of DEST's parts: this run's finished batches, before they
    are folded into a part or an addition."""
    folder = Path(dest) / "_ledger"
    total = 0
    for path in folder.glob("*.journal") if folder.is_dir() else []:
        try:
            total += path.read_bytes().count(b"\n")
        except (FileNotFoundError, IsADirectoryError):
            continue
    return total
