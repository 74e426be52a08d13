"""What newsprep's per-article path in a worker (`process_batch`: the record, the time limit,
the link-safe read, the sink's temp file and rename, the checkpoint) costs on top of the
text work, single process, on a benchmark corpus's files:

- text: `normalize_text` and the sha256 of its output, on bytes already in memory;
- plain: `open().read()`, the same text work, and a plain temp file renamed into place
  (its folder made once), code of this script only, the same in every newsprep version;
- process_batch: newsprep's own path, in batches of `--batch` with a checkpoint folder.

For every batch the three run one after the other (the order turning), `--rounds` times,
each round into fresh folders; a batch's cost is its fastest round (load on a shared
machine only ever adds time), summed over the batches. It uses only names newsprep has
had since the checkpoint, so another tree's interpreter can run it for a before/after
comparison (`/tmp/base/.venv/bin/python benchmarks/bookkeeping_timing.py ...`).

    .venv/bin/python benchmarks/bookkeeping_timing.py /tmp/nc5k --articles 2000 --rounds 9
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import statistics
import tempfile
import time

from tokenize_timing import corpus_paths

from newsprep.config import resolve_pipeline
from newsprep.errors import Rejected
from newsprep.run.engine.batch import Job, process_batch
from newsprep.tasks.io.refs import ArticleRef
from newsprep.tasks.stages.normalize import normalize_text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("corpus")
    parser.add_argument("--articles", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--profile", default="moses")
    parser.add_argument("--engine", default="fast")
    parser.add_argument("--work-dir", default=None, help="where outputs go (a temp folder)")
    parser.add_argument("--methods", default="text,plain,process_batch",
                        help="a subset, e.g. process_batch alone under strace -c")
    args = parser.parse_args()
    root = os.path.abspath(args.corpus)
    paths = [os.path.abspath(p) for p in corpus_paths(root, args.articles)]
    pipeline = resolve_pipeline(args.profile, {"tokenize.engine": args.engine})
    raws = {}
    for path in paths:
        with open(path, "rb") as handle:
            raws[path] = handle.read()
    batches = [paths[i : i + args.batch] for i in range(0, len(paths), args.batch)]
    work = args.work_dir or tempfile.mkdtemp(prefix="bookkeeping-")
    os.makedirs(work, exist_ok=True)

    def text(batch: list[str], out: str, index: int) -> None:
        for path in batch:
            _text_work(raws[path], pipeline)

    def plain(batch: list[str], out: str, index: int) -> None:
        made = set()
        for path in batch:
            with open(path, "rb") as handle:
                raw = handle.read()
            result = _text_work(raw, pipeline)
            if result is not None:
                target = os.path.join(out, os.path.relpath(path, root))
                folder = os.path.dirname(target)
                if folder not in made:
                    os.makedirs(folder, exist_ok=True)
                    made.add(folder)
                temp = os.path.join(folder, f".tmp-{os.urandom(8).hex()}")
                with open(temp, "wb") as handle:
                    handle.write(result)
                os.replace(temp, target)

    def newsprep(batch: list[str], out: str, index: int) -> None:
        job = Job(
            source_root=root, dest_root=out, pipeline=pipeline,
            checkpoint_dir=os.path.join(out, "_checkpoints"),
        )
        refs = [
            ArticleRef(id=os.path.relpath(p, root), source="file://" + p, path=p, signature="s")
            for p in batch
        ]
        process_batch(refs, index, job)

    methods = {"text": text, "plain": plain, "process_batch": newsprep}
    methods = {name: methods[name] for name in args.methods.split(",")}
    newsprep(batches[0][:5], os.path.join(work, "warm"), 0)  # tokenizers built, imports done
    best = {name: [float("inf")] * len(batches) for name in methods}
    sums: dict[str, list[float]] = {name: [] for name in methods}
    names = list(methods)
    for n in range(args.rounds):
        spent = dict.fromkeys(methods, 0.0)
        for index, batch in enumerate(batches):
            turn = (index + n) % len(names)
            for name in names[turn:] + names[:turn]:
                out = os.path.join(work, f"{name}-{n}")
                started = time.perf_counter()
                methods[name](batch, out, index)
                took = time.perf_counter() - started
                best[name][index] = min(best[name][index], took)
                spent[name] += took
        for name in names:
            sums[name].append(spent[name])
        for name in names:
            shutil.rmtree(os.path.join(work, f"{name}-{n}"), ignore_errors=True)
    count = len(paths)
    ms = {name: sum(best[name]) * 1000 / count for name in names}
    print(f"{count} articles of {root}, profile {args.profile}, engine {args.engine}, "
          f"batches of {args.batch}, {args.rounds} rounds; ms per article, the fastest round "
          "of each batch summed (the median round's total in brackets):")
    for name in names:
        print(f"  {name:14} {ms[name]:.4f} ({statistics.median(sums[name]) * 1000 / count:.4f})")
    for base in ("text", "plain"):
        if base in ms and "process_batch" in ms:
            extra = ms["process_batch"] - ms[base]
            print(f"  process_batch - {base:5} = {extra:.4f} ms ({extra / ms[base]:.1%} of {base})")
    if not args.work_dir:
        shutil.rmtree(work, ignore_errors=True)


def _text_work(raw: bytes, pipeline: object) -> bytes | None:
    try:
        result = normalize_text(raw, pipeline)
    except Rejected:
        return None
    data = result.text.encode("utf-8")
    hashlib.sha256(data).hexdigest()
    return data


if __name__ == "__main__":
    main()
