"""Stage 1, fetch: reading bytes (size limit) and decoding them (encodings, binary, limits)."""

from __future__ import annotations

import codecs
import posixpath
import random
from pathlib import Path

import pytest
from fsspec.implementations.local import LocalFileSystem

from newsprep.config import FetchOptions
from newsprep.errors import Rejected
from newsprep.tasks.io.files import depth_below, read_bytes
from newsprep.tasks.stages.fetch import decode

OPTIONS = FetchOptions()


def rejected(data: bytes, options: FetchOptions = OPTIONS) -> Rejected:
    with pytest.raises(Rejected) as info:
        decode(data, options)
    return info.value


# --- encodings ---------------------------------------------------------------------------


def test_plain_utf8_records_no_fix() -> None:
    decoded = decode("Café in Hà Nội, 北京.\n".encode(), OPTIONS)
    assert decoded.text == "Café in Hà Nội, 北京.\n"
    assert decoded.encoding == "utf-8"
    assert decoded.fixes == ()


def test_empty_file_is_empty_text() -> None:
    assert decode(b"", OPTIONS).text == ""


def test_utf8_bom_is_stripped_and_recorded() -> None:
    decoded = decode(codecs.BOM_UTF8 + "naïve text".encode(), OPTIONS)
    assert decoded.text == "naïve text"
    assert decoded.fixes == ("decode:utf-8-sig",)


@pytest.mark.parametrize(
    ("bom", "codec"),
    [(codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be")],
    ids=["LE", "BE"],
)
def test_utf16_with_bom(bom: bytes, codec: str) -> None:
    text = "Привет, “мир” — 世界\r\n"
    decoded = decode(bom + text.encode(codec), OPTIONS)
    assert decoded.text == text  # the BOM is consumed, nothing else changes
    assert decoded.fixes == ("decode:utf-16",)


def test_utf16_bom_with_odd_length_is_undecodable() -> None:
    error = rejected(codecs.BOM_UTF16_LE + "ab".encode("utf-16-le") + b"c")
    assert error.reason == "undecodable"
    assert "UTF-16" in error.detail


def test_cp1252_fallback_is_recorded() -> None:
    raw = "“Café” costs €5 – don’t".encode("cp1252")
    assert raw[0] == 0x93  # a cp1252 left double quote: invalid as UTF-8
    decoded = decode(raw, OPTIONS)
    assert decoded.text == "“Café” costs €5 – don’t"
    assert decoded.encoding == "cp1252"
    assert decoded.fixes == ("decode:cp1252",)


def test_fallback_records_the_codec_canonical_name() -> None:
    decoded = decode(b"caf\xe9", FetchOptions(fallback_encodings=("latin_1",)))
    assert decoded.text == "café"
    assert decoded.fixes == ("decode:iso8859-1",)


def test_fallbacks_are_tried_in_order() -> None:
    # 0x81 is undefined in cp1252 (strict), defined in latin-1 (a C1 control).
    options = FetchOptions(fallback_encodings=("cp1252", "latin-1"), max_control_ratio=0.5)
    assert decode(b"abc\x81def", options).fixes == ("decode:iso8859-1",)
    assert decode(b"caf\xe9 au lait", options).fixes == ("decode:cp1252",)


def test_undecodable_without_fallback_names_the_offset() -> None:
    error = rejected(b"caf\xe9 au lait", FetchOptions(fallback_encodings=()))
    assert error.reason == "undecodable"
    assert "0xe9 at offset 3" in error.detail
    assert "tried utf-8" in error.detail


def test_undecodable_when_every_fallback_fails() -> None:
    error = rejected(b"ok so far \x81 then not")
    assert error.reason == "undecodable"
    assert "0x81 at offset 10" in error.detail
    assert "tried utf-8, cp1252" in error.detail


def test_line_endings_are_left_to_the_unicode_fix() -> None:
    assert decode(b"a\r\nb\rc\n", OPTIONS).text == "a\r\nb\rc\n"


# --- binary content ----------------------------------------------------------------------


def test_nul_byte_is_binary() -> None:
    error = rejected(b"text\x00more text")
    assert error.reason == "binary-content"
    assert "offset 4" in error.detail


def test_png_header_is_binary() -> None:
    assert rejected(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR").reason == "binary-content"


def test_random_bytes_are_rejected() -> None:
    data = random.Random(1234).randbytes(4096)
    assert rejected(data).reason in {"binary-content", "undecodable"}


def test_control_characters_without_nul_are_binary() -> None:
    error = rejected(b"\x01\x02\x03abc" * 50)
    assert error.reason == "binary-content"
    assert "150 control characters in 300" in error.detail


def test_control_ratio_threshold() -> None:
    options = FetchOptions(max_control_ratio=0.01)
    assert decode(b"\x01" + b"a" * 99, options).text.startswith("\x01")  # 1 in 100: allowed
    assert rejected(b"\x01\x02" + b"a" * 98, options).reason == "binary-content"


def test_tabs_form_feeds_and_line_breaks_are_not_control_content() -> None:
    text = "col1\tcol2\fpage\vx\r\n" * 10
    assert decode(text.encode(), OPTIONS).text == text


def test_utf16_binary_is_still_checked() -> None:
    # No NUL *byte* test applies to UTF-16 (every ASCII char has one); the decoded text is.
    data = codecs.BOM_UTF16_LE + ("\x00\x01\x02" * 20).encode("utf-16-le")
    assert rejected(data).reason == "binary-content"


# --- size limits -------------------------------------------------------------------------


def test_line_too_long() -> None:
    options = FetchOptions(max_line_chars=10)
    assert decode(b"short\n" + b"x" * 10 + b"\n", options).text.endswith("x\n")
    error = rejected(b"short\n" + b"x" * 11 + b"\nshort", options)
    assert error.reason == "line-too-long"
    assert "11 characters" in error.detail


def test_line_length_counts_characters_not_bytes() -> None:
    options = FetchOptions(max_line_chars=4)
    assert decode("日本語だ".encode(), options).text == "日本語だ"  # 4 chars, 12 bytes


@pytest.fixture
def article(tmp_path: Path) -> str:
    path = tmp_path / "article.txt"
    path.write_bytes(b"0123456789" * 10)  # 100 bytes
    return str(path)


def test_read_bytes_within_the_limit(article: str) -> None:
    fs = LocalFileSystem()
    assert read_bytes(fs, article, max_bytes=100) == b"0123456789" * 10
    assert read_bytes(fs, article, max_bytes=10_000) == b"0123456789" * 10


def test_read_bytes_too_large(article: str) -> None:
    with pytest.raises(Rejected) as info:
        read_bytes(LocalFileSystem(), article, max_bytes=99)
    assert info.value.reason == "too-large"
    assert "max_bytes=99" in info.value.detail


def test_read_bytes_missing_file_is_not_a_rejection(tmp_path: Path) -> None:
    # A missing file is an I/O error for the caller to classify, not a bad article.
    with pytest.raises(FileNotFoundError):
        read_bytes(LocalFileSystem(), str(tmp_path / "nope.txt"), max_bytes=10)


@pytest.mark.parametrize("size", [0, 1, 65_535, 65_536, 65_537, 1_000_003])
def test_read_bytes_reads_a_local_file_whole_up_to_the_limit(tmp_path: Path, size: int) -> None:
    data = bytes(range(256)) * (size // 256) + b"x" * (size % 256)
    path = tmp_path / "src" / "deep" / "a.txt"
    path.parent.mkdir(parents=True)
    path.write_bytes(data)
    fs, root = LocalFileSystem(), str(tmp_path / "src")
    assert read_bytes(fs, str(path), max_bytes=size, root=root) == data
    assert read_bytes(fs, str(path), max_bytes=size + 70_000, root=root) == data
    if size:
        with pytest.raises(Rejected) as info:
            read_bytes(fs, str(path), max_bytes=size - 1, root=root)
        assert info.value.reason == "too-large"


@pytest.mark.parametrize(
    ("path", "root"),
    [("/s/a.txt", "/s"), ("/s/x/y/a.txt", "/s"), ("/s/x/../a.txt", "/s"), ("/s/x//a.txt", "/s"),
     ("/s/./a.txt", "/s"), ("/s/a.txt", "/s/"), ("/sx/a.txt", "/s"), ("/s/.x/a.txt", "/s")],
)
def test_depth_below_counts_as_relpath(path: str, root: str) -> None:
    assert depth_below(path, root) == posixpath.relpath(path, root).count("/") + 1
