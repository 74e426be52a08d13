"""Sources and destinations on S3: a real moto server over HTTP, through s3fs, with the
flow on the session's real Prefect server (process-pool workers unless said otherwise).

Expected texts are written by hand from the default profile's rules (Moses tokens,
lowercase, one line per paragraph; highlights one per line in `<id>.highlights`).
"""

from __future__ import annotations

import gzip
import io
import json
import os
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import ledger
import pytest
from flowrun import run_flow
from jsonl_lines import hostile_lines

from newsprep.config import RunOptions

pytestmark = [pytest.mark.usefixtures("prefect_server"), pytest.mark.e2e]

NEWS: dict[str, bytes] = {
    "world/2026-04-02-lisbon-night-trams.txt": (
        b"LISBON, Portugal (CNN) -- Lisbon's trams will run all night on Saturdays "
        b"from May, the city said.\n"
        b"The trial will last six months.\n"
    ),
    "world/2026-04-05-andes-quake-drill.txt": (
        "SANTIAGO, Chile (CNN) -- More than 2 million people took part in Chile's largest "
        "earthquake drill on Thursday, leaving offices and schools within three minutes.\n"
        "\u201cWe practise so that nobody has to think when the ground moves,\u201d said "
        "Ignacio Fuentes, who runs the national emergency office.\n"
        "Officials said the next drill would be held at night.\n"
    ).encode(),
    "business/2026-04-03-coffee-futures.txt": (
        "NEW YORK (CNN) -- Arabica coffee futures rose 4.2% to $3.41 a pound on Wednesday "
        "\u2014 their highest level since 1977 \u2014 after frost hit farms in Minas Gerais.\n"
        "Roasters said shoppers would see higher prices by the summer.\n"
    ).encode(),
    "science/2026-04-07-glacier-survey.story": (
        b"ZERMATT, Switzerland (CNN) -- Swiss glaciers lost 3% of their volume last year,\n"
        b"a survey published on Monday found.\n\n"
        b"It was the third-largest loss since records began in 1914.\n\n"
        b"@highlight\n\nSwiss glaciers lost 3% of their volume in 2025\n\n"
        b"@highlight\n\nThird-largest loss on record\n"
    ),
    "broken/scan.txt": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x01\x00binary",
    "notes/README.md": b"# Not an article\n",
}
EXPECTED_STATUS = {
    "world/2026-04-02-lisbon-night-trams.txt": "ok",
    "world/2026-04-05-andes-quake-drill.txt": "ok",
    "business/2026-04-03-coffee-futures.txt": "ok",
    "science/2026-04-07-glacier-survey.story": "ok",
    "broken/scan.txt": "rejected",
}
LISBON = (
    "lisbon , portugal ( cnn ) -- lisbon 's trams will run all night on saturdays from may , "
    "the city said .\n"
    "the trial will last six months .\n"
)
GLACIER_HIGHLIGHTS = (
    "swiss glaciers lost 3 % of their volume in 2025\nthird-largest loss on record\n"
)
COMPARED = ("ok", "rejected", "reason", "output", "highlights", "sha256", "tokens")

THREADS = RunOptions(workers=2, runner="thread")
PROCESSES = RunOptions(workers=2)


def put_tree(fs, prefix: str, files: dict[str, bytes]) -> None:
    for relative, data in files.items():
        fs.pipe_file(f"{prefix}/{relative}", data)


def write_tree(root: Path, files: dict[str, bytes]) -> None:
    for relative, data in files.items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_bytes(data)


def local_files(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()
    }


def bucket_files(fs, prefix: str) -> dict[str, bytes]:
    return {path[len(prefix) + 1 :]: fs.cat_file(path) for path in fs.find(prefix)}


def corpus(files: dict[str, bytes]) -> dict[str, bytes]:
    """The written corpus: article outputs and highlights (not newsprep's own files)."""
    return {k: v for k, v in files.items() if not k.startswith("_")}


def manifest(dest: str | Path) -> dict[str, dict]:
    """DEST's records by id, in the ledger's order."""
    return {r["id"]: r for r in ledger.records(dest)}


def comparable(records: dict[str, dict]) -> dict[str, tuple]:
    return {key: tuple(r.get(f) for f in COMPARED) for key, r in records.items()}


def test_s3_to_s3_local_to_s3_s3_to_local_match_a_local_run(s3, tmp_path: Path) -> None:
    src = tmp_path / "news"
    write_tree(src, NEWS)
    put_tree(s3, "raw/news", NEWS)

    run_flow(str(src), str(tmp_path / "local"), options=THREADS)
    local = local_files(tmp_path / "local")
    records = manifest(tmp_path / "local")
    assert {k: r["status"] for k, r in records.items()} == EXPECTED_STATUS
    assert records["broken/scan.txt"]["reason"] == "binary-content"
    assert local["world/2026-04-02-lisbon-night-trams.txt"].decode() == LISBON
    highlights = local["science/2026-04-07-glacier-survey.story.highlights"].decode()
    assert highlights == GLACIER_HIGHLIGHTS

    run_flow("s3://raw/news", "s3://clean/corpus", options=PROCESSES)
    run_flow(str(src), "s3://clean/from-local", options=THREADS)
    run_flow("s3://raw/news", str(tmp_path / "from-s3"), options=THREADS)

    for name, dest, files in [
        ("s3 -> s3", "s3://clean/corpus", bucket_files(s3, "clean/corpus")),
        ("local -> s3", "s3://clean/from-local", bucket_files(s3, "clean/from-local")),
        ("s3 -> local", tmp_path / "from-s3", local_files(tmp_path / "from-s3")),
    ]:
        assert corpus(files) == corpus(local), name
        assert comparable(manifest(dest)) == comparable(records), name
        assert files["_quarantine/broken/scan.txt"] == NEWS["broken/scan.txt"], name
        summary = json.loads(files["_run.json"])
        assert summary["counts"] == {"ok": 4, "rejected": 1, "failed": 0, "skipped": 0}, name
        assert summary["ignored_files"] == 1, name
    sources = {r["source"] for r in manifest("s3://clean/corpus").values()}
    assert "s3://raw/news/world/2026-04-02-lisbon-night-trams.txt" in sources


# -- a CNN stories archive read through tar://PATTERN::s3://... -----------------------------

STORIES = {
    "cnn/stories/7a1c3f09e2b1d4c5a6f7e8d9c0b1a2f3e4d5c6b7.story": (
        b"OSLO, Norway (CNN) -- Norway will open two new Arctic ferry routes in June.\n\n"
        b"The routes link Tromso with three island villages.\n\n"
        b"@highlight\n\nTwo new Arctic ferry routes open in June\n\n"
        b"@highlight\n\nThey link Tromso with three villages\n"
    ),
    "cnn/stories/0b9e8d7c6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c.story": (
        b"NAIROBI, Kenya (CNN) -- Kenya's central bank cut its main interest rate to 9.5%.\n\n"
        b"It was the third cut this year.\n\n"
        b"@highlight\n\nKenya cuts its main rate to 9.5%\n"
    ),
    "cnn/stories/c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f7.story": (
        b"HANOI, Vietnam (CNN) -- Hanoi opened its second metro line on Sunday.\n"
    ),
}


def build_tgz(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size, info.mtime = len(data), 1_775_000_000
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def test_story_archive_through_chained_tar_url(s3) -> None:
    s3.pipe_file(
        "raw/cnn_stories.tgz", build_tgz({**STORIES, "cnn/README.txt": b"Not a story.\n"})
    )

    summary = run_flow(
        "tar://*.story::s3://raw/cnn_stories.tgz", "s3://clean/cnn", options=THREADS
    )

    files = bucket_files(s3, "clean/cnn")
    records = manifest("s3://clean/cnn")
    assert {k: r["status"] for k, r in records.items()} == {name: "ok" for name in STORIES}
    assert summary.counts["ok"] == 3
    oslo = "cnn/stories/7a1c3f09e2b1d4c5a6f7e8d9c0b1a2f3e4d5c6b7.story"
    assert files[oslo].decode() == (
        "oslo , norway ( cnn ) -- norway will open two new arctic ferry routes in june .\n"
        "the routes link tromso with three island villages .\n"
    )
    assert files[oslo + ".highlights"].decode() == (
        "two new arctic ferry routes open in june\nthey link tromso with three villages\n"
    )
    assert records[oslo]["highlights"] == oslo + ".highlights"
    assert records[oslo]["source"] == f"s3://raw/cnn_stories.tgz!{oslo}"
    hanoi = "cnn/stories/c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f7.story"
    assert records[hanoi]["highlights"] is None
    assert hanoi + ".highlights" not in files


# -- JSONL and JSONL.gz objects -------------------------------------------------------------

WIRE = [
    {"id": "ap-1001", "text": "Lima's mayor resigned on Friday.\nA vote is due in June."},
    {"id": "ap-1002", "article": "Peru's congress approved the budget.",
     "highlights": "Budget passes"},
    '{"id": "ap-1003", "text": "Cut off mid-rec',
    {"id": "ap-1004", "text": "Quito's airport reopened after the ash cloud cleared."},
    {"id": "ap-1001", "text": "A second story that reuses the id of the first one."},
]


def jsonl_bytes(records: list) -> bytes:
    lines = [r if isinstance(r, str) else json.dumps(r) for r in records]
    return ("\n".join(lines) + "\n").encode()


@pytest.mark.parametrize("name", ["wire.jsonl", "wire.jsonl.gz"])
def test_jsonl_objects(s3, name: str) -> None:
    data = jsonl_bytes(WIRE)
    s3.pipe_file(f"raw/feeds/{name}", gzip.compress(data) if name.endswith(".gz") else data)

    run_flow("s3://raw/feeds", "s3://clean/feeds", options=THREADS)

    files = bucket_files(s3, "clean/feeds")
    records = manifest("s3://clean/feeds")
    assert {k: (r["status"], r["reason"]) for k, r in records.items()} == {
        "wire/ap-1001.txt": ("ok", None),
        "wire/ap-1002.txt": ("ok", None),
        "wire/line-3": ("rejected", "malformed-jsonl"),
        "wire/ap-1004.txt": ("ok", None),
        "wire/ap-1001.txt~2": ("rejected", "duplicate-id"),
    }
    assert records["wire/line-3"]["detail"].startswith("line 3:")
    assert records["wire/line-3"]["source"] == f"s3://raw/feeds/{name}:3"
    assert f"{name}:1" in records["wire/ap-1001.txt~2"]["detail"]
    # The first ap-1001 stands; the duplicate is only quarantined.
    assert files["wire/ap-1001.txt"] == (
        b"lima 's mayor resigned on friday .\na vote is due in june .\n"
    )
    assert files["wire/ap-1002.txt.highlights"] == b"budget passes\n"
    assert files["_quarantine/wire/ap-1001.txt~2"] == WIRE[4]["text"].encode()
    assert files["_quarantine/wire/line-3"] == WIRE[2].encode() + b"\n"


# -- output.format=jsonl shards -------------------------------------------------------------


SHARD_INPUT = [
    {"id": f"cnn-{i}", "article": f"Story number {i} is about the port of Genoa, Italy.",
     "highlights": f"Genoa story {i}\nSecond line {i}"}
    for i in range(5)
]
SHARDS = {"output.format": "jsonl", "output.shard_size": 2}
SHARD_NAMES = ["part-00000.jsonl.gz", "part-00001.jsonl.gz", "part-00002.jsonl.gz"]


def test_jsonl_shards(s3) -> None:
    s3.pipe_file("raw/cnn.jsonl", jsonl_bytes(SHARD_INPUT))

    summary = run_flow("s3://raw/cnn.jsonl", "s3://clean/shards", overrides=SHARDS,
                               options=PROCESSES)

    assert summary.counts["ok"] == 5
    names = sorted(p.rsplit("/", 1)[1] for p in s3.find("clean/shards") if "/part-" in p)
    assert names == SHARD_NAMES
    shards = []
    for shard in names:
        with gzip.open(io.BytesIO(s3.cat_file(f"clean/shards/{shard}")), "rt") as handle:
            shards.append([json.loads(line) for line in handle])
    assert [len(rows) for rows in shards] == [2, 2, 1]
    rows = [row for rows in shards for row in rows]
    assert all(set(row) == {"id", "text", "highlights", "source"} for row in rows)
    assert [row["id"] for row in rows] == [f"cnn-{i}" for i in range(5)]
    assert rows[3]["text"] == "story number 3 is about the port of genoa , italy ."
    assert rows[3]["highlights"] == "genoa story 3\nsecond line 3"
    assert rows[3]["source"] == "s3://raw/cnn.jsonl:4"


def test_jsonl_shards_load_with_datasets(
    s3, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # local files only: no hub, no network
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    import datasets
    s3.pipe_file("raw/cnn.jsonl", jsonl_bytes(SHARD_INPUT))
    run_flow("s3://raw/cnn.jsonl", "s3://clean/shards", overrides=SHARDS,
                     options=THREADS)
    local = tmp_path / "shards"
    s3.get("clean/shards/", str(local), recursive=True)

    loaded = datasets.load_dataset(
        "json", data_files=[str(local / name) for name in SHARD_NAMES],
        split="train", cache_dir=str(tmp_path / "hf-cache"),
    )

    assert loaded.num_rows == 5
    assert loaded.column_names == ["id", "text", "highlights", "source"]
    assert loaded[3] == {
        "id": "cnn-3", "text": "story number 3 is about the port of genoa , italy .",
        "highlights": "genoa story 3\nsecond line 3", "source": "s3://raw/cnn.jsonl:4",
    }


# -- a large JSONL object cut into slices ---------------------------------------------------


def test_a_large_jsonl_object_is_cut_into_slices_that_write_what_the_whole_does(
    s3, tmp_path: Path
) -> None:
    """The flow with its worker processes: the object is cut by a worker (ranged reads),
    each slice is a shard, and DEST holds what one shard of the whole object writes."""
    data = ("\n".join(hostile_lines(300)) + "\n").encode()
    s3.pipe_file("raw/feeds/big.jsonl", data)
    write_tree(tmp_path / "src", {"feeds/big.jsonl": data})
    cut = RunOptions(workers=2, slice_bytes=4096)

    summary = run_flow("s3://raw/feeds", "s3://clean/feeds", options=cut)
    run_flow(str(tmp_path / "src" / "feeds"), str(tmp_path / "whole"), options=PROCESSES)

    assert summary.shards > 5
    s3.invalidate_cache()  # the flow listed _ledger/ in this process, its workers wrote it
    assert corpus(bucket_files(s3, "clean/feeds")) == corpus(local_files(tmp_path / "whole"))
    assert comparable(manifest("s3://clean/feeds")) == comparable(manifest(tmp_path / "whole"))
    parts = [p for p in s3.find("clean/feeds/_ledger") if "/slice=" in p and p.endswith(".jsonl")]
    assert len(parts) == summary.shards

    late = {"id": "late", "text": "The ferry to the island will run twice a day from June."}
    s3.pipe_file("raw/feeds/big.jsonl", data + (json.dumps(late) + "\n").encode())
    again = run_flow("s3://raw/feeds", "s3://clean/feeds", options=cut)
    s3.invalidate_cache()

    assert again.changes["new"] == 1 and again.changes["changed"] == 0
    assert s3.cat_file("clean/feeds/big/late.txt") == (
        b"the ferry to the island will run twice a day from june .\n"
    )


def test_a_changed_slice_keeps_the_outputs_of_its_articles_on_s3(s3, tmp_path: Path) -> None:
    """A line changed in the middle of a sliced JSONL object gives its slice a new key: the
    old slice's part is read like a migration's, and its articles that no slice took are
    gone. The flow process listed _ledger/ before the workers wrote the new slice's part,
    and s3fs answered the second listing from that cache: the new part was not seen, its
    articles counted gone and their outputs deleted, under records that say ok/skipped."""
    def line(n: int, word: str = "council") -> str:
        text = f"The {word} met on day {n:03d} and voted on the new budget for the harbour."
        return json.dumps({"id": f"n{n:03d}", "text": text})

    lines = [line(n) for n in range(300)]
    s3.pipe_file("raw/feeds/big.jsonl", ("\n".join(lines) + "\n").encode())
    cut = RunOptions(workers=2, slice_bytes=4096)
    first = run_flow("s3://raw/feeds", "s3://clean/feeds", options=cut)
    assert first.shards > 3 and first.counts["ok"] == 300

    lines[150] = line(150, "counsel")  # as long as before
    s3.pipe_file("raw/feeds/big.jsonl", ("\n".join(lines) + "\n").encode())
    s3.invalidate_cache()  # as a new `newsprep run` starts
    again = run_flow("s3://raw/feeds", "s3://clean/feeds", options=cut)

    s3.invalidate_cache()
    files = bucket_files(s3, "clean/feeds")
    records = manifest("s3://clean/feeds")
    assert len(records) == 300
    assert [key for key, r in records.items() if r["output"] not in files] == []
    assert (again.removed_articles, again.changes["changed"]) == (0, 1), again.changes
    assert again.counts == {"ok": 1, "rejected": 0, "failed": 0, "skipped": 299}
    assert files["big/n150.txt"] == (
        b"the counsel met on day 150 and voted on the new budget for the harbour .\n"
    )
    assert files["big/n151.txt"] == (
        b"the council met on day 151 and voted on the new budget for the harbour .\n"
    )
    assert len(corpus(files)) == 300


# -- a 50 MB JSONL object, streamed ---------------------------------------------------------

BIG_BYTES = 50 * 1024 * 1024
PARAGRAPHS = [
    "The harbour authority said the new cranes would double the port's capacity by 2028.",
    "Union leaders said they had not been consulted and called a meeting for Thursday.",
    "Shipping companies welcomed the plan, but warned that road links were already full.",
    "The regional government will pay a third of the cost, about 410 million euros.",
    "Residents near the docks have complained about noise from night-time loading.",
]


def big_jsonl(path: Path, target: int) -> int:
    """A scraped-news dump: a short article per record beside its page's raw HTML."""
    markup = "".join(
        f'<div class="para" data-n="{n}"><p>{PARAGRAPHS[n % 5]}</p></div>\n' for n in range(200)
    )
    count = 0
    with path.open("w") as handle:
        while handle.tell() < target:
            text = "\n".join(PARAGRAPHS[(count + k) % 5] + f" (Item {count}.)" for k in range(3))
            handle.write(json.dumps(
                {"id": f"port-{count:06d}", "text": text, "html": f"<!-- {count} -->" + markup}
            ) + "\n")
            count += 1
    return count


# The flow process's own peak RSS: VmHWM of its address space. (getrusage's ru_maxrss
# would not do: Linux carries it across exec, so a child started from a big pytest
# process reports the parent's size.) Run with -c, so spawned workers do not rerun it.
RSS_PROBE = """
import sys
from newsprep.cli import main
code = main(sys.argv[1:])
with open("/proc/self/status") as status:
    peak = next(line.split()[1] for line in status if line.startswith("VmHWM:"))
print("PEAK_RSS_KB", peak, file=sys.stderr)
sys.exit(code)
"""


def run_cli_measured(args: list[str]) -> tuple[int, str]:
    """`newsprep run ...` in a fresh process; returns the flow process's peak RSS in KiB."""
    done = subprocess.run(
        [sys.executable, "-c", RSS_PROBE, "run", *args],
        capture_output=True, text=True, timeout=120, env=os.environ.copy(),
    )
    assert done.returncode == 0, done.stderr[-3000:]
    line = next(x for x in done.stderr.splitlines() if x.startswith("PEAK_RSS_KB"))
    return int(line.split()[1]), done.stderr


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads Linux's VmHWM")
def test_50mb_jsonl_object_with_bounded_memory(s3, tmp_path: Path) -> None:
    started = time.monotonic()
    small, big = tmp_path / "small.jsonl", tmp_path / "big.jsonl"
    small_count = big_jsonl(small, 256 * 1024)
    big_count = big_jsonl(big, BIG_BYTES)
    s3.put_file(str(small), "raw/small/dump.jsonl")
    s3.put_file(str(big), "raw/big/dump.jsonl")
    size = s3.info("raw/big/dump.jsonl")["size"]
    assert size >= BIG_BYTES
    shard = ["--set", "output.format=jsonl", "--set", "output.shard_size=250", "--workers", "2"]

    baseline, _ = run_cli_measured(["s3://raw/small", "s3://clean/small", *shard])
    peak, _ = run_cli_measured(["s3://raw/big", "s3://clean/big", *shard])

    summary = json.loads(s3.cat_file("clean/big/_run.json"))
    assert summary["counts"]["ok"] == big_count
    assert summary["discovered"] == big_count
    growth = (peak - baseline) * 1024
    print(
        f"\n50 MB JSONL: {size / 2**20:.1f} MiB, {big_count} records; flow process peak RSS "
        f"{peak / 1024:.0f} MiB vs {baseline / 1024:.0f} MiB for {small_count} records "
        f"(+{growth / 2**20:.1f} MiB); {time.monotonic() - started:.0f} s"
    )
    # Streamed: memory grows by in-flight batches, not with the object. Reading it whole
    # would add at least its size.
    assert growth < size / 4


# -- the CLI ----------------------------------------------------------------------------------


def newsprep_cli() -> str:
    return str(Path(sys.executable).with_name("newsprep"))


def test_cli_s3_to_s3(s3) -> None:
    put_tree(s3, "raw/news", NEWS)

    done = subprocess.run(
        [newsprep_cli(), "run", "s3://raw/news", "s3://clean/corpus", "--workers", "2"],
        capture_output=True, text=True, timeout=120, env=os.environ.copy(),
    )

    assert done.returncode == 0, done.stderr[-3000:]
    files = bucket_files(s3, "clean/corpus")
    assert {k: r["status"] for k, r in manifest("s3://clean/corpus").items()} == EXPECTED_STATUS
    assert files["world/2026-04-02-lisbon-night-trams.txt"].decode() == LISBON
    assert files["science/2026-04-07-glacier-survey.story.highlights"].decode() == (
        GLACIER_HIGHLIGHTS
    )


def test_read_records_sees_what_a_later_run_wrote(s3) -> None:
    """`read_records(DEST)` in a process that lives on (a notebook's, a pipeline's) read
    the parts of DEST/_ledger/ as s3fs had listed them the first time: after a second run
    (another process) its new parts were not read, and its new articles had no record."""
    lisbon = NEWS["world/2026-04-02-lisbon-night-trams.txt"]
    coffee = NEWS["business/2026-04-03-coffee-futures.txt"]
    put_tree(s3, "raw/later", {"world/a.txt": lisbon})
    assert run_cli("s3://raw/later", "s3://clean/later").returncode == 0
    assert sorted(manifest("s3://clean/later")) == ["world/a.txt"]

    put_tree(s3, "raw/later", {"world/b.txt": coffee, "business/c.txt": coffee})
    assert run_cli("s3://raw/later", "s3://clean/later").returncode == 0

    assert sorted(manifest("s3://clean/later")) == ["business/c.txt", "world/a.txt", "world/b.txt"]


def test_cli_storage_options_stay_secret(s3, s3_server: str) -> None:
    put_tree(s3, "raw/news", NEWS)
    key, secret = "AKIASTORAGEOPTION01", "storage-option-secret-Xq9"
    env = {k: v for k, v in os.environ.items() if k not in (
        "AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}

    done = subprocess.run(
        [newsprep_cli(), "run", "s3://raw/news", "s3://clean/corpus", "--workers", "2",
         "--storage-option", f"endpoint_url={s3_server}",
         "--storage-option", f"key={key}", "--storage-option", f"secret={secret}"],
        capture_output=True, text=True, timeout=120, env=env,
    )

    assert done.returncode == 0, done.stderr[-3000:]
    files = bucket_files(s3, "clean/corpus")
    assert {k: r["status"] for k, r in manifest("s3://clean/corpus").items()} == EXPECTED_STATUS
    port = s3_server.rsplit(":", 1)[1]
    for where, text in [
        ("stdout", done.stdout), ("stderr", done.stderr),
        *((name, data.decode()) for name, data in files.items() if ledger.is_ledger_file(name)),
    ]:
        for value in (s3_server, f"127.0.0.1:{port}", key, secret):
            assert value not in text, f"{value!r} leaked into {where}"


def test_flaky_s3_reads_and_writes_are_retried(s3) -> None:
    """A stable 40% of S3 reads and writes fail once with SlowDown: every article ends ok,
    and the ones that were hit say so in `attempts`; a key that never clears fails."""
    import fsspec

    from newsprep.cli import apply_storage_options
    from newsprep.faults import FlakyFileSystem

    put_tree(s3, "raw/news", NEWS)
    broken = "raw/news/world/2026-04-02-lisbon-night-trams.txt"
    options = {"target_protocol": "s3", "fail_fraction": 0.4, "error": "slowdown",
               "fail_paths": "*.txt", "always_fail": broken}
    apply_storage_options(["flaky://"], options)
    try:
        summary = run_flow(
            "flaky://raw/news", "flaky://clean/corpus",
            options=RunOptions(workers=2, retry_delay_seconds=0.01, max_failure_rate=0.5),
        )
    finally:
        os.environ.pop("FSSPEC_FLAKY", None)
        fsspec.config.conf.pop("flaky", None)

    plan = FlakyFileSystem(fail_fraction=0.4)
    records = manifest("s3://clean/corpus")
    assert sorted(records) == sorted(k for k in NEWS if k.endswith((".txt", ".story")))
    hit = 0
    for article, record in records.items():
        source = f"raw/news/{article}"
        if source == broken:
            assert (record["status"], record["reason"]) == ("failed", "read-error")
            assert "SlowDown" in record["detail"] and record["attempts"] == 3
            continue
        retries = source.endswith(".txt") and plan.chosen("read", source)
        if record["status"] == "ok" and article.endswith(".txt"):
            retries += plan.chosen("write", f"clean/corpus/{article}")
        hit += bool(retries)
        assert record["attempts"] == 1 + retries, article
        assert record["status"] == ("rejected" if article.startswith("broken/") else "ok")
    assert hit, "the plan hit at least one article"
    assert summary.counts["failed"] == 1


# -- issue 13 on object stores ----------------------------------------------------------------


def run_cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [newsprep_cli(), "run", *args], capture_output=True, text=True, timeout=180,
        env=env if env is not None else os.environ.copy(),
    )


def prefect_texts() -> list[tuple[str, str]]:
    """Everything the session's Prefect server holds about flow runs: their parameters,
    names, states and messages, their task runs, logs and events."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId

    found = []
    with get_client(sync_client=True) as client:
        for flow_run in client.read_flow_runs(limit=200):
            found.append((f"flow run {flow_run.name}", flow_run.model_dump_json()))
            logs = client.read_logs(
                log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run.id])),
                limit=200,
            )
            found += [(f"log of {flow_run.name}", log.model_dump_json()) for log in logs]
        found += [("task run", t.model_dump_json()) for t in client.read_task_runs(limit=200)]
        page = client.request("POST", "/events/filter", json={"limit": 50}).json()
        for _ in range(100):  # the events of the last hour, 50 a page
            found.append(("events", json.dumps(page["events"])))
            if not page.get("next_page"):
                break
            page = client._client.get(page["next_page"]).json()
    return found


def test_cli_credentials_in_urls_reach_neither_prefect_nor_outputs(s3) -> None:
    """Class 12: `s3://KEY:SECRET@bucket/...` SOURCE and DEST work, and the key and the
    secret appear in no output and nowhere in the Prefect database."""
    put_tree(s3, "raw/news", NEWS)
    key, secret = "AKIAURLUSERINFO0001", "url-userinfo-secret-Zr7"
    env = {k: v for k, v in os.environ.items()
           if k not in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}

    done = run_cli(f"s3://{key}:{secret}@raw/news", f"s3://{key}:{secret}@clean/corpus",
                   "--workers", "2", env=env)

    assert done.returncode == 0, done.stderr[-3000:]
    files = bucket_files(s3, "clean/corpus")
    assert {k: r["status"] for k, r in manifest("s3://clean/corpus").items()} == EXPECTED_STATUS
    sources = {r["source"] for r in manifest("s3://clean/corpus").values()}
    assert "s3://raw/news/world/2026-04-02-lisbon-night-trams.txt" in sources
    places = [("stdout", done.stdout), ("stderr", done.stderr),
              *((name, data.decode("utf-8", "replace")) for name, data in files.items()),
              *prefect_texts()]
    assert any("clean/corpus" in text for where, text in places if where.startswith("flow"))
    for where, text in places:
        for value in (key, secret):
            assert value not in text, f"{value!r} leaked into {where}"


def test_cli_s3_setup_errors_exit_2_in_one_line(s3, tmp_path: Path) -> None:
    """Class 13: no credentials (for SOURCE, for DEST) and an unreachable endpoint."""
    import socket

    put_tree(s3, "raw/news", NEWS)
    src = tmp_path / "news"
    write_tree(src, NEWS)
    no_credentials = {k: v for k, v in os.environ.items()
                      if k not in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}
    no_credentials["AWS_EC2_METADATA_DISABLED"] = "true"  # no instance role to ask
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{sock.getsockname()[1]}"
    unreachable = {**os.environ, "AWS_ENDPOINT_URL": dead}
    for args, env, message in [
        (["s3://raw/news", str(tmp_path / "out")], no_credentials,
         "no credentials for source s3://raw/news"),
        ([str(src), "s3://clean/corpus"], no_credentials,
         "no credentials for DEST s3://clean/corpus"),
        (["s3://raw/news", str(tmp_path / "out")], unreachable,
         "cannot reach the storage endpoint for source s3://raw/news"),
    ]:
        done = run_cli(*args, env=env)
        assert done.returncode == 2, (message, done.stderr[-3000:])
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 2 and lines[1].startswith("newsprep: error: "), done.stderr[-3000:]
        assert message in lines[1]
    assert not (tmp_path / "out").exists() and not s3.find("clean/corpus")


def test_cli_s3_dest_in_use_refuses_and_a_stale_lock_is_taken_over(s3) -> None:
    """Class 15 on an object store: a live lock object refuses the run (exit 2, naming its
    owner); an expired one, left by a killed run, does not block."""
    put_tree(s3, "raw/news", NEWS)
    now = time.time()
    owner = {"host": "other-host", "pid": 4242, "token": "t", "started_at": "2026-01-01",
             "heartbeat": now, "expires": now + 120}
    s3.pipe_file("clean/corpus/_newsprep.lock", json.dumps(owner).encode())

    busy = run_cli("s3://raw/news", "s3://clean/corpus", "--workers", "2")
    assert busy.returncode == 2, busy.stderr[-3000:]
    assert "in use by another newsprep run (pid 4242 on other-host" in busy.stderr
    assert s3.find("clean/corpus") == ["clean/corpus/_newsprep.lock"]

    stale = {**owner, "heartbeat": now - 600, "expires": now - 480}
    s3.pipe_file("clean/corpus/_newsprep.lock", json.dumps(stale).encode())
    done = run_cli("s3://raw/news", "s3://clean/corpus", "--workers", "2")
    assert done.returncode == 0, done.stderr[-3000:]
    files = bucket_files(s3, "clean/corpus")
    assert {k: r["status"] for k, r in manifest("s3://clean/corpus").items()} == EXPECTED_STATUS
    assert "_newsprep.lock" not in files, "the run removes its lock"


def test_s3_rerun_removes_outputs_of_deleted_and_now_rejected_articles(s3) -> None:
    """Class 6 on S3: DEST after a rerun holds what a clean run writes."""
    put_tree(s3, "raw/news", NEWS)
    run_flow("s3://raw/news", "s3://clean/corpus", options=THREADS)
    s3.rm("raw/news/world/2026-04-02-lisbon-night-trams.txt")
    s3.pipe_file("raw/news/science/2026-04-07-glacier-survey.story", b"\x00\x01" * 100)
    s3.pipe_file("raw/news/broken/scan.txt", NEWS["world/2026-04-02-lisbon-night-trams.txt"])

    summary = run_flow("s3://raw/news", "s3://clean/corpus", options=THREADS)
    run_flow("s3://raw/news", "s3://clean/fresh", options=THREADS)

    rerun, fresh = bucket_files(s3, "clean/corpus"), bucket_files(s3, "clean/fresh")
    assert "world/2026-04-02-lisbon-night-trams.txt" not in rerun
    assert "science/2026-04-07-glacier-survey.story.highlights" not in rerun
    assert {k: v for k, v in rerun.items() if not ledger.is_ledger_file(k)} == {
        k: v for k, v in fresh.items() if not ledger.is_ledger_file(k)
    }
    assert summary.removed_articles == 1


def glob_named_articles() -> dict[str, bytes]:
    """Keys whose names are fsspec glob patterns (`a[1].txt` matches `a1.txt`)."""
    good = [name for name, status in EXPECTED_STATUS.items() if status == "ok"]
    names = ["a[1].txt", "a1.txt", "b*.txt", "c?.txt", "f[1]/0.txt", "f1/0.txt", "d.txt"]
    return {name: NEWS[good[n % len(good)]] + f"Filed as {n}.\n".encode()
            for n, name in enumerate(names)}


def test_s3_stale_outputs_with_glob_characters_are_removed_by_name(s3) -> None:
    """fsspec's rm takes a key holding `[`, `]`, `*` or `?` for a pattern: the stale
    output `a[1].txt` was kept, and `a1.txt`, another article's output, deleted."""
    articles = glob_named_articles()
    put_tree(s3, "raw/glob", articles)
    run_flow("s3://raw/glob", "s3://clean/glob", options=THREADS)
    s3.invalidate_cache()
    written = corpus(bucket_files(s3, "clean/glob"))
    assert sorted(written) == sorted(articles)

    s3.rm_file("raw/glob/a[1].txt")
    summary = run_flow("s3://raw/glob", "s3://clean/glob", options=THREADS)

    s3.invalidate_cache()
    files = bucket_files(s3, "clean/glob")
    assert (summary.removed_articles, summary.removed_files) == (1, 1)
    assert corpus(files) == {k: v for k, v in written.items() if k != "a[1].txt"}
    assert sorted(manifest("s3://clean/glob")) == sorted(set(articles) - {"a[1].txt"})
    assert not [name for name in files if ".journal" in name]


def test_an_s3_dest_prefix_with_glob_characters_runs_again(s3) -> None:
    """DEST `clean/x[1]` is a pattern that matches `clean/x1`: the run's lock, journals
    and stale outputs are removed by their own names, not another DEST's."""
    articles = glob_named_articles()
    put_tree(s3, "raw/glob", articles)
    now = time.time()
    other = json.dumps({"host": "other-host", "pid": 4242, "token": "t", "heartbeat": now,
                        "expires": now + 600}).encode()
    s3.pipe_file("clean/x1/_newsprep.lock", other)  # a live run's, in DEST x1
    s3.pipe_file("clean/x1/d.txt", b"x1's own output\n")

    first = run_flow("s3://raw/glob", "s3://clean/x[1]", options=THREADS)
    again = run_flow("s3://raw/glob", "s3://clean/x[1]", options=THREADS)
    s3.rm_file("raw/glob/d.txt")
    gone = run_flow("s3://raw/glob", "s3://clean/x[1]", options=THREADS)

    assert first.counts["ok"] == len(articles)
    assert again.changes["skipped"] == len(articles)
    assert (gone.removed_articles, gone.removed_files) == (1, 1)
    s3.invalidate_cache()
    files = bucket_files(s3, "clean/x[1]")
    assert sorted(corpus(files)) == sorted(set(articles) - {"d.txt"})
    assert not [name for name in files if ".journal" in name or name == "_newsprep.lock"]
    assert bucket_files(s3, "clean/x1") == {"_newsprep.lock": other, "d.txt": b"x1's own output\n"}


# -- requests per article ---------------------------------------------------------------------

REQUEST_ARTICLES = 24
REQUEST_BATCHES = RunOptions(workers=2, batch_size=REQUEST_ARTICLES // 2)
DESKS = 3  # the folders many_articles writes: a shard each
FLOW_REQUESTS = 20  # the DEST lock, listings, _run.json
SHARD_REQUESTS = 8  # a shard's own: listings, its part and marker read or written
# a shard's folder is listed by the worker that plans it and again by the one that runs
# it, unless that is the same worker (its listing cached): which one is the pool's choice
RELISTED = DESKS
CONSTANT_REQUESTS = FLOW_REQUESTS + SHARD_REQUESTS * DESKS + RELISTED


def many_articles(count: int, first: int = 0) -> dict[str, bytes]:
    """`count` distinct good articles (NEWS's texts, a story among them) in three folders."""
    good = [name for name, status in EXPECTED_STATUS.items() if status == "ok"]
    articles = {}
    for n in range(first, first + count):
        name = good[n % len(good)]
        text = NEWS[name] + f"Filed as report {n}.\n".encode()
        articles[f"desk-{n % 3}/{n:03d}-{name.rsplit('/', 1)[1]}"] = text
    return articles


def written(articles: dict[str, bytes]) -> dict[str, list[str]]:
    """One PUT per object written: each output, and the highlights of each story."""
    objects = [*articles, *(name + ".highlights" for name in articles if name.endswith("story"))]
    return {name: ["PUT"] for name in objects}


def by_key(requests: list[tuple[str, str, str]], prefix: str) -> dict[str, list[str]]:
    """Methods of the requests on each object under prefix (bucket/prefix/), by its key
    relative to the prefix; listings (GET of the bucket with a query) are not on a key."""
    found: dict[str, list[str]] = {}
    for method, path, _ in requests:
        if path.startswith(f"/{prefix}/"):
            found.setdefault(path[len(prefix) + 2 :], []).append(method)
    return found


def on_articles(requests, names) -> list:
    """The requests that name an article: its source, its output or its highlights."""
    ends = tuple(f"/{name}{suffix}" for name in names for suffix in ("", ".highlights"))
    return [r for r in requests if r[1].endswith(ends)]


def fixed_requests(requests, articles) -> dict[str, list]:
    """The requests on no article: journal objects, and the rest."""
    rest = [r for r in requests if r not in on_articles(requests, articles)]
    journal = [r for r in rest if r[0] == "PUT" and ".journal/part-" in r[1]]
    return {"journal": journal, "constant": [r for r in rest if r not in journal]}


def test_requests_per_article_fresh_and_incremental(s3, s3_requests) -> None:
    """A fresh run: one GET per source object, one PUT per output, nothing else on an
    article; a rerun with new articles: no request at all on the unchanged ones, and
    the new ones cost what they did in the fresh run. The rest (listings, manifest,
    journal, summary) does not grow with the articles."""
    articles = many_articles(REQUEST_ARTICLES)
    put_tree(s3, "raw/many", articles)

    s3_requests.clear()
    summary = run_flow("s3://raw/many", "s3://clean/many", options=REQUEST_BATCHES)
    fresh = list(s3_requests)

    assert summary.counts["ok"] == REQUEST_ARTICLES
    assert by_key(fresh, "raw/many") == {name: ["GET"] for name in articles}
    outputs = {k: v for k, v in by_key(fresh, "clean/many").items() if not k.startswith("_")}
    assert outputs == written(articles)
    fixed = fixed_requests(fresh, articles)
    # the DEST lock (taken, released), SOURCE's folder listings, DEST/_ledger/'s listing,
    # _run.json: a constant; and per shard (a desk folder) a handful: its listing, its part
    # and marker written, its journal removed; and one journal object per batch. However
    # many articles.
    assert len(fixed["constant"]) <= CONSTANT_REQUESTS, fixed
    assert len(fixed["journal"]) == DESKS  # a batch a desk: 8 articles, batch_size 12

    new = many_articles(2, first=REQUEST_ARTICLES)
    put_tree(s3, "raw/many", new)
    s3_requests.clear()
    summary = run_flow("s3://raw/many", "s3://clean/many", options=REQUEST_BATCHES)
    incremental = list(s3_requests)

    assert summary.changes["skipped"] == REQUEST_ARTICLES and summary.changes["new"] == 2
    assert on_articles(incremental, articles) == [], "unchanged articles cost no request"
    assert by_key(incremental, "raw/many") == {name: ["GET"] for name in new}
    outputs = {k: v for k, v in by_key(incremental, "clean/many").items() if not k.startswith("_")}
    assert outputs == written(new)
    fixed_again = fixed_requests(incremental, new)
    assert len(fixed_again["constant"]) <= CONSTANT_REQUESTS, fixed_again
    # the new articles' batches, and the skipped records of their shards
    assert len(fixed_again["journal"]) <= 2 * len(new)
    s3.invalidate_cache()  # this process listed the bucket before the rerun wrote to it
    files = bucket_files(s3, "clean/many")
    assert set(manifest("s3://clean/many")) == set(articles) | set(new)
    assert not [name for name in files if ".journal" in name]


def test_additions_on_s3_are_written_read_and_skipped_whole(
    s3, s3_requests, tmp_path: Path
) -> None:
    """Issue 22: new articles in every desk, twice, become two additions beside each
    desk's part (objects of their own); an unchanged rerun reads a part and its additions
    at once and skips every shard whole; the records are a local run's."""
    articles = many_articles(REQUEST_ARTICLES)
    put_tree(s3, "raw/adds", articles)
    run_flow("s3://raw/adds", "s3://clean/adds", options=REQUEST_BATCHES)
    for first in (REQUEST_ARTICLES, REQUEST_ARTICLES + DESKS):
        new = many_articles(DESKS, first=first)  # one in each desk
        put_tree(s3, "raw/adds", new)
        articles.update(new)
        summary = run_flow("s3://raw/adds", "s3://clean/adds", options=REQUEST_BATCHES)
        assert summary.changes["new"] == DESKS
    s3.invalidate_cache()
    before = bucket_files(s3, "clean/adds/_ledger")
    assert sorted(name for name in before if "+" in name) == [
        f"folder=desk-{desk}+{n}.jsonl" for desk in range(DESKS) for n in (1, 2)
    ]
    s3_requests.clear()
    summary = run_flow("s3://raw/adds", "s3://clean/adds", options=REQUEST_BATCHES)
    assert summary.changes == {"new": 0, "changed": 0, "retried": 0, "skipped": len(articles)}
    on_ledger = by_key(s3_requests, "clean/adds/_ledger")
    # every shard skipped whole: its part and additions read once, nothing written
    assert {name: methods.count("GET") for name, methods in on_ledger.items() if "+" in name} == {
        f"folder=desk-{desk}+{n}.jsonl": 1 for desk in range(DESKS) for n in (1, 2)
    }
    assert not [m for methods in on_ledger.values() for m in methods if m not in ("GET", "HEAD")]
    write_tree(tmp_path / "src", articles)
    run_flow(str(tmp_path / "src"), str(tmp_path / "local"), options=THREADS)
    assert comparable(manifest("s3://clean/adds")) == comparable(manifest(tmp_path / "local"))

    # a marker lost (a run killed after an addition): its additions are found by their
    # names, and folded into the part; nothing is processed again
    s3.rm_file("clean/adds/_ledger/folder=desk-0.done.json")
    summary = run_flow("s3://raw/adds", "s3://clean/adds", options=REQUEST_BATCHES)
    assert summary.changes == {"new": 0, "changed": 0, "retried": 0, "skipped": len(articles)}
    s3.invalidate_cache()
    assert not [name for name in bucket_files(s3, "clean/adds/_ledger") if "desk-0+" in name]
    assert comparable(manifest("s3://clean/adds")) == comparable(manifest(tmp_path / "local"))


# -- kill -9 and resume, S3 -> S3 ----------------------------------------------------------------

KILLED_ARTICLES = 600


def test_sigkill_then_rerun_equals_uninterrupted_on_s3(s3) -> None:
    """Outputs are written behind the text work; a run killed part way and run again
    ends with the same objects and manifest as a run that was never interrupted."""
    import signal

    good = [name for name, status in EXPECTED_STATUS.items() if status == "ok"]
    articles = {
        f"part-{n // 100}/article-{n:04d}.txt": NEWS[good[n % len(good)]]
        + f"Reference number {n} was filed with this report.\n".encode()
        for n in range(KILLED_ARTICLES)
    }
    put_tree(s3, "raw/big", articles)

    def start(dest: str) -> subprocess.Popen:
        return subprocess.Popen(
            [newsprep_cli(), "run", "s3://raw/big", dest, "--batch-size", "20",
             "--workers", "2"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True,
            env=os.environ.copy(),
        )

    def journal_objects() -> list[str]:
        s3.invalidate_cache()
        return [key for key in s3.find("clean/killed/_ledger") if ".journal/part-" in key]

    run = start("s3://clean/killed")
    deadline = time.monotonic() + 120
    parts: list[str] = []
    while time.monotonic() < deadline and len(parts) < 5:
        assert run.poll() is None, run.stderr.read().decode()[-2000:]
        time.sleep(0.05)
        parts = journal_objects()
    os.killpg(run.pid, signal.SIGKILL)
    run.wait(timeout=30)
    assert 5 <= len(journal_objects()) < KILLED_ARTICLES // 20
    s3.invalidate_cache()
    markers = [key for key in s3.find("clean/killed/_ledger") if key.endswith(".done.json")]
    assert len(markers) < 6, "killed before every shard (a part-N folder) was done"

    rerun = start("s3://clean/killed")
    assert rerun.wait(timeout=300) == 0, rerun.stderr.read().decode()[-3000:]
    clean = start("s3://clean/clean")
    assert clean.wait(timeout=300) == 0, clean.stderr.read().decode()[-3000:]

    s3.invalidate_cache()
    killed, reference = bucket_files(s3, "clean/killed"), bucket_files(s3, "clean/clean")
    assert corpus(killed) == corpus(reference), "same objects, same bytes"
    assert len(corpus(killed)) == KILLED_ARTICLES
    assert not [name for name in killed if ".journal" in name]
    after, before = manifest("s3://clean/killed"), manifest("s3://clean/clean")
    assert list(after) == list(before)
    assert {r["status"] for r in after.values()} == {"ok", "skipped"}
    assert any(r["status"] == "skipped" for r in after.values())
    strip = ("status", "attempts")
    assert [{k: v for k, v in r.items() if k not in strip} for r in after.values()] == [
        {k: v for k, v in r.items() if k not in strip} for r in before.values()
    ]


def test_keys_that_are_one_path_twice_or_not_plain_paths_get_a_record(s3) -> None:
    """Issue 19 class 3: `x//a.txt` and `x/a.txt` would both write DEST/x/a.txt; keys with
    `.` or `..` components vanished without a record. Each is now an unsafe-id record."""
    lisbon = NEWS["world/2026-04-02-lisbon-night-trams.txt"]
    other = NEWS["business/2026-04-03-coffee-futures.txt"]
    keys = {"x/a.txt": lisbon, "x//a.txt": other, "x/./b.txt": other, "x/../c.txt": other,
            "x/.hidden.txt": other}
    for key, data in keys.items():
        s3.call_s3("put_object", Bucket="raw", Key=f"keys/{key}", Body=data)
    assert sorted(s3.find("raw/keys")) == sorted(f"raw/keys/{key}" for key in keys)

    summary = run_flow("s3://raw/keys", "s3://clean/keys", options=THREADS)

    files = bucket_files(s3, "clean/keys")
    records = manifest("s3://clean/keys")
    by_source = {r["source"].split("raw/keys/", 1)[1]: r for r in records.values()}
    assert set(by_source) == {"x/a.txt", "x//a.txt", "x/./b.txt", "x/../c.txt"}
    assert (by_source["x/a.txt"]["status"], by_source["x/a.txt"]["id"]) == ("ok", "x/a.txt")
    for key in ("x//a.txt", "x/./b.txt", "x/../c.txt"):
        record = by_source[key]
        assert (record["status"], record["reason"]) == ("rejected", "unsafe-id"), record
        assert record["id"].startswith("_unsafe/")
    assert files["x/a.txt"] == LISBON.encode()
    assert summary.counts == {"ok": 1, "rejected": 3, "failed": 0, "skipped": 0}
    assert not [k for k in files if k.startswith(("c.txt", "x/b.txt"))]


def test_zero_byte_objects_are_articles_like_empty_local_files(s3) -> None:
    """S3 answers a range read of an empty object with 416 (InvalidRange): an empty `.txt`
    or `.story` object was `failed` `read-error` every run (exit 1), where an empty local
    file is rejected for what it holds. An empty `.txt` has no tokens (empty-output), an
    empty `.story` no text before @highlight (no-body), each with its quarantine copy."""
    lisbon = NEWS["world/2026-04-02-lisbon-night-trams.txt"]
    put_tree(s3, "raw/empty", {"zero.txt": b"", "zero.story": b"", "ok.txt": lisbon})

    summary = run_flow("s3://raw/empty", "s3://clean/empty", options=THREADS)

    records = manifest("s3://clean/empty")
    assert {key: (r["status"], r["reason"]) for key, r in records.items()} == {
        "ok.txt": ("ok", None),
        "zero.txt": ("rejected", "empty-output"),
        "zero.story": ("rejected", "no-body"),
    }
    assert summary.counts == {"ok": 1, "rejected": 2, "failed": 0, "skipped": 0}
    files = bucket_files(s3, "clean/empty")
    assert files["ok.txt"] == LISBON.encode()
    assert (files["_quarantine/zero.txt"], files["_quarantine/zero.story"]) == (b"", b"")


# -- ranges of a large folder -----------------------------------------------------------------


def test_a_range_of_an_s3_folder_is_listed_from_its_first_name_to_its_last(
    s3, s3_requests, monkeypatch
) -> None:
    """A range's worker lists its own keys (pages from just before its first name, none
    past its last), and finds what a listing of the whole folder finds there."""
    import posixpath

    from newsprep.tasks.io import listing

    monkeypatch.setattr(listing, "LIST_PAGE_KEYS", 10)
    for n in range(60):
        s3.pipe(f"raw/big/a{n:03d}.txt", b"x" * n)
    for key in (".hidden/x.txt", "sub/x.txt", ".dot.txt", "b.txt"):
        s3.pipe(f"raw/big/{key}", b"y")

    def found(entries) -> list[tuple]:
        return sorted((path, i["type"], i["size"], i.get("ETag")) for path, i in entries)

    def inside(entries, first, last):
        return [e for e in entries if listing._in_range(posixpath.basename(e[0]), first, last)]

    s3.invalidate_cache()
    whole = found(listing._direct(s3, "raw/big"))
    assert len(whole) == 63  # 60 + b.txt + .dot.txt + .hidden (reported), not sub/
    for first, last, most in [("", "a010", 2), ("a010", "a035", 3), ("a035", None, 4),
                              ("a0355", "a036", 1), ("a059", "b.txt", 2)]:
        s3_requests.clear()
        got = found(inside(listing._range(s3, "raw/big", first, last), first, last))
        assert got == inside(whole, first, last), (first, last)
        assert len(s3_requests) <= most, (first, last, s3_requests)


def test_a_large_s3_folder_runs_in_ranges_like_a_local_one(s3, tmp_path: Path, monkeypatch) -> None:
    """An S3 folder cut into ranges (SHARD_FILES made small) gives the corpus and the
    records of the same folder on the local disk, and a rerun skips every range."""
    from shard_run import run_sharded

    import newsprep.run.planning as planning

    monkeypatch.setattr(planning, "SHARD_FILES", 3)
    articles = {name.rsplit("/", 1)[1]: text for name, text in many_articles(9).items()}
    put_tree(s3, "raw/one", articles)
    write_tree(tmp_path / "one", articles)
    summary = run_sharded("s3://raw/one", "s3://clean/one", workers=1)
    run_sharded(tmp_path / "one", tmp_path / "out", workers=1)
    assert summary.shards == 3 and summary.counts["ok"] == 9
    assert corpus(bucket_files(s3, "clean/one")) == corpus(local_files(tmp_path / "out"))
    sha = {k: (r["status"], r["sha256"]) for k, r in manifest("s3://clean/one").items()}
    assert sha == {k: (r["status"], r["sha256"]) for k, r in manifest(tmp_path / "out").items()}
    assert run_sharded("s3://raw/one", "s3://clean/one", workers=1).changes["skipped"] == 9


def test_an_s3_sources_folders_are_listed_by_the_runs_workers(s3, monkeypatch) -> None:
    """With worker processes, the flow gets each S3 folder's shards and counts from them
    and lists no folder of SOURCE itself (botocore parses ~0.25 ms of CPU a key); with the
    thread runner it lists them itself. The plans are the same."""
    import newsprep.run.planning as planning

    put_tree(s3, "raw/news", NEWS)
    listed: list[str] = []
    entries = planning._entries

    def counted(fs, folder: str):
        listed.append(folder)
        return entries(fs, folder)

    monkeypatch.setattr(planning, "_entries", counted)
    by_workers = run_flow("s3://raw/news", "s3://clean/workers", options=RunOptions(workers=2))
    assert listed == [] and by_workers.counts["ok"] > 0
    by_threads = run_flow("s3://raw/news", "s3://clean/threads", options=THREADS)
    folders = {"raw/news", *(f"raw/news/{name.split('/')[0]}" for name in NEWS if "/" in name)}
    assert sorted(listed) == sorted(folders)  # each folder once
    assert (by_workers.shards, by_workers.counts) == (by_threads.shards, by_threads.counts)
    assert corpus(bucket_files(s3, "clean/workers")) == corpus(bucket_files(s3, "clean/threads"))
