"""The worker's side of an unchanged rerun, in one process without Prefect: what an
unchanged shard costs per article, and where it goes (issue #22 item 5).

  .venv/bin/python benchmarks/shard_rerun.py --folders 4 --per-folder 10000 \
      --work-dir /dev/shm/newsprep-shard-rerun

Builds scale_rerun.py's corpus of tiny files (`--kind files` or `jsonl`), runs it once by
shards in this process (the flow's part and each shard's `run_shard`, one after another,
as tests/shard_run.py does: no Prefect, no worker processes), then times `--repeat`
unchanged reruns the same way, CPU and wall per article, and cProfiles one more: the
functions with the most cumulative time.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import logging
import pstats
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from scale_rerun import add_files, add_jsonl

from newsprep.config import RunConfig, RunOptions
from newsprep.run.engine.shard import run_group
from newsprep.run.planning import plan_shards
from newsprep.run.sharded import ShardedSession


def sharded_run(source: Path, dest: Path) -> dict:
    config = RunConfig(source=str(source), dest=str(dest), overrides={
        "tokenize": {"engine": "fast"}}, options=RunOptions(task_unit="shard"))
    with ShardedSession(config, logging.getLogger("shard-rerun")) as session:
        plan = plan_shards(config.source, config.dest, session.pipeline)
        sjob, groups = session.plan_shards(plan, on_progress=lambda percent, line: None)
        unchanged = 0
        for group in groups:
            for outcome in run_group(group, sjob):
                session.record_shard(outcome)
                unchanged += outcome.unchanged
        summary = session.finish_shards()
    return {"shards": summary.shards, "unchanged": unchanged, "counts": summary.counts}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--kind", choices=("files", "jsonl"), default="files")
    p.add_argument("--folders", type=int, default=4)
    p.add_argument("--per-folder", type=int, default=10000)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--work-dir", help="SOURCE and DEST (default: temp)")
    args = p.parse_args(argv)
    work = Path(args.work_dir or tempfile.mkdtemp(prefix="newsprep-shard-rerun-"))
    source, dest = work / "source", work / "dest"
    shutil.rmtree(work, ignore_errors=True)
    add = add_files if args.kind == "files" else add_jsonl
    for folder in range(args.folders):
        add(source, folder, 0, args.per_folder)
    articles = args.folders * args.per_folder
    print("full:", sharded_run(source, dest), flush=True)
    for n in range(args.repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        result = sharded_run(source, dest)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        print(f"rerun {n + 1}: {wall:.2f} s wall, {cpu:.2f} s CPU, "
              f"{1e6 * cpu / articles:.1f} µs CPU an article; {result}", flush=True)
    profiler = cProfile.Profile()
    profiler.runcall(sharded_run, source, dest)
    text = io.StringIO()
    pstats.Stats(profiler, stream=text).sort_stats("cumulative").print_stats(40)
    print(text.getvalue())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
