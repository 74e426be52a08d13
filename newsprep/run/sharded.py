"""A run whose unit is the shard: the flow plans shards, adds up their outcomes, and
removes the parts of shards that are gone. It never handles an article, but once: a DEST
whose records are not all in parts yet (a `_manifest.jsonl` of an older newsprep, or
parts of shards cut differently) is migrated by its first sharded run.

Per shard, the worker does what `RunSession` does for a whole run (newsprep/run/engine/
shard.py). What needs every shard stays here: the DEST lock, the removal guard (decided
before the shards run, from the listing's file counts and the parts' record counts),
the parts of shards no longer planned, and the summary.
"""

from __future__ import annotations

import posixpath
from bisect import bisect_left
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from newsprep.config import RunConfig
from newsprep.run.engine.shard import (
    OUTCOME_SUFFIX,
    ShardGroup,
    ShardJob,
    ShardOutcome,
    file_namespace,
)
from newsprep.run.ledger.manifest import (
    JOURNAL,
    MANIFEST,
    UnreadableLine,
    journal_files,
    keep_unreadable,
    manifest_lines,
    remove_stale_outputs,
    remove_temp_files,
    unreadable_report,
)
from newsprep.run.ledger.parts import (
    DONE_SUFFIX,
    LEDGER_DIR,
    PART_SUFFIX,
    RUN_PART_KEY,
    SLICES_SUFFIX,
    Done,
    PartPaths,
    Shard,
    key_region,
    ledger_names,
    part_keys,
    part_name,
    present_files,
)
from newsprep.run.ledger.records import ArticleRecord
from newsprep.run.ledger.summary import RunSummary, redact
from newsprep.run.planning import ShardPlan
from newsprep.run.progress import Progress
from newsprep.run.session import RunSession
from newsprep.tasks.io.listing import MAX_IGNORED_EXAMPLES
from newsprep.tasks.io.paths import MANIFEST_UNREADABLE
from newsprep.tasks.io.sinks import output_rules, write_atomic_stream
from newsprep.tasks.io.stores import read_files, remove_path

# small shards share a task run up to about this many articles: each task run costs the
# Prefect server ~30 ms of CPU (at 1,000, 100 task runs took 3.2 CPU-s of 100,000 articles)
GROUP_ARTICLES = 4000
GROUP_SHARDS = 100  # and at most this many shards
GROUPS_PER_WORKER = 2  # a smaller run is cut finer: every worker gets this many groups or more
TAIL_GROUPS = 1  # per worker, at the end: quarter-size groups (workers get there a group apart)


def group_shards(
    shards: list[Shard], sizes: dict[str, int | None], workers: int,
    articles: int = GROUP_ARTICLES,
) -> list[ShardGroup]:
    """The task runs of a run: a shard of `articles` or more (or of unknown size: a
    JSONL file or archive never run) alone, smaller ones in key order together, up to
    `articles` (less in a small run, so that every worker gets several). Over the last
    TAIL_GROUPS such groups' worth of articles per worker, groups a quarter that size:
    the workers then end within a small group of each other."""
    total = sum(size or 0 for size in sizes.values())
    enough = max(1, min(articles, total // (GROUPS_PER_WORKER * workers)))
    tail = TAIL_GROUPS * workers * enough
    groups: list[ShardGroup] = []
    together: list[Shard] = []
    held = seen = 0
    for shard in shards:
        size = sizes.get(shard.key)
        seen += size or 0
        if size is None or size >= enough:
            groups.append(ShardGroup((shard,)))
            continue
        together.append(shard)
        held += size
        limit = enough if total - seen >= tail else max(1, enough // 4)
        if held >= limit or len(together) >= GROUP_SHARDS:
            groups.append(ShardGroup(tuple(together)))
            together, held = [], 0
    if together:
        groups.append(ShardGroup(tuple(together)))
    return groups


def by_shards(config: RunConfig) -> bool:
    """Whether a run goes by shards: unless asked for batches (task_unit batch, or
    batch_size 1: a task run per article), or its output format rebuilds whole batches
    (JSONL output: one file a batch, numbered across the run)."""
    rules = output_rules(config.pipeline().output)
    options = config.options
    return options.task_unit == "shard" and rules.per_article and options.batch_size != 1


class ShardedSession(RunSession):
    """One run of the normalize-corpus flow over shards, from its config to its summary."""

    def __init__(self, config: RunConfig, logger: Any) -> None:
        super().__init__(config, logger)
        self.changes = {"new": 0, "changed": 0, "retried": 0, "skipped": 0}
        self.ignored_count, self.ignored, self.warnings = 0, [], []
        self.removed_files, self.gone, self.kept_unlisted = 0, 0, 0
        self.kept_gone = 0  # articles gone from SOURCE kept by a refused removal
        self.shard_count = self.unchanged_shards = 0

    def skip_clock(self, seconds: float) -> None:
        """Leave `seconds` just past out of the run's processing time and its progress
        rate: the workers had nothing to do (newsprep/run/early.py)."""
        self._started += seconds
        self.progress.started += seconds

    def plan_shards(
        self, plan: ShardPlan, on_progress: Callable[[float, str], None]
    ) -> tuple[ShardJob, list[ShardGroup]]:
        """Sort the parts already in DEST against the planned shards, decide the removal
        guard, and make the job every shard gets."""
        self.plan, options = plan, self.options
        self.batch_size = options.batch_size or 100
        self.fs = self.dest_fs
        self.fs.makedirs(posixpath.join(self.dest_root, LEDGER_DIR), exist_ok=True)
        self._remove_ledger_temp_files()
        self.names = names = ledger_names(self.fs, self.dest_root)
        self.sliced = {shard.path for shard in plan.shards if shard.kind == "slice"}
        existing = {  # a cut of a file that is still cut is no shard's part
            key: name for key, name in part_keys(self.fs, self.dest_root, names).items()
            if not (key_region(key)[1] in self.sliced and _only_cut(names.get(name, [])))
        }
        self.dones = self._read_dones(existing)
        plan.shards = [  # what of its part there is: no request a shard to find out
            replace(
                shard, present=present_files(names.get(part_name(shard.key), [])),
                done=self.dones.get(shard.key),
            ) if shard.key not in plan.recut
            # a range cut again starts afresh: its old part is read like a migration's
            else replace(shard, present=frozenset(), done=None)
            for shard in plan.shards
        ]
        planned = {shard.key: shard for shard in plan.shards}
        self.kept, self.handed, self.gone_parts = _sort_parts(
            [key for key in existing if key not in planned], plan.shards
        )
        self.existing = existing
        legacy = self._legacy_files()
        self.migrating = bool(legacy)
        if legacy:
            unreadable: list[UnreadableLine] = []
            self.index.add_previous_lines(
                line for path in legacy for line in manifest_lines(self.fs, path, unreadable)
            )
            copy = posixpath.join(self.dest_root, MANIFEST_UNREADABLE)
            keep_unreadable(self.fs, copy, unreadable)
            for report in unreadable_report(unreadable, copy):
                self.logger.warning("%s", report)
        self.refused = self._guard(planned)
        if self.refused:
            self.logger.error("%s", self.refused)
        # known: the articles of folders, ranges and slices; not: a JSONL file's or archive's
        unknown_total = any(s.kind not in ("folder", "range", "slice") for s in plan.shards)
        self.logger.info(
            "%d shards (%s files), %d %s workers, profile %s (%s)",
            len(plan.shards), plan.files, self.workers, options.runner, self.config.profile,
            self.fingerprint,
        )
        self.progress = Progress(
            None if unknown_total else plan.files, self.logger, on_update=on_progress
        )
        job = self._job(plan.root, checkpoints="shards")
        previous_db = str(self.index.directory / "index.sqlite") if legacy else None
        if legacy:
            self.index.db.commit()
        self.progress_dir = self.index.directory / "progress"
        self.progress_dir.mkdir()
        self._heard: dict[str, int] = {}  # part name -> articles counted before it ended
        sjob = ShardJob(
            job, plan.member_pattern, self.batch_size, options.force, bool(self.refused),
            previous_db, str(self.progress_dir),
            None if options.allow_removal else options.max_removal_fraction,
        )
        return sjob, group_shards(plan.shards, self._sizes(), self.workers)

    def _sizes(self) -> dict[str, int | None]:
        """Articles each shard holds, as far as the flow knows: its files in a folder (or
        its part's records, when more), its part's records for a JSONL file or archive;
        None for one never run."""
        sizes: dict[str, int | None] = {}
        for shard in self.plan.shards:
            done = self.dones.get(shard.key)
            if shard.kind in ("folder", "range", "slice"):
                sizes[shard.key] = max(self.plan.counts.get(shard.key, 0),
                                       done.records if done else 0)
            else:
                sizes[shard.key] = done.records if done else None
        return sizes

    def _remove_ledger_temp_files(self) -> None:
        remove_temp_files(self.fs, self.dest_root, LEDGER_DIR, False)
        remove_temp_files(self.fs, self.dest_root, "", False)

    def _read_dones(self, existing: dict[str, str]) -> dict[str, Done]:
        """The completion markers of the parts in DEST, by key (one small read a part)."""
        root = posixpath.join(self.dest_root, LEDGER_DIR)
        paths = {posixpath.join(root, name + DONE_SUFFIX): key for key, name in existing.items()}
        dones = {}
        for path, data in read_files(self.fs, list(paths)).items():
            done = Done.from_bytes(data)
            if done is not None:
                dones[paths[path]] = done
        return dones

    def _legacy_files(self) -> list[str]:
        """Files of records not in a planned shard's part: a `_manifest.jsonl` (and the
        journal of a run killed before it was written), and the parts of shards that now
        lie in other shards."""
        files = []
        manifest = posixpath.join(self.dest_root, MANIFEST)
        journal = posixpath.join(self.dest_root, JOURNAL)
        at_top = self._top_names()
        if MANIFEST in at_top:
            files.append(manifest)
        if JOURNAL in at_top:
            files += journal_files(self.fs, journal)
        for key in [*self.handed, *(k for k in self.plan.recut if k in self.existing)]:
            name = self.existing[key]
            paths = PartPaths(name)
            files += self._record_files(name)
            if "journal" in present_files(self.names.get(name, [])):
                files += journal_files(self.fs, posixpath.join(self.dest_root, paths.journal))
        return files

    def _top_names(self) -> set[str]:
        """The names directly under DEST (one listing)."""
        try:
            entries = self.fs.ls(self.dest_root, detail=False)
        except FileNotFoundError:
            return set()
        return {posixpath.basename(entry.rstrip("/")) for entry in entries}

    def _guard(self, planned: dict[str, Shard]) -> str | None:
        """Why the articles gone from SOURCE must be kept, or None: RunSession's rule, on
        counts known before the shards run (the files listed in folders, the records of
        the parts of JSONL files and archives), for the shards' workers. A JSONL file or
        archive new to DEST counts as one article here; the parts of shards that are gone,
        and a migration's records, are judged at the end on exact counts."""
        if self.options.allow_removal:
            return None
        previous = self._previous_records()
        if not previous:
            return None
        now = sum(
            self.dones[shard.key].records if shard.kind == "file" and shard.key in self.dones
            else self.plan.counts.get(shard.key, 0)
            for shard in planned.values()
        )
        return self._removal_refused_counts(previous, now, listed=self.plan.files)

    def _previous_records(self, but: set[str] | frozenset[str] = frozenset()) -> int:
        """Records of the parts in DEST that this run judges: not kept under a folder
        that cannot be listed, not handed over to other shards (counted as migrated),
        not in `but`."""
        return sum(
            done.records for key, done in self.dones.items()
            if key not in self.kept and key not in self.handed and key not in but
        )

    def hear_progress(self) -> None:
        """Count what the shards still running have done so far (a worker notes the
        shard in hand in a file of the run's local folder, at most once a second)."""
        for note in self.progress_dir.iterdir():
            if note.suffix in (".new", OUTCOME_SUFFIX):
                continue
            try:
                done = int(note.read_text() or 0)
            except (OSError, ValueError):
                continue
            heard = self._heard.get(note.name, 0)
            if done > heard:
                self._heard[note.name] = done
                self.progress.advance(done - heard)

    def record_shard(self, outcome: ShardOutcome) -> None:
        """A finished shard: counted, reported as progress."""
        self.tally.merge(outcome.tally)
        for name, count in outcome.changes.items():
            self.changes[name] += count
        self.ignored_count += outcome.ignored_count
        self.ignored += outcome.ignored[: max(0, MAX_IGNORED_EXAMPLES - len(self.ignored))]
        self.warnings += outcome.warnings[: max(0, MAX_IGNORED_EXAMPLES - len(self.warnings))]
        for report in outcome.reports:
            self.logger.warning("%s", report)
        self.removed_files += outcome.removed_files
        self.gone += outcome.gone - outcome.kept_gone
        self.kept_gone += outcome.kept_gone
        if outcome.refused and not self.refused:
            self.refused = outcome.refused
            self.logger.error("%s", self.refused)
        self.kept_unlisted += outcome.kept_unlisted
        self.batch_count += outcome.batches
        self.shard_count += 1
        self.unchanged_shards += outcome.unchanged
        name = PartPaths.of(outcome.key).name
        (self.progress_dir / name).unlink(missing_ok=True)
        (self.progress_dir / (name + OUTCOME_SUFFIX)).unlink(missing_ok=True)
        self.progress.advance(max(0, outcome.articles - self._heard.pop(name, 0)))

    def finish_shards(self) -> RunSummary:
        """Remove the parts (and files) of shards that are gone, finish a migration, write
        DEST/_run.json; the run summary."""
        self.progress.finish()
        for shard in self.plan.shards:  # a killed run's temp files among a folder's ranges
            if shard.kind == "range" and not shard.first:
                remove_temp_files(self.fs, self.dest_root, shard.path, False)
            if shard.kind == "slice" and shard.part is not None and not shard.part.start:
                for folder, recursive in file_namespace(shard.path, shard.single):
                    remove_temp_files(self.fs, self.dest_root, folder, recursive)
        if self.kept_unlisted or self.kept:
            kept = self.kept_unlisted + sum(
                self.dones[key].records for key in self.kept if key in self.dones
            )
            self.logger.warning(
                "kept the previous records and files of %d articles under folders that "
                "could not be listed", kept,
            )
        going = sum(self.dones[key].records for key in self.gone_parts if key in self.dones)
        if self.gone_parts and not self.refused:
            self.refused = self._exact_guard(going)
            if self.refused:
                self.logger.error("%s", self.refused)
        if not self.refused:
            for key in self.gone_parts:
                self.gone += self._remove_part(key, remove_files=True)
        else:
            self.kept_gone += going
        if self.migrating:
            self._finish_migration()
        if self.gone or self.removed_files:
            self.logger.info(
                "%d articles of the previous run are gone from the source; removed %d files "
                "of articles that are gone or no longer ok", self.gone, self.removed_files,
            )
        for warning in self.warnings:
            self.logger.warning("%s", warning)
        summary = self._summary(
            ignored_count=self.ignored_count, ignored=self.ignored, warnings=self.warnings,
            changes=self.changes, gone=self.gone, removed=self.removed_files,
            refused=self.refused, shards=self.shard_count, kept=self.kept_gone,
        )
        self.logger.info(
            "%d of %d shards unchanged (skipped whole)", self.unchanged_shards, self.shard_count
        )
        return summary

    def _exact_guard(self, going: int) -> str | None:
        """The removal guard once every shard is done: DEST's records before (the parts'
        and those being migrated) against the articles this run saw."""
        if self.options.allow_removal:
            return None
        previous = self._previous_records(but=self.plan.recut) + self.index.previous_count()
        if not going or not previous:
            return None
        return self._removal_refused_counts(previous, self.tally.total, listed=self.plan.files)

    def _remove_part(self, key: str, remove_files: bool, keep_records: bool = False) -> int:
        """Delete a part, its marker and journal (and the files its records name), its
        records file too unless `keep_records`; how many records it held."""
        name = self.existing[key]
        records = 0
        if remove_files:
            stale: list[str] = []
            for path in self._record_files(name):
                for _, line in manifest_lines(self.fs, path):
                    records += 1
                    stale += ArticleRecord.from_line(line).files()
            self.removed_files += remove_stale_outputs(self.fs, self.dest_root, stale)
        for file in self.names.get(name, []):  # as listed at the start: no shard writes it
            if keep_records and file == name + PART_SUFFIX:
                continue
            if file.endswith(SLICES_SUFFIX) and key_region(key)[1] in self.sliced:
                continue  # the cut of the file whose slices took its records
            path = posixpath.join(self.dest_root, LEDGER_DIR, file)
            remove_path(self.fs, path, recursive=True)
        return records

    def _finish_migration(self) -> None:
        """Records not in parts yet: those no shard took are of articles gone from SOURCE.
        Their files go (unless the removal is refused: then they stay, in a part of their
        own); the old files go last."""
        for path in self._part_files():
            self.index.add_record_lines(manifest_lines(self.fs, path))
        for shard in self.plan.shards:  # not seeing an article is not its being gone
            if shard.kind == "unreadable":
                prefix = key_region(shard.key)[1] + "/"
                self.index.db.execute(
                    "INSERT OR IGNORE INTO records SELECT id, record FROM previous "
                    "WHERE substr(id, 1, ?) = ?", (len(prefix), prefix),
                )
        gone = self.index.gone_count()
        refused = self.refused or self._exact_guard(gone)
        if refused:
            if not self.refused:
                self.logger.error("%s", refused)
            self.refused = refused
            leftover = posixpath.join(self.dest_root, PartPaths.of(RUN_PART_KEY).records)
            lines = self.index.db.execute(
                "SELECT record FROM previous WHERE id NOT IN (SELECT id FROM records) "
                "ORDER BY id"
            )
            write_atomic_stream(self.fs, leftover, (row[0].encode() for row in lines))
            self.kept_gone += gone
        else:
            self.gone += gone
            self.removed_files += remove_stale_outputs(
                self.fs, self.dest_root, self.index.stale_paths()
            )
        for key in self.handed:  # a refused removal's records were just written over it
            self._remove_part(key, remove_files=False,
                              keep_records=bool(refused) and key == RUN_PART_KEY)
        for name in (MANIFEST, JOURNAL):
            path = posixpath.join(self.dest_root, name)
            if self.fs.exists(path):
                remove_path(self.fs, path, recursive=True)

    def _record_files(self, name: str) -> list[str]:
        """The files of a part's records: the part, and its additions as listed at the
        start."""
        listed = [name + PART_SUFFIX, *self.names.get(name, [])]
        return [
            posixpath.join(self.dest_root, path) for path in PartPaths(name).record_files(listed)
        ]

    def _part_files(self) -> list[str]:
        handed = {self.existing[key] for key in self.handed}
        return [
            posixpath.join(self.dest_root, relative)
            for name, files in ledger_names(self.fs, self.dest_root).items()
            if name not in handed
            for relative in PartPaths(name).record_files(files)
        ]


def _sort_parts(
    unplanned: list[str], shards: list[Shard]
) -> tuple[list[str], list[str], list[str]]:
    """The parts of shards not planned now, as (kept, handed, gone): kept, under a folder
    that could not be listed; handed over, when planned shards take their region now (a
    folder's tree became one shard, or the reverse); gone, when nothing of the source is
    there any more."""
    regions = [key_region(shard.key) for shard in shards]  # paths as keys spell them
    unreadable = {path for kind, path in regions if kind == "unreadable"}
    trees = {path for kind, path in regions if kind == "tree"}
    paths = sorted(path for _, path in regions)
    folders = {path for kind, path in regions if kind in ("folder", "range")}
    file_folders = {
        posixpath.dirname(path) for kind, path in regions if kind in ("file", "slice")
    }
    files = {path for kind, path in regions if kind in ("file", "slice")}
    written = _Written(shards)
    kept, handed, gone = [], [], []
    for key in unplanned:
        kind, path = key_region(key)
        ancestors = _ancestors(path)
        if any(a in unreadable for a in ancestors):
            kept.append(key)
        elif kind == "run" or any(a in trees for a in ancestors) or (
            kind in ("tree", "unreadable") and _has_below(paths, path)
        ) or (kind in ("folder", "range") and path in folders) or (
            kind == "folder" and path in file_folders
        ) or (
            kind in ("file", "slice") and (posixpath.dirname(path) in folders or path in files)
        ) or written.overlaps(*_writes_in(kind, path)):
            handed.append(key)
        else:
            gone.append(key)
    return kept, handed, gone


def _writes_in(kind: str, path: str, single: bool = False) -> tuple[str, bool]:
    """The folder under DEST a shard's articles are written in, and whether in the
    folders below it too: a folder's files beside each other, a JSONL file's or an
    archive's under its name without the suffix (`file_namespace`'s first folder)."""
    if kind in ("file", "slice"):
        return file_namespace(path, single)[0]
    return path, kind not in ("folder", "range")


class _Written:
    """Where the planned shards write: a gone part whose articles would be written there
    is handed over, since a planned shard may hold them under the same ids now
    (feed.jsonl gzipped to feed.jsonl.gz, folder a/ made a.jsonl); read like a
    migration's, its records that no shard takes are the gone ones."""

    def __init__(self, shards: list[Shard]) -> None:
        places = [_writes_in(*key_region(shard.key), shard.single) for shard in shards]
        self.folders = {folder for folder, _ in places}
        self.trees = {folder for folder, below in places if below}
        self.sorted = sorted(self.folders)

    def overlaps(self, folder: str, below: bool) -> bool:
        if folder in self.folders or any(a in self.trees for a in _ancestors(folder)):
            return True
        return below and _has_below(self.sorted, folder)


def _only_cut(files: list[str]) -> bool:
    """Whether a part name's files are only a JSONL file's cut (slicing.py)."""
    return all(file.endswith(SLICES_SUFFIX) for file in files)


def _ancestors(path: str) -> list[str]:
    """The path and the folders above it, up to the source's own ("")."""
    parts = path.split("/") if path else []
    return ["/".join(parts[:depth]) for depth in range(len(parts), -1, -1)]


def _has_below(paths: list[str], folder: str) -> bool:
    """Whether a sorted list of paths has `folder` or one under it."""
    if not folder:
        return bool(paths)
    at = bisect_left(paths, folder + "/")
    return folder in paths or (at < len(paths) and paths[at].startswith(folder + "/"))


__all__ = ["ShardedSession", "redact"]
