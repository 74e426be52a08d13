"""Finding the articles under SOURCE, as a stream of `ArticleRef`s in a stable order.

`list_source` lists the files once (a folder, one file, an fsspec URL of either, or a
chained `tar://PATTERN::URL`). `iter_articles` turns the listing into articles: a text or
`.story` file is one article that the worker reads itself; JSONL files and archives are
streamed here, record by record and member by member, never unpacked or read whole.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from typing import Protocol

import fsspec
from fsspec import AbstractFileSystem
from fsspec.implementations.local import LocalFileSystem

from newsprep.config import ConfigError, PipelineConfig
from newsprep.errors import Problem, Rejected
from newsprep.tasks.io.files import file_article
from newsprep.tasks.io.jsonl import jsonl_articles
from newsprep.tasks.io.paths import detect_format, safe_id_component, safe_relative_path
from newsprep.tasks.io.refs import ArticleRef, SourceFile
from newsprep.tasks.io.tar import archive_articles


class ListingStore(Protocol):
    """Where a listing keeps its files and the ids used so far (the run's index)."""

    def add_files(self, rows: Iterable[tuple[str, str, str, int | None, str]]) -> None: ...
    def files(self) -> Iterator[tuple[str, str, str, int | None, str]]: ...
    def file_count(self) -> int: ...
    def only_single_article_files(self) -> bool: ...
    def claim(self, article_id: str, source: str) -> str | None: ...


MAX_IGNORED_EXAMPLES = 100


@dataclass
class SourceListing:
    """The files under a source. They live in the run's on-disk index, so a listing of
    millions of files costs no memory; `files` reads them back in path order."""

    root: str  # the source folder as an fsspec URL
    index: ListingStore
    ignored_count: int = 0  # files that are not articles: unknown type, links
    ignored: list[str] = field(default_factory=list)  # the first MAX_IGNORED_EXAMPLES
    member_pattern: str | None = None  # from a tar://PATTERN::URL source

    @property
    def files(self) -> Iterator[SourceFile]:
        for row in self.index.files():
            yield SourceFile(*row)

    @property
    def total(self) -> int:
        return self.index.file_count()

    @property
    def countable(self) -> bool:
        """True when every file is one article, so the total is known up front."""
        return self.index.only_single_article_files()


def list_source(
    source: str,
    dest: str,
    config: PipelineConfig,
    index: ListingStore,
) -> SourceListing:
    """List the files under `source` into the index, folder by folder.

    Hidden files and folders, symbolic links (not followed) and anything under `dest`
    (when it lies inside the source) are left out.
    """
    pattern = None
    if source.startswith("tar://") and "::" in source:
        pattern, source = source[len("tar://") :].split("::", 1)
    fs, root = fsspec.url_to_fs(source)
    root = root.rstrip("/") or "/"
    if fs.isdir(root):
        base, entries = root, _flat(fs, root) if _object_store(fs) else _walk(fs, root)
    elif fs.exists(root):
        base, entries = posixpath.dirname(root), iter([(root, fs.info(root))])
    else:
        raise ConfigError(f"source {source!r} does not exist (or is not readable)")
    dest_fs, dest_root = fsspec.url_to_fs(dest)
    dest_root = dest_root.rstrip("/")
    dest_inside = type(dest_fs) is type(fs) and _is_under(dest_root, base)
    listing = SourceListing(
        root=fs.unstrip_protocol(base), index=index, member_pattern=pattern
    )

    def rows() -> Iterator[tuple]:
        for path, info in entries:
            if dest_inside and _is_under(path, dest_root):
                continue
            relative = _relative(path, base)
            if any(part.startswith(".") for part in relative.split("/")):
                continue  # hidden files, including our own temp files
            fmt = "tar" if pattern is not None else detect_format(relative, config.input)
            if fmt is None or info.get("islink") or info.get("type") != "file":
                listing.ignored_count += 1
                if len(listing.ignored) < MAX_IGNORED_EXAMPLES:
                    listing.ignored.append(relative)
                continue
            yield relative, path, fmt, info.get("size"), _signature(info)

    listing.index.add_files(rows())
    return listing


def _relative(path: str, base: str) -> str:
    """A listed path relative to the folder listed (or its name, when it is that file)."""
    if path == base:
        return posixpath.basename(path)
    prefix = base if base.endswith("/") else base + "/"
    return path[len(prefix) :] if path.startswith(prefix) else posixpath.relpath(path, base)


def _walk(fs: AbstractFileSystem, root: str) -> Iterator[tuple[str, dict]]:
    """(path, info) of every entry below root, one folder listing at a time; links to
    folders and hidden folders are reported, not entered."""
    for _, folders, files in fs.walk(root, detail=True):
        for name in list(folders):
            info = folders[name]
            if info.get("islink") or name.startswith("."):
                del folders[name]  # fsspec's walk does not descend into what is removed
                yield info["name"], info
        for info in files.values():
            yield info["name"], info


def _object_store(fs: AbstractFileSystem) -> bool:
    return not isinstance(fs, LocalFileSystem)


def _flat(fs: AbstractFileSystem, root: str) -> Iterator[tuple[str, dict]]:
    """(path, info) of every object below root: an object store has no folders to walk,
    and one flat listing costs a request per 1,000 keys instead of one per folder."""
    yield from fs.find(root, detail=True).items()  # the index orders them


def iter_articles(listing: SourceListing, config: PipelineConfig) -> Iterator[ArticleRef]:
    """Every article of the listing, in order; duplicate ids are renamed and rejected."""
    fs = fsspec.url_to_fs(listing.root)[0]
    single = listing.total == 1  # ids are member names when the source is one archive
    for file in listing.files:
        if file.format == "jsonl":
            refs = jsonl_articles(fs, file, config)
        elif file.format == "tar":
            refs = archive_articles(fs, file, config, listing.member_pattern, single)
        else:
            refs = iter([file_article(fs, file)])
        for ref in refs:
            if ref.problem is None:
                ref = _checked_id(ref)
            first = listing.index.claim(ref.id, ref.source)
            if first is None:
                yield ref
                continue
            copy = 2
            while listing.index.claim(f"{ref.id}~{copy}", ref.source) is not None:
                copy += 1
            detail = f"id {ref.id!r} was already used by {first}"
            problem = Problem("rejected", "duplicate-id", detail)
            yield replace(ref, id=f"{ref.id}~{copy}", problem=problem)


def _checked_id(ref: ArticleRef) -> ArticleRef:
    """Ids become paths under DEST: one named like newsprep's own files (a source that is
    an older DEST has a _quarantine/ folder; a _quarantine.jsonl) is refused."""
    try:
        safe_relative_path(ref.id)
    except Rejected as exc:
        unsafe_id = "_unsafe/" + safe_id_component(ref.id)
        return replace(ref, id=unsafe_id, problem=exc.problem)
    return ref


def _signature(info: dict) -> str:
    """Size plus whatever the store offers to notice a change: ETag or mtime."""
    marker = info.get("ETag") or info.get("etag") or info.get("mtime") or info.get(
        "LastModified", ""
    )
    return f"{info.get('size')}-{marker}".replace('"', "")


def _is_under(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip("/") + "/")
