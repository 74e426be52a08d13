"""Finding the articles under SOURCE: one `ArticleRef` per article file, in a stable order."""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field

import fsspec

from newsprep.config import ConfigError
from newsprep.tasks.article import ArticleRef
from newsprep.tasks.write import QUARANTINE_DIR

ARTICLE_EXTENSIONS = (".txt",)


@dataclass
class Discovery:
    root: str  # the source folder as an fsspec URL
    articles: list[ArticleRef] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)  # files that are not articles


def discover(source: str, dest: str, storage_options: dict | None = None) -> Discovery:
    """List the articles under `source` (a folder, one file, or an fsspec URL of either).

    Ids are paths relative to the source folder. Hidden files, files without an article
    extension, and anything under `dest` (when it lies inside the source) are left out.
    """
    options = storage_options or {}
    fs, root = fsspec.url_to_fs(source, **options)
    root = root.rstrip("/") or "/"
    if fs.isdir(root):
        base, entries = root, fs.find(root, detail=True)
    elif fs.exists(root):
        base, entries = posixpath.dirname(root), {root: fs.info(root)}
    else:
        raise ConfigError(f"source {source!r} does not exist (or is not readable)")
    dest_fs, dest_root = fsspec.url_to_fs(dest, **options)
    inside = dest_fs.protocol == fs.protocol and _is_under(dest_root.rstrip("/"), base)
    found = Discovery(root=fs.unstrip_protocol(base))
    for path in sorted(entries):
        if inside and _is_under(path, dest_root.rstrip("/")):
            continue
        relative = posixpath.relpath(path, base)
        if any(part.startswith(".") for part in relative.split("/")):
            continue
        if not relative.endswith(ARTICLE_EXTENSIONS) or relative.startswith(QUARANTINE_DIR + "/"):
            found.ignored.append(relative)
            continue
        found.articles.append(ArticleRef(relative, path, entries[path].get("size")))
    return found


def _is_under(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip("/") + "/")
