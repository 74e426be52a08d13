"""CPU of the process that runs the flow (the `newsprep run` CLI, which runs the flow
in-process), per article: the marginal cost between a small and a large corpus, for a
full run and for an unchanged rerun of the same DEST (issue #22: the coordinator's
ceiling).

  .venv/bin/python benchmarks/coordinator.py --small 5000 --large 25000 \
      --work-dir /dev/shm/newsprep-coord --json coordinator.json

For each size: build (or reuse, `--corpus-dir`) the corpus with bench.py's generator, run
`newsprep run CORPUS OUT --tokenizer-engine fast` against a Prefect server the benchmark
starts, then the same command again (nothing changed). The CLI process's own CPU (user +
sys, sampled every 0.1 s from /proc, not its stage workers) is bench.py's
`root_cpu_seconds`. Marginal per article = (CPU at large - CPU at small) / (large -
small): the fixed cost of a run (imports, flow run, server calls) cancels out.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench


def corpus(root: Path, articles: int, seed: int) -> Path:
    meta = bench.corpus_meta(root)
    if not meta or meta["articles"] != articles or meta["seed"] != seed:
        shutil.rmtree(root, ignore_errors=True)
        bench.build_corpus(root, articles, seed)
    return root


def one_size(
    server: bench.PrefectServer, source: Path, work: Path, articles: int, extra: list[str]
) -> dict:
    out = work / f"out-{articles}"
    shutil.rmtree(out, ignore_errors=True)
    full = bench.run_newsprep(source, out, server, extra, work / f"full-{articles}.log")
    rerun = bench.run_newsprep(source, out, server, extra, work / f"rerun-{articles}.log")
    keys = ("wall", "seconds", "root_cpu_seconds", "descendants_cpu_seconds", "counts")
    return {
        "articles": articles,
        "full": {k: full[k] for k in keys},
        "rerun": {k: rerun[k] for k in keys},
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--small", type=int, default=5000)
    p.add_argument("--large", type=int, default=25000)
    p.add_argument("--seed", type=int, default=20260305)
    p.add_argument("--engine", default="fast", help="--tokenizer-engine of the runs")
    p.add_argument("--corpus-dir", help="build (or reuse) the corpora under this folder")
    p.add_argument("--work-dir", help="outputs, logs, the server's home (default: temp)")
    p.add_argument("--json", dest="json_path")
    args = p.parse_args(argv)
    work = Path(args.work_dir or tempfile.mkdtemp(prefix="newsprep-coord-"))
    work.mkdir(parents=True, exist_ok=True)
    corpora = Path(args.corpus_dir) if args.corpus_dir else work / "corpora"
    server = bench.PrefectServer(work / "prefect-home", work / "server.log")
    server.start()
    extra = ["--tokenizer-engine", args.engine]
    try:
        sizes = [
            one_size(server, corpus(corpora / f"c{n}", n, args.seed), work, n, extra)
            for n in (args.small, args.large)
        ]
    finally:
        server.stop()
    small, large = sizes
    span = args.large - args.small
    result = {
        "machine": bench.machine(),
        "command": " ".join(sys.argv),
        "sizes": sizes,
        "marginal_ms_per_article": {
            kind: round(
                1000 * (large[kind]["root_cpu_seconds"] - small[kind]["root_cpu_seconds"]) / span,
                4,
            )
            for kind in ("full", "rerun")
        },
    }
    for size in sizes:
        for kind in ("full", "rerun"):
            r = size[kind]
            print(
                f"{size['articles']:>7} {kind:<5} wall {r['wall']:.1f} s, flow process CPU "
                f"{r['root_cpu_seconds']:.2f} s, workers {r['descendants_cpu_seconds']:.1f} s"
            )
    for kind, value in result["marginal_ms_per_article"].items():
        print(f"coordinator CPU per article, {kind}: {value:.4f} ms")
    if args.json_path:
        Path(args.json_path).write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
