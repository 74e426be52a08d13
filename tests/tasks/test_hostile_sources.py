"""Issue 19: one crafted item, a swapped file or an odd container costs no corpus. Real
files, real readers, real sinks (the listing, the readers and the batch of a run)."""

from __future__ import annotations

import bz2
import codecs
import gzip
import io
import json
import lzma
import os
import random
import shutil
import subprocess
import tarfile
import zlib
from pathlib import Path

import pytest
import zstandard
from fsspec.implementations.local import LocalFileSystem
from ledger import records
from session_run import run_session
from shard_run import run_sharded
from source_files import jsonl, write
from test_hostile_items import CONFIG, NEWS, outcome, refs_of, run_batch, tar_bytes, with_options

from newsprep.errors import Rejected
from newsprep.run.ledger.index import RunIndex
from newsprep.run.ledger.summary import RunSummary
from newsprep.tasks.io.files import read_bytes
from newsprep.tasks.io.jsonl import jsonl_articles
from newsprep.tasks.io.listing import iter_articles, list_source
from newsprep.tasks.io.refs import SourceFile
from newsprep.tasks.io.stream import OpenFolders

LOCAL = LocalFileSystem()

OTHER = "Rain closed the coastal road for a second day, the police said on Monday.\n"


def run(src: Path, dest: Path) -> RunSummary:
    return run_session(src, dest, workers=1)


def ids_and_reasons(refs) -> list[tuple[str, str | None]]:
    return [(r.id, r.problem and r.problem.reason) for r in refs]


# -- 1. a record or member that breaks the parser costs that item only -------------------


@pytest.mark.parametrize("bad", [
    '{"id": "deep", "text": ' + "[" * 100_000 + "]" * 100_000 + "}",  # RecursionError
    '{"id": "deep2", "text": "x", "meta": ' + '{"a": ' * 5000 + "1" + "}" * 5000 + "}",
    '{"id": "big", "text": "x", "n": ' + "7" * 5000 + "}",  # ValueError: over 4,300 digits
    '{"id": "bad", "text": "x"} trailing',
])
def test_a_jsonl_line_the_parser_raises_on_costs_that_line_only(tmp_path: Path, bad: str) -> None:
    src = tmp_path / "src"
    write(src / "feed.jsonl", jsonl({"id": "a", "text": NEWS}, bad, {"id": "c", "text": OTHER}))

    listing, refs = refs_of(src, tmp_path)
    _, records = run_batch(refs, listing, tmp_path)

    assert {i: outcome(r) for i, r in records.items()} == {
        "feed/a.txt": ("ok", None),
        "feed/line-2": ("rejected", "malformed-jsonl"),
        "feed/c.txt": ("ok", None),
    }
    assert records["feed/line-2"].detail.startswith("line 2: ")


@pytest.mark.parametrize("mtime", ["nan", "inf", "-inf", "1e999", "9" * 400])
def test_a_tar_member_with_an_impossible_mtime_costs_nothing(tmp_path: Path, mtime: str) -> None:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", format=tarfile.PAX_FORMAT) as archive:
        for name, text in (("a.txt", NEWS), ("b.txt", OTHER), ("c.txt", NEWS)):
            info = tarfile.TarInfo(name)
            info.size = len(text)
            if name == "b.txt":
                info.pax_headers = {"mtime": mtime}
            archive.addfile(info, io.BytesIO(text.encode()))
    write(tmp_path / "src" / "pack.tgz", buffer.getvalue())

    listing, refs = refs_of(tmp_path / "src", tmp_path)
    _, records = run_batch(refs, listing, tmp_path)

    assert {i: outcome(r) for i, r in records.items()} == {
        "a.txt": ("ok", None), "b.txt": ("ok", None), "c.txt": ("ok", None),
    }


def test_a_tar_header_tarfile_cannot_parse_is_named_not_the_end_of_the_archive(
    tmp_path: Path,
) -> None:
    """A pax field tarfile raises a ValueError on, and a header with a bad checksum (which
    tarfile takes for the end of the archive): a corrupt-archive record, never silence."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for name in ("a.txt", "b.txt", "c.txt"):
            info = tarfile.TarInfo(name)
            info.size = len(NEWS)
            if name == "b.txt":
                info.pax_headers = {"GNU.sparse.size": "not a number"}
            archive.addfile(info, io.BytesIO(NEWS.encode()))
    write(tmp_path / "src" / "sparse.tar", buffer.getvalue())
    plain = bytearray(tar_bytes([("a.txt", NEWS.encode()), ("b.txt", NEWS.encode())]))
    plain[512 + 512 + 148] ^= 0x01  # b.txt's header checksum
    write(tmp_path / "src" / "checksum.tar", bytes(plain))

    _, refs = refs_of(tmp_path / "src", tmp_path)

    assert ids_and_reasons(refs) == [
        ("checksum/a.txt", None), ("checksum.tar#unreadable", "corrupt-archive"),
        ("sparse/a.txt", None), ("sparse.tar#unreadable", "corrupt-archive"),
    ]
    assert "offset" in refs[1].problem.detail and "offset" in refs[3].problem.detail


def test_a_rerun_keeps_the_outputs_of_the_records_after_a_bad_line(tmp_path: Path) -> None:
    """A whole run without Prefect (as tests/run/test_session.py), twice: the records after
    a line the parser raises on are written, and the rerun removes none of them as gone."""
    src, dest = tmp_path / "src", tmp_path / "out"
    deep = '{"id": "b", "text": ' + "[" * 50_000 + "]" * 50_000 + "}"
    write(src / "feed.jsonl", jsonl({"id": "a", "text": NEWS}, deep, {"id": "c", "text": OTHER}))

    first = run(src, dest)
    second = run(src, dest)

    assert first.counts == {"ok": 2, "rejected": 1, "failed": 0, "skipped": 0}
    assert second.counts == {"ok": 0, "rejected": 1, "failed": 0, "skipped": 2}
    assert (second.removed_articles, second.removed_files) == (0, 0)
    assert (dest / "feed/c.txt").read_text() == "rain closed the coastal road for a second day " \
        ", the police said on monday .\n"
    rejected = next(record for record in records(dest) if record["status"] == "rejected")
    assert (rejected["id"], rejected["reason"]) == ("feed/line-2", "malformed-jsonl")
    assert "nested too deeply" in rejected["detail"]


# -- 2. links are not followed at read time ------------------------------------------------


def test_a_file_or_folder_swapped_for_a_link_after_listing_is_not_followed(
    tmp_path: Path,
) -> None:
    secret = tmp_path / "secret"
    write(secret / "a.txt", b"TOP SECRET key material for the whole company here.\n")
    write(secret / "sub" / "b.txt", b"TOP SECRET the second file of secrets is here.\n")
    write(secret / "feed.jsonl", jsonl({"id": "s", "text": "TOP SECRET in a JSONL record."}))
    src = tmp_path / "src"
    for name in ("a.txt", "sub/b.txt", "feed.jsonl", "ok.txt"):
        write(src / name, NEWS.encode())
    listing = list_source(str(src), str(tmp_path / "out"), CONFIG, RunIndex())
    (src / "a.txt").unlink()
    (src / "a.txt").symlink_to(secret / "a.txt")
    (src / "feed.jsonl").unlink()
    (src / "feed.jsonl").symlink_to(secret / "feed.jsonl")
    (src / "sub" / "b.txt").unlink()
    (src / "sub").rmdir()
    (src / "sub").symlink_to(secret / "sub")

    refs = list(iter_articles(listing, CONFIG))
    dest, records = run_batch(refs, listing, tmp_path)

    assert {i: outcome(r) for i, r in records.items()} == {
        "a.txt": ("rejected", "not-a-file"),
        "feed.jsonl#unreadable": ("rejected", "not-a-file"),
        "ok.txt": ("ok", None),
        "sub/b.txt": ("rejected", "not-a-file"),
    }
    assert "symbolic link" in records["a.txt"].detail
    written = [p for p in dest.rglob("*") if p.is_file()]
    assert written and not [p for p in written if b"SECRET" in p.read_bytes()]


def test_a_folder_kept_open_is_read_as_opened_even_when_swapped_for_a_link(
    tmp_path: Path,
) -> None:
    """A batch opens each folder once for its files (OpenFolders). A folder swapped for a
    link after its first file was read: its other files come from the folder opened, never
    through the link."""
    write(tmp_path / "secret" / "b.txt", b"TOP SECRET behind the link.\n")
    src = tmp_path / "src"
    write(src / "sub" / "a.txt", b"first file of the folder\n")
    write(src / "sub" / "b.txt", b"second file of the folder\n")
    root = str(src)
    with OpenFolders() as folders:
        first = read_bytes(LOCAL, f"{root}/sub/a.txt", 1000, root, folders)
        (src / "sub").rename(tmp_path / "moved")
        (src / "sub").symlink_to(tmp_path / "secret")
        second = read_bytes(LOCAL, f"{root}/sub/b.txt", 1000, root, folders)
        with pytest.raises(Rejected, match="symbolic link"):  # a fresh open refuses it
            read_bytes(LOCAL, f"{root}/sub/b.txt", 1000, root)
    assert (first, second) == (b"first file of the folder\n", b"second file of the folder\n")


def test_a_file_that_cannot_be_opened_in_a_kept_folder_lets_the_next_try_reopen_it(
    tmp_path: Path,
) -> None:
    """A folder kept open can go stale (replaced, or a network file system's handle): a
    file that cannot be opened in it closes it, so the next try (a retry) walks again."""
    src = tmp_path / "src"
    write(src / "sub" / "a.txt", b"in the first folder\n")
    root = str(src)
    with OpenFolders() as folders:
        read_bytes(LOCAL, f"{root}/sub/a.txt", 1000, root, folders)
        (src / "sub").rename(tmp_path / "old")
        write(src / "sub" / "b.txt", b"in the folder that replaced it\n")
        with pytest.raises(FileNotFoundError):  # looked for in the folder kept open
            read_bytes(LOCAL, f"{root}/sub/b.txt", 1000, root, folders)
        again = read_bytes(LOCAL, f"{root}/sub/b.txt", 1000, root, folders)
    assert again == b"in the folder that replaced it\n"


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="counts /proc/self/fd")
def test_a_batch_over_more_folders_than_it_keeps_open_reads_each_and_closes_them(
    tmp_path: Path,
) -> None:
    folders = OpenFolders.MAX_OPEN + 6
    for n in range(folders):
        for name in ("a", "b"):
            write(tmp_path / "src" / f"f{n:03d}" / f"{name}.txt", f"{NEWS}{n} {name}\n".encode())
    listing, refs = refs_of(tmp_path / "src", tmp_path)
    refs = refs[::2] + refs[1::2]  # each folder read again after all the others

    dest, out = run_batch(refs, listing, tmp_path)

    assert _open_below(tmp_path / "src") == []
    assert {outcome(r) for r in out.values()} == {("ok", None)} and len(out) == 2 * folders
    for n in range(folders):
        for name in ("a", "b"):
            text = (dest / f"f{n:03d}" / f"{name}.txt").read_text()
            assert text.endswith(f"{n} {name}\n"), text


def _open_below(folder: Path) -> list[str]:
    """What this process holds open in `folder`."""
    held = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:  # the listing's own descriptor, closed by now
            continue
        if target == str(folder) or target.startswith(f"{folder}/"):
            held.append(target)
    return held


def test_a_source_reached_through_a_link_is_still_read(tmp_path: Path) -> None:
    """SOURCE itself may be a link (a mount, a convenience link): only what lies below it
    is not followed."""
    write(tmp_path / "real" / "sub" / "a.txt", NEWS.encode())
    (tmp_path / "via").symlink_to(tmp_path / "real")
    listing, refs = refs_of(tmp_path / "via", tmp_path)
    _, records = run_batch(refs, listing, tmp_path)
    assert {i: outcome(r) for i, r in records.items()} == {"sub/a.txt": ("ok", None)}


# -- 10. .jsonl.zst is read; a file that is not JSONL is one record -----------------------


def test_jsonl_zst_is_read_across_frames(tmp_path: Path) -> None:
    records = [{"id": f"n{n}", "text": f"Story number {n} says the council met on Monday."}
               for n in range(30)]
    first, second = jsonl(*records[:10]), jsonl(*records[10:])
    compressor = zstandard.ZstdCompressor()
    write(tmp_path / "src" / "feed.jsonl.zst",
          compressor.compress(first) + compressor.compress(second))  # two frames, as pzstd

    listing, refs = refs_of(tmp_path / "src", tmp_path)
    _, out = run_batch(refs, listing, tmp_path)

    assert {i: outcome(r) for i, r in out.items()} == {
        f"feed/n{n}.txt": ("ok", None) for n in range(30)
    }


# a compressor, and a decompressor that gives all the bytes a file cut short holds
COMPRESSED = {
    "gz": (lambda data: gzip.compress(data, 1), lambda: zlib.decompressobj(wbits=31)),
    "bz2": (lambda data: bz2.compress(data, 1), bz2.BZ2Decompressor),
    "xz": (lambda data: lzma.compress(data, preset=1), lzma.LZMADecompressor),
    "zst": (zstandard.ZstdCompressor().compress,
            lambda: zstandard.ZstdDecompressor().decompressobj(read_across_frames=True)),
}


def varied_lines(count: int, words: int = 160) -> bytes:
    """JSONL lines n0, n1, ... of random words: text that does not compress to nothing."""
    rng = random.Random(7)
    return jsonl(*({"id": f"n{n}", "text": " ".join(rng.choices(NEWS.split(), k=words))}
                   for n in range(count)))


@pytest.mark.parametrize("suffix", list(COMPRESSED))
def test_a_compressed_jsonl_file_cut_short_keeps_every_line_before_the_cut(
    tmp_path: Path, suffix: str
) -> None:
    """A partial download: every whole line the bytes before the cut decompress to is an
    article, the torn line after them none, and the file one `corrupt-jsonl` record naming
    the last line read. Over 1 MiB comes before the cut: more than one of the reader's blocks."""
    compress, decompressor = COMPRESSED[suffix]
    data = varied_lines(3_000)
    packed = compress(data)
    before_cut = decompressor().decompress(packed[: len(packed) // 2])
    complete = before_cut.count(b"\n")
    assert not before_cut.endswith(b"\n") and len(before_cut) > 1024 * 1024  # a line torn
    write(tmp_path / "src" / f"feed.jsonl.{suffix}", packed[: len(packed) // 2])
    write(tmp_path / "src" / f"whole.jsonl.{suffix}", packed)

    _, refs = refs_of(tmp_path / "src", tmp_path)

    feed = [r for r in refs if r.id.startswith("feed")]
    assert ids_and_reasons(feed) == [
        *((f"feed/n{n}.txt", None) for n in range(complete)),
        (f"feed.jsonl.{suffix}#unreadable", "corrupt-jsonl"),
    ]
    assert feed[-1].problem.detail.startswith(f"after line {complete}: ")
    assert [r.data for r in feed[:-1]] == [
        json.loads(line)["text"].encode() for line in data.splitlines()[:complete]
    ]
    whole = [r for r in refs if r.id.startswith("whole")]
    assert ids_and_reasons(whole) == [(f"whole/n{n}.txt", None) for n in range(3_000)]


@pytest.mark.parametrize("suffix", list(COMPRESSED))
def test_an_empty_compressed_jsonl_file_is_one_record_not_nothing(
    tmp_path: Path, suffix: str
) -> None:
    """A download that failed before its first byte: a 0-byte `.jsonl.gz` (`.bz2`, `.xz`,
    `.zst`) holds no compressed stream (gzip, bzip2, xz and zstd -d each say so), as a
    0-byte `.tgz` holds no archive (corrupt-archive). It came out as no record and no
    word. A 0-byte plain `.jsonl` is a file of no lines: nothing."""
    write(tmp_path / "src" / f"feed.jsonl.{suffix}", b"")
    write(tmp_path / "src" / "plain.jsonl", b"")

    _, refs = refs_of(tmp_path / "src", tmp_path)

    assert ids_and_reasons(refs) == [(f"feed.jsonl.{suffix}#unreadable", "corrupt-jsonl")]
    assert refs[0].problem.detail.startswith("before its first whole line: ")


def test_a_small_zst_file_cut_short_is_one_record_not_nothing(tmp_path: Path) -> None:
    packed = zstandard.ZstdCompressor().compress(varied_lines(5, words=8))  # one block
    write(tmp_path / "src" / "feed.jsonl.zst", packed[: len(packed) // 2])

    _, refs = refs_of(tmp_path / "src", tmp_path)

    assert ids_and_reasons(refs) == [("feed.jsonl.zst#unreadable", "corrupt-jsonl")]
    assert refs[0].problem.detail.startswith("before its first whole line: ")


def test_a_zst_file_of_frames_is_whole_only_when_cut_between_frames(tmp_path: Path) -> None:
    """Frames with and without a checksum or a content size, empty, skippable: a file cut
    between two frames is whole (nothing says more was meant); cut anywhere else it keeps
    the lines before the cut and is one `corrupt-jsonl` record."""
    lines = varied_lines(9, words=8).splitlines(keepends=True)
    stream = zstandard.ZstdCompressor(write_content_size=False).compressobj()
    frames = [
        zstandard.ZstdCompressor(write_checksum=True).compress(b"".join(lines[:3])),
        (0x184D2A53).to_bytes(4, "little") + (6).to_bytes(4, "little") + b"skip!!",
        zstandard.ZstdCompressor().compress(b""),
        stream.compress(b"".join(lines[3:6])) + stream.flush(),
        zstandard.ZstdCompressor(write_checksum=True).compress(b"".join(lines[6:])),
    ]
    packed = b"".join(frames)
    ends = {sum(map(len, frames[: n + 1])) for n in range(len(frames))}
    path = tmp_path / "feed.jsonl.zst"
    for cut in range(1, len(packed) + 1):
        write(path, packed[:cut])
        complete = COMPRESSED["zst"][1]().decompress(packed[:cut]).count(b"\n")

        file = SourceFile("feed.jsonl.zst", str(path), "jsonl", cut, str(cut))
        refs = list(jsonl_articles(LOCAL, file, CONFIG))

        lines_read = [(f"feed/n{n}.txt", None) for n in range(complete)]
        if cut in ends:
            assert ids_and_reasons(refs) == lines_read, cut
        else:
            broken = ("feed.jsonl.zst#unreadable", "corrupt-jsonl")
            assert ids_and_reasons(refs) == [*lines_read, broken], cut
            where = f"after line {complete}" if complete else "before its first whole line"
            assert refs[-1].problem.detail.startswith(f"{where}: "), cut
    assert complete == 9


def test_a_tgz_cut_short_keeps_every_member_before_the_cut(tmp_path: Path) -> None:
    """Every member whose header and bytes the cut leaves whole is an article, though the
    tar record (10 KiB) that holds it is cut short; the rest is one record."""
    rng = random.Random(3)
    members = [
        (f"s/{n}.txt", " ".join(rng.choices(NEWS.split(), k=rng.randint(20, 300))).encode())
        for n in range(200)
    ]
    packed = tar_bytes(members, "w:gz")
    before_cut = zlib.decompressobj(wbits=31).decompress(packed[: len(packed) // 2])
    end, complete = 0, 0
    for _, data in members:  # a 512-byte header, the bytes padded to 512
        if end + 512 + len(data) > len(before_cut):
            break
        end, complete = end + 512 + len(data) + -len(data) % 512, complete + 1
    write(tmp_path / "src" / "pack.tgz", packed[: len(packed) // 2])

    _, refs = refs_of(tmp_path / "src", tmp_path)

    assert ids_and_reasons(refs) == [
        *((f"s/{n}.txt", None) for n in range(complete)),
        ("pack.tgz#unreadable", "corrupt-archive"),
    ]
    assert refs[-1].problem.detail.startswith(f"after member 's/{complete - 1}.txt': ")


def test_random_bytes_named_jsonl_are_one_rejected_file(tmp_path: Path) -> None:
    noise = bytes((n * 7919 + n // 13) % 256 for n in range(400_000))
    write(tmp_path / "src" / "noise.jsonl", noise)
    write(tmp_path / "src" / "noise2.jsonl.gz", __import__("gzip").compress(noise))
    good = [{"id": f"g{n}", "text": NEWS} for n in range(25)]
    # a real file with a few broken lines keeps its records, one per line
    write(tmp_path / "src" / "real.jsonl", jsonl(*good[:10], "{broken", *good[10:], "[1, 2]"))

    _, refs = refs_of(tmp_path / "src", tmp_path)

    assert ids_and_reasons(refs[:2]) == [
        ("noise.jsonl#unreadable", "not-jsonl"), ("noise2.jsonl.gz#unreadable", "not-jsonl"),
    ]
    assert ids_and_reasons(refs[2:]) == [
        *((f"real/g{n}.txt", None) for n in range(10)), ("real/line-11", "malformed-jsonl"),
        *((f"real/g{n}.txt", None) for n in range(10, 25)), ("real/line-27", "malformed-jsonl"),
    ]


def test_a_jsonl_file_that_turns_into_noise_ends_in_one_record(tmp_path: Path) -> None:
    good = jsonl(*({"id": f"g{n}", "text": NEWS} for n in range(30)))
    noise = b"".join(b"\x8f\x00garbage %d \xff\n" % n for n in range(5000))
    write(tmp_path / "src" / "feed.jsonl", good + noise)

    _, refs = refs_of(tmp_path / "src", tmp_path)

    assert len(refs) < 30 + 2 * 100
    assert ids_and_reasons(refs[:30]) == [(f"feed/g{n}.txt", None) for n in range(30)]
    assert ids_and_reasons(refs[-1:]) == [("feed.jsonl#unreadable", "not-jsonl")]


def test_objects_without_text_cost_only_themselves_not_the_rest_of_the_file(
    tmp_path: Path,
) -> None:
    """A run of JSON objects whose text is null is no sign of noise: 120 such lines after
    200 articles were a 100-line window 'not JSON objects', and the 500 after were lost."""
    story = {"text": "Story number {} has many words in it."}
    lines = [
        *({"id": f"g{n}", "text": story["text"].format(n)} for n in range(200)),
        *({"id": f"b{n}", "text": None} for n in range(120)),
        *({"id": f"g{n}", "text": story["text"].format(n)} for n in range(200, 700)),
    ]
    write(tmp_path / "src" / "feed.jsonl", jsonl(*lines))

    _, refs = refs_of(tmp_path / "src", tmp_path)

    assert ids_and_reasons(refs) == [
        *((f"feed/g{n}.txt", None) for n in range(200)),
        *((f"feed/line-{n}", "no-text") for n in range(201, 321)),
        *((f"feed/g{n}.txt", None) for n in range(200, 700)),
    ]
    assert refs[200].problem.detail == (
        "line 201: no text in text or article (input.text_fields); its fields: id, text (null)"
    )


@pytest.mark.parametrize(("line", "reason", "detail"), [
    ({"id": "c", "content": NEWS}, "no-text",
     "no text in text or article (input.text_fields); its fields: id, content"),
    ({"id": "c", "text": 7}, "no-text", "text is a number, not a string (input.text_fields)"),
    ({"id": "c", "text": NEWS, "highlights": 7}, "bad-highlights",
     "highlights is a number, not a string or a list of strings"),
    ({"id": "c", "text": NEWS, "highlights": [1]}, "bad-highlights",
     "a highlight is a number, not a string"),
])
def test_a_file_of_objects_without_a_usable_field_has_a_record_per_line(
    tmp_path: Path, line: dict, reason: str, detail: str
) -> None:
    """Every line a JSON object, every one with the same wrong field: a file in JSONL, each
    line rejected for what it lacks, not one record saying the lines are not JSON."""
    write(tmp_path / "src" / "feed.jsonl", jsonl(*({**line, "id": f"c{n}"} for n in range(30))))

    _, refs = refs_of(tmp_path / "src", tmp_path)

    assert ids_and_reasons(refs) == [(f"feed/line-{n}", reason) for n in range(1, 31)]
    assert [r.problem.detail for r in refs] == [f"line {n}: {detail}" for n in range(1, 31)]


def test_a_file_of_lines_that_are_not_objects_is_one_record(tmp_path: Path) -> None:
    write(tmp_path / "src" / "feed.jsonl", jsonl(*["[1, 2]", '"a string"', "7"] * 10))

    _, refs = refs_of(tmp_path / "src", tmp_path)

    assert ids_and_reasons(refs) == [("feed.jsonl#unreadable", "not-jsonl")]
    assert refs[0].problem.detail.startswith("20 of the first 20 lines are not JSON objects")


@pytest.mark.parametrize("field", ["text", "highlights"])
def test_json_objects_with_a_lone_surrogate_are_no_sign_of_noise(
    tmp_path: Path, field: str
) -> None:
    """A JSON object whose text or highlight holds a lone surrogate (`"\\ud800"`, valid
    JSON) is one rejected line, as documented; it is still a JSON object, so 120 of them
    are no sign that the file is not JSONL, and the articles after them are read."""
    bad = {"text": "Story \ud800 cut.", "highlights": "fine"} if field == "text" else \
        {"text": "A fine story.", "highlights": ["cut \udc00 here"]}
    lines = [
        *({"id": f"g{n}", "text": f"Story number {n} has words."} for n in range(200)),
        *({"id": f"b{n}", **bad} for n in range(120)),
        *({"id": f"g{n}", "text": f"Story number {n} has words."} for n in range(200, 400)),
    ]
    write(tmp_path / "src" / "feed.jsonl", jsonl(*lines))

    _, refs = refs_of(tmp_path / "src", tmp_path)

    assert ids_and_reasons(refs) == [
        *((f"feed/g{n}.txt", None) for n in range(200)),
        *((f"feed/line-{n}", "malformed-jsonl") for n in range(201, 321)),
        *((f"feed/g{n}.txt", None) for n in range(200, 400)),
    ]
    assert "lone surrogate" in refs[200].problem.detail


def test_lines_rejected_no_text_are_read_once_the_text_field_is_named(tmp_path: Path) -> None:
    """Nothing is lost: input.text_fields is in the fingerprint, so a run with the field
    named takes the lines the first run rejected."""
    src, dest = tmp_path / "src", tmp_path / "out"
    write(src / "feed.jsonl", jsonl(*({"id": f"c{n}", "content": NEWS} for n in range(30))))

    first = run_sharded(src, dest, workers=1)
    second = run_sharded(src, dest, {"input.text_fields": ["content"]}, workers=1)

    assert (first.counts["rejected"], first.reasons) == (30, {"no-text": 30})
    assert (second.counts["ok"], second.counts["rejected"]) == (30, 0)
    assert {r["id"]: r["status"] for r in records(dest)} == {
        f"feed/c{n}.txt": "ok" for n in range(30)
    }
    assert (dest / "feed/c29.txt").read_text() == NEWS.lower().replace(".\n", " .\n")


# -- 11. and 12. archives: non-articles are ignored, a pattern that matches nothing said ---


def test_non_articles_in_an_archive_are_ignored_as_in_a_folder(tmp_path: Path) -> None:
    members = [
        ("data/README.md", b"# The data set\n"), ("data/metadata.jsonl", b'{"id": 1}\n'),
        ("data/urls.csv", b"url\nhttp://x\n"), ("data/LICENSE", b"MIT\n"),
        ("data/a.txt", NEWS.encode()), ("data/b.STORY", NEWS.encode()),
    ]
    write(tmp_path / "src" / "pack.tgz", tar_bytes(members, "w:gz"))
    for name, data in members:
        if not name.endswith(".jsonl"):  # JSONL in a folder is read; in an archive it is not
            write(tmp_path / "folder" / name, data)

    archive, refs = refs_of(tmp_path / "src", tmp_path)
    folder, folder_refs = refs_of(tmp_path / "folder", tmp_path)

    assert [r.id for r in refs] == [r.id for r in folder_refs] == ["data/a.txt", "data/b.STORY"]
    assert archive.ignored_count == folder.ignored_count + 1 == 4
    assert archive.ignored[0] == "pack.tgz!data/README.md (not an article)"
    # a pattern of the user's reads what it matches
    config = with_options(input={"member_pattern": "*.csv"})
    _, chosen = refs_of(tmp_path / "src", tmp_path, config)
    assert ids_and_reasons(chosen) == [("data/urls.csv", None)]


@pytest.mark.parametrize("how", ["url", "setting"])
def test_a_member_pattern_that_matches_nothing_is_a_warning(tmp_path: Path, how: str) -> None:
    write(tmp_path / "src" / "stories.tgz",
          tar_bytes([("a.story", NEWS.encode()), ("b.story", NEWS.encode())], "w:gz"))
    source = tmp_path / "src" / "stories.tgz"
    if how == "url":
        config, source = CONFIG, f"tar://*.storys::{source}"
    else:
        config = with_options(input={"member_pattern": "*.txt"})

    listing = list_source(str(source), str(tmp_path / "out"), config, RunIndex())
    refs = list(iter_articles(listing, config))

    assert refs == []
    pattern = "*.storys" if how == "url" else "*.txt"
    assert listing.warnings == [
        f"the member pattern {pattern!r} matched none of the 2 members of stories.tgz"
    ]


def test_an_archive_without_members_is_a_warning(tmp_path: Path) -> None:
    write(tmp_path / "src" / "empty.tgz", tar_bytes([], "w:gz"))
    write(tmp_path / "src" / "full.tgz", tar_bytes([("a.txt", NEWS.encode())], "w:gz"))
    listing, refs = refs_of(tmp_path / "src", tmp_path)
    assert ids_and_reasons(refs) == [("full/a.txt", None)]
    assert listing.warnings == ["empty.tgz has no members"]


# -- 16. JSONL fields: null falls back, ids of two types stay two ------------------------


def test_jsonl_nulls_and_ids_of_two_types(tmp_path: Path) -> None:
    write(tmp_path / "src" / "feed.jsonl", jsonl(
        {"id": "a", "text": None, "article": NEWS, "highlights": ["One", None, "Two"]},
        {"id": 1, "text": NEWS}, {"id": "1", "text": OTHER},
        {"id": 2.5, "text": NEWS}, {"id": True, "text": OTHER},
    ))

    listing, refs = refs_of(tmp_path / "src", tmp_path)
    dest, records = run_batch(refs, listing, tmp_path)

    assert all(outcome(r) == ("ok", None) for r in records.values()), records
    assert len(records) == 5
    assert (dest / "feed/a.txt").read_text() == NEWS.lower().replace(".\n", " .\n")
    assert (dest / "feed/a.txt.highlights").read_text() == "one\ntwo\n"
    assert (dest / "feed/1.txt").read_text().startswith("rain closed")  # the string "1"
    numeric = next(r for r in refs if r.source.endswith(":2"))
    assert numeric.id.startswith("feed/1-") and numeric.record_id == "1"


def test_a_jsonl_id_that_is_an_object_is_spelled_as_json(tmp_path: Path) -> None:
    write(tmp_path / "src" / "feed.jsonl", jsonl({"id": {"k": [1]}, "text": NEWS}))
    _, refs = refs_of(tmp_path / "src", tmp_path)
    assert refs[0].record_id == json.dumps({"k": [1]}) and refs[0].problem is None


def test_fifo_does_not_count_as_a_link(tmp_path: Path) -> None:
    """The link check does not change what a FIFO is: not-a-file, at once."""
    write(tmp_path / "src" / "a.txt", NEWS.encode())
    listing = list_source(str(tmp_path / "src"), str(tmp_path / "out"), CONFIG, RunIndex())
    (tmp_path / "src" / "a.txt").unlink()
    os.mkfifo(tmp_path / "src" / "a.txt")
    _, records = run_batch(list(iter_articles(listing, CONFIG)), listing, tmp_path)
    assert outcome(records["a.txt"]) == ("rejected", "not-a-file")
    assert "FIFO" in records["a.txt"].detail


# -- 9. the quarantine copies a bounded number of bytes -----------------------------------


def test_a_quarantine_bomb_is_bounded_per_item_and_per_run(tmp_path: Path) -> None:
    """A small .tar.bz2 of members of zeros: each is rejected (binary), and what the
    quarantine copies stays within the run's limits; the records keep size and digest."""
    zeros = b"\0" * (2 * 1024 * 1024)
    small = [(f"s{n:02d}.txt", bytes([1, n]) * 150_000) for n in range(10)]
    bomb = tar_bytes([*((f"z{n:02d}.txt", zeros) for n in range(20)), *small], "w:bz2")
    assert len(bomb) < 10_000
    write(tmp_path / "src" / "bomb.tar.bz2", bomb)

    listing, refs = refs_of(tmp_path / "src", tmp_path)
    dest, records = run_batch(
        refs, listing, tmp_path, quarantine_max_item_bytes=1024 * 1024,
        quarantine_max_run_bytes=1_000_000, quarantine_budget=str(tmp_path / "budget"),
    )

    assert {outcome(r) for r in records.values()} == {("rejected", "binary-content")}
    copied = [p for p in (dest / "_quarantine").rglob("*") if p.is_file()
              and not p.name.endswith(".reason.json")]
    assert sum(p.stat().st_size for p in copied) <= 1_000_000
    assert sorted(p.name for p in copied) == ["s00.txt", "s01.txt", "s02.txt"]
    digest = __import__("hashlib").sha256(zeros).hexdigest()
    assert records["z00.txt"].quarantine is None
    assert f"2097152 bytes, sha256 {digest}" in records["z00.txt"].detail
    assert "quarantine_max_item_bytes=1048576" in records["z00.txt"].detail
    assert records["s09.txt"].quarantine is None
    assert "quarantine_max_run_bytes=1000000 are used up" in records["s09.txt"].detail


# -- 16. the smaller ones ------------------------------------------------------------------


def test_an_article_named_like_a_temp_file_is_not_removed_as_one(tmp_path: Path) -> None:
    src, dest = tmp_path / "src", tmp_path / "out"
    names = ["notes.newsprep-tmp-draft.txt", "x.newsprep-tmp-1.story", "plain.txt"]
    for name in names:
        write(src / name, NEWS.encode())
    write(dest / "sub" / f".newsprep-tmp-{'0a' * 16}", b"a killed run's temp file")

    first = run(src, dest)
    second = run(src, dest)

    assert first.counts["ok"] == 3 and second.counts["skipped"] == 3
    assert second.removed_files == 0
    for name in names:
        assert (dest / name).read_text().startswith("the city council approved")
    assert not (dest / "sub").exists() or not list((dest / "sub").iterdir())


LONG = "/".join(f"folder{n:02d}" for n in range(12)) + "/a.txt"  # 113 characters


@pytest.mark.parametrize("where", ["local", "gzipped", "flaky"])
@pytest.mark.parametrize(("name", "tar_format"), [
    ("a.txt", tarfile.PAX_FORMAT),  # plain headers
    (LONG, tarfile.USTAR_FORMAT),  # a name in ustar's prefix and name fields
    (LONG, tarfile.PAX_FORMAT),  # a pax header: tarfile reads the headers
])
def test_a_member_appended_twice_keeps_its_last_copy(
    tmp_path: Path, name: str, tar_format: int, where: str
) -> None:
    """`tar -r` appends a second copy of a name; GNU tar extracts the last one: so does
    newsprep, from a plain archive on the local disk, one compressed after appending
    (`tar -rf x.tar ...; gzip x.tar`), and one on another store (flaky:// takes the
    object-store paths)."""
    src = tmp_path / "src"
    archive = src / "pack.tar"
    src.mkdir()
    for text in (NEWS, "The first update to the story was filed on Monday.\n", OTHER):
        with tarfile.open(archive, "a", format=tar_format) as appending:  # tar -r
            info = tarfile.TarInfo(name)
            info.size = len(text)
            appending.addfile(info, io.BytesIO(text.encode()))
            if text == NEWS:
                info = tarfile.TarInfo("b.txt")
                info.size = len(NEWS)
                appending.addfile(info, io.BytesIO(NEWS.encode()))
    if where == "gzipped":
        archive = archive.rename(src / "pack.tar.gz")
        archive.write_bytes(gzip.compress(archive.read_bytes()))

    listing, refs = refs_of(f"flaky://{src}" if where == "flaky" else src, tmp_path)
    dest, records = run_batch(refs, listing, tmp_path)

    assert {i: outcome(r) for i, r in records.items()} == {
        name: ("ok", None), "b.txt": ("ok", None),
    }
    assert (dest / name).read_text().startswith("rain closed the coastal road")
    assert listing.ignored == [
        f"{archive.name}!{name} (an earlier copy; the last one is read)"
    ] * 2


THIRD = "Ferry services to the islands resumed after the storm passed on Friday.\n"


def appended(archive: Path, *members: tarfile.TarInfo | tuple[str, str]) -> None:
    """One `tar -r` of `members` (new TarInfos for hard links, (name, text) for files)."""
    with tarfile.open(archive, "a") as appending:
        for member in members:
            if isinstance(member, tarfile.TarInfo):
                appending.addfile(member)
                continue
            info = tarfile.TarInfo(member[0])
            info.size = len(member[1].encode())
            appending.addfile(info, io.BytesIO(member[1].encode()))


def hard_link(name: str, target: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = tarfile.LNKTYPE, target
    return info


def gnu_tar_extracts(archive: Path, where: Path) -> dict[str, str] | None:
    """What GNU tar extracts from the archive (path: text); None without GNU tar."""
    tar = shutil.which("tar")
    if tar is None or "GNU tar" not in subprocess.run(
        [tar, "--version"], capture_output=True, text=True, check=False
    ).stdout:
        return None
    where.mkdir()
    subprocess.run([tar, "-xf", str(archive), "-C", str(where)], capture_output=True, check=False)
    return {
        str(path.relative_to(where)): path.read_text()
        for path in where.rglob("*") if path.is_file()
    }


@pytest.mark.parametrize("where", ["local", "gzipped"])
def test_hard_links_beside_a_name_stored_twice_are_read_as_gnu_tar_extracts_them(
    tmp_path: Path, where: str
) -> None:
    """GNU tar stores a second name of a file as a hard link to the first, and `tar -r`
    a file again as a regular one: a link is made to the copy extracted before it, every
    member is an article, and a broken link after them is a record of its own."""
    src = tmp_path / "src"
    src.mkdir()
    archive = src / "pack.tar"
    appended(archive, ("a.txt", NEWS), hard_link("b.txt", "a.txt"))
    appended(
        archive, ("a.txt", OTHER), ("c.txt", THIRD), hard_link("d.txt", "c.txt"),
        hard_link("e.txt", "./a.txt"), hard_link("lost.txt", "not-there.txt"),
    )
    if where == "gzipped":
        archive = archive.rename(src / "pack.tar.gz")
        archive.write_bytes(gzip.compress(archive.read_bytes()))
    expected = {"a.txt": OTHER, "b.txt": NEWS, "c.txt": THIRD, "d.txt": THIRD, "e.txt": OTHER}
    extracted = gnu_tar_extracts(archive, tmp_path / "extracted")
    assert extracted in (None, expected)

    listing, refs = refs_of(src, tmp_path)
    dest, records = run_batch(refs, listing, tmp_path)

    assert {r.id: r.data and r.data.decode() for r in refs if not r.problem} == expected
    assert {i: outcome(r) for i, r in records.items()} == {
        **{name: ("ok", None) for name in expected}, "lost.txt": ("rejected", "broken-link"),
    }
    assert len(refs) == len(records)
    assert (dest / "b.txt").read_text().startswith("the city council approved")
    assert (dest / "e.txt").read_text().startswith("rain closed the coastal road")
    assert listing.ignored == [f"{archive.name}!a.txt (an earlier copy; the last one is read)"]


@pytest.mark.parametrize(("first", "last"), [
    ("./x.txt", "x.txt"),  # `tar -cf a.tar -C src .`, then `tar -rf a.tar -C src x.txt`
    ("x.txt", "./x.txt"),
    ("sub//x.txt", "sub/x.txt"),
    ("sub/./x.txt", "sub/x.txt"),
    ("./sub/x.txt", "sub//x.txt"),
])
def test_two_spellings_of_one_path_are_one_member_its_last_copy(
    tmp_path: Path, first: str, last: str
) -> None:
    """GNU tar writes `./x.txt` and `x.txt` (`sub//x.txt`, `sub/./x.txt`, `sub/x.txt`) to
    one file, the last copy last: they are copies of one member, not two articles."""
    src = tmp_path / "src"
    src.mkdir()
    archive = src / "pack.tar"
    appended(archive, (first, NEWS), ("./other.txt", THIRD))
    appended(archive, (last, OTHER))
    path = first.replace("./", "").replace("//", "/")
    expected = {path: OTHER, "other.txt": THIRD}
    extracted = gnu_tar_extracts(archive, tmp_path / "extracted")
    assert extracted in (None, expected)

    listing, refs = refs_of(src, tmp_path)
    dest, records = run_batch(refs, listing, tmp_path)

    assert {r.id: r.data.decode() for r in refs} == expected
    assert {i: outcome(r) for i, r in records.items()} == {
        path: ("ok", None), "other.txt": ("ok", None),
    }
    assert (dest / path).read_text().startswith("rain closed the coastal road")
    assert listing.ignored == [f"pack.tar!{first} (an earlier copy; the last one is read)"]


def test_a_member_pattern_reads_the_spelling_it_matches(tmp_path: Path) -> None:
    """`tar -xf a.tar x.txt` extracts the member named `x.txt`, not `./x.txt`: a member
    pattern matches names as stored, and copies are counted among what it matches."""
    src = tmp_path / "src"
    src.mkdir()
    archive = src / "pack.tar"
    appended(archive, ("x.txt", NEWS))
    appended(archive, ("./x.txt", OTHER))

    listing, refs = refs_of(f"tar://x.txt::{archive}", tmp_path)

    assert [(r.id, r.data.decode(), r.problem) for r in refs] == [("x.txt", NEWS, None)]
    assert listing.ignored == []


def test_a_file_the_run_may_not_read_is_rejected_not_failed(tmp_path: Path) -> None:
    """Tests run as root, who may read any file: flaky:// raises the PermissionError a
    read of a mode-000 file raises for anyone else (newsprep/faults.py, error=denied)."""
    import fsspec

    src = tmp_path / "src"
    write(src / "locked.txt", NEWS.encode())
    write(src / "open.txt", OTHER.encode())
    fsspec.config.conf["flaky"] = {"always_fail": "*/locked.txt", "error": "denied"}
    try:
        listing, refs = refs_of(f"flaky://{src}", tmp_path)
        _, records = run_batch(refs, listing, tmp_path)
    finally:
        fsspec.config.conf.pop("flaky", None)

    assert {i: outcome(r) for i, r in records.items()} == {
        "locked.txt": ("rejected", "permission-denied"), "open.txt": ("ok", None),
    }
    assert records["locked.txt"].attempts == 1
    assert "permission denied" in records["locked.txt"].detail


def test_utf32_with_a_bom_is_decoded(tmp_path: Path) -> None:
    for name, encoding in (("le.txt", "utf-32-le"), ("be.txt", "utf-32-be")):
        bom = codecs.BOM_UTF32_LE if encoding.endswith("le") else codecs.BOM_UTF32_BE
        write(tmp_path / "src" / name, bom + NEWS.encode(encoding))

    listing, refs = refs_of(tmp_path / "src", tmp_path)
    dest, records = run_batch(refs, listing, tmp_path)

    for name in ("le.txt", "be.txt"):
        assert outcome(records[name]) == ("ok", None)
        assert records[name].fixes[:1] == ["decode:utf-32"]
        assert (dest / name).read_text().startswith("the city council approved the new budget")


@pytest.mark.parametrize("compress", [
    lambda data: gzip.compress(data, mtime=0), bz2.compress, lzma.compress,
    lambda data: zstandard.ZstdCompressor().compress(data),
], ids=["gzip", "bz2", "xz", "zstd"])
def test_a_compressed_archive_named_tar_is_read_as_gnu_tar_reads_it(
    tmp_path: Path, compress
) -> None:
    """A compressed archive saved as `.tar` (a download renamed): GNU tar finds the
    compression from the bytes, so its articles are read, not one `corrupt-archive`."""
    members = [(f"s/{n}.txt", (NEWS + f"Item {n}.\n").encode()) for n in range(3)]
    write(tmp_path / "src" / "pack.tar", compress(tar_bytes(members)))
    if shutil.which("tar"):
        listed = subprocess.run(["tar", "-tf", str(tmp_path / "src" / "pack.tar")],
                                capture_output=True, text=True)
        if listed.returncode == 0:  # GNU tar's own reading, where it has the decompressor
            assert listed.stdout.split() == [name for name, _ in members]

    _, refs = refs_of(tmp_path / "src", tmp_path)

    assert ids_and_reasons(refs) == [(name, None) for name, _ in members]
    assert [ref.data for ref in refs] == [data for _, data in members]


def test_a_plain_tar_whose_first_name_looks_compressed_is_plain(tmp_path: Path) -> None:
    """A plain archive's first bytes are its first member's name: one that begins as a
    compressed stream does (`BZh`) is still a tar header, as GNU tar checks."""
    members = [("BZh9-notes.txt", NEWS.encode()), ("b.txt", OTHER.encode())]
    write(tmp_path / "src" / "pack.tar", tar_bytes(members))

    _, refs = refs_of(tmp_path / "src", tmp_path)

    assert sorted(ref.data for ref in refs) == sorted(data for _, data in members)
    assert all(ref.problem is None for ref in refs)
