"""The flow side of planning a sharded run over a synthetic ledger of up to 100 M articles
(issue #22 item 5): does it grow with the articles or with the shards?

  .venv/bin/python benchmarks/ledger_plan.py --work-dir /dev/shm/newsprep-ledger-plan \
      --json ledger-plan.json

No text work and no articles: for each (shards, records a shard) of `--sizes`, SOURCE is
one small JSONL file per shard (a JSONL file is one shard, whatever it holds: planning only
lists SOURCE's folders) and DEST/_ledger/ holds, per shard, the completion marker
`<part>.done.json` (records = the records a shard) and an empty `<part>.jsonl` (the part's
contents are read by the shard's worker, never by the flow). One source file differs
from the rest (the changed shard: the flow cannot tell, its worker does).

Timed in this process, `--repeat` times each (the best and the median; wall and CPU):
`plan_shards` (listing SOURCE's folders), then, in a `ShardedSession` (the DEST lock and
the run's index), `ShardedSession.plan_shards` (the parts' keys from one listing of
_ledger/, every marker read, the unplanned parts sorted, the removal guard), and apart
`part_keys` and the markers' read alone.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench

from newsprep.config import RunConfig, RunOptions
from newsprep.run.ledger.parts import Done, PartPaths, Shard, part_keys
from newsprep.run.planning import plan_shards
from newsprep.run.sharded import ShardedSession

DEFAULT_SIZES = "100x10000,1000x10000,10000x10000,10000x100,100000x1000"


def build(work: Path, shards: int, records: int, fingerprint: str) -> tuple[Path, Path]:
    source, dest = work / "source", work / "dest"
    shutil.rmtree(work, ignore_errors=True)
    source.mkdir(parents=True)
    (dest / "_ledger").mkdir(parents=True)
    line = b'{"id": "a", "text": "x"}\n'
    for n in range(shards):
        name = f"s{n:06d}.jsonl"
        (source / name).write_bytes(line * (2 if n == shards // 2 else 1))  # one changed
        key = Shard("file", name).key
        paths = PartPaths.of(key)
        done = Done(key, listing="0" * 64, fingerprint=fingerprint, records=records,
                    settled=True)
        (dest / paths.done).write_bytes(done.to_bytes())
        (dest / paths.records).write_bytes(b"")
    return source, dest


def timed(fn: Callable[[], object]) -> tuple[float, float, object]:
    wall, cpu = time.perf_counter(), time.process_time()
    value = fn()
    return time.perf_counter() - wall, time.process_time() - cpu, value


def one_plan(source: Path, dest: Path) -> dict:
    config = RunConfig(source=str(source), dest=str(dest),
                       options=RunOptions(task_unit="shard"))
    logger = logging.getLogger("ledger-plan")
    row = {}
    with ShardedSession(config, logger) as session:
        row["plan_shards"] = timed(
            lambda: plan_shards(config.source, config.dest, session.pipeline))[:2]
        plan = plan_shards(config.source, config.dest, session.pipeline)
        wall, cpu, (_, shards) = timed(
            lambda: session.plan_shards(plan, on_progress=lambda percent, line: None))
        row["session_plan_shards"] = (wall, cpu)
        if session.refused:
            raise SystemExit(f"the guard refused: {session.refused}")
        row["planned"] = len(shards)
        row["part_keys"] = timed(lambda: part_keys(session.fs, session.dest_root))[:2]
        existing = part_keys(session.fs, session.dest_root)
        row["read_dones"] = timed(lambda: session._read_dones(existing))[:2]
    return row


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sizes", default=DEFAULT_SIZES, help="SHARDSxRECORDS,... ")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--work-dir", help="SOURCE and DEST (default: temp)")
    p.add_argument("--json", dest="json_path")
    args = p.parse_args(argv)
    work = Path(args.work_dir or tempfile.mkdtemp(prefix="newsprep-ledger-plan-"))
    config = RunConfig(source=".", dest=".", options=RunOptions(task_unit="shard"))
    fingerprint = config.pipeline().fingerprint()
    result = {"machine": bench.machine(), "command": " ".join(sys.argv), "sizes": []}
    phases = ("plan_shards", "session_plan_shards", "part_keys", "read_dones")
    print(f"{'shards':>8} {'records':>8} {'articles':>12}  " + "  ".join(
        f"{name} s (cpu)" for name in phases), flush=True)
    for size in args.sizes.split(","):
        shards, records = (int(x) for x in size.split("x"))
        source, dest = build(work / size, shards, records, fingerprint)
        rows = [one_plan(source, dest) for _ in range(args.repeat)]
        entry = {"shards": shards, "records": records, "articles": shards * records,
                 "planned": rows[0]["planned"]}
        for name in phases:
            walls = [r[name][0] for r in rows]
            cpus = [r[name][1] for r in rows]
            entry[name] = {"best_wall": round(min(walls), 4),
                           "median_wall": round(statistics.median(walls), 4),
                           "best_cpu": round(min(cpus), 4), "walls": walls}
        result["sizes"].append(entry)
        print(f"{shards:>8} {records:>8} {shards * records:>12}  " + "  ".join(
            f"{entry[n]['best_wall']:.3f} ({entry[n]['best_cpu']:.3f})" for n in phases),
            flush=True)
        shutil.rmtree(work / size, ignore_errors=True)
    if args.json_path:
        Path(args.json_path).write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
