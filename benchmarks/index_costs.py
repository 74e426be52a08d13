"""What the run's index costs per article in one shard: RunIndex (SQLite) and MemoryIndex.

N synthetic articles (folders of 1,000 `.txt` files), the index's calls as a shard's
worker makes them, phase by phase, on a fresh index of each class:

  list      add_files (the listing) and files() read back in order
  claims    claim(id) and claim_paths(the footprint's names), as listing._claimed does
  load      add_previous_lines: the previous manifest's lines
  lookups   previous(id) per article (a record parsed from its line: most of
            MemoryIndex's time); part of plan, shown alone, not in the total
  plan      Resume.plan over the articles, all unchanged (previous, has_output, the
            skipped record)
  records   add_record_lines a batch at a time, record_lines() (the manifest written),
            gone_count() and stale_paths()

Per phase: microseconds of CPU per article, the best of --repeat runs.

  .venv/bin/python benchmarks/index_costs.py --articles 20000 --repeat 5
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable

from newsprep.run.ledger.index import RunIndex
from newsprep.run.ledger.memory_index import MemoryIndex
from newsprep.run.ledger.records import ArticleRecord
from newsprep.run.ledger.resume import Resume
from newsprep.tasks.io.footprint import Footprint
from newsprep.tasks.io.refs import ArticleRef

FINGERPRINT = "3f1c0b7e9a2d4c55"
BATCH = 100  # records added to the index a batch at a time, as ManifestWriter.append does
PHASES = ("list", "claims", "load", "lookups", "plan", "records")


def article_id(n: int) -> str:
    return f"f{n // 1000:04d}/article-{n:07d}.txt"


def record(n: int) -> ArticleRecord:
    rel = article_id(n)
    return ArticleRecord(
        id=rel, source=f"s3://raw-news/{rel}", status="ok", output=rel,
        sha256=f"{n:064x}", tokens=400 + n % 97, fixes=["ftfy"] if n % 7 == 0 else [],
        signature=f"{n % 10**9}:2400", fingerprint=FINGERPRINT,
    )


def phases(index: RunIndex | MemoryIndex, count: int) -> dict[str, float]:
    """CPU seconds of each phase on this index."""
    ids = [article_id(n) for n in range(count)]
    sources = [f"s3://raw-news/{i}" for i in ids]
    lines = [(r.id, r.to_line()) for r in map(record, range(count))]
    refs = [ArticleRef(id=i, source=s, signature=f"{n % 10**9}:2400")
            for n, (i, s) in enumerate(zip(ids, sources, strict=True))]
    footprints = [Footprint(i, False).claims() for i in ids]  # not the index's work
    spent: dict[str, float] = {}

    def timed(name: str, work: Callable[[], object]) -> None:
        start = time.process_time()
        work()
        spent[name] = time.process_time() - start

    def listing() -> None:
        index.add_files((i, "/raw/" + i, "txt", 2400, f"{n}:2400") for n, i in enumerate(ids))
        for _ in index.files():
            pass

    def claims() -> None:
        for i, source, names in zip(ids, sources, footprints, strict=True):
            if index.claim(i, source) is None:
                index.claim_paths(names, source)

    def load() -> None:
        index.add_previous_lines(lines)

    def lookups() -> None:
        for i in ids:
            index.previous(i)

    def plan() -> None:
        index.add_outputs(ids)
        skipped: list[ArticleRecord] = []
        todo = list(Resume(index, FINGERPRINT, True, skipped.append).plan(refs))
        assert not todo and len(skipped) == count, "every article should be unchanged"

    def records() -> None:
        for start in range(0, count, BATCH):
            index.add_record_lines(lines[start:start + BATCH])
        for _ in index.record_lines():
            pass
        assert index.gone_count() == 0 and not list(index.stale_paths())

    for name, work in zip(PHASES, (listing, claims, load, lookups, plan, records), strict=True):
        timed(name, work)
    return spent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--articles", type=int, default=20000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json", help="write the figures here too")
    args = parser.parse_args()
    results: dict[str, dict[str, float]] = {}
    for cls in (RunIndex, MemoryIndex):
        best: dict[str, float] = {}
        for _ in range(args.repeat):
            with cls() as index:
                for name, seconds in phases(index, args.articles).items():
                    best[name] = min(best.get(name, seconds), seconds)
        results[cls.__name__] = {n: s / args.articles * 1e6 for n, s in best.items()}
    print(f"{args.articles} articles, best of {args.repeat}; CPU microseconds per article")
    print(f"{'phase':10}" + "".join(f"{name:>14}" for name in results) + f"{'ratio':>8}")
    for name in (*PHASES, "total"):
        row = {cls: (sum(r.values()) - r["lookups"] if name == "total" else r[name])
               for cls, r in results.items()}
        ratio = row["RunIndex"] / row["MemoryIndex"]
        print(f"{name:10}" + "".join(f"{v:14.2f}" for v in row.values()) + f"{ratio:8.1f}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump({"articles": args.articles, "repeat": args.repeat,
                       "us_per_article": results}, handle, indent=1)


if __name__ == "__main__":
    main()
