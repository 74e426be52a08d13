"""Stage 1, fetch: decode an article's bytes to text (reading them: tasks/io/files.py).

UTF-8 first (a BOM is stripped), UTF-32 and UTF-16 when they have a BOM, then the
configured fallbacks (cp1252 by default); the encoding used is recorded. Never
`errors="ignore"`: bytes that no encoding explains, and binary content, are rejected with
a reason.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass

from newsprep.config import FetchOptions
from newsprep.errors import Rejected

# C0 and C1 control characters other than \t and the line boundaries (\n \v \f \r, the
# file, group and record separators \x1c-\x1e, NEL \x85: the unicode fix makes them line
# breaks), and ESC: it starts terminal escape sequences, which are text the unicode fix
# removes, not binary.
_CONTROL_RE = re.compile(r"[\x00-\x08\x0e-\x1a\x1f\x7f-\x84\x86-\x9f]")


@dataclass(frozen=True)
class Decoded:
    text: str
    encoding: str  # "utf-8", "utf-8-sig", "utf-16", "utf-32", or a fallback such as "cp1252"

    @property
    def fixes(self) -> tuple[str, ...]:
        return () if self.encoding == "utf-8" else (f"decode:{self.encoding}",)


def decode(data: bytes, options: FetchOptions) -> Decoded:
    """Bytes to text, or `Rejected` with reason `binary-content` or `undecodable`."""
    # UTF-32 first: its little-endian BOM (FF FE 00 00) starts with UTF-16's (FF FE)
    if data.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        decoded = _strict(data, "utf-32")
        if decoded is not None:
            return _check_text(Decoded(decoded, "utf-32"), options)
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        decoded = _strict(data, "utf-16")
        if decoded is None:
            raise Rejected("undecodable", "starts with a UTF-16 byte order mark but is not UTF-16")
        return _check_text(Decoded(decoded, "utf-16"), options)
    nul = data.find(b"\x00")
    if nul >= 0:
        raise Rejected("binary-content", f"NUL byte at offset {nul}")
    if data.startswith(codecs.BOM_UTF8):
        text = _strict(data[len(codecs.BOM_UTF8) :], "utf-8")
        if text is not None:
            return _check_text(Decoded(text, "utf-8-sig"), options)
    text = _strict(data, "utf-8")
    if text is not None:
        return _check_text(Decoded(text, "utf-8"), options)
    for encoding in options.fallback_encodings:
        text = _strict(data, encoding)
        if text is not None:
            return _check_text(Decoded(text, codecs.lookup(encoding).name), options)
    bad = _first_invalid_utf8(data)
    tried = ", ".join(("utf-8", *options.fallback_encodings))
    raise Rejected("undecodable", f"invalid byte 0x{data[bad]:02x} at offset {bad}; tried {tried}")


def _strict(data: bytes, encoding: str) -> str | None:
    try:
        return data.decode(encoding)
    except UnicodeDecodeError:
        return None


def _first_invalid_utf8(data: bytes) -> int:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.start
    return 0


def _check_text(decoded: Decoded, options: FetchOptions) -> Decoded:
    text = decoded.text
    if text:
        controls = len(_CONTROL_RE.findall(text))
        if controls / len(text) > options.max_control_ratio:
            raise Rejected(
                "binary-content",
                f"{controls} control characters in {len(text)} "
                f"(max_control_ratio={options.max_control_ratio})",
            )
        check_line_length(text.splitlines(), options)
    return decoded


def check_line_length(lines: list[str], options: FetchOptions) -> None:
    """`Rejected('line-too-long')` when a line is over `max_line_chars`."""
    longest = max(map(len, lines), default=0)
    if longest > options.max_line_chars:
        raise Rejected(
            "line-too-long",
            f"a line of {longest} characters, max_line_chars={options.max_line_chars}",
        )
