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
    # at \n, \r\n and a lone \r (which fix_line_breaks turns into \n, so a second pass
    # would see two lines where the first saw one); not at \x0b, \x85, \u2028 ... as
    # str.splitlines does: ftfy may remove or change those, with the same effect
    for line in re.findall(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+", text):
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
    cleaned = BIDI_CONTROLS.sub("", text)
    return cleaned, len(cleaned) != len(text)
