"""Which files hold articles, and the ids that become paths under DEST.

Formats are detected by name: `.txt` and `.story` files (one article each), `.jsonl`
files (one article per line, tasks/io/jsonl.py) and tar archives of `.txt`/`.story`
members (tasks/io/tar.py).
"""

from __future__ import annotations

import hashlib
import posixpath
import re

from newsprep.config import InputOptions
from newsprep.errors import Rejected
from newsprep.tasks.stages.unicode_fix import BIDI_CONTROLS, INVISIBLE

ARCHIVE_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz")
JSONL_SUFFIXES = (".jsonl", ".jsonl.gz", ".jsonl.bz2", ".jsonl.xz", ".jsonl.zst")
# Names under DEST that belong to newsprep; no article may be written there.
LOCK_NAME = "_newsprep.lock"  # held by the run writing to DEST (newsprep/run/lock.py)
# Lines of the manifest a run could not read, kept (newsprep/run/ledger/manifest.py).
MANIFEST_UNREADABLE = "_manifest.unreadable"
# `_unsafe/` holds the articles whose own name cannot be used (see listing._checked_id).
RESERVED_TOP_LEVEL = (
    "_manifest.jsonl", "_manifest.journal", "_run.json", "_quarantine", "_unsafe", "_ledger",
    LOCK_NAME,
    MANIFEST_UNREADABLE,
)
# Letters and digits of any script, `.`, `_`, `-`: everything else in a JSONL id is replaced.
_UNSAFE_ID_CHARS = re.compile(r"[^\w.-]+")
# A path component longer than this many bytes is refused by Linux, macOS and Windows.
NAME_MAX = 255
# An id longer than this (its names counted as written, at most NAME_MAX each) or with
# more folders than MAX_DEPTH cannot be written under any DEST: Linux refuses a path over
# 4096 bytes (DEST, `_quarantine/` and `.reason.json` come on top), and making 1000 nested
# folders overflows Python's stack.
MAX_ID_BYTES = 2048
MAX_DEPTH = 100
# Suffixes newsprep adds to an id: the highlights beside it, the quarantine record.
HIGHLIGHTS_SUFFIX = ".highlights"
REASON_SUFFIX = ".reason.json"
_SURROGATES = re.compile(r"[\ud800-\udfff]")
# C0 controls, DEL and C1 controls: none belongs in a path (\x85 is a line break to some).
_CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f-\x9f]")
# Characters that reorder a name as shown (bidi controls and marks: "evil\u202etxt.exe") or
# hide in it (zero-width spaces, soft hyphens, tags, noncharacters), so that it reads as
# another name: the text's bidi controls and invisible characters, and any one of these.
_DECEPTIVE_CHARS = re.compile(
    f"{BIDI_CONTROLS.pattern}|{INVISIBLE.pattern}|[\u061c\u200b\u200e\u200f\u2060\ufeff]"
)


def detect_format(name: str, options: InputOptions) -> str | None:
    """The format of a file by its name ('txt', 'story', 'jsonl', 'tar'), None if not ours."""
    if options.format != "auto":
        return options.format
    return format_by_name(name)


def format_by_name(name: str) -> str | None:
    """The format a name says ('txt', 'story', 'jsonl', 'tar'), None if not ours."""
    lower = name.lower()
    if lower.endswith(".txt"):  # the most common first: no other suffix ends so
        return "txt"
    if lower.endswith(".story"):
        return "story"
    if lower.endswith(ARCHIVE_SUFFIXES):
        return "tar"
    if lower.endswith(JSONL_SUFFIXES):
        return "jsonl"
    return None


def strip_suffix(name: str, suffixes: tuple[str, ...]) -> str:
    lower = name.lower()
    for suffix in sorted(suffixes, key=len, reverse=True):
        if lower.endswith(suffix):
            return name[: -len(suffix)]
    return name


# A plain path: ASCII letters, digits, `_`, `-` and `.` (which never starts a name),
# names joined by single slashes. `safe_relative_path` gives such a path unchanged when
# its first name is not reserved and it is short and shallow enough: `is_plain_path`.
_PLAIN_PATH = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]*(?:/[A-Za-z0-9_-][A-Za-z0-9._-]*)*")


def is_plain_path(name: str) -> bool:
    """A path that `safe_relative_path` gives back as it is, found without its checks
    (most file names are such paths)."""
    return (
        len(name) <= MAX_ID_BYTES
        and _PLAIN_PATH.fullmatch(name) is not None
        and name.count("/") < MAX_DEPTH
        and name.partition("/")[0] not in RESERVED_TOP_LEVEL
    )


def safe_relative_path(name: str) -> str:
    """A member or file path usable under DEST, or `Rejected('unsafe-id')`.

    Absolute paths, `..` components, control characters and names reserved for
    newsprep's own files are refused: nothing is ever written outside DEST. A path too
    long or too deep to be written is `Rejected('path-too-long')`.
    """
    return name if is_plain_path(name) else _checked_relative_path(name)


def _checked_relative_path(name: str) -> str:
    """`safe_relative_path`, every check made."""
    if not name or _CONTROL_CHARS.search(name):
        raise Rejected("unsafe-id", f"{name!r} has control characters or is empty")
    deceptive = _DECEPTIVE_CHARS.search(name)
    if deceptive:
        code = f"U+{ord(deceptive.group()[0]):04X}"
        raise Rejected("unsafe-id", f"{name!r} has an invisible or reordering character ({code})")
    if name.startswith("/") or re.match(r"^[A-Za-z]:[\\/]", name):
        raise Rejected("unsafe-id", f"{name!r} is an absolute path")
    parts = [part for part in name.replace("\\", "/").split("/") if part not in ("", ".")]
    if not parts or ".." in parts:
        raise Rejected("unsafe-id", f"{name!r} points outside the destination")
    if parts[0] in RESERVED_TOP_LEVEL:
        raise Rejected("unsafe-id", f"{name!r} is reserved for newsprep's own files")
    size = len(parts) - 1 + sum(
        min(len(part.encode("utf-8", "surrogatepass")), NAME_MAX) for part in parts
    )
    if size > MAX_ID_BYTES or len(parts) > MAX_DEPTH:
        raise Rejected("path-too-long", (
            f"{len(parts) - 1} folders deep, {size} bytes: more than {MAX_DEPTH - 1} folders "
            f"or {MAX_ID_BYTES} bytes cannot be written under every DEST"
        ))
    return posixpath.join(*parts)


def safe_id_component(raw: str, original: str | None = None, typed: bool = False) -> str:
    """A JSONL id turned into one safe path component ('' if nothing usable is left).

    An id that had to be changed gets a hash of the original (`original`: the id before
    its lone surrogates were escaped), so two ids that differ only in what was replaced
    (`a/b`, `a_b`; `"\\udc80"`, `"\\\\x80"`) stay two ids. So does an id that is not a JSON
    string (`typed`: the number 1 is `1-<hash>`, the string "1" is `1`).
    """
    cleaned = _UNSAFE_ID_CHARS.sub("_", raw).strip("._")
    if cleaned and (cleaned != raw or typed):
        key = raw if original is None else original
        cleaned = f"{cleaned}-{short_hash(('json:' if typed else '') + key)}"
    return cleaned


def short_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:10]


def escape_surrogates(text: str) -> str:
    """Text that encodes as UTF-8: a byte of a non-UTF-8 file name (Python's surrogate
    escape) becomes `\\xNN`, a lone surrogate from JSON `\\uNNNN`; other text is as it was."""
    if not _SURROGATES.search(text):
        return text

    def escaped(match: re.Match) -> str:
        code = ord(match.group())
        return f"\\x{code - 0xDC00:02x}" if 0xDC80 <= code <= 0xDCFF else f"\\u{code:04x}"

    return _SURROGATES.sub(escaped, text)


def fit_name(name: str, room: int = NAME_MAX) -> str:
    """`name` if it has at most `room` bytes in UTF-8; else its start, `~`, a hash of the
    whole name and its extension, in exactly `room` bytes or fewer (the same every run)."""
    if len(name.encode("utf-8")) <= room:
        return name
    stem, dot, ext = name.rpartition(".")
    ext = dot + ext if stem and len(ext) <= 16 else ""
    tail = f"~{short_hash(name)}{ext}"
    head = name[: len(name) - len(ext)].encode("utf-8")[: room - len(tail.encode("utf-8"))]
    return head.decode("utf-8", "ignore") + tail


def fit_id(article_id: str) -> str:
    """An id whose every component is short enough to be a file name (a tar member or a
    JSONL id can be longer); the same id every run."""
    return "/".join(fit_name(part) for part in article_id.split("/"))


def sidecar_path(article_id: str, suffix: str) -> str:
    """Where `<id><suffix>` (highlights, a quarantine record) is written: beside the id,
    its name shortened (with a hash) when the suffix would make it too long for a file."""
    folder, _, name = article_id.rpartition("/")
    fitted = fit_name(name, NAME_MAX - len(suffix.encode("utf-8"))) + suffix
    return f"{folder}/{fitted}" if folder else fitted
