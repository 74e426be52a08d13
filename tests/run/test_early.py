"""A run the command begins while it imports Prefect (newsprep/run/early.py): taken by a
flow with the same config, its begun groups run once, and the run ends as one that began
in its flow; given up or failed, it leaves DEST as a killed run would and holds nothing."""

from __future__ import annotations

import logging
from pathlib import Path

from shard_run import run_sharded
from test_shards import corpus, make_source, records

from newsprep.config import RunConfig, RunOptions
from newsprep.run import early as early_start
from newsprep.run.lock import _held


class ListLogger(logging.Logger):
    def __init__(self) -> None:
        super().__init__("test-early")
        self.lines: list[str] = []

    def log(self, level: int, message: object, *args: object, **kwargs: object) -> None:
        self.lines.append(str(message) % args)

    def info(self, message: object, *args: object, **kwargs: object) -> None:
        self.log(logging.INFO, message, *args)


def config_for(src: Path, dest: Path, workers: int = 2, **options: object) -> RunConfig:
    return RunConfig(
        source=str(src), dest=str(dest),
        options=RunOptions(task_unit="shard", runner="process", workers=workers, **options),
    )


def finish_as_the_flow_would(taken: early_start.EarlyStart):
    """The flow's part, on the early start it took: every group through the pool (the
    begun ones waited for), the outcomes added up, the run finished."""
    assert taken.pool is not None
    sjob, groups = taken.planned(on_progress=lambda percent, line: None)
    with taken.opened() as session:
        for group in groups:
            for outcome in taken.pool.run_group(group, sjob):
                session.record_shard(outcome)
        summary = session.finish_shards()
    taken.pool.close()
    return summary


def test_a_run_begun_early_and_taken_ends_as_a_run_begun_in_its_flow(tmp_path: Path) -> None:
    src = make_source(tmp_path, folders="abcdef", per_folder=4)
    config = config_for(src, tmp_path / "early")
    early_start.begin_early_start(config)
    logger = ListLogger()
    taken = early_start.take_early_start(config, logger)
    assert taken is not None and taken.error is None
    assert len(taken.pool._early) == 2  # one group begun per worker, not yet collected
    summary = finish_as_the_flow_would(taken)
    assert taken.pool._early == {}  # each begun group was waited for, none run again
    assert summary.counts["ok"] == summary.discovered == 26
    # what the session logged before the flow took it, said to the flow's logger, in order
    assert logger.lines[0].startswith("7 shards (25 files), 2 process workers")
    assert logger.lines[1] == (
        f"planned, and 2 of {len(taken.groups)} task runs' shards begun, while the command "
        "started"
    )
    assert run_sharded(src, tmp_path / "plain").counts["ok"] == 26
    assert corpus(tmp_path / "early") == corpus(tmp_path / "plain")
    assert records(tmp_path / "early") == records(tmp_path / "plain")
    assert _held == {}  # the DEST lock given back


def test_a_flow_with_another_config_does_not_take_it_and_it_is_given_up(tmp_path: Path) -> None:
    src = make_source(tmp_path, folders="ab", per_folder=2)
    config = config_for(src, tmp_path / "out")
    early_start.begin_early_start(config)
    other = config.model_copy(update={"profile": "moses"})
    assert early_start.take_early_start(other, ListLogger()) is None
    assert _held == {}
    # what its begun groups wrote is taken up by the next run, as a killed run's would be
    summary = run_sharded(src, tmp_path / "out")
    assert summary.counts["ok"] + summary.counts["skipped"] == summary.discovered == 6
    assert summary.counts["failed"] == summary.counts["rejected"] == 0
    run_sharded(src, tmp_path / "plain")
    assert corpus(tmp_path / "out") == corpus(tmp_path / "plain")


def test_a_failed_early_start_leaves_the_run_to_its_flow(tmp_path: Path) -> None:
    config = config_for(tmp_path / "missing", tmp_path / "out")
    early_start.begin_early_start(config)
    assert early_start.take_early_start(config, ListLogger()) is None  # ConfigError kept
    assert _held == {}


def test_the_command_gives_up_a_run_no_flow_took(tmp_path: Path) -> None:
    src = make_source(tmp_path, folders="ab", per_folder=2)
    config = config_for(src, tmp_path / "out")
    early_start.begin_early_start(config)
    early_start.give_up_early_start()
    assert _held == {}
    assert early_start.take_early_start(config, ListLogger()) is None  # nothing waits
    summary = run_sharded(src, tmp_path / "out")
    assert summary.counts["ok"] + summary.counts["skipped"] == summary.discovered == 6


def test_only_a_run_by_shards_on_the_stage_pool_begins_early(tmp_path: Path) -> None:
    src, dest = tmp_path / "src", tmp_path / "out"
    assert early_start.can_begin_early(config_for(src, dest))
    assert not early_start.can_begin_early(config_for(src, dest, batch_size=1))
    for runner in ("thread", "dask"):
        config = RunConfig(source=str(src), dest=str(dest), options=RunOptions(runner=runner))
        assert not early_start.can_begin_early(config)
    batches = RunConfig(source=str(src), dest=str(dest), options=RunOptions(task_unit="batch"))
    assert not early_start.can_begin_early(batches)


def test_giving_it_up_at_the_commands_end_does_not_wait_for_its_begun_groups(
    tmp_path: Path,
) -> None:
    """A begun group can be minutes of work (a 64 MiB slice); a command whose flow could
    not start (no server, Ctrl-C) ends without waiting for it: its worker is killed in it,
    as kill -9 would, and the next run finishes the corpus. Nothing writes in DEST after
    (a run that takes DEST next must not meet a given-up group's writes)."""
    import time

    src = make_source(tmp_path, folders="a", per_folder=5000)
    (src / "feed.jsonl").unlink()
    dest = tmp_path / "out"

    def written() -> int:
        return len(list((dest / "a").glob("*.txt"))) if (dest / "a").exists() else 0

    early_start.begin_early_start(config_for(src, dest, workers=1))
    deadline = time.monotonic() + 60
    while not written():
        assert time.monotonic() < deadline, "the begun group did not start"
        time.sleep(0.01)
    early_start.give_up_early_start()
    left = written()
    assert left < 5000  # it returned while the group ran
    time.sleep(0.5)
    assert written() == left  # and the group's worker is gone
    assert _held == {}
    summary = run_sharded(src, dest)
    assert summary.counts["ok"] + summary.counts["skipped"] == summary.discovered == 5000


def test_the_runs_clock_leaves_out_the_wait_for_its_flow(tmp_path: Path) -> None:
    """Processing time and rate count the work, as when the run began in its flow: once
    the begun groups are over, the time the workers wait for the flow (a temporary
    Prefect server starting) is left out."""
    import time

    src = make_source(tmp_path, folders="ab", per_folder=2)
    began = time.monotonic()
    early_start.begin_early_start(config_for(src, tmp_path / "out"))
    waiting = early_start._waiting
    assert waiting is not None
    while waiting.idle_seconds() == 0:  # its begun groups are not over yet
        assert time.monotonic() < began + 60, "the begun groups did not end"
        time.sleep(0.01)
    time.sleep(1.5)  # the flow comes late
    taken = early_start.take_early_start(waiting.config, ListLogger())
    assert taken is waiting
    summary = finish_as_the_flow_would(taken)
    assert summary.seconds < time.monotonic() - began - 1.4
