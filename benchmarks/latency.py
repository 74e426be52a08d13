"""`newsprep run` on local disk against the same run through 25 ms a request, and the
incremental run on that object-store stand-in.

The stand-in is `flaky://` (newsprep/faults.py) over the same local files with
`latency=SECONDS`: every request (read, write, listing, info, delete) sleeps that long in
the thread that makes it, as a round trip to S3 does, and costs no CPU; newsprep takes its
object-store code paths there (one PUT per object, journal objects, flat DEST listing).
Each request is also logged (`request_log`), so the run's requests are counted.

  .venv/bin/python benchmarks/latency.py --articles 3000 --repeat 3 --json latency.json

Per repeat, alternately: local (CORPUS -> OUT) then latency (flaky://CORPUS ->
flaky://OUT); outputs compared file by file (sha256). Then the incremental run: the last
latency DEST again, after `--new-percent` more articles were added to the corpus (the
next ones of the same seed; the others stay as they are).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench


def flaky(path: Path) -> str:
    return f"flaky://{path}"


def run(
    server: bench.PrefectServer, src: str, dest: Path, dest_url: str, work: Path, name: str,
    extra: list[str],
) -> dict:
    log = work / f"{name}.log"
    cmd = [str(bench.VENV_BIN / "newsprep"), "run", src, dest_url, "--workers", "2", *extra]
    measured = bench.measure(cmd, env=server.client_env(), server_pid=server.proc.pid, log=log)
    summary_path = dest / "_run.json"
    if measured["exit"] != 0 or not summary_path.exists():
        raise SystemExit(f"{name} failed, see {log}:\n" + log.read_text()[-3000:])
    summary = json.loads(summary_path.read_text())
    return {
        "name": name, "seconds": summary["seconds"], "wall": measured["wall"],
        "cpu": round(measured["cpu_seconds"], 2), "peak_rss_mb": measured.get("peak_rss_mb"),
        "articles": summary["discovered"], "counts": summary["counts"],
        "changes": summary["changes"], "command": " ".join(cmd[1:]),
    }


def requests(log: Path) -> dict[str, int]:
    if not log.exists():
        return {}
    return dict(Counter(line.split(" ", 1)[0] for line in log.read_text().splitlines()))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--articles", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--latency", type=float, default=0.025)
    parser.add_argument("--new-percent", type=float, default=1.0)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--fail-fraction", type=float, default=0.0,
        help="also: one latency run where this share of article reads and writes fail once",
    )
    parser.add_argument("--work-dir", type=Path, default=Path("/tmp/newsprep-latency"))
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)

    work = args.work_dir
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    corpus, grown = work / "corpus", work / "corpus-grown"
    new = max(1, round(args.articles * args.new_percent / 100))
    bench.build_corpus(corpus, args.articles, args.seed)
    bench.build_corpus(grown, args.articles + new, args.seed)
    server = bench.PrefectServer(work / "prefect-home", work / "prefect-server.log")
    server.start()
    options = ["--storage-option", f"latency={args.latency}"]
    rows: list[dict] = []
    try:
        run(server, str(corpus), work / "warm", str(work / "warm"), work, "warm-up", [])
        for index in range(args.repeat):
            local_out, remote_out = work / f"local-{index}", work / f"latency-{index}"
            local = run(server, str(corpus), local_out, str(local_out), work, "local", [])
            log = work / f"requests-{index}.log"
            remote = run(
                server, flaky(corpus), remote_out, flaky(remote_out), work, "latency",
                [*options, "--storage-option", f"request_log={log}"],
            )
            remote["requests"] = requests(log)
            same = bench.digest_tree(local_out) == bench.digest_tree(remote_out)
            remote["same_outputs"] = same
            remote["x_local"] = round(local["seconds"] / remote["seconds"], 3)
            rows += [local, remote]
            print(f"repeat {index}: local {local['seconds']:.2f} s, latency "
                  f"{remote['seconds']:.2f} s, throughput {remote['x_local']:.2f} of local, "
                  f"same outputs: {same}, requests {remote['requests']}", flush=True)
            shutil.rmtree(local_out)
            if index < args.repeat - 1:
                shutil.rmtree(remote_out)
        if args.fail_fraction:
            faulty_out = work / "latency-faults"
            faulty = run(
                server, flaky(corpus), faulty_out, flaky(faulty_out), work, "latency-faults",
                [*options, "--storage-option", f"fail_fraction={args.fail_fraction}",
                 "--storage-option", "fail_paths=*.txt"],  # the articles, not _run.json
            )
            retried = sum(
                json.loads(line)["attempts"] > 1
                for line in (faulty_out / "_manifest.jsonl").read_text().splitlines()
            )
            faulty["retried_articles"] = retried
            faulty["same_outputs"] = bench.digest_tree(faulty_out) == bench.digest_tree(
                remote_out
            )
            rows.append(faulty)
            print(f"latency with {args.fail_fraction:.0%} of requests failing once: "
                  f"{faulty['seconds']:.2f} s, {retried} articles retried, same outputs: "
                  f"{faulty['same_outputs']}", flush=True)
            shutil.rmtree(faulty_out)
        # incremental: the last latency DEST, the corpus with `new` more articles (the
        # others untouched: same bytes, same mtimes)
        known = set(bench.list_corpus(corpus))
        for rel in bench.list_corpus(grown):
            if rel not in known:
                (corpus / rel).parent.mkdir(exist_ok=True)
                shutil.copyfile(grown / rel, corpus / rel)
        log = work / "requests-incremental.log"
        incremental = run(
            server, flaky(corpus), remote_out, flaky(remote_out), work, "incremental",
            [*options, "--storage-option", f"request_log={log}"],
        )
        counted = requests(log)
        incremental["requests"] = counted
        incremental["new_articles"] = new
        full = statistics.median(r["seconds"] for r in rows if r["name"] == "latency")
        incremental["x_full"] = round(incremental["seconds"] / full, 3)
        rows.append(incremental)
        print(f"incremental ({new} new of {args.articles + new}): {incremental['seconds']:.2f} s "
              f"= {incremental['x_full']:.3f} of the full run's median {full:.2f} s; requests "
              f"{sum(counted.values())} {counted}; changes {incremental['changes']}", flush=True)
    finally:
        server.stop()
    ratios = [r["x_local"] for r in rows if r["name"] == "latency"]
    print(f"latency/local throughput: {ratios}, median {statistics.median(ratios):.3f}")
    if args.json:
        args.json.write_text(json.dumps(
            {"args": {k: str(v) for k, v in vars(args).items()}, "machine": bench.machine(),
             "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
