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
import io
import json
import pstats
import shutil
import sys
import tempfile
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench


def corpus(root: Path, articles: int, seed: int, per_folder: int) -> Path:
    meta = bench.corpus_meta(root)
    if not meta or meta["articles"] != articles or meta["seed"] != seed:
        shutil.rmtree(root, ignore_errors=True)
        bench.FILES_PER_FOLDER = per_folder  # a folder is a shard
        bench.build_corpus(root, articles, seed)
    return root


def profile_rerun(
    server: bench.PrefectServer, source: Path, out: Path, extra: list[str], work: Path
) -> str:
    """cProfile of the whole CLI process in one more unchanged rerun of `out`; the
    functions with the most cumulative and own time."""
    stats_path = work / "rerun.prof"
    cmd = [sys.executable, "-m", "cProfile", "-o", str(stats_path),
           str(bench.VENV_BIN / "newsprep"), "run", str(source), str(out), *extra]
    measured = bench.measure(cmd, env=server.client_env(), log=work / "profile.log")
    if measured["exit"] != 0:
        raise SystemExit(f"profiled run failed, see {work / 'profile.log'}")
    text = io.StringIO()
    stats = pstats.Stats(str(stats_path), stream=text)
    stats.sort_stats("cumulative").print_stats(45)
    stats.sort_stats("tottime").print_stats(25)
    return text.getvalue()


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


# py-spy's idle detection misses these waits here: a sample whose top frame is one of them
# is a thread waiting, not working
WAITS = {
    "Condition.wait", "EpollSelector.select", "_PollLikeSelector.select", "SyncStream.read",
    "_worker", "SocketIO.readinto", "Queue.get", "Event.wait", "Connection._recv",
}


def sample_rerun(
    server: bench.PrefectServer, source: Path, out: Path, extra: list[str], work: Path,
    py_spy: str,
) -> str:
    """py-spy samples of one more unchanged rerun of `out` (see sample_run)."""
    cmd = [str(bench.VENV_BIN / "newsprep"), "run", str(source), str(out), *extra]
    return sample_run(cmd, server.client_env(), work, py_spy)


def sample_run(cmd: list[str], env: dict, work: Path, py_spy: str) -> str:
    """py-spy samples of every thread of `cmd`'s process, waiting threads left out (~CPU);
    the functions in most samples, anywhere on the stack. cProfile sees only the main
    thread, and a shard's task run (Prefect's engine, its API calls and logs) runs in a
    thread of the flow process."""
    raw = work / "run.pyspy.txt"
    spy = [py_spy, "record", "--format", "raw", "-r", "250", "-o", str(raw), "--", *cmd]
    measured = bench.measure(spy, env=env, log=work / "pyspy.log")
    if measured["exit"] != 0:
        raise SystemExit(f"sampled run failed, see {work / 'pyspy.log'}")
    anywhere: Counter[str] = Counter()
    total = busy = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = [f.split(" (")[0] + " (" + f.split(" (")[-1].split(":")[0] + ")"
                  for f in stack.split(";") if f]
        total += int(count)
        if not frames or frames[-1].split(" (")[0] in WAITS:
            continue
        busy += int(count)
        for frame in set(frames):
            anywhere[frame] += int(count)
    lines = [f"{busy} of {total} samples working, at 250/s: ~{busy / 250:.1f} s of CPU",
             "functions in most working samples (anywhere on the stack):"]
    lines += [f"  {100 * n / busy:5.1f}%  {f}" for f, n in anywhere.most_common(80)]
    return "\n".join(lines)


def marginal(sizes: list[dict]) -> dict[str, float]:
    """Milliseconds of the CLI process's CPU per article between two sizes, full and rerun."""
    small, large = sizes
    span = large["articles"] - small["articles"]
    return {
        kind: round(
            1000 * (large[kind]["root_cpu_seconds"] - small[kind]["root_cpu_seconds"]) / span, 4
        )
        for kind in ("full", "rerun")
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--small", type=int, default=5000)
    p.add_argument("--large", type=int, default=25000)
    p.add_argument("--seed", type=int, default=20260305)
    p.add_argument("--engine", default="fast", help="--tokenizer-engine of the runs")
    p.add_argument("--task-unit", default="shard", choices=("shard", "batch"),
                   help="--task-unit of the runs")
    p.add_argument("--runner", default="process", help="--runner of the runs")
    p.add_argument("--workers", type=int, default=0, help="--workers of the runs (0: CPUs)")
    p.add_argument("--per-folder", type=int, default=100,
                   help="articles a folder (a shard) of the generated corpora")
    p.add_argument("--profile", action="store_true",
                   help="then cProfile one more unchanged rerun of the large corpus")
    p.add_argument("--py-spy", help="then sample one more unchanged rerun with this py-spy")
    p.add_argument("--corpus-dir", help="build (or reuse) the corpora under this folder")
    p.add_argument("--work-dir", help="outputs, logs, the server's home (default: temp)")
    p.add_argument("--json", dest="json_path")
    args = p.parse_args(argv)
    work = Path(args.work_dir or tempfile.mkdtemp(prefix="newsprep-coord-"))
    work.mkdir(parents=True, exist_ok=True)
    corpora = Path(args.corpus_dir) if args.corpus_dir else work / "corpora"
    server = bench.PrefectServer(work / "prefect-home", work / "server.log")
    server.start()
    extra = ["--tokenizer-engine", args.engine, "--task-unit", args.task_unit,
             "--runner", args.runner]
    if args.workers:
        extra += ["--workers", str(args.workers)]
    try:
        def name(n: int) -> str:
            return f"c{n}" if args.per_folder == 100 else f"c{n}-p{args.per_folder}"

        sizes = [
            one_size(
                server, corpus(corpora / name(n), n, args.seed, args.per_folder), work, n, extra
            )
            for n in (args.small, args.large)
        ]
        if args.profile:
            large_source = corpora / name(args.large)
            profile = profile_rerun(server, large_source, work / f"out-{args.large}", extra, work)
            (work / "rerun-profile.txt").write_text(profile)
            print(profile)
        if args.py_spy:
            large_source = corpora / name(args.large)
            text = sample_rerun(
                server, large_source, work / f"out-{args.large}", extra, work, args.py_spy
            )
            (work / "rerun-samples.txt").write_text(text)
            print(text)
    finally:
        server.stop()
    result = {
        "machine": bench.machine(),
        "command": " ".join(sys.argv),
        "newsprep_options": extra,
        "sizes": sizes,
        "marginal_ms_per_article": marginal(sizes),
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
