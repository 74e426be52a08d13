"""Look for lines the fast tokenizer engine gets wrong: random lines glued from pieces of
news text (tests/tasks/news_fragments.json, the parity tests' data), tokenized by both
engines with both profiles; prints every line whose output differs, with both outputs.

    .venv/bin/python benchmarks/parity_fuzz.py --lines 100000 --seed 1

A line printed here is a construct missing from FAST_DIFFERS_PATTERNS
(tasks/stages/fast_tokenize.py).
With --raw it compares the two tokenizers themselves, without the fast engine's guard.

With --moses DIR (a mosesdecoder checkout, not part of this repository) it compares the
`moses` profile's tokenize + lowercase stages, both engines, for --lang, with
`DIR/scripts/tokenizer/tokenizer.perl -l LANG -no-escape -a | lowercase.perl` (perl on the
PATH) on the same lines, plus pieces of other languages' news text:

    .venv/bin/python benchmarks/parity_fuzz.py --moses ~/mosesdecoder --lang de --lines 4000

With --profile wmt it compares the `wmt` profile's punctuation, non-printing and tokenize
stages, both engines, with `normalize-punctuation.perl -l LANG | remove-non-printing-char.perl
| tokenizer.perl -l LANG -a`, on lines that also have the characters those scripts change.
`--text FILE ...` takes the files' distinct lines instead of random ones (news text; the
unicode fix is applied on neither side):

    .venv/bin/python benchmarks/parity_fuzz.py --moses ~/mosesdecoder --profile wmt \
        --text newsprep/sample/*.txt tests/golden/cnn-xinjiang.raw.txt
"""

from __future__ import annotations

import argparse
import json
import random
import re
import subprocess
import sys
from pathlib import Path

from newsprep.config import PROFILES, TokenizeOptions
from newsprep.tasks.stages.fast_tokenize import fast_tokenizer
from newsprep.tasks.stages.lowercase import lowercase
from newsprep.tasks.stages.non_printing import remove_non_printing
from newsprep.tasks.stages.punctuation import normalize_punctuation
from newsprep.tasks.stages.tokenize import moses_tokenizer, tokenize_line

FRAGMENTS = tuple(json.loads(
    (Path(__file__).resolve().parents[1] / "tests" / "tasks" / "news_fragments.json")
    .read_text(encoding="utf-8")
))


def tokenizers_alone(line: str, options: TokenizeOptions) -> tuple[str, str]:
    """fast's and sacremoses' own tokens for a line (--raw): no guard, no pipeline."""
    dashes = options.aggressive_dash_splits
    return " ".join(fast_tokenizer(options.lang, dashes).tokenize(line)), moses_tokenizer(
        options.lang
    ).tokenize(line, aggressive_dash_splits=dashes, return_str=True, escape=False).strip()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lines", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--max-pieces", type=int, default=12)
    parser.add_argument("--raw", action="store_true", help="the tokenizers alone, no guard")
    parser.add_argument("--moses", type=Path, help="compare with Moses' perl scripts here")
    parser.add_argument("--lang", default="en", help="with --moses: tokenize.lang")
    parser.add_argument("--profile", choices=("moses", "wmt"), default="moses", help="with --moses")
    parser.add_argument(
        "--text", type=Path, nargs="+", help="with --moses: these files' lines, not random ones"
    )
    args = parser.parse_args()
    rng = random.Random(args.seed)
    if args.moses:
        return compare_with_moses(args, rng)
    found = 0
    for _ in range(args.lines):
        line = "".join(rng.choice(FRAGMENTS) for _ in range(rng.randint(1, args.max_pieces)))
        for profile in ("default", "cnndm"):
            reference = PROFILES[profile].tokenize
            if args.raw:
                fast, ours = tokenizers_alone(line, reference)
            else:
                fast = tokenize_line(line, reference.model_copy(update={"engine": "fast"}))
                ours = tokenize_line(line, reference)
            if fast != ours:
                found += 1
                print(f"{profile}\t{line!r}\n  fast:       {fast!r}\n  sacremoses: {ours!r}")
    print(f"{found} differences in {args.lines} lines x 2 profiles", file=sys.stderr)
    return 1 if found else 0


# --moses: the fragments and pieces of other languages' news text.
MORE_FRAGMENTS = (
    *("Nr.", "3.", "Jh.", "z. B.", "l'", "d'", "qu'", "« ", " »", "„", "“", "’", "col·l"),
    *("USA:n", "St.", "ca.", "Arch.", "Nrs.", "Ö.", "12.", "ü", "é", "ñ", "č", "No.", "p."),
    *("Art.", "a.m.", "Σ", "ΟΔΟΣ", "北京", "नमस्ते", "—", "–", "…", "@", "#", "'s", "''", "``"),
)
# --profile wmt: what normalize-punctuation.perl and remove-non-printing-char.perl change
NBSP = "\u00a0"
WMT_FRAGMENTS = (
    *(NBSP, NBSP, "\u202f", f"{NBSP}«{NBSP}", f"{NBSP}»{NBSP}", "«", "»", f"{NBSP}%", " %"),
    *("nº", "ºC", f"{NBSP}cm", f"{NBSP}?", f"{NBSP}!", f"{NBSP};", f",{NBSP}", f"{NBSP}:"),
    *("‘", "’", "‚", "„", "“", "”", "´", "´´", "`", "''", "…", "–", "—", " - ", ".\"", ",\""),
    *('."<', '." ', ". \"", "( ", " )", "(", ")", " :", " ;", ") .", " ", "  ", "1 2", "3"),
    *("\t", "\x0b", "\x0c", "\x7f", "\u200b", "\u00ad", "\ufeff", "\u200e", "\u2028"),
    *("\u2060", "\ue000", "\U000e0041", "\u0378", "<", ">", "&", "|", "[", "]", "&amp;", "٣"),
)


def compare_with_moses(args: argparse.Namespace, rng: random.Random) -> int:
    fragments = FRAGMENTS + MORE_FRAGMENTS
    if args.profile == "wmt":
        fragments += WMT_FRAGMENTS * 3
    lines = []
    while len(lines) < args.lines and not args.text:
        line = "".join(rng.choice(fragments) for _ in range(rng.randint(1, args.max_pieces)))
        if line.strip():
            lines.append(line)
    if args.text:  # each line once; \r and odd line breaks are the unicode fix's business
        text = "\n".join(path.read_text(encoding="utf-8") for path in args.text)
        lines = sorted({line for line in re.split(r"[\r\n]+", text) if line.strip()})
    scripts = args.moses / "scripts" / "tokenizer"
    if args.profile == "wmt":
        commands = [
            ["perl", scripts / "normalize-punctuation.perl", "-l", args.lang],
            ["perl", scripts / "remove-non-printing-char.perl"],
            ["perl", scripts / "tokenizer.perl", "-l", args.lang, "-a", "-q"],
        ]
    else:
        commands = [
            ["perl", scripts / "tokenizer.perl", "-l", args.lang, "-no-escape", "-a", "-q"],
            ["perl", scripts / "lowercase.perl"],
        ]
    output = "\n".join(lines) + "\n"
    for command in commands:
        output = subprocess.run(
            command, input=output, capture_output=True, text=True, check=True
        ).stdout
    # tokenizer.perl ends a line ending in .' with a space, and prints a line of spaces as
    # it is; newsprep's lines never end in a space
    expected = [line.rstrip(" ") if line.strip() else "" for line in output.split("\n")[:-1]]
    assert len(expected) == len(lines)
    profile = PROFILES[args.profile]
    found = 0
    for engine in ("sacremoses", "fast"):
        options = profile.tokenize.model_copy(update={"lang": args.lang, "engine": engine})
        same = 0
        for line, perl in zip(lines, expected, strict=True):
            if args.profile == "wmt":
                cleaned = remove_non_printing(normalize_punctuation(line, args.lang)[0])[0]
                ours = tokenize_line(cleaned, options)
            else:
                ours = lowercase(tokenize_line(line, options), profile.lowercase_final_sigma)
            same += ours == perl
            if ours != perl:
                print(f"{engine}\t{line!r}\n  newsprep: {ours!r}\n  moses:    {perl!r}")
        found += len(lines) - same
        print(f"{args.lang} {engine}: {same} of {len(lines)} lines identical", file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    raise SystemExit(main())
