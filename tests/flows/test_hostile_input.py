"""Every kind of broken input ends ok or with a named reason, and the run finishes."""

from __future__ import annotations

import gzip
import io
import json
import random
import re
import tarfile
from pathlib import Path

import ledger
import pytest
from flowrun import run_flow
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

from newsprep.config import RunOptions

pytestmark = [pytest.mark.usefixtures("prefect_server"), pytest.mark.e2e]

WORDS = [
    "the",
    "city",
    "council",
    "budget",
    "schools",
    "roads",
    "clinics",
    "mayor",
    "storm",
    "river",
    "said",
]


def varied(lines: int, seed: int) -> bytes:
    """Text that does not compress to nothing, so cutting the archive loses members."""
    rng = random.Random(seed)
    return "".join(
        " ".join(rng.choice(WORDS) for _ in range(12)) + ".\n" for _ in range(lines)
    ).encode()


NEWS = (
    "The city council approved the new budget on Tuesday after a long debate.\n"
    "Officials said the plan would fund schools, roads and two new clinics.\n"
)
EVIL_NAME = "!evil|[x](javascript:alert(1))*_.txt"


def tgz(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


# file name -> bytes, and the (status, reason) each article must end with
HOSTILE: dict[str, tuple[bytes, dict[str, tuple[str, str | None]]]] = {
    "empty.txt": (b"", {"empty.txt": ("rejected", "empty-output")}),
    "whitespace.txt": (b" \n\t\r\n  \n", {"whitespace.txt": ("rejected", "empty-output")}),
    "image.txt": (
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 4,
        {"image.txt": ("rejected", "binary-content")},
    ),
    EVIL_NAME: (b"GIF89a\x00\x01" * 50, {EVIL_NAME: ("rejected", "binary-content")}),
    "undecodable.txt": (
        NEWS.encode() + b"\x81\x8d\x8f\x90\x9d\n",
        {"undecodable.txt": ("rejected", "undecodable")},
    ),
    "utf16.txt": (NEWS.encode("utf-16"), {"utf16.txt": ("ok", None)}),
    "cp1252.txt": (("It’s a café – " + NEWS).encode("cp1252"), {"cp1252.txt": ("ok", None)}),
    "mojibake.txt": (
        ("Itâ€™s the cafÃ© everyone talks about. " + NEWS).encode(),
        {"mojibake.txt": ("ok", None)},
    ),
    "html.txt": (
        b"<p>Tom &amp; Jerry met the mayor.</p>\n" + NEWS.encode(),
        {"html.txt": ("ok", None)},
    ),
    "terminal.txt": (
        b"\x1b[31mBreaking:\x1b[0m storm warning \x07issued.\n" + NEWS.encode(),
        {"terminal.txt": ("ok", None)},
    ),
    "scripts.txt": (
        "北京 officials met. مرحبا بالعالم. Привет, мир. 🎉 Zoë and José cheered.\n".encode()
        + NEWS.encode(),
        {"scripts.txt": ("ok", None)},
    ),
    "turkish.txt": (
        "İSTANBUL'DA BÜYÜK KAR FIRTINASI ETKİLİ OLDU VE YOLLAR KAPANDI.\n".encode(),
        {"turkish.txt": ("ok", None)},
    ),
    "long-line.txt": (b"word " * 210_000, {"long-line.txt": ("rejected", "line-too-long")}),
    "huge.txt": ((NEWS * 30_000).encode(), {"huge.txt": ("rejected", "too-large")}),
    "nobody.story": (
        b"@highlight\n\nOnly a highlight here\n",
        {"nobody.story": ("rejected", "no-body")},
    ),
    "feed.jsonl": (
        b'{"id": "a1", "text": "' + NEWS.replace("\n", " ").encode() + b'"}\n'
        b'{"id": "a2", "text": \n',
        {
            "feed/a1.txt": ("ok", None),
            "feed/line-2": ("rejected", "malformed-jsonl"),
        },
    ),
    "cut-feed.jsonl.gz": (
        gzip.compress(
            b"".join(
                json.dumps({"id": n, "text": varied(3, n).decode()}).encode() + b"\n"
                for n in range(300)
            )
        )[:4000],
        {"cut-feed.jsonl.gz#unreadable": ("rejected", "corrupt-jsonl")},
    ),
    "cut-stories.tgz": (
        tgz({f"s/{n}.txt": varied(30, n) for n in range(30)})[:6000],
        {"cut-stories.tgz#unreadable": ("rejected", "corrupt-archive")},
    ),
}


def test_hostile_corpus(tmp_path: Path) -> None:
    src, dest = tmp_path / "src", tmp_path / "out"
    src.mkdir()
    expected: dict[str, tuple[str, str | None]] = {}
    for name, (data, outcomes) in HOSTILE.items():
        (src / name).write_bytes(data)
        expected.update(outcomes)

    state = run_flow(str(src), str(dest), options=RunOptions(workers=2), return_state=True)
    assert state.is_completed()

    records = ledger.records(dest)
    got = {r["id"]: (r["status"], r["reason"]) for r in records}
    # archive and JSONL members read before a cut still count; only compare what we named
    assert {k: got.get(k) for k in expected} == expected
    summary = json.loads((dest / "_run.json").read_text())
    assert summary["discovered"] == len(records) == sum(summary["counts"].values())
    huge = next(r for r in records if r["id"] == "huge.txt")
    assert "max_bytes=4194304" in huge["detail"], "the limit is named"

    for record in records:
        if record["status"] == "ok":
            text = (dest / record["output"]).read_bytes().decode("utf-8")
            assert not re.search(r"[\x00-\x09\x0b-\x1f\x7f-\x9f]", text), record["id"]
            assert not any(ch.isupper() for ch in text), record["id"]
    fixes = {r["id"]: r["fixes"] for r in records}
    assert "decode:utf-16" in fixes["utf16.txt"]
    assert "decode:cp1252" in fixes["cp1252.txt"]
    assert "remove_terminal_escapes" in fixes["terminal.txt"]
    assert any(step.startswith("encode:") for step in fixes["mojibake.txt"])
    assert "it 's the café everyone talks about" in (dest / "mojibake.txt").read_text()
    assert not (tmp_path / "evil").exists() and all(
        p.resolve().is_relative_to(dest.resolve()) for p in dest.rglob("*")
    )

    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(
                flow_run_id=ArtifactFilterFlowRunId(any_=[state.state_details.flow_run_id])
            )
        )
    report = next(a for a in artifacts if a.type == "markdown").data
    assert "](javascript:" not in report, "article-derived text is escaped"
    assert r"\[x\]\(javascript:alert\(1\)\)" in report
