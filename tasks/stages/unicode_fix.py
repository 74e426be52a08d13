"""Stage 2, unicode fix: ftfy with an explicit, recorded configuration.

The `TextFixerConfig` is built from `UnicodeFixOptions` here and nowhere else. ftfy's
explanation says which fixes changed the text; they are recorded per article.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import ftfy

from newsprep.config import UnicodeFixOptions


@dataclass(frozen=True)
class Fixed:
    text: str
    fixes: tuple[str, ...]  # ftfy steps that changed the text, in order of first use


# The line boundaries of str.splitlines (fetch's line check counts lines so) but \r: a
# vertical tab (a manual line break), a form feed, the file, group and record separators,
# NEL, the line and paragraph separators. ftfy would delete the first ones and make NEL an
# ellipsis (cp1252's 0x85), gluing two lines' words ("group.the"): they become \n first. A
# NEL after a character that can start or continue a UTF-8 sequence read as Latin-1 is left
# to ftfy's mojibake repair ("\xc3\x85" is "Å"). Only with `fix_line_breaks`, which ftfy's
# own conversion of line breaks follows too: `wmt` has it off, as Moses' scripts make these
# characters spaces (remove-non-printing-char.perl, tokenizer.perl).
LINE_SEPARATORS = re.compile("[\x0b\x0c\x1c-\x1e\u2028\u2029]|(?<![\x80-\xbf\xc2-\xf4])\x85")
# one character class: a quick test for them (the regex above tries two branches everywhere)
_ANY_LINE_SEPARATOR = re.compile("[\x0b\x0c\x1c-\x1e\u2028\u2029\x85]").search
SEPARATORS_TO_LINE_BREAKS = "separators_to_line_breaks"  # its name in a record's `fixes`


# Printable ASCII but '&': no ftfy step can change it, whatever the options (mojibake, C1
# and other controls, ligatures, widths, curly quotes, surrogates and line breaks need other
# characters; entities need '&'; ASCII is the same in every normal form). Most news lines
# are such: they skip ftfy (test_unicode_fix: the same text and fixes as through ftfy).
_PLAIN_LINE = re.compile(r"[\x20-\x25\x27-\x7e]*\n?").fullmatch
_PLAIN_TEXT = re.compile(r"[\x20-\x25\x27-\x7e\n]*").fullmatch


@lru_cache(maxsize=8)
def text_fixer_config(options: UnicodeFixOptions) -> ftfy.TextFixerConfig:
    return ftfy.TextFixerConfig(**options.model_dump(), explain=True)


def fix_unicode(text: str, options: UnicodeFixOptions) -> Fixed:
    """Repair mojibake, entities, controls and quotes; normalize; end lines with \\n only.

    ftfy is applied line by line, as `ftfy.fix_text` does, so one bad line cannot make
    ftfy decide differently about the rest.
    """
    config = text_fixer_config(options)
    out: list[str] = []
    fixes: dict[str, None] = {}
    if options.fix_line_breaks and _ANY_LINE_SEPARATOR(text):
        text, separators = LINE_SEPARATORS.subn("\n", text)
        if separators:
            fixes[SEPARATORS_TO_LINE_BREAKS] = None
    if _PLAIN_TEXT(text):
        return Fixed(text, tuple(fixes))
    # at \n, \r\n and a lone \r (which fix_line_breaks turns into \n, so a second pass
    # would see two lines where the first saw one)
    for line in re.findall(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+", text):
        if _PLAIN_LINE(line):
            out.append(line)
            continue
        fixed, steps = ftfy.fix_and_explain(line, config=config)
        out.append(fixed)
        if fixed == line:  # ftfy can explain a no-op, e.g. fix_c1_controls on "\x8d"
            continue
        for action, parameter in steps or ():
            fixes[parameter if action == "apply" else f"{action}:{parameter}"] = None
    result = "".join(out)
    if "\r" in result:  # fix_line_breaks may be off; the later stages expect \n
        result = result.replace("\r\n", "\n").replace("\r", "\n")
    return Fixed(result, tuple(fixes))


# Bidi embeddings, overrides and isolates (LRE RLE PDF LRO RLO, LRI RLI FSI PDI): invisible
# commands that reorder the text around them ("Trojan Source"). The marks LRM, RLM and ALM
# stay: right-to-left text uses them, and they move nothing but neutral characters.
BIDI_CONTROLS = re.compile("[\u202a-\u202e\u2066-\u2069]")
REMOVE_BIDI_CONTROLS = "remove_bidi_controls"  # its name in a record's `fixes`


def remove_bidi_controls(text: str) -> tuple[str, bool]:
    """The text without bidi control characters, and whether it had any."""
    if text.isascii():  # they are not ASCII (str.isascii does not scan the text)
        return text, False
    cleaned = BIDI_CONTROLS.sub("", text)
    return cleaned, len(cleaned) != len(text)


_NONCHARACTERS = "\ufdd0-\ufdef" + "".join(
    f"{chr(plane * 0x10000 + 0xFFFE)}{chr(plane * 0x10000 + 0xFFFF)}" for plane in range(17)
)
# Characters that show nothing and mean nothing in a corpus, and hide words from filters
# and deduplication: soft hyphens (U+00AD), the tag characters (U+E0000-U+E007F), the
# noncharacters (U+FDD0-U+FDEF, U+FFFE, U+FFFF and their twins in every plane), and runs
# of zero-width spaces and word joiners (U+200B, U+2060, U+FEFF). One zero-width space
# stays: tokenizer.perl keeps it as a token (tests/tasks/moses_reference), and it marks
# word breaks in Thai or Khmer; the zero-width (non-)joiners U+200C and U+200D stay too:
# Persian, Indic scripts and emoji need them.
INVISIBLE = re.compile(
    f"[\u00ad\U000e0000-\U000e007f{_NONCHARACTERS}]|[\u200b\u2060\ufeff]{{2,}}"
)
_ANY_INVISIBLE = re.compile(
    f"[\u00ad\U000e0000-\U000e007f{_NONCHARACTERS}\u200b\u2060\ufeff]"
).search
REMOVE_INVISIBLE = "remove_invisible_characters"  # its name in a record's `fixes`


def remove_invisible(text: str) -> tuple[str, bool]:
    """The text without `INVISIBLE` characters, and whether it had any."""
    if text.isascii() or not _ANY_INVISIBLE(text):  # one class: quicker than INVISIBLE
        return text, False
    cleaned = INVISIBLE.sub("", text)
    return cleaned, len(cleaned) != len(text)
