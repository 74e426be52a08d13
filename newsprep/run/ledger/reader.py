"""Reading a DEST's ledger: the final record of every article of its last run.

`ledger_files` names the files that hold the records, as URLs, for tools that read JSON
lines themselves (`datasets.load_dataset("json", data_files=ledger_files(dest))`);
`read_records` yields them as `ArticleRecord`s. Today the ledger is one file,
`_manifest.jsonl`; callers that go through these two do not depend on that.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterator

import fsspec

from newsprep.run.ledger.manifest import MANIFEST, manifest_lines
from newsprep.run.ledger.records import ArticleRecord


def ledger_files(dest: str) -> list[str]:
    """The files (URLs) that hold DEST's records; none before a first run."""
    fs, root = fsspec.url_to_fs(dest)
    path = posixpath.join(root.rstrip("/"), MANIFEST)
    return [fs.unstrip_protocol(path)] if fs.exists(path) else []


def read_records(dest: str) -> Iterator[ArticleRecord]:
    """DEST's records, one per article, ordered by id."""
    fs, root = fsspec.url_to_fs(dest)
    for _, line in manifest_lines(fs, posixpath.join(root.rstrip("/"), MANIFEST)):
        yield ArticleRecord.from_line(line)
