"""The real-news text the benchmarks ship is the file its README names, and bench.py's
`--real-news` builds its corpus from it with no network."""

from __future__ import annotations

import hashlib
import importlib.util
import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"
NEWS = BENCHMARKS / "data" / "nc-5k.en"


def test_the_shipped_news_text_is_the_named_blob_of_mosesdecoder() -> None:
    data = NEWS.read_bytes()
    blob = hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()  # git hash-object
    assert blob in (BENCHMARKS / "data" / "README.md").read_text()
    assert blob == "ea40d25fd5dfcc7e6ca018a59899c979d9a58131"
    assert data.count(b"\n") == 5000


def test_real_news_with_no_source_builds_articles_from_the_shipped_lines(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("bench", BENCHMARKS / "bench.py")
    bench = importlib.util.module_from_spec(spec)
    sys.modules["bench"] = bench
    try:
        spec.loader.exec_module(bench)
        args = bench.parse_args(["--real-news", "--articles", "30"])
        bench.build_news_corpus(tmp_path, args.real_news, args.articles, args.seed)
    finally:
        del sys.modules["bench"]
    lines = [line for line in NEWS.read_text(encoding="utf-8").split("\n") if line.strip()]
    articles = sorted(p for p in tmp_path.rglob("*.txt"))
    assert len(articles) == 30
    start = 0
    for path in articles:  # consecutive lines, in order, 10 to 20 an article
        text = path.read_text(encoding="utf-8").split("\n")[:-1]
        assert 10 <= len(text) <= 20
        assert text == lines[start : start + len(text)]
        start += len(text)
