"""One shard end to end, in a worker: list it, compare it with its part of the ledger,
process what is new or changed, remove what it no longer accounts for, write its part.

The flow never sees an article of a shard, only its `ShardOutcome` (counts, a few
problems). A shard whose listing and settings match its part's completion marker, and
whose files are all in DEST, costs a listing and one read of its part. Otherwise the
part's marker goes first, then the shard runs as a whole run did before shards: the
previous records, the resume plan, batches through `process_batch` (each finished batch
journaled beside the part, so a killed run loses none), the stale files removed, the
part written, and its marker last. When all that changed is new articles, only their
records are written, as an addition beside the part (ledger/parts.py).
"""

from __future__ import annotations

import hashlib
import os
import pickle
import posixpath
import sqlite3
import stat
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from itertools import count

from fsspec import AbstractFileSystem

from newsprep.run.batching import MAX_BATCH_SIZE, batch_bytes, batches
from newsprep.run.engine.batch import Job, process_batch
from newsprep.run.ledger.manifest import (
    ManifestWriter,
    manifest_records,
    remove_stale_outputs,
    remove_temp_files,
    written_rows,
)
from newsprep.run.ledger.memory_index import MemoryIndex
from newsprep.run.ledger.parts import (
    ADDITION_MARK,
    MAX_ADDITIONS,
    Done,
    PartPaths,
    Shard,
    listing_digest,
    read_done,
    remove_done,
    slice_digest,
    write_done,
)
from newsprep.run.ledger.records import ArticleRecord
from newsprep.run.ledger.resume import CONTEXT_REASONS, Resume
from newsprep.run.ledger.summary import SHARD_CRASH, Tally, shrinks_too_much
from newsprep.tasks.io.footprint import (
    QUARANTINE_DIR,
    RECORD_PATH_FIELDS,
    Footprint,
    with_companions,
)
from newsprep.tasks.io.listing import SourceListing, iter_articles, list_shard
from newsprep.tasks.io.paths import ARCHIVE_SUFFIXES, JSONL_SUFFIXES, strip_suffix
from newsprep.tasks.io.refs import CONTAINER_VERDICTS, ArticleRef
from newsprep.tasks.io.stores import on_local_disk

MAX_LOGGED = 200  # problem lines a shard hands to its task's log
READS_AT_ONCE = 16  # a part's files read at once on an object store
# a worker notes the progress of the shard in hand at most this often, whatever the
# shards' sizes: short shards one after the other do not each create a note file, and the
# flow still hears of a task run's shards before it ends
PROGRESS_NOTE_SECONDS = 1.0
OUTCOME_SUFFIX = ".outcome"  # a finished shard's outcome, in the same folder
_noted_at = 0.0  # when this process last noted progress (time.monotonic)


@dataclass(frozen=True)
class ShardJob:
    """What every shard of a run needs; small and picklable."""

    job: Job  # source and DEST roots, pipeline, retry policy, checkpoints, quarantine
    member_pattern: str | None = None
    batch_size: int = MAX_BATCH_SIZE  # articles per checkpointed batch inside a shard
    force: bool = False  # reprocess unchanged articles
    keep_gone: bool = False  # removal refused: articles gone from SOURCE keep their records
    previous_db: str | None = None  # a local SQLite of records not yet in parts (migration)
    progress_dir: str | None = None  # a local folder: each shard's count of articles done
    # a JSONL file or archive that lost more than this share of its articles keeps them
    # (max_removal_fraction; None: --allow-removal)
    removal_limit: float | None = None


@dataclass
class ShardOutcome:
    key: str
    tally: Tally = field(default_factory=Tally)
    changes: dict[str, int] = field(
        default_factory=lambda: {"new": 0, "changed": 0, "retried": 0, "skipped": 0}
    )
    ignored_count: int = 0
    ignored: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    reports: list[str] = field(default_factory=list)  # unreadable ledger lines
    problems: list[str] = field(default_factory=list)  # this run's, for the log
    removed_files: int = 0
    gone: int = 0  # articles of the previous part this run did not see
    kept_gone: int = 0  # of them, those whose records and files stay (removal refused)
    refused: str | None = None  # why this shard refused to remove its gone articles
    kept_unlisted: int = 0
    batches: int = 0
    unchanged: bool = False  # the whole shard was skipped

    @property
    def articles(self) -> int:
        return self.tally.total


def run_shard(shard: Shard, sjob: ShardJob) -> ShardOutcome:
    """Take one shard end to end; never raises for an article."""
    job = sjob.job
    dest_fs, dest_root = job.dest_fs()
    paths = PartPaths.of(shard.key)
    kept = _kept_outcome(sjob, paths)
    if kept is not None:
        return kept
    outcome = ShardOutcome(shard.key)
    with MemoryIndex(job.checkpoint_dir) as index:
        listing = list_shard(
            job.source_root, shard.kind, shard.path, job.dest_root, job.pipeline, index,
            sjob.member_pattern, shard.detail, shard.single, shard.first, shard.last,
            shard.part,
        )
        if shard.part is not None:  # a slice: its bytes, not its file's signature
            digest = slice_digest(shard.part)
        else:
            digest = listing_digest([*index.files(), ("ignored", listing.ignored_count)])
        # a slice's outputs share their folder with the file's other slices: on a local
        # disk each is looked up, not the folder listed (a file of 1M lines: a listing of
        # 1M names for every slice)
        dest = DestFolders(dest_fs, dest_root, by_file=shard.kind == "slice")
        # the flow read the marker with the others (a shard planned otherwise looks)
        planned = shard.present is not None
        done = shard.done if planned else read_done(dest_fs, dest_root, shard.key)
        checked = (
            done is not None and not sjob.force and done.settled
            and (done.listing, done.fingerprint) == (digest, job.fingerprint)
            and _all_there(dest_fs, dest_root, paths, dest, outcome, done)
        )
        if checked:
            if checked != done:  # a marker of before, or a part edited
                write_done(dest_fs, dest_root, checked)
            outcome.unchanged = True
            outcome.ignored_count, outcome.ignored = done.ignored_count, list(done.ignored)
            outcome.warnings = list(done.warnings)
            return outcome
        outcome = ShardOutcome(shard.key)
        if done is not None:
            remove_done(dest_fs, dest_root, shard.key)
        part_sha256, additions = _process(shard, sjob, listing, index, dest, paths, outcome, done)
        outcome.ignored_count, outcome.ignored = listing.ignored_count, list(listing.ignored)
        outcome.warnings = list(listing.warnings)
        problems = outcome.tally.statuses["failed"] + sum(
            outcome.tally.reasons[reason] for reason in CONTEXT_REASONS
        )
        kept_gone = outcome.kept_gone
        write_done(dest_fs, dest_root, Done(
            shard.key, digest, job.fingerprint, sum(1 for _ in index.record_lines()),
            settled=not (problems or kept_gone or outcome.reports or outcome.kept_unlisted),
            kept_gone=kept_gone, ignored_count=listing.ignored_count,
            ignored=tuple(listing.ignored), warnings=tuple(listing.warnings),
            part_sha256=part_sha256, additions=additions,
        ))
    # its records are in its part now: a run of a million shards would otherwise keep
    # every article's note in the run's local folder until its end (~0.5 KB an article)
    _remove_checkpoints(sjob.job, paths)
    _keep_outcome(sjob, paths, outcome)
    return outcome


def _kept_outcome(sjob: ShardJob, paths: PartPaths) -> ShardOutcome | None:
    """The shard's outcome, if this run wrote its part whole before the task run died
    in a later shard: run again, it would count its articles as unchanged, not as this
    run's work (the flow removes the note when it records the shard)."""
    if sjob.progress_dir is None:
        return None
    try:
        with open(os.path.join(sjob.progress_dir, paths.name + OUTCOME_SUFFIX), "rb") as note:
            return pickle.load(note)  # the run's own local folder, written below
    except (OSError, EOFError, pickle.UnpicklingError):  # none, or unreadable: run it
        return None


def _keep_outcome(sjob: ShardJob, paths: PartPaths, outcome: ShardOutcome) -> None:
    if sjob.progress_dir is None or not os.path.isdir(sjob.progress_dir):
        return  # a remote worker: the flow's folder is not here
    path = os.path.join(sjob.progress_dir, paths.name + OUTCOME_SUFFIX)
    with open(path + ".new", "wb") as note:
        pickle.dump(outcome, note)
    os.replace(path + ".new", path)


@dataclass(frozen=True)
class ShardGroup:
    """The shards one task run takes, one after the other: a shard of its own, or small
    ones together (a task run costs the flow a few milliseconds, about what a folder of
    a hundred unchanged articles costs its worker)."""

    shards: tuple[Shard, ...]

    @property
    def name(self) -> str:
        first = self.shards[0].key
        if len(self.shards) == 1:
            return f"shard {first}"
        return f"shards {first} .. {self.shards[-1].key} ({len(self.shards)})"


def run_group(group: ShardGroup, sjob: ShardJob) -> list[ShardOutcome]:
    return [run_shard(shard, sjob) for shard in group.shards]


def crashed_group(group: ShardGroup, error: str) -> list[ShardOutcome]:
    """A group whose worker kept dying: each of its shards one failed item (the shards
    it finished are skipped whole by the next run)."""
    return [crashed_shard(shard, error) for shard in group.shards]


def crashed_shard(shard: Shard, error: str) -> ShardOutcome:
    """The outcome of a shard whose worker kept dying: one failed item, named after the
    shard; its part stays as it was (the next run takes the shard again)."""
    record = ArticleRecord(
        id=f"{shard.path or '.'}#shard", source=shard.key, status="failed",
        reason=SHARD_CRASH, detail=error,
    )
    outcome = ShardOutcome(shard.key)
    outcome.tally.add(record)
    outcome.problems.append(f"failed {record.id}: {SHARD_CRASH} ({error})")
    return outcome


def _all_there(
    fs: AbstractFileSystem, root: str, paths: PartPaths, dest: DestFolders,
    outcome: ShardOutcome, done: Done,
) -> Done | None:
    """Count the part's records (and its additions') as this run's (skipped, or still
    rejected) when they are the records its marker counts, every line reads and every
    file they name is in DEST; the marker with each file's sha256, or None (counting
    nothing). A file as its shard wrote it (the marker's digest) is parsed whole,
    unchecked."""
    files = [(paths.records, done.part_sha256)] + [
        (paths.addition(number), sha256)
        for number, (sha256, _) in enumerate(done.additions, 1)
    ]
    full = [posixpath.join(root, relative) for relative, _ in files]
    contents = _read_files(fs, full)
    if contents is None:
        return None
    rows, digests = [], []
    for path, data, (_, sha256) in zip(full, contents, files, strict=True):
        written = written_rows(data, sha256)
        if written is None:
            unreadable: list = []
            written = [record.__dict__ for record in manifest_records(fs, path, unreadable, data)]
            if unreadable:
                return None
            sha256 = hashlib.sha256(data).hexdigest()
        rows += written
        digests.append((sha256, len(written)))
    if len(rows) != done.records:
        return None
    tally, plain = Tally(), 0
    for row in rows:
        if not all(
            dest.has(path) for name in RECORD_PATH_FIELDS if row.get(name)
            for path in with_companions(row[name])
        ):
            return None
        if row.get("reason") in CONTAINER_VERDICTS:
            return None
        if row["status"] in ("ok", "skipped") and not row.get("parity"):
            plain += 1
        else:  # rejected (a settled part has no failed record), or in the parity sample
            tally.add(ArticleRecord.from_dict(row).skipped())
    tally.add_skipped(plain)
    outcome.tally = tally
    outcome.changes["skipped"] = tally.total
    return replace(done, part_sha256=digests[0][0], additions=tuple(digests[1:]))


def _read_files(fs: AbstractFileSystem, paths: list[str]) -> list[bytes] | None:
    """The bytes of each file (an object store's at once), or None when one is missing."""
    if len(paths) == 1 or on_local_disk(fs):
        try:
            return [fs.cat_file(path) for path in paths]
        except FileNotFoundError:
            return None
    with ThreadPoolExecutor(min(len(paths), READS_AT_ONCE)) as threads:
        futures = [threads.submit(fs.cat_file, path) for path in paths]
        try:
            return [future.result() for future in futures]
        except FileNotFoundError:
            return None


def _process(
    shard: Shard, sjob: ShardJob, listing: SourceListing, index: MemoryIndex, dest: DestFolders,
    paths: PartPaths, outcome: ShardOutcome, done: Done | None,
) -> tuple[str, tuple[tuple[str, int], ...]]:
    """Process the shard's new and changed articles and write its part, or only an
    addition when all that changed is new articles; (the part's sha256, its additions')."""
    job = _shard_job(sjob.job, paths)
    dest_fs, dest_root = job.dest_fs()
    for folder, recursive in _namespace(shard):
        remove_temp_files(dest_fs, dest_root, folder, recursive)
    present = shard.present
    additions = _additions(dest_fs, dest_root, paths, present, done)
    manifest = ManifestWriter(
        dest_fs, dest_root, index, (paths.records, paths.journal, paths.unreadable),
        None if present is None else ("records" in present, "journal" in present),
        additions,
    )
    manifest.load_previous()
    outcome.reports = manifest.unreadable_report()
    may_add = _may_add(shard, sjob, done, manifest, outcome)
    previous = _Previous(index, dest, sjob.previous_db)
    skipped: list[ArticleRecord] = []

    def on_skip(record: ArticleRecord) -> None:
        skipped.append(record)
        outcome.tally.add(record)

    resume = Resume(previous, job.fingerprint, not sjob.force, on_skip=on_skip)
    articles = resume.plan(iter_articles(listing, job.pipeline, job.retry))
    articles = _clear_the_way(articles, previous, dest_fs, dest_root, outcome)
    for batch in batches(articles, sjob.batch_size, batch_bytes(job.pipeline)):
        records = process_batch(batch.articles, batch.index, job)
        manifest.append(records)
        outcome.batches += 1
        unnamed = _unnamed_files(records, dest)
        if unnamed:
            outcome.removed_files += remove_stale_outputs(dest_fs, dest_root, unnamed)
        _note_progress(sjob, paths, outcome.tally.total + len(records))
        for record in records:
            outcome.tally.add(record)
            if record.status != "ok" and len(outcome.problems) < MAX_LOGGED:
                outcome.problems.append(
                    f"{record.status} {record.id}: {record.reason} ({record.detail})"
                )
    previous.close()
    outcome.changes = resume.changes
    adding = (
        may_add and resume.changes["changed"] == resume.changes["retried"] == 0
        and not resume.moved  # the part's records name where they were
    )
    if adding:  # the part and its additions hold them: not journaled again
        manifest.note(skipped)
    else:
        manifest.append(skipped)
    outcome.kept_unlisted = index.keep_unlisted()
    outcome.gone = index.gone_count()
    if not sjob.keep_gone and outcome.gone:
        previous = index.previous_count()
        outcome.refused = _container_guard(shard, sjob, previous, outcome.tally.total)
    if sjob.keep_gone or outcome.refused:
        index.keep_gone()
        outcome.kept_gone = outcome.gone
    stale = list(index.stale_paths())
    outcome.removed_files += remove_stale_outputs(dest_fs, dest_root, stale)
    if adding and not (outcome.kept_unlisted or outcome.gone or stale):
        assert done is not None  # _may_add says so
        added_before = sum(count for _, count in done.additions)
        if added_before + resume.changes["new"] <= done.records - added_before:
            added = manifest.add(paths.addition(len(done.additions) + 1))
            return done.part_sha256, (*done.additions, *([added] if added else []))
    manifest.compact()  # the additions outgrow the part, or more than new articles changed
    return manifest.sha256, ()


def _additions(
    fs: AbstractFileSystem, root: str, paths: PartPaths, present: frozenset[str] | None,
    done: Done | None,
) -> tuple[str, ...]:
    """The additions beside a shard's part, in order: those its marker names (a run
    writes an addition before its marker), or, without a marker, those a listing of
    them finds (a run killed in between)."""
    if done is not None:
        return tuple(paths.addition(number) for number in range(1, len(done.additions) + 1))
    if present is not None and "additions" not in present:
        return ()
    folder = posixpath.join(root, posixpath.dirname(paths.records))
    try:  # an object store lists only the keys that start so (no other file's name does)
        found = fs.find(folder, prefix=paths.name + ADDITION_MARK)
    except FileNotFoundError:
        return ()
    return tuple(paths.additions([posixpath.basename(path) for path in found]))


def _may_add(
    shard: Shard, sjob: ShardJob, done: Done | None, manifest: ManifestWriter,
    outcome: ShardOutcome,
) -> bool:
    """Whether the shard may end with an addition, if all that changed is new articles:
    its part and additions are whole, as its marker says (no killed run's journal, no
    unreadable line), settled, made with these settings, and it has room for one more."""
    return (
        done is not None and done.settled and not sjob.force and sjob.previous_db is None
        and done.fingerprint == sjob.job.fingerprint and bool(done.part_sha256)
        and shard.kind != "unreadable" and len(done.additions) < MAX_ADDITIONS
        and not manifest.leftover and not outcome.reports
        and manifest.index.previous_count() == done.records
    )


def _container_guard(shard: Shard, sjob: ShardJob, previous: int, now: int) -> str | None:
    """Why a JSONL file or archive keeps the articles gone from it, or None: the removal
    guard on the container alone, on counts (articles renamed are written anew). The
    flow's guard counts a container's articles as its part's (they are known only as it
    is read), so a file cut short, a partial download, would lose them unseen."""
    limit = sjob.removal_limit
    if shard.kind != "file" or limit is None or not shrinks_too_much(previous, now, limit):
        return None
    return (
        f"{shard.path} holds {now} articles now, against the {previous} DEST holds from it "
        f"(more than max_removal_fraction={limit} of one JSONL file or archive would go); "
        "kept them, removed none (a file cut short, a partial download looks so); if they "
        "are meant to go, run again with --allow-removal"
    )


def _note_progress(sjob: ShardJob, paths: PartPaths, done: int) -> None:
    """Say how many of its articles the shard has done, for the flow's progress, if this
    process has not said so of a shard within PROGRESS_NOTE_SECONDS (a remote worker,
    without the folder, says nothing until the shard ends)."""
    global _noted_at
    now = time.monotonic()
    if now - _noted_at < PROGRESS_NOTE_SECONDS:
        return
    _noted_at = now
    if sjob.progress_dir is None or not os.path.isdir(sjob.progress_dir):
        return
    path = os.path.join(sjob.progress_dir, paths.name)
    with open(path + ".new", "w") as note:
        note.write(str(done))
    os.replace(path + ".new", path)


def _shard_job(job: Job, paths: PartPaths) -> Job:
    """The job of a shard's batches: their checkpoints are files of the run's checkpoint
    folder named after its part, not a folder of the shard's own (a folder costs a
    creation and a removal a shard, in a local folder that may be slow to create in)."""
    return replace(job, checkpoint_prefix=f"{paths.name}.")


def _remove_checkpoints(job: Job, paths: PartPaths) -> None:
    """Remove the shard's batch checkpoints: numbered from 0, each batch made its file."""
    checkpoint = _shard_job(job, paths).checkpoint_path
    for index in count():
        path = checkpoint(index)
        if path is None:
            return
        try:
            path.unlink()
        except FileNotFoundError:
            return


def _clear_the_way(
    refs: Iterator[ArticleRef], previous: _Previous, fs: AbstractFileSystem, root: str,
    outcome: ShardOutcome,
) -> Iterator[ArticleRef]:
    """Before an article is written: remove what an earlier run wrote where it needs a
    folder or a file (see RunSession._clear_the_way)."""
    if not previous.has_previous():
        yield from refs
        return
    for ref in refs:
        stale = previous.index.previous_in_the_way(Footprint(ref.id).paths())
        if stale:
            outcome.removed_files += remove_stale_outputs(fs, root, stale)
        yield ref


def _namespace(shard: Shard) -> list[tuple[str, bool]]:
    """The folders under DEST (relative) that only this shard writes, and whether their
    subfolders are its too: where a killed run's temp files of this shard can be."""
    if shard.kind == "folder":
        return [(shard.path, False), (_quarantined(shard.path), False)]
    # a range shares its folders with the folder's other ranges, a slice with its file's
    # other slices: the flow cleans them (ShardedSession.finish_shards)
    if shard.kind == "file":
        return file_namespace(shard.path, shard.single)
    if shard.kind == "tree":
        return [(shard.path, True), (_quarantined(shard.path), True)]
    return []


def file_namespace(path: str, single: bool) -> list[tuple[str, bool]]:
    """The folders under DEST where a JSONL file's or an archive's articles are written."""
    if single:
        return [("", True)]
    stem = strip_suffix(path, JSONL_SUFFIXES + ARCHIVE_SUFFIXES)
    return [(stem, True), (_quarantined(stem), True)]


def _quarantined(folder: str) -> str:
    return posixpath.join(QUARANTINE_DIR, folder) if folder else QUARANTINE_DIR


def _unnamed_files(records: list[ArticleRecord], dest: DestFolders) -> list[str]:
    """Files DEST holds at the batch's articles' paths that their records do not name (an
    earlier run's, whose records were lost: `ArticleRecord.unnamed`). An ok article's are
    in its quarantine folder: looked for only on a local disk (a listing of that folder on
    an object store is a request more a shard), and only when that folder holds a file."""
    found = []
    for record in records:
        if record.status == "ok" and not (
            dest.local and dest.holds_files(_quarantined(posixpath.dirname(record.id)))
        ):
            continue
        found += [path for path in record.unnamed() if dest.has(path)]
    return found


class DestFolders:
    """Which files DEST holds, one folder listing at a time, as they are asked about
    (`by_file` on a local disk: each file looked up, but in the quarantine)."""

    def __init__(self, fs: AbstractFileSystem, root: str, by_file: bool = False) -> None:
        self.fs, self.root = fs, root.rstrip("/")
        self.local = on_local_disk(fs)
        self.by_file = by_file and self.local
        self._folders: dict[str, set[str]] = {}

    def has(self, relative: str | None) -> bool:
        if not relative:
            return False
        if self.by_file and not relative.startswith(QUARANTINE_DIR + "/"):  # few there
            try:
                return stat.S_ISREG(os.lstat(posixpath.join(self.root, relative)).st_mode)
            except OSError:
                return False
        folder, _, name = relative.rpartition("/")
        return name in self._names(folder)

    def holds_files(self, folder: str) -> bool:
        """Whether `folder` (relative to DEST) holds a file, as its listing says."""
        return bool(self._names(folder))

    def _names(self, folder: str) -> set[str]:
        """The files of `folder`, listed once."""
        names = self._folders.get(folder)
        if names is None:
            names = self._folders[folder] = self._list(folder)
        return names

    def _list(self, folder: str) -> set[str]:
        path = posixpath.join(self.root, folder) if folder else self.root
        try:
            if self.local:
                with os.scandir(path) as entries:
                    return {e.name for e in entries if e.is_file(follow_symlinks=False)}
            return {
                posixpath.basename(info["name"].rstrip("/"))
                for info in self.fs.ls(path, detail=True) if info.get("type") == "file"
            }
        except (FileNotFoundError, NotADirectoryError):
            return set()


class _Previous:
    """The shard's index as the resume plan sees it: the previous records of its part, and
    of the records not yet in parts (a `_manifest.jsonl` being migrated, or a part whose
    shard was cut differently), looked up by id; DEST's files as folder listings."""

    def __init__(self, index: MemoryIndex, dest: DestFolders, previous_db: str | None) -> None:
        self.index, self.dest = index, dest
        self.db = None
        if previous_db and os.path.exists(previous_db):
            self.db = sqlite3.connect(f"file:{previous_db}?mode=ro", uri=True)

    def has_previous(self) -> bool:
        return self.db is not None or self.index.has_previous()

    def previous(self, article_id: str) -> ArticleRecord | None:
        found = self.index.previous(article_id)
        if found is not None or self.db is None:
            return found
        row = self.db.execute(
            "SELECT record FROM previous WHERE id = ?", (article_id,)
        ).fetchone()
        if row is None:
            return None
        self.index.add_previous_lines([(article_id, row[0])])
        return ArticleRecord.from_line(row[0])

    def has_output(self, path: str | None) -> bool:
        return self.dest.has(path)

    def close(self) -> None:
        if self.db is not None:
            self.db.close()
