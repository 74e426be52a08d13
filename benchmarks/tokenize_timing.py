"""Tokenizing cost per article, single process, on a benchmark corpus (unicode-fixed as the
pipeline does): stock sacremoses, newsprep's sacremoses (set lookups), the fast engine
(its check and the lines it hands to sacremoses included), and the check alone.

    .venv/bin/python benchmarks/tokenize_timing.py /tmp/corpus20k --articles 3000
"""

from __future__ import annotations

import argparse
import os
import time

from sacremoses import MosesTokenizer

from newsprep.config import PROFILES
from newsprep.tasks.stages.fast_tokenize import fast_differs
from newsprep.tasks.stages.tokenize import tokenize
from newsprep.tasks.stages.unicode_fix import fix_unicode


def corpus_paths(corpus: str, articles: int) -> list[str]:
    """The first `articles` .txt files of a benchmark corpus, in name order."""
    return sorted(
        os.path.join(folder, name)
        for folder, _, names in os.walk(corpus)
        for name in names
        if name.endswith(".txt")
    )[:articles]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("corpus")
    parser.add_argument("--articles", type=int, default=3000)
    args = parser.parse_args()
    paths = corpus_paths(args.corpus, args.articles)
    config = PROFILES["default"]
    texts = []
    for path in paths:
        with open(path, encoding="utf-8") as handle:
            texts.append(fix_unicode(handle.read(), config.unicode_fix).text)
    stock = MosesTokenizer(lang="en")
    fast = config.tokenize.model_copy(update={"engine": "fast"})

    def stock_tokenize(text: str) -> list[str]:
        return [stock.tokenize(line, return_str=True, escape=False) for line in text.split("\n")]

    def checks(text: str) -> list[bool]:
        return [fast_differs(line) for line in text.split("\n")]

    for name, run in (
        ("stock sacremoses", stock_tokenize),
        ("newsprep sacremoses", lambda text: tokenize(text, config.tokenize)),
        ("newsprep fast", lambda text: tokenize(text, fast)),
        ("fast_differs alone", checks),
    ):
        run(texts[0])  # build the tokenizer, compile the regexes
        started = time.perf_counter()
        for text in texts:
            run(text)
        print(f"{name:20} {(time.perf_counter() - started) / len(texts) * 1000:.3f} ms/article")
    lines = [line for text in texts for line in text.split("\n") if line.strip()]
    handed = sum(map(fast_differs, lines))
    print(f"lines the fast engine hands to sacremoses: {handed} of {len(lines)} "
          f"({handed / len(lines):.1%})")


if __name__ == "__main__":
    main()
