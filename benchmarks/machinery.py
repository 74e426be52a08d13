"""The run machinery alone, per article, in one process without Prefect (issue #21).

  .venv/bin/python benchmarks/machinery.py --corpus /dev/shm/nc4k --rounds 5

The text work (`normalize_text`) is computed once per article before anything is timed,
then replaced by a lookup of its results, so what is left is what a worker does around
it: newsprep's shards (`run_group`, as tests/shard_run.py runs them: listing, id and path
claims, the link-safe read, time limits, the record, the checkpoint note, the atomic write,
the part and its journal) against bench.py's plain loop (`_one_article`: `open().read()`,
the text, `write_atomic`). CPU microseconds an article, the two alternating, each round
into a fresh folder. `--profile-one` adds a cProfile of one more newsprep pass (own time).
The corpus is any folder of `.txt` files, e.g. one built by `bench.py --real-news`.

CPU time swings with this VM; instructions much less. `--only shards|plain --passes N` runs
one side N times and prints nothing, for an instruction count (user space) under valgrind:

  benchmarks/machinery_instructions.sh /dev/shm/nc4k shards

`--lookup FILE` keeps the text work's results in a file (made on the first call), so that
a run under valgrind does not do the text work.
"""

from __future__ import annotations

import argparse
import cProfile
import logging
import os
import pickle
import pstats
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench

import newsprep.tasks.stages.normalize as stages
from newsprep.config import RunConfig, RunOptions
from newsprep.run.engine.shard import run_group
from newsprep.run.planning import plan_shards
from newsprep.run.sharded import ShardedSession


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", required=True)
    parser.add_argument("--work-dir", default="/dev/shm/newsprep-machinery")
    parser.add_argument("--profile", default="moses")
    parser.add_argument("--engine", default="fast")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--profile-one", action="store_true")
    parser.add_argument("--only", choices=("plain", "shards"))
    parser.add_argument("--passes", type=int, default=1)
    parser.add_argument("--lookup", type=Path, help="the text work's results, kept here")
    args = parser.parse_args()
    corpus, work = Path(args.corpus), Path(args.work_dir)
    if args.lookup is not None and args.lookup.exists():
        results = pickle.loads(args.lookup.read_bytes())
    else:
        pipeline = RunConfig(profile=args.profile, tokenizer_engine=args.engine).pipeline()
        results = {}
        for root, _, names in os.walk(corpus):
            for name in names:
                raw = Path(root, name).read_bytes()
                results[raw] = stages.normalize_text(raw, pipeline)
        if args.lookup is not None:
            args.lookup.write_bytes(pickle.dumps(results))
    stages.normalize_text = lambda raw, *_, **__: results[raw]  # the text work: a lookup
    rels = bench.list_corpus(corpus)
    bench._init_pool_worker(str(corpus), str(work / "plain"), "normalize_text", args.engine,
                            args.profile)

    def plain() -> float:
        shutil.rmtree(work / "plain", ignore_errors=True)
        started = time.process_time()
        for rel in rels:
            bench._one_article(rel)
        return time.process_time() - started

    def shards(profiler: cProfile.Profile | None = None) -> float:
        dest = work / "newsprep"
        shutil.rmtree(dest, ignore_errors=True)
        config = RunConfig(
            source=str(corpus), dest=str(dest), profile=args.profile,
            tokenizer_engine=args.engine, options=RunOptions(task_unit="shard"),
        )
        with ShardedSession(config, logging.getLogger("machinery")) as session:
            plan = plan_shards(config.source, config.dest, session.pipeline)
            sjob, groups = session.plan_shards(plan, on_progress=lambda percent, line: None)
            started = time.process_time()
            if profiler:
                profiler.enable()
            for group in groups:
                for outcome in run_group(group, sjob):
                    session.record_shard(outcome)
            if profiler:
                profiler.disable()
            seconds = time.process_time() - started
            session.finish_shards()
        return seconds

    if args.only:
        for _ in range(args.passes):
            (plain if args.only == "plain" else shards)()
        shutil.rmtree(work, ignore_errors=True)
        return
    times: dict[str, list[float]] = {"plain loop": [], "newsprep shards": []}
    for _ in range(args.rounds):
        times["plain loop"].append(plain() / len(rels) * 1e6)
        times["newsprep shards"].append(shards() / len(rels) * 1e6)
    print(f"{len(rels)} articles of {corpus}, CPU us an article, text work a lookup:")
    for name, values in times.items():
        print(f"  {name:16s} {' '.join(f'{v:6.1f}' for v in values)}")
    if args.profile_one:
        profiler = cProfile.Profile()
        shards(profiler)
        pstats.Stats(profiler).sort_stats("tottime").print_stats(30)
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
