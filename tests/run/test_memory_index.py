"""MemoryIndex against RunIndex: random sequences of operations, the same answers."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from newsprep.run.ledger.index import RunIndex
from newsprep.run.ledger.memory_index import MemoryIndex
from newsprep.run.ledger.records import ArticleRecord

# Names that sort around '/' ('-' '.' before it, '0' after): prefixes, siblings, folders.
SEGMENTS = ["a", "a-", "a.b", "a0", "b", "é"]
paths = st.lists(st.sampled_from(SEGMENTS), min_size=1, max_size=3).map("/".join)
short_paths = st.lists(st.sampled_from(SEGMENTS[:4]), min_size=1, max_size=2).map("/".join)
sources = st.sampled_from(["s1", "s2", "s3"])
ids = st.one_of(
    paths,
    st.sampled_from(["", "#unreadable", "/#unreadable", "a#unreadable", "a/b#unreadable"]),
)


@st.composite
def lines(draw: Any) -> tuple[str, str]:
    """(id, manifest line) of a record naming some files, or an unlisted folder's."""
    article_id = draw(ids)
    record = ArticleRecord(article_id, draw(sources), draw(st.sampled_from(["ok", "failed"])))
    if draw(st.booleans()):
        record.reason = draw(st.sampled_from(["unreadable-folder", "binary-content"]))
    for kind in ("output", "highlights", "quarantine"):
        if draw(st.booleans()):
            path = draw(st.one_of(paths, st.just("")))
            setattr(record, kind, "_quarantine/" + path if kind == "quarantine" else path)
    return article_id, record.to_line()


file_rows = st.tuples(
    st.sampled_from(["a", "a/b", "a\\x80", "b"]),
    st.one_of(st.sampled_from(["/s/a", "/s/b"]), st.sampled_from([b"/s/a", b"/s/\x80"])),
    st.sampled_from(["txt", "story", "unreadable", "jsonl", "tar"]),
    st.one_of(st.none(), st.integers(0, 9)),
    st.sampled_from(["x", "y"]),
)

operations = st.one_of(
    st.tuples(st.just("add_files"), st.lists(file_rows, max_size=4)),
    st.tuples(st.just("add_previous_lines"), st.lists(lines(), max_size=4)),
    st.tuples(st.just("add_record_lines"), st.lists(lines(), max_size=4)),
    st.tuples(st.just("add_outputs"), st.lists(paths, max_size=3)),
    st.tuples(st.just("has_output"), st.one_of(st.none(), paths)),
    st.tuples(st.just("claim"), ids, sources),
    st.tuples(st.just("claim_paths"), st.lists(paths, min_size=1, max_size=3), sources),
    st.tuples(st.just("previous"), ids),
    st.tuples(st.just("previous_in_the_way"), st.lists(short_paths, max_size=3)),
    st.tuples(st.sampled_from([
        "files", "file_count", "only_single_article_files", "previous_lines",
        "has_previous", "previous_count", "record_lines", "keep_unlisted", "keep_gone",
        "gone_count", "stale_paths",
    ])),
)


def answer(index: RunIndex | MemoryIndex, operation: tuple) -> object:
    name, *arguments = operation
    result = getattr(index, name)(*arguments)
    if name in ("files", "previous_lines", "record_lines", "stale_paths"):
        return list(result)
    return result


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.lists(operations, max_size=40))
def test_memory_index_answers_as_the_sqlite_index(sequence: list[tuple]) -> None:
    with RunIndex() as sqlite, MemoryIndex() as memory:
        for step, operation in enumerate(sequence):
            expected = answer(sqlite, operation)
            assert answer(memory, operation) == expected, (step, operation)
        for operation in FINALLY:
            assert answer(memory, operation) == answer(sqlite, operation), operation


# every question, then the end of a run: unlisted and gone articles kept
FINALLY = [
    ("files",), ("file_count",), ("only_single_article_files",), ("has_previous",),
    ("previous_count",), ("previous_lines",), ("record_lines",), ("gone_count",),
    ("stale_paths",), ("keep_unlisted",), ("record_lines",), ("gone_count",),
    ("stale_paths",), ("keep_gone",), ("record_lines",), ("stale_paths",),
]


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.lists(st.tuples(st.lists(paths, min_size=1, max_size=3), sources), max_size=60))
def test_path_claims_answer_as_the_sqlite_index(claims: list[tuple[list[str], str]]) -> None:
    """Many claims in a row, folders and files clashing: the listing's use of the index."""
    with RunIndex() as sqlite, MemoryIndex() as memory:
        for paths_, source in claims:
            assert memory.claim_paths(paths_, source) == sqlite.claim_paths(paths_, source)
