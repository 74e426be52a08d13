"""Planning a run over a tree of many folders on an object store stand-in: `flaky://`
(newsprep/faults.py) over local files, `--latency` seconds a request, as a round trip to S3.

  .venv/bin/python benchmarks/plan_latency.py --folders 365 --latency 0.025 --json plan.json

SOURCE is a folder a day (`YYYY/MM-DD/`, `--per-folder` tiny files each). Times
`plan_shards` (the flow's listing of SOURCE's folders, no article read) with the folders of
a level listed `--concurrency` at once (newsprep's LIST_CONCURRENCY) and one at a time,
`--repeat` times each, alternating; the plans must be equal.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import fsspec

import newsprep.run.planning as planning
from newsprep.config import PipelineConfig


def build(root: Path, folders: int, per_folder: int) -> None:
    for day in range(folders):
        folder = root / f"{2000 + day // 365}" / f"{day % 365:03d}"
        folder.mkdir(parents=True, exist_ok=True)
        for number in range(per_folder):
            (folder / f"{number}.txt").write_text(f"Report {day}-{number}: the council met.\n")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--folders", type=int, default=365)
    p.add_argument("--per-folder", type=int, default=3)
    p.add_argument("--latency", type=float, default=0.025)
    p.add_argument("--concurrency", type=int, default=planning.LIST_CONCURRENCY)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--json", dest="json_path")
    args = p.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="newsprep-plan-latency-"))
    source = work / "src"
    build(source, args.folders, args.per_folder)
    fsspec.config.conf["flaky"] = {"latency": args.latency}
    times: dict[str, list[float]] = {"at once": [], "one at a time": []}
    plans = []
    for _ in range(args.repeat):
        for name, concurrency in (("at once", args.concurrency), ("one at a time", 1)):
            planning.LIST_CONCURRENCY = concurrency
            started = time.perf_counter()
            plan = planning.plan_shards(f"flaky://{source}", str(work / "out"), PipelineConfig())
            times[name].append(round(time.perf_counter() - started, 3))
            plans.append([(s.key, plan.counts[s.key]) for s in plan.shards])
    assert all(plan == plans[0] for plan in plans), "the plans differ"
    result = {
        "command": " ".join(sys.argv), "folders": args.folders, "shards": len(plans[0]),
        "latency": args.latency, "concurrency": args.concurrency, "seconds": times,
        "best": {name: min(values) for name, values in times.items()},
    }
    print(json.dumps(result, indent=2))
    if args.json_path:
        Path(args.json_path).write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
