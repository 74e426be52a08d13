"""What a large manifest costs on an object store at the start and the end of a run.

Builds a previous `_manifest.jsonl` of N records (realistic fields, ~500 bytes a line) in
DEST on `flaky://` with `latency=SECONDS` over local files (tmpfs by default), then runs
the run layer's own code on it, phase by phase, in one process, as an incremental run
with nothing new does:

  start    ManifestWriter.load_previous: the manifest read into the run's index
  skip     Resume.plan over the N articles (all unchanged): the index lookups, and the
           skipped records journaled SKIPPED_PER_JOURNAL at a time (as RunSession does)
  finish   ManifestWriter.compact: the manifest written again from the index

Per phase: wall seconds, CPU seconds, requests (flaky's request log; an open is one
request there, on S3 a read is one GET per block and a write one PUT per part, both
counted from s3fs's block size and printed beside it), and the process's peak RSS
after it (VmHWM).

  .venv/bin/python benchmarks/manifest_scale.py --records 1000000 --json manifest-1m.json
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import resource
import shutil
import sys
import time
from collections import Counter
from pathlib import Path

import fsspec

from newsprep.run.ledger.index import RunIndex
from newsprep.run.ledger.manifest import MANIFEST, SKIPPED_PER_JOURNAL, ManifestWriter
from newsprep.run.ledger.records import ArticleRecord
from newsprep.run.ledger.resume import Resume
from newsprep.tasks.io.refs import ArticleRef

S3_BLOCK = 50 * 2**20  # s3fs's default block size: a GET per block read, a PUT per part
FINGERPRINT = "3f1c0b7e9a2d4c55"


def record(n: int) -> ArticleRecord:
    rel = f"f{n // 100:05d}/a{n:07d}.txt"
    return ArticleRecord(
        id=rel, source=f"s3://raw-news/corpus/{rel}", status="ok", attempts=1, output=rel,
        sha256=hashlib.sha256(rel.encode()).hexdigest(), tokens=400 + n % 300,
        fixes=["decode:utf-8", "fix_c1_controls"] if n % 7 == 0 else ["decode:utf-8"],
        signature=f"{2000 + n % 900}-{hashlib.md5(rel.encode()).hexdigest()}",
        fingerprint=FINGERPRINT,
    )


def peak_rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def requests(log: Path) -> Counter:
    if not log.exists():
        return Counter()
    counted = Counter(line.split(" ", 1)[0] for line in log.read_text().splitlines())
    log.unlink()
    return counted


def phase(name: str, log: Path, results: list, call) -> None:
    cpu, wall = time.process_time(), time.perf_counter()
    call()
    row = {
        "phase": name, "seconds": round(time.perf_counter() - wall, 2),
        "cpu_seconds": round(time.process_time() - cpu, 2),
        "requests": dict(requests(log)), "peak_rss_mb": round(peak_rss_mb(), 1),
    }
    results.append(row)
    print(json.dumps(row), flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--latency", type=float, default=0.025)
    parser.add_argument("--skipped-per-journal", type=int, default=SKIPPED_PER_JOURNAL)
    parser.add_argument("--work-dir", type=Path, default=Path("/dev/shm/newsprep-manifest"))
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)

    shutil.rmtree(args.work_dir, ignore_errors=True)
    dest = args.work_dir / "dest"
    dest.mkdir(parents=True)
    log = args.work_dir / "requests.log"
    started = time.perf_counter()
    with open(dest / MANIFEST, "w", encoding="utf-8") as handle:
        for n in range(args.records):
            handle.write(record(n).to_line())
    size = (dest / MANIFEST).stat().st_size
    print(f"{args.records} records, {size / 2**20:.0f} MiB manifest, built in "
          f"{time.perf_counter() - started:.0f} s; peak RSS {peak_rss_mb():.0f} MB", flush=True)

    fs = fsspec.filesystem("flaky", latency=args.latency, request_log=str(log))
    root = str(dest)
    results: list[dict] = []
    with RunIndex(str(args.work_dir)) as index:
        writer = ManifestWriter(fs, root, index)
        phase("start: read the previous manifest", log, results, writer.load_previous)
        index.add_outputs(record(n).output for n in range(args.records))
        skipped: list[ArticleRecord] = []

        def journal(item: ArticleRecord) -> None:
            skipped.append(item)
            if len(skipped) >= args.skipped_per_journal:
                writer.append(skipped)
                skipped.clear()

        def skip_all() -> None:
            resume = Resume(index, FINGERPRINT, True, on_skip=journal)
            refs = (
                ArticleRef(id=r.id, source=r.source, signature=r.signature)
                for r in map(record, range(args.records))
            )
            for _ in resume.plan(refs):
                raise AssertionError("every article is unchanged")
            writer.append(skipped)

        phase("skip: plan, every article unchanged", log, results, skip_all)
        phase("finish: compact and upload the manifest", log, results, writer.compact)
    s3 = math.ceil(size / S3_BLOCK)
    print(f"on S3 with s3fs's {S3_BLOCK // 2**20} MiB blocks: the read {s3} GETs, the upload "
          f"{s3} part PUTs (+2 for the multipart upload)")
    if args.json:
        args.json.write_text(json.dumps({
            "records": args.records, "manifest_bytes": size, "latency": args.latency,
            "skipped_per_journal": args.skipped_per_journal, "s3_block": S3_BLOCK,
            "phases": results,
            "cpu": os.cpu_count(),
        }, indent=1))
    shutil.rmtree(args.work_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
