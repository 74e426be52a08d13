"""Finding the articles under SOURCE, as a stream of `ArticleRef`s in a stable order.

`list_source` lists the files once (a folder, one file, an fsspec URL of either, or a
chained `tar://PATTERN::URL`). `iter_articles` turns the listing into articles: a text or
`.story` file is one article that the worker reads itself; JSONL files and archives are
streamed here, record by record and member by member, never unpacked or read whole.
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from typing import Protocol

import fsspec
from fsspec import AbstractFileSystem

from newsprep.config import ConfigError, PipelineConfig
from newsprep.errors import Problem, Rejected, is_transient
from newsprep.tasks.io.files import file_article
from newsprep.tasks.io.footprint import Footprint
from newsprep.tasks.io.jsonl import JsonlSlice, jsonl_articles, line_number
from newsprep.tasks.io.paths import (
    detect_format,
    escape_surrogates,
    fit_id,
    is_plain_path,
    safe_id_component,
    safe_relative_path,
)
from newsprep.tasks.io.refs import ArticleRef, SourceFile, broken_container
from newsprep.tasks.io.stores import object_store, on_local_disk
from newsprep.tasks.io.stream import Retry
from newsprep.tasks.io.tar import archive_articles


class ListingStore(Protocol):
    """Where a listing keeps its files and the ids used so far (the run's index)."""

    def add_files(self, rows: Iterable[tuple[str, str, str, int | None, str]]) -> None: ...
    def files(self) -> Iterator[tuple[str, str, str, int | None, str]]: ...
    def file_count(self) -> int: ...
    def only_single_article_files(self) -> bool: ...
    def claim(self, article_id: str, source: str) -> str | None: ...
    def claim_paths(self, paths: list[str], source: str) -> str | None: ...


MAX_IGNORED_EXAMPLES = 100


@dataclass
class SourceListing:
    """The files under a source. They live in the run's on-disk index, so a listing of
    millions of files costs no memory; `files` reads them back in path order."""

    root: str  # the source folder as an fsspec URL
    index: ListingStore
    ignored_count: int = 0  # files that are not articles: unknown type, links, devices
    ignored: list[str] = field(default_factory=list)  # the first MAX_IGNORED_EXAMPLES
    member_pattern: str | None = None  # from a tar://PATTERN::URL source
    warnings: list[str] = field(default_factory=list)  # for the summary: a pattern unmatched
    single: bool = False  # the source is one file: an archive's ids are its member names
    part: JsonlSlice | None = None  # a slice of its one JSONL file, not all of it

    def ignore(self, what: str) -> None:
        """Count something in the source that is not an article, and name the first ones."""
        self.ignored_count += 1
        if len(self.ignored) < MAX_IGNORED_EXAMPLES:
            self.ignored.append(escape_surrogates(what))

    def warn(self, warning: str) -> None:
        """Note a problem with the source as a whole (the first MAX_IGNORED_EXAMPLES)."""
        if len(self.warnings) < MAX_IGNORED_EXAMPLES:
            self.warnings.append(escape_surrogates(warning))

    @property
    def files(self) -> Iterator[SourceFile]:
        for relative, path, *rest in self.index.files():
            if isinstance(path, bytes):  # a name that is not UTF-8 (see _storable)
                path = path.decode("utf-8", "surrogateescape")
            yield SourceFile(relative, path, *rest)

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
    pattern, source = split_member_pattern(source)
    fs, root = fsspec.url_to_fs(source)
    root = root.rstrip("/") or "/"
    if fs.isdir(root):
        base, entries = root, _flat(fs, root) if object_store(fs) else _walk(fs, root)
    elif fs.exists(root):
        base, entries = posixpath.dirname(root), iter([(root, fs.info(root))])
    else:
        raise ConfigError(f"source {source!r} does not exist (or is not readable)")
    listing = SourceListing(root=fs.unstrip_protocol(base), index=index, member_pattern=pattern)
    _add_entries(listing, fs, base, entries, dest, config)
    listing.single = listing.total == 1
    return listing


def list_shard(
    root: str,
    kind: str,
    path: str,
    dest: str,
    config: PipelineConfig,
    index: ListingStore,
    member_pattern: str | None = None,
    detail: str = "",
    single: bool = False,
    first: str = "",
    last: str | None = None,
    part: JsonlSlice | None = None,
) -> SourceListing:
    """List one shard of a source (newsprep/run/planning.py) into the index: the direct
    files of folder `path` (kind `folder`), everything under it (`tree`), one file
    (`file`), a slice of a JSONL file (`slice`, with `part`), or a folder that could not
    be listed (`unreadable`, with `detail`). Paths
    are relative to the source's folder `root` (a URL), as `list_source` makes them."""
    fs, base = fsspec.url_to_fs(root)
    base = base.rstrip("/") or "/"
    target = posixpath.join(base, path) if path else base
    listing = SourceListing(root=root, index=index, member_pattern=member_pattern)
    listing.single, listing.part = single, part
    if kind == "unreadable":
        entries: Iterator[tuple[str, dict]] = iter(
            [(target, {"name": target, "type": UNREADABLE, "error": detail})]
        )
    elif kind in ("file", "slice"):
        entries = _one_file(fs, target)
    elif kind == "folder":
        entries = _direct(fs, target)
    elif kind == "range":  # the folder's files named from `first` (inclusive) to `last`
        entries = (
            (entry, info) for entry, info in _range(fs, target, first, last)
            if _in_range(escape_surrogates(posixpath.basename(entry.rstrip("/"))), first, last)
        )
    else:
        entries = _flat(fs, target) if object_store(fs) else _walk(fs, target, top_ok=False)
    containers = kind not in ("folder", "range")
    _add_entries(listing, fs, base, entries, dest, config, containers=containers)
    return listing


def _in_range(name: str, first: str, last: str | None) -> bool:
    return first <= name and (last is None or name < last)


LIST_PAGE_KEYS = 1000  # keys an object store's listing request returns at most


def _range(
    fs: AbstractFileSystem, folder: str, first: str, last: str | None
) -> Iterator[tuple[str, dict]]:
    """A folder's direct entries around the names from `first` to `last` (the caller
    keeps those): on S3, listed from just before `first` and no further than `last`, so
    each range of a large folder costs its own keys' requests, not the whole folder's;
    elsewhere, the whole folder (a local folder has no ranged listing)."""
    if not hasattr(fs, "call_s3"):
        yield from _direct(fs, folder)
        return
    bucket, key, _ = fs.split_path(folder)
    prefix = f"{key.rstrip('/')}/" if key else ""
    request = {"Bucket": bucket, "Prefix": prefix, "Delimiter": "/", "MaxKeys": LIST_PAGE_KEYS,
               **fs.req_kw}
    if first:  # names sort by their bytes: all from `first` come after it less a character
        request["StartAfter"] = prefix + first[:-1]
    try:
        yield from _s3_pages(fs, bucket, folder, prefix, request, last)
    except FileNotFoundError:
        return  # removed since the shard was planned
    except OSError as exc:
        if is_transient(exc):
            raise
        yield _unreadable(folder, exc)


def _s3_pages(
    fs: AbstractFileSystem, bucket: str, folder: str, prefix: str, request: dict,
    last: str | None,
) -> Iterator[tuple[str, dict]]:
    """The pages of a listing as `_walk` yields a folder's entries (s3fs's info dicts:
    files, and hidden or linked subfolders, which are reported, not entered)."""
    while True:
        page = fs.call_s3("list_objects_v2", **request)
        infos = [
            {"Key": f"{bucket}/{p['Prefix'][:-1]}", "name": f"{bucket}/{p['Prefix'][:-1]}",
             "Size": 0, "size": 0, "StorageClass": "DIRECTORY", "type": "directory"}
            for p in page.get("CommonPrefixes", [])
        ]
        for found in page.get("Contents", []):
            name = f"{bucket}/{found['Key']}"
            infos.append({**found, "Key": name, "name": name, "size": found["Size"],
                          "type": "file"})
        yield from ((path, info) for path, info, enter in _kept(folder, infos) if not enter)
        names = [info["name"][len(bucket) + 1 + len(prefix):] for info in infos]
        if not page.get("IsTruncated") or (last is not None and names and max(names) >= last):
            return
        request = {**request, "ContinuationToken": page["NextContinuationToken"]}


def _one_file(fs: AbstractFileSystem, path: str) -> Iterator[tuple[str, dict]]:
    try:
        info = fs.info(path)
    except FileNotFoundError:
        return  # gone since the shard was planned
    yield path, info


def _direct(fs: AbstractFileSystem, folder: str) -> Iterator[tuple[str, dict]]:
    """A folder's direct entries but its subfolders (each its own shard); a folder that
    cannot be listed comes as type UNREADABLE, as in `_walk`."""
    yield from _walk(fs, folder, top_ok=False, descend=False)


def _add_entries(
    listing: SourceListing,
    fs: AbstractFileSystem,
    base: str,
    entries: Iterator[tuple[str, dict]],
    dest: str,
    config: PipelineConfig,
    containers: bool = True,
) -> None:
    """Put the listed entries that are articles (or containers of them) into the index;
    count the rest as ignored. Without `containers`, JSONL files and archives are left
    out (a folder's shard: each of them is a shard of its own)."""
    pattern = listing.member_pattern
    dest_fs, dest_root = fsspec.url_to_fs(dest)
    dest_root = dest_root.rstrip("/")
    dest_inside = type(dest_fs) is type(fs) and is_under(dest_root, base)

    def rows() -> Iterator[tuple]:
        for path, info in entries:
            if dest_inside and is_under(path, dest_root):
                continue
            relative = escape_surrogates(_relative(path, base))
            if (relative.startswith(".") or "/." in relative) and any(
                is_hidden(part) for part in relative.split("/")
            ):
                continue  # hidden files
            if info.get("type") == UNREADABLE:  # a folder that could not be listed
                yield relative, _storable(path), UNREADABLE, None, info["error"]
                continue
            fmt = "tar" if pattern is not None else detect_format(relative, config.input)
            if not containers and fmt in ("jsonl", "tar"):
                continue
            if fmt is None or info.get("islink") or info.get("type") != "file":
                listing.ignore(relative)
                continue
            yield relative, _storable(path), fmt, info.get("size"), signature_of(info)

    listing.index.add_files(rows())


def split_member_pattern(source: str) -> tuple[str | None, str]:
    """(member pattern, archive URL) of a `tar://PATTERN::URL` source; (None, source)
    for any other."""
    if source.startswith("tar://") and "::" in source:
        pattern, archive = source[len("tar://") :].split("::", 1)
        return pattern, archive
    return None, source


def is_hidden(name: str) -> bool:
    """A hidden file or folder. Not `.` or `..`: an object store key with such a
    component (`x/../a.txt`) is listed, to be rejected `unsafe-id`, not dropped unseen."""
    return name.startswith(".") and name not in (".", "..")


def _relative(path: str, base: str) -> str:
    """A listed path relative to the folder listed (or its name, when it is that file)."""
    if path == base:
        return posixpath.basename(path)
    prefix = base if base.endswith("/") else base + "/"
    return path[len(prefix) :] if path.startswith(prefix) else posixpath.relpath(path, base)


UNREADABLE = "unreadable"  # the listing's format of a folder that could not be listed


def _walk(
    fs: AbstractFileSystem, root: str, top_ok: bool = True, descend: bool = True
) -> Iterator[tuple[str, dict]]:
    """(path, info) of every entry below root, one folder listing at a time; links to
    folders and hidden folders are reported, not entered. A folder that cannot be listed
    comes as type UNREADABLE (fsspec's own walk leaves such folders out without a word);
    a transient error is raised, for the listing to be tried again."""
    folders = [root]
    local = on_local_disk(fs)
    while folders:
        folder = folders.pop()
        try:
            entries = _local_ls(folder) if local else fs.ls(folder, detail=True)
        except FileNotFoundError:
            continue  # removed while the source was listed: nothing of it to read
        except OSError as exc:
            if is_transient(exc):  # the listing is retried (discover-articles); a record
                raise  # would count the folder's articles as gone and remove their outputs
            if folder == root and top_ok:
                raise ConfigError(f"source {root!r} cannot be listed: {exc}") from None
            yield _unreadable(folder, exc)
            continue
        for path, info, enter in _kept(folder, entries):
            if not enter:
                yield path, info
            elif descend:
                folders.append(path)


def _kept(folder: str, infos: Iterable[dict]) -> Iterator[tuple[str, dict, bool]]:
    """A folder's listed entries as (path, info, a folder to enter): the folder's own
    marker object (some stores list one) left out; links to folders and hidden folders
    are entries, not entered."""
    for info in infos:
        path = info["name"].rstrip("/")
        if path == folder.rstrip("/"):
            continue
        hidden = is_hidden(posixpath.basename(path))
        enter = info.get("type") == "directory" and not info.get("islink") and not hidden
        yield path, info, enter


def _unreadable(folder: str, exc: OSError) -> tuple[str, dict]:
    """The entry of a folder that could not be listed."""
    error = f"{type(exc).__name__}: {escape_surrogates(str(exc))}"
    return folder, {"name": folder, "type": UNREADABLE, "error": error}


def _local_ls(folder: str) -> list[dict]:
    """`LocalFileSystem.ls(folder, detail=True)` with the fields the listing uses (name,
    type, size, mtime, islink), the same values, at half the cost a file."""
    entries = []
    prefix = folder.rstrip("/") + "/"
    with os.scandir(folder) as found:
        for entry in found:
            try:
                stat = entry.stat(follow_symlinks=False)
                link = entry.is_symlink()
                size = stat.st_size
                if link:
                    try:
                        size = entry.stat(follow_symlinks=True).st_size
                    except OSError:
                        size = 0
                if entry.is_dir(follow_symlinks=False):
                    kind = "directory"
                elif entry.is_file(follow_symlinks=False):
                    kind = "file"
                else:
                    kind = "other"
            except FileNotFoundError:
                continue  # removed as it was listed
            entries.append({
                "name": prefix + entry.name, "type": kind, "size": size,
                "mtime": stat.st_mtime, "islink": link,
            })
    return entries


def _flat(fs: AbstractFileSystem, root: str) -> Iterator[tuple[str, dict]]:
    """(path, info) of every object below root: an object store has no folders to walk,
    and one flat listing costs a request per 1,000 keys instead of one per folder."""
    yield from fs.find(root, detail=True).items()  # the index orders them


def _storable(path: str) -> str | bytes:
    """A path as the index can keep it: the bytes of a name that is not UTF-8."""
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        return path.encode("utf-8", "surrogateescape")
    return path


def iter_articles(
    listing: SourceListing, config: PipelineConfig, retry: Retry | None = None
) -> Iterator[ArticleRef]:
    """Every article of the listing, in order. Ids are made safe to use as file names;
    an article whose id, output or sidecar another one has taken is renamed and rejected.
    A file whose reading fails in a way its reader does not expect ends as one record;
    the listing goes on."""
    fs = fsspec.url_to_fs(listing.root)[0]
    single = listing.single  # ids are member names when the source is one archive
    renamed = {} if listing.part is None else {
        line: (article_id, Problem("rejected", reason, detail))
        for line, article_id, reason, detail in listing.part.renamed
    }
    for file in listing.files:
        for ref in _file_articles(fs, file, listing, config, single, retry):
            ref = _escaped(ref)
            if renamed and (taken := renamed.get(line_number(ref))):  # type: ignore[arg-type]
                yield _claimed_as(ref, *taken, listing.index)
            else:
                yield _claimed(ref, listing.index)


def _file_articles(
    fs: AbstractFileSystem,
    file: SourceFile,
    listing: SourceListing,
    config: PipelineConfig,
    single: bool,
    retry: Retry | None,
) -> Iterator[ArticleRef]:
    if file.format == UNREADABLE:
        problem = Problem("rejected", "unreadable-folder", f"could not be listed: {file.signature}")
        yield ArticleRef(id=f"{file.relative}#unreadable", source=_url(fs, file), problem=problem)
        return
    if file.format == "jsonl":
        refs = jsonl_articles(fs, file, config, retry, listing.part)
    elif file.format == "tar":
        refs = archive_articles(
            fs, file, config, listing.member_pattern, single, retry, listing.ignore,
            listing.warn,
        )
    else:
        refs = iter([file_article(fs, file)])
    try:
        yield from refs
    except Rejected as exc:  # a FIFO or device where the listing saw a file
        url = _url(fs, file)
        yield ArticleRef(id=f"{file.relative}#unreadable", source=url, problem=exc.problem)
    except Exception as exc:  # not the article's bytes: a reader's bug, say
        yield broken_container(file, _url(fs, file), exc, "unreadable", "while reading")


def _url(fs: AbstractFileSystem, file: SourceFile) -> str:
    """The file's URL in a record that has no reader's: only when it cannot be read."""
    return escape_surrogates(fs.unstrip_protocol(file.path))


def _escaped(ref: ArticleRef) -> ArticleRef:
    """The ref with text that encodes as UTF-8 (the index, the manifest, JSONL output):
    bytes of a non-UTF-8 name as `\\xNN`, lone surrogates as `\\uNNNN`."""
    escaped = {
        name: escape_surrogates(value)
        for name in ("id", "source", "record_id")
        if (value := getattr(ref, name)) is not None and escape_surrogates(value) != value
    }
    return replace(ref, **escaped) if escaped else ref


def _alone(ref: ArticleRef) -> ArticleRef:
    """The ref as it would be with no other article: its id checked and fitted."""
    if ref.problem is None:
        ref = _checked_id(ref)
    fitted = fit_id(ref.id)
    return replace(ref, id=fitted) if fitted != ref.id else ref


def _claimed(ref: ArticleRef, index: ListingStore) -> ArticleRef:
    """The ref under an id of its own whose output and sidecars no other article writes
    (nor writes into, as a folder); else renamed and rejected, and those paths claimed."""
    return _claim(_alone(ref), index)


def _claim(ref: ArticleRef, index: ListingStore) -> ArticleRef:
    """`_claimed` for a ref already checked and fitted (`_alone`)."""
    first = index.claim(ref.id, ref.source)
    if first is not None:
        detail = f"id {ref.id!r} was already used by {first}"
        ref = replace(ref, problem=Problem("rejected", "duplicate-id", detail))
        ref = _renamed(ref, ref.id, index)
    taken = index.claim_paths(_claims(ref), ref.source)
    if taken is None:
        return ref
    ref = replace(ref, problem=Problem("rejected", "output-conflict", taken))
    flat = "_unsafe/" + (safe_id_component(ref.id) or "article")
    ref = _renamed(ref, fit_id(flat), index)
    while index.claim_paths(_claims(ref), ref.source) is not None:
        ref = _renamed(ref, ref.id, index)
    return ref


def claim_in_file(ref: ArticleRef, index: ListingStore) -> tuple[ArticleRef, bool]:
    """The ref as `iter_articles` gives it, and whether an earlier article's claims made
    it so (renamed and rejected): what a slice of a JSONL file cannot see by itself."""
    alone = _alone(_escaped(ref))
    claimed = _claim(alone, index)
    return claimed, (claimed.id, claimed.problem) != (alone.id, alone.problem)


def _claimed_as(
    ref: ArticleRef, article_id: str, problem: Problem, index: ListingStore
) -> ArticleRef:
    """A slice's article under the id the pass over its whole file gave it (an earlier
    slice took its own): that id and its paths claimed here too."""
    ref = replace(ref, id=article_id, problem=problem)
    index.claim(ref.id, ref.source)
    index.claim_paths(_claims(ref), ref.source)
    return ref


def _renamed(ref: ArticleRef, base: str, index: ListingStore) -> ArticleRef:
    """The ref under the first free `<base>~N` (or `base` itself when free)."""
    candidate, copy = base, 1
    while index.claim(candidate, ref.source) is not None:
        copy += 1
        candidate = fit_id(f"{base}~{copy}")
    return replace(ref, id=candidate)


def _claims(ref: ArticleRef) -> list[str]:
    """The names an article reserves under DEST (see `Footprint.claims`)."""
    return Footprint(ref.id, ref.format == "story" or bool(ref.highlights)).claims()


def _checked_id(ref: ArticleRef) -> ArticleRef:
    """Ids become paths under DEST: one named like newsprep's own files (a source that is
    an older DEST has a _quarantine/ folder; a _quarantine.jsonl) is refused, and so is
    one that is not a plain path: object store keys `x//a.txt` and `x/./a.txt` would write
    `x/a.txt`, another key's output."""
    if is_plain_path(ref.id):
        return ref
    try:
        safe_relative_path(ref.id)
        if any(part in ("", ".") for part in ref.id.split("/")):
            raise Rejected(
                "unsafe-id", f"{ref.id!r} is not a plain path (an empty or '.' component)"
            )
    except Rejected as exc:
        unsafe_id = "_unsafe/" + safe_id_component(ref.id)
        return replace(ref, id=unsafe_id, problem=exc.problem)
    return ref


def signature_of(info: dict) -> str:
    """Size plus whatever the store offers to notice a change: ETag or mtime."""
    marker = info.get("ETag") or info.get("etag") or info.get("mtime") or info.get(
        "LastModified", ""
    )
    return f"{info.get('size')}-{marker}".replace('"', "")


def is_under(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip("/") + "/")
