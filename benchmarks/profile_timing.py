"""Text work per article, per profile and engine, single process: `normalize_text` (decode,
unicode fix, the profile's stages, tokenize, lowercase, layout, validate) on a benchmark
corpus, no I/O. Rounds alternate the profiles, so load on a shared machine hits all alike.

    .venv/bin/python benchmarks/profile_timing.py /tmp/corpus3k --articles 3000 --rounds 5

It uses only names every newsprep version since the moses profile has, so another tree's
interpreter can run it for a before/after comparison (`/tmp/base/.venv/bin/python
benchmarks/profile_timing.py ...`); profiles that tree does not have are skipped.
"""

from __future__ import annotations

import argparse
import statistics
import time

from tokenize_timing import corpus_paths

from newsprep.config import PROFILES, resolve_pipeline
from newsprep.errors import Rejected
from newsprep.tasks.stages.normalize import normalize_text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("corpus")
    parser.add_argument("--articles", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--profiles", default="default,cnndm,moses,wmt")
    parser.add_argument("--engines", default="sacremoses,fast")
    args = parser.parse_args()
    raws = []
    for path in corpus_paths(args.corpus, args.articles):
        with open(path, "rb") as handle:
            raws.append(handle.read())
    configs = {
        (profile, engine): resolve_pipeline(profile, {"tokenize.engine": engine})
        for profile in args.profiles.split(",")
        if profile in PROFILES
        for engine in args.engines.split(",")
    }
    times: dict[tuple[str, str], list[float]] = {key: [] for key in configs}
    rejected = dict.fromkeys(configs, 0)
    for config in configs.values():  # build tokenizers, compile regexes
        normalize_text(raws[0], config)
    for _ in range(args.rounds):
        for key, config in configs.items():
            count = 0
            started = time.perf_counter()
            for raw in raws:
                try:
                    normalize_text(raw, config)
                except Rejected:
                    count += 1
            times[key].append((time.perf_counter() - started) / len(raws) * 1000)
            rejected[key] = count
    print(f"{len(raws)} articles, {args.rounds} rounds; ms per article: min, median (all)")
    for (profile, engine), values in times.items():
        rounds = " ".join(f"{v:.3f}" for v in values)
        print(
            f"{profile:8} {engine:10} {min(values):.3f} {statistics.median(values):.3f} "
            f"({rounds})  rejected {rejected[profile, engine]}"
        )


if __name__ == "__main__":
    main()
