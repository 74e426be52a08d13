"""Finding the articles under SOURCE, as a stream of `ArticleRef`s in a stable order.

`list_source` lists the files once (a folder, one file, an fsspec URL of either, or a
chained `tar://PATTERN::URL`). `iter_articles` turns the listing into articles: a text or
`.story` file is one article that the worker reads itself; JSONL files and archives are
streamed here, record by record and member by member, never unpacked or read whole.
"""

from __future__ import annotations

import hashlib
import posixpath
import tarfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field, replace

import fsspec
from fsspec import AbstractFileSystem
from fsspec.implementations.local import LocalFileSystem

from newsprep.config import ConfigError, PipelineConfig
from newsprep.errors import Rejected, is_transient
from newsprep.index import RunIndex
from newsprep.tasks.article import ArticleRef
from newsprep.tasks.formats import (
    ARCHIVE_SUFFIXES,
    JSONL_SUFFIXES,
    archive_compression,
    detect_format,
    iter_jsonl_lines,
    iter_tar,
    parse_jsonl_line,
    safe_id_component,
    safe_relative_path,
    strip_suffix,
)

_CORRUPT = (tarfile.TarError, EOFError, zlib.error, OSError)
# JSONL files and archives are read in blocks of this size: with s3fs's default read-ahead
# block (50 MiB) a 50 MiB object was held in memory whole, twice over.
STREAM_BLOCK_SIZE = 1024 * 1024


@dataclass(frozen=True)
class SourceFile:
    relative: str  # path relative to the source folder
    path: str  # path on the source filesystem
    format: str  # txt, story, jsonl, tar
    size: int | None
    signature: str


MAX_IGNORED_EXAMPLES = 100


@dataclass
class SourceListing:
    """The files under a source. They live in the run's on-disk index, so a listing of
    millions of files costs no memory; `files` reads them back in path order."""

    root: str  # the source folder as an fsspec URL
    index: RunIndex
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
    index: RunIndex | None = None,
    storage_options: dict | None = None,
) -> SourceListing:
    """List the files under `source` into the index, folder by folder.

    Hidden files and folders, symbolic links (not followed) and anything under `dest`
    (when it lies inside the source) are left out.
    """
    options = storage_options or {}
    pattern = None
    if source.startswith("tar://") and "::" in source:
        pattern, source = source[len("tar://") :].split("::", 1)
    fs, root = fsspec.url_to_fs(source, **options)
    root = root.rstrip("/") or "/"
    if fs.isdir(root):
        base, entries = root, _walk(fs, root)
    elif fs.exists(root):
        base, entries = posixpath.dirname(root), iter([(root, fs.info(root))])
    else:
        raise ConfigError(f"source {source!r} does not exist (or is not readable)")
    dest_fs, dest_root = fsspec.url_to_fs(dest, **options)
    dest_root = dest_root.rstrip("/")
    dest_inside = type(dest_fs) is type(fs) and _is_under(dest_root, base)
    listing = SourceListing(
        root=fs.unstrip_protocol(base), index=index or RunIndex(), member_pattern=pattern
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


def _url(fs: AbstractFileSystem, path: str) -> str:
    """A listed path as a URL; the local filesystem's unstrip_protocol would normalize
    the (already normal) path again, a cost per article."""
    if isinstance(fs, LocalFileSystem) and path.startswith("/"):
        return "file://" + path
    return fs.unstrip_protocol(path)


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


def iter_articles(
    listing: SourceListing, config: PipelineConfig, storage_options: dict | None = None
) -> Iterator[ArticleRef]:
    """Every article of the listing, in order; duplicate ids are renamed and rejected."""
    fs = fsspec.url_to_fs(listing.root, **(storage_options or {}))[0]
    single = listing.total == 1  # ids are member names when the source is one archive
    for file in listing.files:
        if file.format == "jsonl":
            refs = _jsonl_articles(fs, file, config)
        elif file.format == "tar":
            refs = _archive_articles(fs, file, config, listing.member_pattern, single)
        else:
            refs = iter([_file_article(fs, file)])
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
            yield replace(ref, id=f"{ref.id}~{copy}", problem=("rejected", "duplicate-id", detail))


def _file_article(fs: AbstractFileSystem, file: SourceFile) -> ArticleRef:
    return ArticleRef(
        id=file.relative,
        source=_url(fs, file.path),
        format="story" if file.format == "story" else "txt",
        path=file.path,
        signature=file.signature,
    )


def _checked_id(ref: ArticleRef) -> ArticleRef:
    """Ids become paths under DEST: one named like newsprep's own files (a source that is
    an older DEST has a _quarantine/ folder; a _quarantine.jsonl) is refused."""
    try:
        safe_relative_path(ref.id)
    except Rejected as exc:
        unsafe_id = "_unsafe/" + safe_id_component(ref.id)
        return replace(ref, id=unsafe_id, problem=("rejected", exc.reason, exc.detail))
    return ref


def _jsonl_articles(
    fs: AbstractFileSystem, file: SourceFile, config: PipelineConfig
) -> Iterator[ArticleRef]:
    url = fs.unstrip_protocol(file.path)
    prefix = strip_suffix(file.relative, JSONL_SUFFIXES)
    number = 0
    try:
        with fs.open(
            file.path, "rb", compression="infer", block_size=STREAM_BLOCK_SIZE
        ) as stream:
            for number, line in iter_jsonl_lines(stream):
                signature = hashlib.sha1(line).hexdigest()
                try:
                    article = parse_jsonl_line(line, number, config.input)
                except Rejected as exc:
                    yield ArticleRef(
                        id=f"{prefix}/line-{number}", source=f"{url}:{number}", format="jsonl",
                        data=line, signature=signature,
                        problem=("rejected", exc.reason, exc.detail),
                    )
                    continue
                name = safe_id_component(article.id) or f"line-{number}"
                yield ArticleRef(
                    id=f"{prefix}/{name}.txt", source=f"{url}:{number}", format="jsonl",
                    data=article.text.encode("utf-8"), highlights=article.highlights,
                    record_id=article.id, signature=signature,
                )
    except _CORRUPT as exc:
        yield _broken_container(file, url, exc, "corrupt-jsonl", f"after line {number}")


def _archive_articles(
    fs: AbstractFileSystem,
    file: SourceFile,
    config: PipelineConfig,
    member_pattern: str | None,
    single: bool,
) -> Iterator[ArticleRef]:
    url = fs.unstrip_protocol(file.path)
    prefix = "" if single else strip_suffix(file.relative, ARCHIVE_SUFFIXES) + "/"
    pattern = member_pattern or config.input.member_pattern
    max_bytes = config.fetch.max_bytes
    name = ""
    try:
        compression = archive_compression(file.path)
        mode = "r|" if compression or file.path.lower().endswith(".tar") else "r|*"
        with fs.open(
            file.path, "rb", compression=compression, block_size=STREAM_BLOCK_SIZE
        ) as stream:
            for member in iter_tar(stream, pattern, max_bytes, mode):
                name = member.name
                source = f"{url}!{member.name}"
                signature = f"{member.size}-{member.mtime}"
                fmt = detect_format(member.name, config.input)
                fmt = fmt if fmt in ("txt", "story") else "txt"
                try:
                    article_id = prefix + safe_relative_path(member.name)
                except Rejected as exc:
                    unsafe_id = prefix + "_unsafe/" + safe_id_component(member.name)
                    yield ArticleRef(
                        id=unsafe_id, source=source, data=member.data, signature=signature,
                        problem=("rejected", exc.reason, exc.detail),
                    )
                    continue
                problem = None
                if member.data is None:
                    detail = f"{member.size} bytes, max_bytes={max_bytes}"
                    problem = ("rejected", "too-large", detail)
                yield ArticleRef(
                    id=article_id, source=source, format=fmt, data=member.data,
                    signature=signature, problem=problem,
                )
    except _CORRUPT as exc:
        after = f"after member {name!r}" if name else "before any member"
        yield _broken_container(file, url, exc, "corrupt-archive", after)


def _broken_container(
    file: SourceFile, url: str, exc: BaseException, reason: str, where: str
) -> ArticleRef:
    """One record for the unreadable rest of a container; what was read before stands.

    A transient error (network, throttling) fails it, so the next run tries again.
    """
    detail = f"{where}: {type(exc).__name__}: {exc}"
    status, reason = ("failed", "read-error") if is_transient(exc) else ("rejected", reason)
    return ArticleRef(
        id=f"{file.relative}#unreadable", source=url, signature=file.signature,
        problem=(status, reason, detail),
    )


def _signature(info: dict) -> str:
    """Size plus whatever the store offers to notice a change: ETag or mtime."""
    marker = info.get("ETag") or info.get("etag") or info.get("mtime") or info.get(
        "LastModified", ""
    )
    return f"{info.get('size')}-{marker}".replace('"', "")


def _is_under(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip("/") + "/")
