"""Issue 13: hostile items cost one article each, limits hold inside containers, nothing is
written over, nothing is dropped without a word. Real files, real readers, real sinks."""

from __future__ import annotations

import gzip
import io
import json
import os
import subprocess
import sys
import tarfile
import textwrap
import threading
from pathlib import Path

import pytest
from source_files import jsonl, write

from newsprep.config import PROFILES, PipelineConfig
from newsprep.run.batching import batches
from newsprep.run.engine.batch import Job, process_article, process_batch
from newsprep.run.ledger.index import RunIndex
from newsprep.run.ledger.memory_index import MemoryIndex
from newsprep.run.ledger.summary import check_failure_budget
from newsprep.run.retry import RetryPolicy
from newsprep.tasks.io.listing import iter_articles, list_source
from newsprep.tasks.io.refs import STREAM_CUT, ArticleRef
from newsprep.tasks.io.sinks import FilesSink, JsonlShardSink
from newsprep.tasks.stages.normalize import normalize_text

CONFIG = PROFILES["default"]
NEWS = "The city council approved the new budget on Tuesday after a long debate.\n"
STORY = (NEWS + "\n@highlight\n\nCouncil approves the budget\n").encode()


def with_options(**sections: dict) -> PipelineConfig:
    return CONFIG.model_copy(
        update={
            name: getattr(CONFIG, name).model_copy(update=values)
            for name, values in sections.items()
        }
    )




def tar_bytes(members: list[tarfile.TarInfo | tuple[str, bytes]], mode: str = "w") -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode=mode) as archive:
        for member in members:
            if isinstance(member, tarfile.TarInfo):
                archive.addfile(member)
                continue
            name, data = member
            info = tarfile.TarInfo(name)
            info.size, info.mtime = len(data), 1_700_000_000
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def refs_of(
    src: str | Path, tmp_path: Path, config: PipelineConfig = CONFIG, retry=None, index=RunIndex
):
    listing = list_source(str(src), str(tmp_path / "out"), config, index())
    return listing, list(iter_articles(listing, config, retry))


def run_batch(refs, listing, tmp_path: Path, config: PipelineConfig = CONFIG, **job):
    dest = tmp_path / "out"
    job = Job(
        source_root=listing.root, dest_root=str(dest), pipeline=config,
        retry=RetryPolicy(3, 0.0), checkpoint_dir=str(tmp_path / "checkpoints"), **job,
    )
    records = process_batch(refs, 0, job)
    for record in records:
        record.to_line().encode("utf-8")  # every record can be written to the manifest
    return dest, {r.id: r for r in records}


def outcome(record) -> tuple[str, str | None]:
    return record.status, record.reason


# -- 1. one bad item costs one article --------------------------------------------------


def test_lone_surrogates_in_jsonl_cost_one_record(tmp_path: Path) -> None:
    src = tmp_path / "src"
    write(src / "feed.jsonl", jsonl(
        '{"id": "bad-text", "text": "Broken \\ud800 text here."}',
        '{"id": "bad\\udc00id", "text": "' + NEWS.strip() + '", "highlights": "A point"}',
        '{"id": "bad-highlight", "text": "' + NEWS.strip() + '", "highlights": "x\\ud83d"}',
        {"id": "fine", "text": NEWS},
    ))
    listing, refs = refs_of(src, tmp_path)

    problems = {r.id: r.problem and r.problem.reason for r in refs}
    assert problems["feed/line-1"] == "malformed-jsonl"
    assert problems["feed/line-3"] == "malformed-jsonl"
    assert problems["feed/fine.txt"] is None
    escaped = next(r for r in refs if r.record_id and r.record_id.startswith("bad"))
    assert escaped.record_id == "bad\\udc00id" and escaped.problem is None
    # the escaped id goes through a JSONL shard (it failed the whole shard before)
    result = normalize_text(escaped.data, CONFIG, "jsonl", escaped.highlights)
    sink = JsonlShardSink(listing_fs(listing), str(tmp_path / "shards"), 0)
    sink.put(escaped, result)
    sink.close()
    rows = gzip.decompress((tmp_path / "shards" / "part-00000.jsonl.gz").read_bytes())
    assert json.loads(rows)["id"] == "bad\\udc00id"


def listing_fs(listing):
    import fsspec

    return fsspec.url_to_fs(listing.root)[0]


def test_file_name_that_is_not_utf8_is_an_article_under_an_escaped_id(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    with open(os.fsencode(src) + b"/\xff\xfe.txt", "wb") as handle:
        handle.write(NEWS.encode())
    write(src / "b.tar", tar_bytes([("m\udcff.txt", NEWS.encode())]))  # a non-UTF-8 member
    write(src / "c.txt", NEWS.encode())

    listing, refs = refs_of(src, tmp_path)
    dest, records = run_batch(refs, listing, tmp_path)

    assert {i: outcome(r) for i, r in records.items()} == {
        "\\xff\\xfe.txt": ("ok", None),
        "b/m\\xff.txt": ("ok", None),
        "c.txt": ("ok", None),
    }
    assert (dest / "\\xff\\xfe.txt").read_text() == (dest / "c.txt").read_text()
    assert records["\\xff\\xfe.txt"].source.endswith("/src/\\xff\\xfe.txt")


@pytest.mark.parametrize("index", [RunIndex, MemoryIndex], ids=["sqlite", "memory"])
def test_a_name_escaped_into_another_files_name_is_not_lost(tmp_path: Path, index) -> None:
    """A name with byte 0x80 escapes to `\\x80.txt`, the name of another file: both end
    with a record (one of them was dropped from the listing without a word)."""
    src = tmp_path / "src"
    src.mkdir()
    with open(os.fsencode(src) + b"/\x80.txt", "wb") as handle:
        handle.write(b"The byte-named article has words of its own here.\n")
    write(src / "\\x80.txt", NEWS.encode())

    listing, refs = refs_of(src, tmp_path, index=index)
    dest, records = run_batch(refs, listing, tmp_path)

    assert {i: outcome(r) for i, r in records.items()} == {
        "\\x80.txt": ("ok", None), "\\x80.txt~2": ("rejected", "duplicate-id"),
    }
    # the same order every run: the UTF-8 name first
    assert (dest / "\\x80.txt").read_text().startswith("the city council")


# -- 2. limits hold inside containers ----------------------------------------------------


def test_jsonl_record_over_max_bytes_is_rejected_unread(tmp_path: Path) -> None:
    config = with_options(fetch={"max_bytes": 4096})
    src = tmp_path / "src"
    write(src / "feed.jsonl", jsonl(
        {"id": "big", "text": "word " * 2000},  # 10 KB
        {"id": "small", "text": NEWS},
    ))
    _, refs = refs_of(src, tmp_path, config)
    assert [(r.id, r.problem and r.problem.reason) for r in refs] == [
        ("feed/line-1", "too-large"),
        ("feed/small.txt", None),
    ]
    assert "max_bytes=4096" in refs[0].problem.detail and refs[0].data is None


def test_peak_memory_of_a_huge_jsonl_line_is_the_limit_not_the_line(tmp_path: Path) -> None:
    # 64 MiB of one line compress to ~64 KB; with a 4 KiB limit discovery must hold ~none
    path = tmp_path / "src" / "bomb.jsonl.gz"
    path.parent.mkdir()
    with gzip.open(path, "wb", compresslevel=1) as handle:
        handle.write(b'{"id": "bomb", "text": "')
        for _ in range(64):
            handle.write(b"a" * (1024 * 1024))
        handle.write(b'"}\n' + json.dumps({"id": "after", "text": NEWS}).encode() + b"\n")
    script = textwrap.dedent(f"""
        import resource, json
        from newsprep.config import PROFILES
        from newsprep.run.ledger.index import RunIndex
        from newsprep.tasks.io.listing import iter_articles, list_source
        config = PROFILES["default"].model_copy(update={{
            "fetch": PROFILES["default"].fetch.model_copy(update={{"max_bytes": 4096}})}})
        listing = list_source({str(path)!r}, {str(tmp_path / "out")!r}, config, RunIndex())
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        refs = [(r.id, r.problem and r.problem.reason) for r in iter_articles(listing, config)]
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print(json.dumps({{"refs": refs, "grew_kb": after - before}}))
    """)
    run = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    result = json.loads(run.stdout)
    assert result["refs"] == [["bomb/line-1", "too-large"], ["bomb/after.txt", None]]
    assert result["grew_kb"] < 16 * 1024, f"peak RSS grew {result['grew_kb']} KB"


@pytest.mark.parametrize("header", ["gnu-long-name", "pax-path", "pax-comment"])
def test_an_oversized_tar_header_is_refused_not_read_whole(tmp_path: Path, header: str) -> None:
    """Class 2: tarfile reads a long-name or pax header whole before its member; a 300 KB
    .tar.gz with a 300 MiB long name took 2.5 GB. Over 1 MiB the rest is corrupt-archive."""
    big = 2 * 1024 * 1024
    info = tarfile.TarInfo("x" * big if header != "pax-comment" else "b.txt")
    info.size = len(NEWS)
    if header == "pax-comment":
        info.pax_headers = {"comment": "c" * big}
    buffer = io.BytesIO()
    tar_format = tarfile.GNU_FORMAT if header == "gnu-long-name" else tarfile.PAX_FORMAT
    with tarfile.open(fileobj=buffer, mode="w:gz", format=tar_format) as archive:
        for member in (tarfile.TarInfo("a.txt"), info, tarfile.TarInfo("c.txt")):
            member.size = len(NEWS)
            archive.addfile(member, io.BytesIO(NEWS.encode()))
    write(tmp_path / "src" / "pack.tgz", buffer.getvalue())

    _, refs = refs_of(tmp_path / "src", tmp_path)

    assert [(r.id, r.problem and r.problem.reason) for r in refs] == [
        ("a.txt", None), ("pack.tgz#unreadable", "corrupt-archive"),
    ]
    assert "header of" in refs[1].problem.detail and "over 1048576 bytes" in refs[1].problem.detail


def test_batches_carry_a_bounded_number_of_bytes() -> None:
    member = b"x" * (4 * 1024 * 1024)
    refs = [ArticleRef(id=f"m{n}.txt", source="s", data=member) for n in range(300)]
    cut = list(batches(refs, 1000, max_bytes=16 * 1024 * 1024))
    assert [len(b.articles) for b in cut] == [4] * 75
    assert [b.index for b in cut] == list(range(75))
    # one article over the budget still travels, alone
    assert [len(b.articles) for b in batches(refs[:2], 1000, max_bytes=1024)] == [1, 1]


# -- 3. and 10. outputs and sidecars never collide; long names are written ---------------


def test_a_member_named_like_another_articles_sidecar_is_not_written_over_it(
    tmp_path: Path,
) -> None:
    src = tmp_path / "src"
    write(src / "pack.tar", tar_bytes([
        ("a.story", STORY),
        ("a.story.highlights", b"Another article entirely, with its own words here.\n"),
        ("dir", NEWS.encode()),
        ("dir/inner.txt", NEWS.encode()),
        ("x.txt", NEWS.encode()),
        ("x.txt.reason.json", b"\x00binary"),
    ]))
    # every member an article: by name only .txt and .story members are (issue 19 class
    # 11), but a member pattern of the user's reads every member it matches
    config = with_options(input={"member_pattern": "?*"})
    listing, refs = refs_of(src, tmp_path, config)
    dest, records = run_batch(refs, listing, tmp_path, config)

    by_source = {r.source.split("!", 1)[1]: r for r in records.values()}
    assert outcome(by_source["a.story"]) == ("ok", None)
    assert (dest / by_source["a.story"].highlights).read_text() == "council approves the budget\n"
    assert outcome(by_source["a.story.highlights"]) == ("rejected", "output-conflict")
    assert "a.story" in by_source["a.story.highlights"].detail
    assert outcome(by_source["dir"]) == ("ok", None)
    assert outcome(by_source["dir/inner.txt"]) == ("rejected", "output-conflict")
    assert outcome(by_source["x.txt.reason.json"]) == ("rejected", "output-conflict")
    # the rejected ones are quarantined under ids of their own, nothing written over
    for record in records.values():
        if record.status == "rejected":
            assert record.quarantine and (dest / record.quarantine).exists()
    assert (dest / "a.story.highlights").read_text() == "council approves the budget\n"


def test_a_file_rejected_for_its_name_is_copied_to_the_quarantine(tmp_path: Path) -> None:
    """A file whose output would write over another's sidecar, or whose id is taken, is
    rejected with its bytes in _quarantine/ like every rejected article (files got none:
    only archive members and JSONL records, whose bytes travel inline, did)."""
    src = tmp_path / "src"
    write(src / "x.story", STORY)
    taken = b"The second story body, which is fine.\n\n@highlight\n\nIts point\n"
    write(src / "x.story.highlights", taken)
    write(src / "_quarantine" / "y.story", STORY)  # a name newsprep keeps for itself
    config = with_options(input={"format": "story"})
    listing, refs = refs_of(src, tmp_path, config)
    dest, records = run_batch(refs, listing, tmp_path, config)

    rejected = {r.reason: r for r in records.values() if r.status == "rejected"}
    assert set(rejected) == {"output-conflict", "unsafe-id"}
    assert (dest / rejected["output-conflict"].quarantine).read_bytes() == taken
    assert (dest / rejected["unsafe-id"].quarantine).read_bytes() == STORY
    assert (dest / "x.story.highlights").read_text() == "council approves the budget\n"


def test_long_legal_names_are_written_with_their_sidecars(tmp_path: Path) -> None:
    src = tmp_path / "src"
    long_story = "s" * 249 + ".story"  # 255 bytes, the longest legal name
    write(src / long_story, STORY)
    write(src / ("é" * 110 + ".txt"), b"\x00 binary, rejected and quarantined")  # 224 bytes
    long_id = "新闻" * 60  # 360 bytes in UTF-8
    write(src / "feed.jsonl", jsonl({"id": long_id, "text": NEWS, "highlights": "One point"}))
    write(src / "pack.tar", tar_bytes([("m" * 300 + ".txt", NEWS.encode())]))

    listing, refs = refs_of(src, tmp_path)
    dest, records = run_batch(refs, listing, tmp_path)

    assert sorted(outcome(r) for r in records.values()) == [
        ("ok", None), ("ok", None), ("ok", None), ("rejected", "binary-content")
    ]
    story = records[long_story]
    assert (dest / long_story).exists() and (dest / story.highlights).exists()
    rejected = next(r for r in records.values() if r.status == "rejected")
    reason_files = list((dest / "_quarantine").glob("*.reason.json"))
    assert len(reason_files) == 1
    assert json.loads(reason_files[0].read_text())["id"] == rejected.id
    for record in records.values():
        for part in (record.output or record.quarantine).split("/"):
            assert len(part.encode()) <= 255


# -- 4. distinct ids stay distinct -------------------------------------------------------


def test_member_paths_too_long_or_too_deep_to_write_are_rejected_not_failed(
    tmp_path: Path,
) -> None:
    """Class 10: every name of these members is legal, the paths are not: 18 folders of
    250 bytes (over Linux's 4096 bytes), 1000 nested folders (making them overflowed the
    stack). Both were `failed` `write-error` on every run (exit 1); now rejected, once."""
    src = tmp_path / "src"
    write(src / "pack.tar", tar_bytes([
        (("d" * 250 + "/") * 18 + "long.txt", NEWS.encode()),
        ("a/" * 1000 + "deep.txt", NEWS.encode()),
        ("fine/" * 20 + "ok.txt", NEWS.encode()),
    ]))
    listing, refs = refs_of(src, tmp_path)
    dest, records = run_batch(refs, listing, tmp_path)

    assert sorted(outcome(r) for r in records.values()) == [
        ("ok", None), ("rejected", "path-too-long"), ("rejected", "path-too-long"),
    ]
    for record in records.values():
        if record.status == "rejected":
            assert record.id.startswith("_unsafe/") and (dest / record.quarantine).is_file()
            assert "folders deep" in record.detail
    assert (dest / ("fine/" * 20 + "ok.txt")).is_file()


def test_ids_that_differ_only_in_replaced_characters_stay_distinct(tmp_path: Path) -> None:
    src = tmp_path / "src"
    ids = ["新闻1", "报道1", "a/b", "a_b", "a b", "plain-id"]
    write(src / "feed.jsonl", jsonl(*({"id": i, "text": NEWS} for i in ids)))
    listing, refs = refs_of(src, tmp_path)
    assert all(r.problem is None for r in refs)
    assert len({r.id for r in refs}) == len(ids)
    assert "feed/plain-id.txt" in {r.id for r in refs}  # a clean id is kept as it is
    dest, records = run_batch(refs, listing, tmp_path)
    assert {r.status for r in records.values()} == {"ok"}
    assert len(list((dest / "feed").iterdir())) == len(ids)


def test_an_id_with_a_lone_surrogate_and_its_escaped_spelling_stay_distinct(
    tmp_path: Path,
) -> None:
    """`"\\udc80"` is escaped to `\\x80`, which another record can spell out: the hash
    that keeps changed ids apart is of the id as it was, so both are written."""
    src = tmp_path / "src"
    write(src / "feed.jsonl", jsonl(
        '{"id": "x\\udc80", "text": "' + NEWS.strip() + '"}',
        {"id": "x\\x80", "text": NEWS},
    ))
    listing, refs = refs_of(src, tmp_path)
    assert [r.problem for r in refs] == [None, None]
    assert [r.record_id for r in refs] == ["x\\x80", "x\\x80"]  # as JSONL output says it
    assert refs[0].id != refs[1].id
    _, records = run_batch(refs, listing, tmp_path)
    assert {r.status for r in records.values()} == {"ok"}


# -- 5. archive members are signed by content -------------------------------------------


def test_member_rewritten_with_same_size_and_mtime_has_a_new_signature(tmp_path: Path) -> None:
    first = tar_bytes([("a.txt", b"The mayor said yes to the plan today.\n")])
    second = tar_bytes([("a.txt", b"The mayor said no! to the plan today.\n")])
    signatures = []
    for data in (first, second):
        write(tmp_path / "src" / "pack.tar", data)
        _, refs = refs_of(tmp_path / "src", tmp_path)
        signatures.append(refs[0].signature)
    assert signatures[0] != signatures[1]


# -- 7. nothing is dropped without a word ------------------------------------------------


def special(name: str, kind: bytes, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, link
    return info


def test_tar_links_and_special_members_are_articles_or_named(tmp_path: Path) -> None:
    src = tmp_path / "src"
    write(src / "pack.tgz", tar_bytes([
        ("docs/a.txt", NEWS.encode()),
        special("docs/copy-of-a.txt", tarfile.LNKTYPE, "docs/a.txt"),  # GNU tar's duplicate
        special("docs/link.txt", tarfile.SYMTYPE, "/etc/passwd"),
        special("docs/fifo.txt", tarfile.FIFOTYPE),
        special("docs/dev.txt", tarfile.CHRTYPE),
        special("docs/lost.txt", tarfile.LNKTYPE, "docs/not-there.txt"),
    ], "w:gz"))
    listing, refs = refs_of(src, tmp_path)

    by_id = {r.id: r for r in refs}
    assert set(by_id) == {"docs/a.txt", "docs/copy-of-a.txt", "docs/lost.txt"}
    assert by_id["docs/copy-of-a.txt"].data == NEWS.encode() and not by_id[
        "docs/copy-of-a.txt"
    ].problem
    assert by_id["docs/lost.txt"].problem.reason == "broken-link"
    assert listing.ignored_count == 3
    assert listing.ignored == [
        "pack.tgz!docs/link.txt (symbolic link to '/etc/passwd')",
        "pack.tgz!docs/fifo.txt (FIFO)",
        "pack.tgz!docs/dev.txt (device)",
    ]


def test_a_folder_that_cannot_be_listed_is_a_record(tmp_path: Path) -> None:
    src = tmp_path / "src"
    write(src / "a.txt", NEWS.encode())
    write(src / "locked" / "b.txt", NEWS.encode())
    url = f"flaky://{src}"
    import fsspec

    fsspec.config.conf["flaky"] = {"unlistable": f"{src}/locked"}
    try:
        _, refs = refs_of(url, tmp_path)
    finally:
        fsspec.config.conf.pop("flaky", None)
    assert [(r.id, r.problem and r.problem.reason) for r in refs] == [
        ("a.txt", None), ("locked#unreadable", "unreadable-folder")
    ]
    assert "PermissionError" in refs[1].problem.detail


def test_a_transient_error_listing_a_folder_is_raised_for_a_retry(tmp_path: Path) -> None:
    """A connection reset listing a folder is not `unreadable-folder`: that record made
    the folder's articles gone, and the rerun removed their outputs. The listing is
    retried (discover-articles retries transient errors) and then holds them."""
    src = tmp_path / "src"
    write(src / "a.txt", NEWS.encode())
    write(src / "sub" / "b.txt", NEWS.encode())
    import fsspec

    fsspec.config.conf["flaky"] = {"unlistable": f"{src}/sub", "unlistable_error": "reset"}
    try:
        with pytest.raises(ConnectionResetError):
            list_source(f"flaky://{src}", str(tmp_path / "out"), CONFIG, RunIndex())
        _, refs = refs_of(f"flaky://{src}", tmp_path)  # the retry; the same filesystem
    finally:
        fsspec.config.conf.pop("flaky", None)
    assert [(r.id, r.problem) for r in refs] == [("a.txt", None), ("sub/b.txt", None)]


# -- 8. a stream that breaks is resumed where it broke -----------------------------------


@pytest.mark.parametrize("name", ["feed.jsonl", "feed.jsonl.gz", "pack.tgz", "pack.tar"])
def test_a_transient_break_mid_stream_is_resumed(tmp_path: Path, name: str) -> None:
    import fsspec

    src = tmp_path / "src"
    texts = {f"n{n}": f"Article {n}: the council met on day {n} to talk budgets.\n" * 40
             for n in range(200)}
    if name.startswith("feed"):
        data = jsonl(*({"id": k, "text": v} for k, v in texts.items()))
        data = gzip.compress(data) if name.endswith(".gz") else data
    else:
        members = [(f"{k}.txt", v.encode()) for k, v in texts.items()]
        data = tar_bytes(members, "w:gz" if name.endswith("tgz") else "w")
    write(src / name, data)
    options = {"fail_fraction": 1.0, "cut_streams_after": len(data) // 3, "failures": 2}
    fsspec.config.conf["flaky"] = options
    try:
        _, refs = refs_of(f"flaky://{src}", tmp_path, retry=RetryPolicy(3, 0.0))
        assert all(r.problem is None for r in refs), [r.problem for r in refs if r.problem]
        assert len(refs) == 200
        # retries run out: one failed record, and the run may not end as complete
        fsspec.config.conf["flaky"] = {**options, "failures": 5}
        _, refs = refs_of(f"flaky://{src}", tmp_path / "again", retry=RetryPolicy(3, 0.0))
    finally:
        fsspec.config.conf.pop("flaky", None)
    cut = refs[-1]
    assert (cut.problem.status, cut.problem.reason) == ("failed", STREAM_CUT)
    assert len(refs) - 1 < 200  # what came before the break stands


def test_a_cut_stream_fails_the_run_whatever_the_budget() -> None:
    from newsprep.run.ledger.summary import FailureBudgetExceeded, RunSummary

    summary = RunSummary(
        source="s", dest="d", profile="default", overrides={}, config_fingerprint="f",
        pipeline={}, options={}, discovered=10_000, ignored_files=0,
        counts={"ok": 9_999, "failed": 1, "rejected": 0, "skipped": 0}, changes={},
        reasons={STREAM_CUT: 1}, examples={}, parity=None, batches=1, batch_size=1,
        workers=1, started_at="", seconds=1.0, articles_per_second=1.0, versions={},
    )
    with pytest.raises(FailureBudgetExceeded, match="not accounted for"):
        check_failure_budget(summary, 0.5)


# -- 9. never block on a special file; articles have a time limit ------------------------


def in_thread(call, seconds: float = 20.0):
    """Run `call`; fail (instead of hanging the suite) if it does not return in time."""
    result: list = []
    thread = threading.Thread(target=lambda: result.append(call()), daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), "blocked"
    return result[0]


def test_files_replaced_by_fifos_after_listing_do_not_block(tmp_path: Path) -> None:
    src = tmp_path / "src"
    write(src / "a.txt", NEWS.encode())
    write(src / "feed.jsonl", jsonl({"id": "x", "text": NEWS}))
    write(src / "z.txt", NEWS.encode())
    listing = list_source(str(src), str(tmp_path / "out"), CONFIG, RunIndex())
    for name in ("a.txt", "feed.jsonl"):
        (src / name).unlink()
        os.mkfifo(src / name)

    refs = in_thread(lambda: list(iter_articles(listing, CONFIG)))
    _, records = in_thread(lambda: run_batch(refs, listing, tmp_path))

    assert {i: outcome(r) for i, r in records.items()} == {
        "a.txt": ("rejected", "not-a-file"),
        "feed.jsonl#unreadable": ("rejected", "not-a-file"),
        "z.txt": ("ok", None),
    }


def test_an_article_over_its_time_limit_fails_and_the_batch_goes_on(tmp_path: Path) -> None:
    src = tmp_path / "src"
    write(src / "slow.txt", (NEWS * 3000).encode())  # ~200 KB: well over 10 ms of work
    write(src / "z.txt", NEWS.encode())
    listing, refs = refs_of(src, tmp_path)
    dest, records = run_batch(refs, listing, tmp_path, article_timeout_seconds=0.01)
    assert outcome(records["slow.txt"]) == ("failed", "timeout")
    assert "article_timeout_seconds" in records["slow.txt"].detail
    job = Job(source_root=listing.root, dest_root=str(dest), pipeline=CONFIG)
    assert process_article(refs[1], job, FilesSink(listing_fs(listing), str(dest))).status == "ok"


# -- 16. bidi controls do not reach the corpus -------------------------------------------


@pytest.mark.parametrize("profile", ["default", "cnndm", "moses"])
def test_bidi_controls_are_removed_and_recorded(profile: str) -> None:
    config = PROFILES[profile]
    evil = "The mayor \u202esaid\u202c no, \u2067twice\u2069 and \u202aagain\u202d today.\n"
    result = normalize_text(evil.encode(), config)
    clean = normalize_text(evil.translate(dict.fromkeys(range(0x2000, 0x2070))).encode(), config)
    assert result.text == clean.text
    assert not any(0x202A <= ord(c) <= 0x202E or 0x2066 <= ord(c) <= 0x2069 for c in result.text)
    assert "remove_bidi_controls" in result.fixes
    assert "remove_bidi_controls" not in clean.fixes
    story = ("Body text of the story is here.\n\n@highlight\n\nA \u202eturned\u202c point\n")
    highlights = normalize_text(story.encode(), config, "story").highlights
    assert "\u202e" not in highlights and "remove_bidi_controls" in normalize_text(
        story.encode(), config, "story"
    ).fixes
