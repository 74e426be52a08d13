"""Source formats: .story, JSONL lines, safe paths, streamed tar archives.

Expected values are written from the formats' rules (CNN/DailyMail .story layout, JSON
Lines, POSIX tar), not taken from the code's output.
"""

from __future__ import annotations

import io
import json
import tarfile

import pytest
from archives import build_tar, story_text
from hypothesis import example, given, settings
from hypothesis import strategies as st

from newsprep.config import PROFILES, InputOptions
from newsprep.errors import Rejected
from newsprep.tasks.io.jsonl import iter_jsonl_lines, parse_jsonl_line
from newsprep.tasks.io.paths import _checked_relative_path, is_plain_path, safe_relative_path
from newsprep.tasks.io.tar import iter_tar
from newsprep.tasks.stages.normalize import normalize_text
from newsprep.tasks.stages.story import parse_story

# -- .story ---------------------------------------------------------------------------------

STORY = """\
LAGOS, Nigeria (CNN) -- Ferry services across Lagos lagoon resumed on Monday,
a week after a capsized boat left 14 passengers missing.

The state waterways authority said every operator must now carry
one life jacket per seat, and that inspectors will board ferries at random.

"We cannot bring back the people we lost," commissioner Adaeze Obi said. "We can make sure it
does not happen again."


Commuters at the Ikorodu terminal said queues were longer than usual.

@highlight

Ferries return to Lagos lagoon a week after a deadly capsizing

@highlight

Operators must carry one life jacket per seat, the authority says

@highlight
Inspectors will board ferries
at random
"""


def test_parse_story_paragraphs_and_highlights() -> None:
    story = parse_story(STORY)
    assert story.body == (
        "LAGOS, Nigeria (CNN) -- Ferry services across Lagos lagoon resumed on Monday, "
        "a week after a capsized boat left 14 passengers missing.\n"
        "The state waterways authority said every operator must now carry "
        "one life jacket per seat, and that inspectors will board ferries at random.\n"
        '"We cannot bring back the people we lost," commissioner Adaeze Obi said. "We can '
        'make sure it does not happen again."\n'
        "Commuters at the Ikorodu terminal said queues were longer than usual."
    )
    assert story.highlights == (
        "Ferries return to Lagos lagoon a week after a deadly capsizing",
        "Operators must carry one life jacket per seat, the authority says",
        "Inspectors will board ferries at random",
    )


def test_parse_story_without_highlights() -> None:
    text = "MADRID (CNN) -- Spain's parliament passed the budget.\n\nThe vote was 178 to 172.\n"
    story = parse_story(text)
    assert story.body == (
        "MADRID (CNN) -- Spain's parliament passed the budget.\nThe vote was 178 to 172."
    )
    assert story.highlights == ()


def test_parse_story_only_highlights_has_empty_body() -> None:
    story = parse_story("@highlight\n\nA summary line with no article\n\n@highlight\n\nAnother\n")
    assert story.body == ""
    assert story.highlights == ("A summary line with no article", "Another")


def test_story_with_only_highlights_is_rejected_no_body() -> None:
    raw = b"@highlight\n\nCouncil approves new tram line\n\n@highlight\n\nWork starts in May\n"
    with pytest.raises(Rejected) as caught:
        normalize_text(raw, PROFILES["default"], "story")
    assert caught.value.reason == "no-body"


def test_story_through_the_stages_keeps_highlights_apart() -> None:
    raw = (
        b"OSLO (CNN) -- Norway will open two new Arctic ferry routes.\n\n"
        b"The routes start in June.\n\n@highlight\n\nTwo new Arctic ferry routes\n"
    )
    result = normalize_text(raw, PROFILES["default"], "story")
    assert result.text == (
        "oslo ( cnn ) -- norway will open two new arctic ferry routes .\n"
        "the routes start in june .\n"
    )
    assert result.highlights == "two new arctic ferry routes\n"


def test_story_with_windows_line_endings() -> None:
    raw = (
        b"OSLO (CNN) -- Norway will open two new Arctic ferry routes.\r\n\r\n"
        b"The routes start in June.\r\n\r\n@highlight\r\n\r\nTwo new Arctic ferry routes\r\n"
    )
    result = normalize_text(raw, PROFILES["default"], "story")
    assert result.text == (
        "oslo ( cnn ) -- norway will open two new arctic ferry routes .\n"
        "the routes start in june .\n"
    )
    assert result.highlights == "two new arctic ferry routes\n"


# -- JSONL ----------------------------------------------------------------------------------

OPTIONS = InputOptions()


def test_jsonl_id_and_text() -> None:
    line = json.dumps({"id": "reuters-0193", "text": "First paragraph.\nSecond one."}).encode()
    article = parse_jsonl_line(line + b"\n", 3, OPTIONS)
    assert (article.id, article.text, article.highlights) == (
        "reuters-0193", "First paragraph.\nSecond one.", None
    )


def test_jsonl_cnn_dailymail_export() -> None:
    # The public CNN/DailyMail exports: id, article, highlights as one string with newlines.
    record = {
        "article": "LONDON, England (Reuters) -- A rare copy of a 1623 folio sold for $9.9m.",
        "highlights": "Rare folio sells for $9.9m .\nBuyer was a private collector .",
        "id": "42c027e4ff9730fbb3de84c1af0d2c506e41c3e4",
    }
    article = parse_jsonl_line(json.dumps(record).encode(), 1, OPTIONS)
    assert article.id == "42c027e4ff9730fbb3de84c1af0d2c506e41c3e4"
    assert article.text == record["article"]
    assert article.highlights == ("Rare folio sells for $9.9m .", "Buyer was a private collector .")


def test_jsonl_text_wins_over_article_and_list_highlights() -> None:
    record = {"id": 7, "article": "old", "text": "new", "highlights": ["one", " ", "two"]}
    article = parse_jsonl_line(json.dumps(record).encode(), 1, OPTIONS)
    assert (article.id, article.text, article.highlights) == ("7", "new", ("one", "two"))


def test_jsonl_without_id_is_named_after_its_line() -> None:
    article = parse_jsonl_line(b'{"text": "No id here."}', 12, OPTIONS)
    assert article.id == "line-12"


def test_jsonl_first_line_with_utf8_bom() -> None:
    line = b'\xef\xbb\xbf{"id": "a", "text": "Caf\xc3\xa9 opens."}\n'
    article = parse_jsonl_line(line, 1, OPTIONS)
    assert (article.id, article.text) == ("a", "Café opens.")


@pytest.mark.parametrize(
    ("line", "detail"),
    [
        (b'{"id": "a", "text": "unterminated', "line 5: "),
        (b"[1, 2, 3]", "line 5: not a JSON object"),
        (b'"just a string"', "line 5: not a JSON object"),
        (b'{"id": "a", "text": "caf\xe9"}', "line 5: "),  # Latin-1 byte, not UTF-8
    ],
)
def test_jsonl_bad_lines_are_rejected_with_their_number(line: bytes, detail: str) -> None:
    with pytest.raises(Rejected) as caught:
        parse_jsonl_line(line, 5, OPTIONS)
    assert caught.value.reason == "malformed-jsonl"
    assert caught.value.detail.startswith(detail)


@pytest.mark.parametrize(
    ("line", "detail"),
    [
        # no field of input.text_fields: the detail names them and the fields there are
        (b'{"id": "a", "content": "The council met."}',
         "line 5: no text in text or article (input.text_fields); its fields: id, content"),
        (b'{"id": "a", "text": null}',
         "line 5: no text in text or article (input.text_fields); its fields: id, text (null)"),
        (b"{}", "line 5: no text in text or article (input.text_fields); its fields: none"),
        # a text that is not a string is not replaced by the next field
        (b'{"text": 7, "article": "The council met."}',
         "line 5: text is a number, not a string (input.text_fields)"),
        (b'{"text": ["The council met."]}',
         "line 5: text is a list, not a string (input.text_fields)"),
        (b'{"text": {"body": "The council met."}}',
         "line 5: text is an object, not a string (input.text_fields)"),
        (b'{"text": false}', "line 5: text is false, not a string (input.text_fields)"),
    ],
)
def test_a_jsonl_object_without_a_text_string_is_rejected_no_text(
    line: bytes, detail: str
) -> None:
    with pytest.raises(Rejected) as caught:
        parse_jsonl_line(line, 5, OPTIONS)
    assert (caught.value.reason, caught.value.detail) == ("no-text", detail)


def test_jsonl_no_text_names_a_few_of_many_fields() -> None:
    names = [f"field_number_{n:04d}" for n in range(500)]
    line = json.dumps(dict.fromkeys(names, "x")).encode()
    with pytest.raises(Rejected) as caught:
        parse_jsonl_line(line, 5, OPTIONS)
    detail = caught.value.detail
    assert caught.value.reason == "no-text"
    assert "its fields: field_number_0000, field_number_0001" in detail
    assert "field_number_0499" not in detail and len(detail) < 300


@pytest.mark.parametrize(
    ("highlights", "detail"),
    [
        (7, "line 5: highlights is a number, not a string or a list of strings"),
        (1.5, "line 5: highlights is a number, not a string or a list of strings"),
        (True, "line 5: highlights is true, not a string or a list of strings"),
        ({"a": 1}, "line 5: highlights is an object, not a string or a list of strings"),
        ([1], "line 5: a highlight is a number, not a string"),
        (["One", {"a": 1}], "line 5: a highlight is an object, not a string"),
        (["One", ["Two"]], "line 5: a highlight is a list, not a string"),
    ],
)
def test_jsonl_highlights_of_a_wrong_type_are_rejected(highlights: object, detail: str) -> None:
    line = json.dumps({"id": "h", "text": "The council met.", "highlights": highlights})
    with pytest.raises(Rejected) as caught:
        parse_jsonl_line(line.encode(), 5, OPTIONS)
    assert (caught.value.reason, caught.value.detail) == ("bad-highlights", detail)


@pytest.mark.parametrize(
    ("highlights", "expected"),
    [(None, None), ("One\nTwo", ("One", "Two")), (["One", None, "Two"], ("One", "Two")),
     ([], ()), ("", ())],
)
def test_jsonl_highlights_of_the_right_types(highlights: object, expected: object) -> None:
    line = json.dumps({"id": "h", "text": "The council met.", "highlights": highlights})
    assert parse_jsonl_line(line.encode(), 5, OPTIONS).highlights == expected


@pytest.mark.parametrize("chunk_size", [1, 2, 5, 1024])
def test_jsonl_lines_numbered_across_chunks(chunk_size: int) -> None:
    data = b'{"id": 1}\n\n   \n{"id": 2}\r\n{"text": "long line here"}\n{"id": 4}'
    lines = list(iter_jsonl_lines(io.BytesIO(data), chunk_size))
    assert lines == [
        (1, b'{"id": 1}\n'),
        (4, b'{"id": 2}\r\n'),
        (5, b'{"text": "long line here"}\n'),
        (6, b'{"id": 4}'),  # the last line needs no newline
    ]


# -- safe_relative_path ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("world/2026-01-08-measles.txt", "world/2026-01-08-measles.txt"),
        ("./cnn/stories//0001.story", "cnn/stories/0001.story"),
        ("cnn\\stories\\0002.story", "cnn/stories/0002.story"),
        ("sub/_manifest.jsonl", "sub/_manifest.jsonl"),  # reserved only at the top
        ("Résumé des nouvelles.txt", "Résumé des nouvelles.txt"),
    ],
)
def test_safe_relative_path_accepts(name: str, expected: str) -> None:
    assert safe_relative_path(name) == expected


@pytest.mark.parametrize(
    "name",
    [
        "",
        ".",
        "/etc/passwd",
        "//server/share/x.txt",
        "../evil.txt",
        "news/../../evil.txt",
        "..\\evil.txt",
        "C:\\Windows\\win.ini",
        "c:/temp/x.txt",
        "bad\x00name.txt",
        "line\nbreak.txt",
        "tab\there.txt",
        "escape\x1b[31m.txt",
        "delete\x7f.txt",
        "c1\x85control.txt",
        "_manifest.jsonl",
        "_manifest.journal",
        "_run.json",
        "_quarantine",
        "_quarantine/world/a.txt",
        "./_quarantine/a.txt",
    ],
)
def test_safe_relative_path_refuses(name: str) -> None:
    with pytest.raises(Rejected) as caught:
        safe_relative_path(name)
    assert caught.value.reason == "unsafe-id"


# Names built from the characters that decide the checks, and names that touch a limit.
_NAME_PARTS = st.sampled_from(
    ["a", "Z", "0", "_", "-", ".", "..", "/", "//", "\\", ":", " ", "é", "\x00", "\u202e",
     "_ledger", "_run.json", "_quarantine", "_manifest.jsonl", "x" * 300]
)


@settings(max_examples=2000, deadline=None)
@given(st.lists(_NAME_PARTS, max_size=8).map("".join))
@example("f00000/a0000000.txt")
@example("/".join(["a"] * 99))
@example("/".join(["a"] * 100))
@example("a" * 2048)
@example("a" * 2049)
@example("sub/_quarantine")
def test_a_plain_path_is_what_every_check_gives_back(name: str) -> None:
    """`is_plain_path` spares most names the checks: it must hold only for a name the
    checks give back unchanged (and no id check refuses)."""
    if not is_plain_path(name):
        return
    assert _checked_relative_path(name) == name
    assert "" not in name.split("/") and "." not in name.split("/")


def test_common_file_names_are_plain_paths() -> None:
    assert is_plain_path("f00000/a0000000.txt")
    assert is_plain_path("cnn/stories/0a1b2c.story")
    assert is_plain_path("sub/_manifest.jsonl")  # reserved only at the top
    for name in ("_ledger/x.txt", ".hidden", "a/./b", "a//b", "a/../b", "Résumé.txt", "a b"):
        assert not is_plain_path(name)


# -- tar archives ---------------------------------------------------------------------------
class OneWayStream(io.RawIOBase):
    """A stream that cannot seek, like a network body."""

    def __init__(self, data: bytes) -> None:
        self._inner = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def readinto(self, buffer) -> int:
        chunk = self._inner.read(len(buffer))
        buffer[: len(chunk)] = chunk
        return len(chunk)


def test_iter_tar_streams_matching_regular_members() -> None:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in [
            ("cnn/stories/a1.story", story_text(1).encode()),
            ("cnn/README", b"not an article"),
            ("cnn/stories/b2.story", story_text(2).encode()),
            ("cnn/stories/huge.story", b"x" * 5000),
        ]:
            info = tarfile.TarInfo(name)
            info.size, info.mtime = len(data), 1_700_000_123
            archive.addfile(info, io.BytesIO(data))
        folder = tarfile.TarInfo("cnn/stories/sub.story")
        folder.type = tarfile.DIRTYPE
        archive.addfile(folder)
        link = tarfile.TarInfo("cnn/stories/link.story")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        archive.addfile(link)
    members = list(iter_tar(OneWayStream(buffer.getvalue()), "*.story", max_bytes=4096))
    assert [(m.name, m.kind) for m in members] == [
        ("cnn/stories/a1.story", "file"),
        ("cnn/stories/b2.story", "file"),
        ("cnn/stories/huge.story", "file"),
        ("cnn/stories/link.story", "symbolic link to '/etc/passwd'"),  # named, not read
    ]
    assert members[3].data is None
    assert members[0].data == story_text(1).encode()
    assert members[0].mtime == 1_700_000_123
    assert (members[2].data, members[2].size) == (None, 5000)


def test_iter_tar_plain_and_xz() -> None:
    pairs = [("a.txt", b"Alpha."), ("b.txt", b"Beta.")]
    for mode in ("w", "w:xz", "w:bz2"):
        members = list(iter_tar(io.BytesIO(build_tar(pairs, mode)), "*", 1000))
        assert [(m.name, m.data) for m in members] == pairs, mode
