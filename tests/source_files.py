"""Source files for the tests: bytes written under a folder, JSONL lines."""

from __future__ import annotations

import json
from pathlib import Path

ARTICLE = b"ROME (CNN) -- Italy's Senate approved the reform on Tuesday.\n"


def write(path: Path, data: bytes = ARTICLE) -> Path:
    """Write `data` (a one-line news article by default) at `path`, folders and all."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def jsonl(*records: dict | str) -> bytes:
    """JSONL bytes: dicts as JSON objects, strings as they are (to write broken lines)."""
    return b"".join(
        (r if isinstance(r, str) else json.dumps(r)).encode() + b"\n" for r in records
    )
