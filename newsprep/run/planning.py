"""Cutting the source into shards, in the flow process, from folder listings alone.

The flow never handles an article: it walks SOURCE's folders and names the shards that
workers take end to end (newsprep/run/engine/shard.py): each folder's direct files, each
JSONL file and archive, and a folder that cannot be listed. Names are looked at only to
tell those apart and to find collisions: where two shards of one folder would write the
same path (`x.jsonl` beside a folder `x/`, `a.jsonl` beside `a.jsonl.gz`, an object key
that is both a file and a folder), the folder's whole tree becomes one shard, whose
worker sorts the collision out article by article, as a single listing always did.
"""

from __future__ import annotations

import os
import posixpath
from bisect import bisect_left
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import fsspec
from fsspec import AbstractFileSystem

from newsprep.config import ConfigError, PipelineConfig
from newsprep.errors import is_transient
from newsprep.run.ledger.parts import Shard, key_region, part_keys, range_first
from newsprep.run.slicing import SliceCut, can_slice, slice_file
from newsprep.tasks.io.listing import is_hidden, is_under, split_member_pattern
from newsprep.tasks.io.paths import (
    ARCHIVE_SUFFIXES,
    HIGHLIGHTS_SUFFIX,
    JSONL_SUFFIXES,
    REASON_SUFFIX,
    detect_format,
    escape_surrogates,
    strip_suffix,
)
from newsprep.tasks.io.stores import object_store, on_local_disk

_CONTAINERS = ("jsonl", "tar")
_SIDECARS = (HIGHLIGHTS_SUFFIX, REASON_SUFFIX)


@dataclass
class ShardPlan:
    root: str  # the source's folder as an fsspec URL: shard paths are relative to it
    member_pattern: str | None  # from a tar://PATTERN::URL source
    shards: list[Shard] = field(default_factory=list)
    files: int = 0  # files in the shards' folders that look like articles or containers
    counts: dict[str, int] = field(default_factory=dict)  # such files, by shard key
    # the first names of the ranges a folder was cut into before (from DEST's parts)
    firsts: dict[str, list[str]] = field(default_factory=dict)
    # the keys of ranges of before that are cut again now: their parts hold records of
    # the new ranges beside them
    recut: set[str] = field(default_factory=set)

    @property
    def keys(self) -> set[str]:
        return {shard.key for shard in self.shards}


# lists a level's folders in the run's workers: (root URL, folders, their ranges' firsts,
# the DEST path to leave out, the pipeline, slice_bytes) -> their plans (see plan_folders)
FolderLister = Callable[
    [str, list[str], dict[str, list[str]], "str | None", PipelineConfig, int],
    "list[FolderPlan]",
]
# cuts a large JSONL file in a worker: (root URL, its path, DEST, the pipeline,
# slice_bytes) -> its cut (see slicing.slice_file)
FileSlicer = Callable[[str, str, str, PipelineConfig, int], "SliceCut | None"]
SLICE_BYTES = 64 * 1024 * 1024  # the default: a JSONL file larger than this is cut


def plan_shards_in_workers(
    source: str, dest: str, config: PipelineConfig, call: Callable[..., Any] | None,
    slice_bytes: int = SLICE_BYTES,
) -> ShardPlan:
    """`plan_shards` with its folder listings and file cuts run by `call` (a worker
    pool's `call(fn, *args)`); in this process when `call` is None."""
    lister = None if call is None else partial(call, plan_folders)
    slicer = None if call is None else partial(call, slice_file)
    return plan_shards(source, dest, config, lister, slicer, slice_bytes)


def plan_shards(
    source: str, dest: str, config: PipelineConfig, lister: FolderLister | None = None,
    slicer: FileSlicer | None = None, slice_bytes: int = SLICE_BYTES,
) -> ShardPlan:
    """The shards of `source`, ordered by key; ConfigError when it does not exist. With a
    `lister`, the folders are listed by the run's workers (`plan_folders`): the flow gets
    each folder's shards and counts, never its file names. A JSONL file of more than
    `slice_bytes` that can be read from the middle is cut into slices by `slicer` (a
    worker's call of `slice_file`), each a shard."""
    pattern, url = split_member_pattern(source)
    fs, root = fsspec.url_to_fs(url)
    root = root.rstrip("/") or "/"
    large: list[str] = []  # JSONL files to cut into slices
    if pattern is None and fs.isdir(root):
        plan = ShardPlan(fs.unstrip_protocol(root), pattern)
        dest_fs, dest_root = fsspec.url_to_fs(dest)
        for key in part_keys(dest_fs, dest_root.rstrip("/")):
            kind, folder = key_region(key)
            if kind == "range":
                plan.firsts.setdefault(folder, []).append(range_first(key))
        skip = dest_root.rstrip("/") if type(dest_fs) is type(fs) else None
        large = _plan_tree(fs, root, skip, config, plan, lister, slice_bytes)
        if plan.files == 1:  # one archive in the folder: its ids are its member names
            plan.shards = [
                Shard(s.kind, s.path, s.detail, single=s.kind == "file") for s in plan.shards
            ]
    elif fs.exists(root):
        plan = ShardPlan(fs.unstrip_protocol(posixpath.dirname(root)), pattern)
        name = posixpath.basename(root)
        plan.shards.append(Shard("file", name, single=True))
        plan.files = 1
        if pattern is None and can_slice(name, config):
            large = [name]
    else:
        raise ConfigError(f"source {source!r} does not exist (or is not readable)")
    if large:
        _cut(plan, large, dest, config, slicer or slice_file, slice_bytes)
    plan.shards.sort(key=lambda shard: shard.key)
    return plan


def _cut(
    plan: ShardPlan, large: list[str], dest: str, config: PipelineConfig, slicer: FileSlicer,
    slice_bytes: int,
) -> None:
    """Put the slices of each large JSONL file in place of its shard (a worker's pass each,
    CALLS_AT_ONCE at once; none when its cut in DEST still holds)."""
    with ThreadPoolExecutor(min(len(large), CALLS_AT_ONCE)) as pool:
        cuts = dict(zip(large, pool.map(
            lambda path: slicer(plan.root, path, dest, config, slice_bytes), large
        ), strict=True))
    shards = []
    for shard in plan.shards:
        cut = cuts.get(shard.path) if shard.kind == "file" else None
        if cut is None or not cut.slices:
            shards.append(shard)
            continue
        plan.counts.pop(shard.key, None)
        plan.files -= 1
        for part in cut.slices:
            piece = Shard("slice", shard.path, single=shard.single, part=part)
            shards.append(piece)
            plan.counts[piece.key] = part.articles
            plan.files += part.articles
    plan.shards = shards


LIST_CONCURRENCY = 32  # folders of an object store listed at once (a request each, or more)
FOLDERS_A_CALL = 32  # folders a worker lists and plans in one call
CALLS_AT_ONCE = 16  # such calls in flight (the workers take as many as they are)


@dataclass
class FolderPlan:
    """One folder's part of the plan: its shards (with their counts, and whether each is
    a range cut again), the files they hold, and the subfolders to plan next."""

    shards: list[tuple[Shard, int | None, bool]] = field(default_factory=list)
    files: int = 0
    below: list[str] = field(default_factory=list)
    large: list[str] = field(default_factory=list)  # JSONL files to cut into slices


def _plan_tree(
    fs: AbstractFileSystem, root: str, skip: str | None, config: PipelineConfig,
    plan: ShardPlan, lister: FolderLister | None, slice_bytes: int,
) -> list[str]:
    """Plan SOURCE's folders a level at a time. On an object store a level's folders are
    listed at once, LIST_CONCURRENCY requests in flight: a tree of thousands of folders
    (a folder a day) costs its depth in round trips, not its folder count. With a
    `lister`, the run's workers list and plan them, FOLDERS_A_CALL a call. The JSONL
    files to cut into slices."""
    url = fs.unstrip_protocol(root)
    level, large = [""], []
    while level:
        if lister is not None:
            calls = [level[i:i + FOLDERS_A_CALL] for i in range(0, len(level), FOLDERS_A_CALL)]
            with ThreadPoolExecutor(min(len(calls), CALLS_AT_ONCE)) as pool:
                done = pool.map(lambda folders: lister(
                    url, folders, {f: plan.firsts[f] for f in folders if f in plan.firsts},
                    skip, config, slice_bytes,
                ), calls)
                found = [folder_plan for call in done for folder_plan in call]
        else:
            found = plan_folders(url, level, plan.firsts, skip, config, slice_bytes)
        level = []
        for folder_plan in found:
            for shard, count, recut in folder_plan.shards:
                plan.shards.append(shard)
                if count is not None:  # an unreadable folder's articles are not known
                    plan.counts[shard.key] = count
                if recut:
                    plan.recut.add(shard.key)
            plan.files += folder_plan.files
            level += folder_plan.below
            large += folder_plan.large
    return large


def plan_folders(
    url: str, folders: list[str], firsts: dict[str, list[str]], skip: str | None,
    config: PipelineConfig, slice_bytes: int = SLICE_BYTES,
) -> list[FolderPlan]:
    """List the folders (relative to the source folder `url`) and plan each: where the
    planning's listings run (the flow, or a worker of the run). On an object store they
    are listed at once, LIST_CONCURRENCY requests in flight."""
    fs, root = fsspec.url_to_fs(url)
    root = root.rstrip("/") or "/"

    def listed(relative: str) -> tuple[list[str], list[str], dict[str, int]] | OSError:
        folder = posixpath.join(root, relative) if relative else root
        try:
            return _entries(fs, folder)
        except OSError as exc:
            return exc

    if object_store(fs) and len(folders) > 1:
        with ThreadPoolExecutor(min(LIST_CONCURRENCY, len(folders))) as pool:
            found = list(pool.map(listed, folders))
    else:
        found = [listed(relative) for relative in folders]
    return [
        _plan_folder(fs, root, relative, entries, skip, config, firsts.get(relative, ()),
                     slice_bytes)
        for relative, entries in zip(folders, found, strict=True)
    ]


def _plan_folder(
    fs: AbstractFileSystem, root: str, relative: str,
    found: tuple[list[str], list[str], dict[str, int]] | OSError, skip: str | None,
    config: PipelineConfig, firsts: list[str] | tuple[str, ...], slice_bytes: int,
) -> FolderPlan:
    """A listed folder's shards, and its subfolders to plan next."""
    folder = posixpath.join(root, relative) if relative else root
    result = FolderPlan()
    if isinstance(found, FileNotFoundError):
        return result  # removed while the source was listed
    if isinstance(found, OSError):
        if is_transient(found):
            raise found  # the planning is retried: a record would count its articles as gone
        if not relative:
            raise ConfigError(f"source {root!r} cannot be listed: {found}") from None
        error = f"{type(found).__name__}: {escape_surrogates(str(found))}"
        result.shards.append((Shard("unreadable", relative, detail=error), None, False))
        return result
    files, folders, sizes = found
    folders = [  # DEST inside SOURCE is not read (a folder above it is)
        name for name in folders
        if not (skip is not None and is_under(posixpath.join(folder, name), skip))
    ]
    containers, others, articles = [], [], 0  # others: articles, and what is ignored
    for name in files:
        path = posixpath.join(relative, name) if relative else name
        fmt = detect_format(path, config.input)
        if fmt in _CONTAINERS:
            containers.append(name)
            continue
        others.append(name)
        if fmt is not None:
            articles += 1
    if _collide(files, folders, containers):
        count = _count_tree(fs, folder, config)
        result.shards.append((Shard("tree", relative), count, False))
        result.files = count
        return result
    result.files = articles + len(containers)
    if others:  # the folder's own files
        result.shards += _folder_shards(relative, others, firsts)
    for name in containers:
        path = posixpath.join(relative, name) if relative else name
        result.shards.append((Shard("file", path), 1, False))
        if can_slice(name, config) and _size(fs, folder, name, sizes) > slice_bytes:
            result.large.append(path)
    result.below = [posixpath.join(relative, name) if relative else name for name in folders]
    return result


SHARD_FILES = 10_000  # a folder with more files is cut into ranges of names this size


def _folder_shards(
    relative: str, names: list[str], firsts: tuple[str, ...] | list[str]
) -> list[tuple[Shard, int, bool]]:
    """A folder's own files as one shard, or as ranges of names of about SHARD_FILES when
    there are more. Ranges are kept from run to run (`firsts`, from the parts in DEST):
    new files fall into the ranges there are, and a range grown past twice the size is
    cut again, so a few new files rewrite a few parts, not all of them."""
    if not firsts and len(names) <= SHARD_FILES:
        return [(Shard("folder", relative), len(names), False)]
    escaped = sorted(escape_surrogates(name) for name in names)
    # the ranges of before, or names SHARD_FILES apart
    starts = sorted({"", *firsts}) if firsts else ["", *escaped[SHARD_FILES::SHARD_FILES]]
    cut: list[str] = []
    recut: set[str] = set()  # ranges of before, cut again: their part is not theirs alone
    for number, first in enumerate(starts):
        inside = _inside(escaped, first, starts[number + 1] if number + 1 < len(starts) else None)
        cut.append(first)
        if len(inside) > 2 * SHARD_FILES:
            cut += inside[SHARD_FILES::SHARD_FILES]
            recut.add(first)
    shards = []
    for number, first in enumerate(cut):
        last = cut[number + 1] if number + 1 < len(cut) else None
        count = len(_inside(escaped, first, last))
        shard = Shard("range", relative, first=first, last=last)
        shards.append((shard, count, first in recut and first in firsts))
    return shards


def _inside(escaped: list[str], first: str, last: str | None) -> list[str]:
    """The sorted names from first (inclusive) to last (not)."""
    end = len(escaped) if last is None else bisect_left(escaped, last)
    return escaped[bisect_left(escaped, first):end]


def _count_tree(fs: AbstractFileSystem, folder: str, config: PipelineConfig) -> int:
    """Files under a folder that look like articles or containers (for the removal guard:
    a tree shard is rare, made where names collide)."""
    try:
        paths = fs.find(folder)
    except OSError:
        return 0
    prefix = folder.rstrip("/") + "/"
    relative = (path[len(prefix):] if path.startswith(prefix) else path for path in paths)
    return sum(
        1 for path in relative
        if not any(is_hidden(part) for part in path.split("/"))
        and detect_format(path, config.input) is not None
    )


def _size(fs: AbstractFileSystem, folder: str, name: str, sizes: dict[str, int]) -> int:
    """A file's size: as listed, or (on a local disk, which lists no sizes) its stat's."""
    if name in sizes or not on_local_disk(fs):
        return sizes.get(name, 0)
    try:
        return os.stat(posixpath.join(folder, name), follow_symlinks=False).st_size
    except OSError:
        return 0


def _entries(
    fs: AbstractFileSystem, folder: str
) -> tuple[list[str], list[str], dict[str, int]]:
    """(file names, folder names, sizes of the files when the listing gives them) directly
    in a folder, hidden ones left out. Links and anything that is not a folder count as
    files (the shard's worker ignores them)."""
    files, folders, sizes = [], [], {}
    if on_local_disk(fs):
        with os.scandir(folder) as entries:
            for entry in entries:
                if is_hidden(entry.name):
                    continue
                if entry.is_dir(follow_symlinks=False):
                    folders.append(entry.name)
                else:
                    files.append(entry.name)
        return files, folders, sizes
    prefix = folder.rstrip("/") + "/"
    for info in fs.ls(folder, detail=True):
        path = info["name"]
        name = path[len(prefix):] if path.startswith(prefix) else posixpath.basename(path)
        name = name.rstrip("/") if info.get("type") == "directory" else name
        if path.rstrip("/") == folder.rstrip("/"):
            continue  # some stores list a folder's own marker object
        if is_hidden(name):
            continue
        (folders if info.get("type") == "directory" else files).append(name)
        if info.get("type") != "directory" and info.get("size") is not None:
            sizes[name] = info["size"]
    return files, folders, sizes


def _collide(files: list[str], folders: list[str], containers: list[str]) -> bool:
    """Whether two shards of this folder could write one path: a container's ids fall under
    its name without the suffix, a subfolder's under its name, a file's output and sidecars
    are its name (plus `.highlights`, `.reason.json`). Names an object store allows and a
    folder walk cannot follow (`x//a`, `x/./a`, `x/../a`) also make the tree one shard."""
    if any(name in ("", ".", "..") or "/" in name for name in (*folders, *files)):
        return True
    if not containers and not folders:
        return False
    stems = [strip_suffix(name, JSONL_SUFFIXES + ARCHIVE_SUFFIXES) for name in containers]
    spaces = stems + folders
    if len(set(spaces)) < len(spaces):
        return True
    names = set(files)
    return any(
        space in names
        or any(space.endswith(s) and space[: -len(s)] in names for s in _SIDECARS)
        for space in spaces
    )


