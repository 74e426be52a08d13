"""Look for lines the fast tokenizer engine gets wrong: random lines glued from pieces of
news text (the parity test's FRAGMENTS), tokenized by both engines with both profiles;
prints every line whose output differs, with both outputs.

    .venv/bin/python benchmarks/parity_fuzz.py --lines 100000 --seed 1

A line printed here is a construct missing from FAST_DIFFERS_PATTERNS (tasks/fast_tokenize.py).
With --raw it compares the two tokenizers themselves, without the fast engine's guard.
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parent.parent / "tests"
sys.path.insert(0, str(TESTS / "tasks"))  # the parity test
sys.path.insert(0, str(TESTS))  # its conftest

from test_tokenizer_parity import FRAGMENTS, raw_tokens  # noqa: E402

from newsprep.config import PROFILES  # noqa: E402
from newsprep.tasks.tokenize import tokenize_line  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lines", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--max-pieces", type=int, default=12)
    parser.add_argument("--raw", action="store_true", help="the tokenizers alone, no guard")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    found = 0
    for _ in range(args.lines):
        line = "".join(rng.choice(FRAGMENTS) for _ in range(rng.randint(1, args.max_pieces)))
        for profile in ("default", "cnndm"):
            reference = PROFILES[profile].tokenize
            if args.raw:
                fast, ours = raw_tokens(line, reference.aggressive_dash_splits)
            else:
                fast = tokenize_line(line, reference.model_copy(update={"engine": "fast"}))
                ours = tokenize_line(line, reference)
            if fast != ours:
                found += 1
                print(f"{profile}\t{line!r}\n  fast:       {fast!r}\n  sacremoses: {ours!r}")
    print(f"{found} differences in {args.lines} lines x 2 profiles", file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    raise SystemExit(main())
