"""Reading a DEST's ledger: the final record of every article of its last run.

The ledger is one part per shard of the source, `DEST/_ledger/<shard>.jsonl` (JSON lines,
one record per article, sorted by id; docs/sources-and-outputs.md describes the fields),
beside each part its completion marker `<shard>.done.json`. A DEST last written by an
older newsprep has one `_manifest.jsonl` instead, until its next run migrates it.

`ledger_files` names the files that hold the records, as URLs, for tools that read JSON
lines themselves; with Hugging Face datasets, give the fields' types too (a part where a
field is always null would otherwise be read as another type than the next part's):
`datasets.load_dataset("json", data_files=ledger_files(dest), features=ledger_features())`.
`read_records` yields them as `ArticleRecord`s, merged in id order.
"""

from __future__ import annotations

import heapq
import posixpath
from collections.abc import Iterator
from typing import Any, get_args, get_type_hints

import fsspec

from newsprep.run.ledger.manifest import MANIFEST, manifest_lines
from newsprep.run.ledger.parts import LEDGER_DIR, PART_SUFFIX
from newsprep.run.ledger.records import ArticleRecord


def _record_paths(dest: str, storage_options: dict[str, Any]) -> tuple[Any, list[str]]:
    fs, root = fsspec.url_to_fs(dest, **storage_options)
    root = root.rstrip("/")
    folder = posixpath.join(root, LEDGER_DIR)
    fs.invalidate_cache(folder)  # runs write it: s3fs would answer from its first listing
    try:
        parts = sorted(
            path for path in fs.ls(folder, detail=False)
            if path.endswith(PART_SUFFIX)
        )
    except FileNotFoundError:
        parts = []
    legacy = posixpath.join(root, MANIFEST)
    return fs, parts + ([legacy] if fs.exists(legacy) else [])


def ledger_files(dest: str, **storage_options: Any) -> list[str]:
    """The files (URLs) that hold DEST's records; none before a first run."""
    fs, paths = _record_paths(dest, storage_options)
    return [fs.unstrip_protocol(path) for path in paths]


def read_records(dest: str, **storage_options: Any) -> Iterator[ArticleRecord]:
    """DEST's records, one per article, ordered by id (a part's record of an article wins
    over a `_manifest.jsonl` not migrated yet)."""
    fs, paths = _record_paths(dest, storage_options)
    streams = [
        ((article_id, rank, line) for article_id, line in manifest_lines(fs, path))
        for rank, path in enumerate(paths)
    ]
    last = None
    for article_id, _, line in heapq.merge(*streams):
        if article_id != last:
            yield ArticleRecord.from_line(line)
        last = article_id


def ledger_features() -> Any:
    """The record's fields as `datasets.Features` (needs the `datasets` package)."""
    import datasets

    types = {str: datasets.Value("string"), int: datasets.Value("int64")}
    features = {}
    for name, hint in get_type_hints(ArticleRecord).items():
        if name == "fixes":
            features[name] = datasets.Sequence(datasets.Value("string"))
            continue
        kinds = [kind for kind in get_args(hint) or (hint,) if kind is not type(None)]
        features[name] = types[kinds[0]] if kinds[0] in types else datasets.Value("string")
    return datasets.Features(features)
