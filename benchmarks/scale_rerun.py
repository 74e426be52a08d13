"""An unchanged rerun over a large corpus of tiny articles, and the ledger bytes a rerun
with 1% new articles rewrites (issue #22 item 5).

  .venv/bin/python benchmarks/scale_rerun.py --kind files --folders 100 --per-folder 10000 \
      --work-dir /tmp/newsprep-scale --json scale-files-1m.json

Builds SOURCE (`--kind files`: F folders of N `.txt` files; `--kind jsonl`: F JSONL files of
N records), ~100 bytes an article, deterministic (no RNG). Then, each `newsprep run SOURCE
DEST --tokenizer-engine fast --workers W` against a Prefect server the benchmark starts,
measured like bench.py (wall time, the CLI process's CPU, its workers'):

1. full: the first run (builds DEST and its ledger);
2. rerun: the same command, nothing changed (the goal: <= 20 s for 1,000,000 articles);
3. new-folder: 1% more articles in a new folder (files) or a new JSONL file;
   (`--slice-bytes`: a JSONL file larger is cut into slices, each a shard)
4. spread: 1% more articles spread over every folder (files) or appended to every JSONL
   file; `--spread-rounds K` does it K times, one run each (spread, spread2, ...).

After 3 and 4: the bytes of `DEST/_ledger/` files whose content changed or that are new
(sha256 before and after), against the ledger's total bytes after the run. A shard whose
only change is new articles gets an addition beside its part; after MAX_ADDITIONS its
part is written whole again, so K > MAX_ADDITIONS shows that round's cost too.
`--skip-full` reuses a DEST already built by an earlier call with the same SOURCE.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench

LEDGER = "_ledger"
WORDS = [
    "the", "council", "approved", "the", "new", "budget", "on", "tuesday", "after", "a",
    "long", "debate", "about", "schools", "roads", "and", "the", "harbour", "while",
    "residents", "asked", "for", "more", "buses", "and", "cheaper", "rents",
]


def text(folder: int, index: int) -> str:
    """A short article (~100 bytes), distinct per (folder, index), no randomness."""
    start = (folder * 7 + index) % len(WORDS)
    words = [WORDS[(start + k) % len(WORDS)] for k in range(12)]
    return f"Report {folder}-{index}: " + " ".join(words).capitalize() + ".\n"


def folder_name(folder: int) -> str:
    return f"f{folder:05d}"


def add_files(source: Path, folder: int, first: int, count: int) -> None:
    path = source / folder_name(folder)
    path.mkdir(parents=True, exist_ok=True)
    for index in range(first, first + count):
        (path / f"a{index:07d}.txt").write_text(text(folder, index))


def add_jsonl(source: Path, folder: int, first: int, count: int) -> None:
    source.mkdir(parents=True, exist_ok=True)
    with open(source / f"{folder_name(folder)}.jsonl", "a") as handle:
        for index in range(first, first + count):
            record = {"id": f"a{index:07d}", "text": text(folder, index)}
            handle.write(json.dumps(record) + "\n")


def ledger_digests(dest: Path) -> dict[str, tuple[str, int]]:
    found = {}
    for path in sorted((dest / LEDGER).iterdir()):
        if path.is_file():
            data = path.read_bytes()
            found[path.name] = (hashlib.sha256(data).hexdigest(), len(data))
    return found


def rewritten(before: dict, after: dict) -> dict:
    changed = {name: size for name, (digest, size) in after.items()
               if before.get(name, (None, 0))[0] != digest}
    total = sum(size for _, size in after.values())
    return {
        "ledger_files": len(after),
        "ledger_bytes": total,
        "changed_files": len(changed),
        "changed_bytes": sum(changed.values()),
        "new_files": sum(1 for name in changed if name not in before),
        "share": round(sum(changed.values()) / total, 4) if total else 0.0,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--kind", choices=("files", "jsonl"), default="files")
    p.add_argument("--folders", type=int, default=100)
    p.add_argument("--per-folder", type=int, default=10000)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--slice-bytes", type=int,
                   help="--slice-bytes of the runs: a JSONL file larger is cut into slices")
    p.add_argument("--new-percent", type=float, default=1.0)
    p.add_argument("--work-dir", help="SOURCE, DEST, logs, the server's home (default: temp)")
    p.add_argument("--skip-full", action="store_true", help="DEST exists: start at the rerun")
    p.add_argument("--no-new", action="store_true", help="only the full run and the rerun")
    p.add_argument("--reruns", type=int, default=1, help="unchanged reruns to time")
    p.add_argument("--spread-rounds", type=int, default=1,
                   help="rounds of 1%% new spread over every folder, a run each")
    p.add_argument("--json", dest="json_path")
    args = p.parse_args(argv)
    work = Path(args.work_dir or tempfile.mkdtemp(prefix="newsprep-scale-"))
    work.mkdir(parents=True, exist_ok=True)
    source, dest = work / f"source-{args.kind}", work / f"dest-{args.kind}"
    add = add_files if args.kind == "files" else add_jsonl
    articles = args.folders * args.per_folder
    result: dict = {
        "machine": bench.machine(), "command": " ".join(sys.argv), "articles": articles,
        "runs": {},
    }
    if not args.skip_full:
        shutil.rmtree(source, ignore_errors=True)
        shutil.rmtree(dest, ignore_errors=True)
        for folder in range(args.folders):
            add(source, folder, 0, args.per_folder)
        print(f"built {articles} articles in {source}", flush=True)
    server = bench.PrefectServer(work / "prefect-home", work / "server.log")
    server.start()
    extra = ["--tokenizer-engine", "fast", "--workers", str(args.workers)]
    if args.slice_bytes:
        extra += ["--slice-bytes", str(args.slice_bytes)]

    def run(name: str) -> dict:
        r = bench.run_newsprep(source, dest, server, extra, work / f"{name}.log")
        keep = ("wall", "seconds", "root_cpu_seconds", "descendants_cpu_seconds", "counts",
                "articles", "command", "other_cpu_seconds")
        result["runs"][name] = row = {k: r[k] for k in keep}
        print(f"{name}: wall {r['wall']:.1f} s, flow body {r['seconds']:.1f} s, CLI CPU "
              f"{r['root_cpu_seconds']:.1f} s, workers {r['descendants_cpu_seconds']:.1f} s, "
              f"{r['articles']} articles {r['counts']}; the machine's other CPU "
              f"{r['other_cpu_seconds']:.1f} s", flush=True)
        return row

    try:
        if not args.skip_full:
            run("full")
        for n in range(args.reruns):
            run("rerun" if n == 0 else f"rerun{n + 1}")
        if not args.no_new:
            new = max(1, int(articles * args.new_percent / 100))
            before = ledger_digests(dest)
            add(source, args.folders, 0, new)  # a new folder / JSONL file
            run("new-folder")
            after = ledger_digests(dest)
            result["runs"]["new-folder"]["ledger"] = rewritten(before, after)
            print("new-folder ledger:", result["runs"]["new-folder"]["ledger"], flush=True)
            per = max(1, new // args.folders)
            for round_ in range(args.spread_rounds):
                name = "spread" if round_ == 0 else f"spread{round_ + 1}"
                for folder in range(args.folders):
                    add(source, folder, args.per_folder + round_ * per, per)
                run(name)
                now = ledger_digests(dest)
                result["runs"][name]["ledger"] = rewritten(after, now)
                after = now
                print(f"{name} ledger:", result["runs"][name]["ledger"], flush=True)
            shares = [row["ledger"]["share"] for name, row in result["runs"].items()
                      if name.startswith("spread")]
            result["spread_rounds"] = {"rounds": len(shares), "max_share": max(shares),
                                       "mean_share": round(sum(shares) / len(shares), 4)}
            print("spread rounds:", result["spread_rounds"], flush=True)
    finally:
        server.stop()
        if args.json_path:
            Path(args.json_path).write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
