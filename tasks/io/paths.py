"""Which files hold articles, and the ids that become paths under DEST.

Formats are detected by name: `.txt` and `.story` files (one article each), `.jsonl`
files (one article per line, tasks/io/jsonl.py) and tar archives of `.txt`/`.story`
members (tasks/io/tar.py).
"""

from __future__ import annotations

import posixpath
import re

from newsprep.config import InputOptions
from newsprep.errors import Rejected

ARCHIVE_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz")
JSONL_SUFFIXES = (".jsonl", ".jsonl.gz", ".jsonl.bz2", ".jsonl.xz", ".jsonl.zst")
# Names under DEST that belong to newsprep; no article may be written there.
LOCK_NAME = "_newsprep.lock"  # held by the run writing to DEST (newsprep/run/lock.py)
RESERVED_TOP_LEVEL = (
    "_manifest.jsonl", "_manifest.journal", "_run.json", "_quarantine", LOCK_NAME
)
_UNSAFE_ID_CHARS = re.compile(r"[^A-Za-z0-9._-]+")
# C0 controls, DEL and C1 controls: none belongs in a path (\x85 is a line break to some).
_CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def detect_format(name: str, options: InputOptions) -> str | None:
    """The format of a file by its name ('txt', 'story', 'jsonl', 'tar'), None if not ours."""
    if options.format != "auto":
        return options.format
    lower = name.lower()
    if lower.endswith(ARCHIVE_SUFFIXES):
        return "tar"
    if lower.endswith(JSONL_SUFFIXES):
        return "jsonl"
    if lower.endswith(".story"):
        return "story"
    if lower.endswith(".txt"):
        return "txt"
    return None


def strip_suffix(name: str, suffixes: tuple[str, ...]) -> str:
    lower = name.lower()
    for suffix in sorted(suffixes, key=len, reverse=True):
        if lower.endswith(suffix):
            return name[: -len(suffix)]
    return name


def safe_relative_path(name: str) -> str:
    """A member or file path usable under DEST, or `Rejected('unsafe-id')`.

    Absolute paths, `..` components, control characters and names reserved for
    newsprep's own files are refused: nothing is ever written outside DEST.
    """
    if not name or _CONTROL_CHARS.search(name):
        raise Rejected("unsafe-id", f"{name!r} has control characters or is empty")
    if name.startswith("/") or re.match(r"^[A-Za-z]:[\\/]", name):
        raise Rejected("unsafe-id", f"{name!r} is an absolute path")
    parts = [part for part in name.replace("\\", "/").split("/") if part not in ("", ".")]
    if not parts or ".." in parts:
        raise Rejected("unsafe-id", f"{name!r} points outside the destination")
    if parts[0] in RESERVED_TOP_LEVEL:
        raise Rejected("unsafe-id", f"{name!r} is reserved for newsprep's own files")
    return posixpath.join(*parts)


def safe_id_component(raw: str) -> str:
    """A JSONL id turned into one safe path component ('' if nothing usable is left)."""
    cleaned = _UNSAFE_ID_CHARS.sub("_", raw).strip("._")
    return cleaned[:200]
