"""`--runner dask` (a local Dask cluster) against `--runner process` on the same corpus,
alternating rounds (issue #22 item 5: goal >= 0.9 of the process runner's throughput).

  .venv/bin/python benchmarks/dask_runner.py --articles 20000 --rounds 3 \
      --corpus /tmp/corpus20k --work-dir /dev/shm/newsprep-dask --json dask.json

Each round runs `newsprep run CORPUS OUT --tokenizer-engine fast --workers W --runner R`
for both runners into fresh DESTs (a full run each), against a Prefect server the
benchmark starts; the order alternates between rounds (process first in odd rounds).
Per run: `_run.json`'s seconds (the flow body), the wall time of the command, CPU of the
CLI process and of its descendants (the stage workers, or the Dask cluster's processes:
a local cluster is started by the CLI process). Ratio of a round = process time / dask
time (1.0: as fast; above: dask faster), on the flow body and on the wall time.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--articles", type=int, default=20000)
    p.add_argument("--seed", type=int, default=20260305)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--corpus", help="build (or reuse) the corpus here")
    p.add_argument("--work-dir", help="outputs, logs, the server's home (default: temp)")
    p.add_argument("--extra", default="", help="more `newsprep run` options, one string")
    p.add_argument("--json", dest="json_path")
    args = p.parse_args(argv)
    work = Path(args.work_dir or tempfile.mkdtemp(prefix="newsprep-dask-"))
    work.mkdir(parents=True, exist_ok=True)
    corpus = Path(args.corpus) if args.corpus else work / "corpus"
    meta = bench.corpus_meta(corpus)
    if not meta or meta["articles"] != args.articles or meta["seed"] != args.seed:
        shutil.rmtree(corpus, ignore_errors=True)
        bench.build_corpus(corpus, args.articles, args.seed)
    server = bench.PrefectServer(work / "prefect-home", work / "server.log")
    server.start()
    base = ["--tokenizer-engine", "fast", "--workers", str(args.workers), *args.extra.split()]
    keep = ("wall", "seconds", "root_cpu_seconds", "descendants_cpu_seconds", "counts",
            "other_cpu_seconds", "command")
    rounds = []
    try:
        for n in range(args.rounds):
            order = ("process", "dask") if n % 2 == 0 else ("dask", "process")
            row = {}
            for runner in order:
                out = work / f"out-{runner}-{n}"
                shutil.rmtree(out, ignore_errors=True)
                r = bench.run_newsprep(corpus, out, server, [*base, "--runner", runner],
                                       work / f"{runner}-{n}.log")
                row[runner] = {k: r[k] for k in keep}
                print(f"round {n + 1} {runner:<7}: flow body {r['seconds']:.1f} s, wall "
                      f"{r['wall']:.1f} s, CLI CPU {r['root_cpu_seconds']:.1f} s, others of "
                      f"the run {r['descendants_cpu_seconds']:.1f} s, machine's other CPU "
                      f"{r['other_cpu_seconds']:.1f} s {r['counts']}", flush=True)
                shutil.rmtree(out, ignore_errors=True)
            row["ratio_seconds"] = round(row["process"]["seconds"] / row["dask"]["seconds"], 3)
            row["ratio_wall"] = round(row["process"]["wall"] / row["dask"]["wall"], 3)
            print(f"round {n + 1}: dask throughput / process: {row['ratio_seconds']} (flow "
                  f"body), {row['ratio_wall']} (wall)", flush=True)
            rounds.append(row)
    finally:
        server.stop()
    result = {
        "machine": bench.machine(), "command": " ".join(sys.argv), "rounds": rounds,
        "median_ratio_seconds": statistics.median(r["ratio_seconds"] for r in rounds),
        "median_ratio_wall": statistics.median(r["ratio_wall"] for r in rounds),
    }
    print(f"median ratio: {result['median_ratio_seconds']} (flow body), "
          f"{result['median_ratio_wall']} (wall)")
    if args.json_path:
        Path(args.json_path).write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
