"""The `moses` profile against Moses' own tokenizer.perl + lowercase.perl, per language.

moses_reference/LANG.expected was made by running the perl scripts over LANG.txt (the
command and the mosesdecoder commit are in moses_reference/README.md); here the profile's
full pipeline (unicode fix, tokenize, lowercase, layout, validate) must give the same lines,
with each tokenizer engine.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
import regex

from newsprep.config import PROFILES, ConfigError, resolve_pipeline
from newsprep.tasks.stages.fast_tokenize import (
    FAST_DIFFERS_BY_LANGUAGE,
    FAST_DIFFERS_NOT_ENGLISH,
    fast_differs,
    fast_languages,
    fast_tokenizer,
    require_engine,
)
from newsprep.tasks.stages.lowercase import lowercase
from newsprep.tasks.stages.normalize import normalize_text
from newsprep.tasks.stages.tokenize import moses_tokenizer, tokenize_line

REFERENCE = Path(__file__).with_name("moses_reference")
FRAGMENTS = json.loads(Path(__file__).with_name("news_fragments.json").read_text("utf-8"))
LANGUAGES = sorted(path.stem for path in REFERENCE.glob("*.txt"))
PERL_TRAILING_SPACE = ".' "  # tokenizer.perl's only line end with a space


def expected_lines(lang: str) -> list[str]:
    lines = (REFERENCE / f"{lang}.expected").read_text(encoding="utf-8").split("\n")[:-1]
    for line in lines:
        assert not line.endswith(" ") or line.endswith(" . ' "), line
    return [line.rstrip(" ") for line in lines]


def moses_output(lang: str, engine: str) -> list[str]:
    config = resolve_pipeline("moses", {"tokenize.lang": lang, "tokenize.engine": engine})
    source = (REFERENCE / f"{lang}.txt").read_bytes()
    result = normalize_text(source, config)
    assert result.fixes == (), "the unicode fix changed valid text"
    return result.text.removesuffix("\n").split("\n")


def test_every_language_has_reference_lines() -> None:
    assert {"en", "de", "fr", "es", "it", "cs"} <= set(LANGUAGES)
    for lang in LANGUAGES:
        source = (REFERENCE / f"{lang}.txt").read_text(encoding="utf-8").split("\n")[:-1]
        assert all(line.strip() for line in source)
        assert len(expected_lines(lang)) == len(source), lang


@pytest.mark.parametrize("engine", ["sacremoses", "fast"])
@pytest.mark.parametrize("lang", LANGUAGES)
def test_moses_profile_equals_tokenizer_perl(lang: str, engine: str) -> None:
    if engine == "fast" and lang not in fast_languages():
        pytest.skip(f"the fast engine has no {lang} (test_fast_engine_refuses_...)")
    expected = expected_lines(lang)
    ours = moses_output(lang, engine)
    differ = [(n, o, e) for n, (o, e) in enumerate(zip(ours, expected, strict=True), 1) if o != e]
    assert not differ, "\n".join(f"line {n}\n  ours {o!r}\n  perl {e!r}" for n, o, e in differ)


def test_the_reference_lines_need_the_moses_options() -> None:
    """Without each option the lines would differ from Moses: none of them is a no-op."""
    en = expected_lines("en")
    for overrides in (
        {"tokenize.split_final_period": False},  # the U.S . at the end of a line
        {"unicode_fix.uncurl_quotes": True},  # don ’ t
        {"lowercase_final_sigma": True},  # οδοσ
        {"unicode_fix.normalization": "NFC"},  # the decomposed accent
        {"unicode_fix.fix_latin_ligatures": True},
    ):
        config = resolve_pipeline("moses", overrides)
        source = (REFERENCE / "en.txt").read_bytes()
        ours = normalize_text(source, config).text.removesuffix("\n").split("\n")
        assert ours != en, overrides
    for lang in ("ca", "fi", "sv", "ga", "it", "nl", "zh", "hi"):
        config = resolve_pipeline("moses", {"tokenize.lang": lang})
        source = (REFERENCE / f"{lang}.txt").read_bytes()
        assert normalize_text(source, config).text.removesuffix("\n").split("\n") == (
            expected_lines(lang)
        )
        without = resolve_pipeline(
            "moses", {"tokenize.lang": lang, "tokenize.perl_language_rules": False}
        )
        assert normalize_text(source, without).text.removesuffix("\n").split("\n") != (
            expected_lines(lang)
        ), lang


@pytest.mark.parametrize(
    ("line", "split", "sacremoses"),
    [
        ("He lives in the U.S.", "He lives in the U.S .", "He lives in the U.S."),
        ("It ended at 5 p.m.", "It ended at 5 p.m .", "It ended at 5 p.m."),
        ("Write to mailonline.co.uk.", "Write to mailonline.co.uk .", "Write to mailonline.co.uk."),
        ("They met at St.", "They met at St .", "They met at St."),
        ("A,B,C,D,E.", "A , B , C , D , E .", "A , B , C , D , E."),
        ("U.S.", "U.S .", "U.S."),
        # only the line's last word; multidots stay whole
        ("He met the U.S. envoy.", "He met the U.S. envoy .", "He met the U.S. envoy ."),
        ("Wait...", "Wait ...", "Wait ..."),
        ("Is it U.S....", "Is it U.S ....", "Is it U.S ...."),
    ],
)
@pytest.mark.parametrize("engine", ["sacremoses", "fast"])
def test_split_final_period(line: str, split: str, sacremoses: str, engine: str) -> None:
    options = PROFILES["moses"].tokenize.model_copy(update={"engine": engine})
    assert tokenize_line(line, options) == split
    kept = options.model_copy(update={"split_final_period": False})
    assert tokenize_line(line, kept) == sacremoses


def test_lowercase_like_perl_lc() -> None:
    assert lowercase("ΟΔΟΣ ΣΑΣ", final_sigma=False) == "οδοσ σασ"  # lowercase.perl
    assert lowercase("ΟΔΟΣ ΣΑΣ") == "οδος σας"  # str.lower(): final sigma
    assert lowercase("İSTANBUL 𐐀", final_sigma=False) == "i̇stanbul 𐐨"  # as perl's lc


def test_moses_unicode_fix_repairs_broken_text_only() -> None:
    config = PROFILES["moses"]
    valid = "Don’t “quote” ﬁnal ＡＢＣ cafe\u0301 &amp; «ok»\n"
    assert normalize_text(valid.encode(), config).fixes == ()
    broken = "The cafÃ© said\x1b[31m donâ€™t.\n"
    result = normalize_text(broken.encode(), config)
    assert result.text == "the café said don ’ t .\n"
    assert result.fixes


def test_fast_engine_refuses_a_language_it_has_no_prefixes_for() -> None:
    assert "tdt" not in fast_languages() and "de" in fast_languages()
    config = resolve_pipeline("moses", {"tokenize.lang": "tdt", "tokenize.engine": "fast"})
    message = r"tokenize.lang 'tdt': the fast engine .* no nonbreaking prefixes for it"
    with pytest.raises(ConfigError, match=message):
        require_engine(config.tokenize)  # what a run checks before it starts
    with pytest.raises(ConfigError, match=message):
        tokenize_line("Governu aprova lei foun.", config.tokenize)


# Pieces of news text in many languages, for the engines' parity per language.
LANGUAGE_FRAGMENTS = (
    *FRAGMENTS,
    *("Nr.", "3.", "Jh.", "z. B.", "l'", "d'", "qu'", "« ", " »", "„", "“", "’", "col·l"),
    *("USA:n", "St.", "ca.", "Arch.", "Nrs.", "Ö.", "12.", "ü", "é", "ñ", "č", "No.", "p."),
    *("Art.", "a.m.", "Σ", "北京", "नमस्ते", "—", "–", "…", "'s", "''", "``", "no."),
)


@pytest.mark.parametrize("lang", ["de", "fr", "es", "it", "cs", "nl", "pt", "fi", "sv", "ca", "is"])
def test_fast_engine_tokenizes_generated_lines_like_sacremoses_per_language(lang: str) -> None:
    rng = random.Random(lang)
    reference = PROFILES["moses"].tokenize.model_copy(update={"lang": lang})
    fast = reference.model_copy(update={"engine": "fast"})
    found = []
    for _ in range(1500):
        line = "".join(rng.choice(LANGUAGE_FRAGMENTS) for _ in range(rng.randint(1, 14)))
        if tokenize_line(line, fast) != tokenize_line(line, reference):
            found.append(line)
    assert not found, found[:10]


# Per language, lines on which the fast tokenizer differs from sacremoses (with or without
# perl_language_rules): at least one per pattern of the guard's language part.
LANGUAGE_PITFALLS = {
    "de": ("Am 3. Oktober kam er.", "Geht's noch?"),
    "fr": ("Elle est qualifiée d'« inacceptable ».",),
    "it": ("Vedi le pp. Successive.", "Il caso dell'« Espresso »."),
    "fi": ("USA:n presidentti saapui.",),
    "sv": ("USA:s president kom.",),
    "ca": ("La col·laboració és clau.",),
    "is": ("Það var no. Hann fór heim.",),
    "pt": ("Ver a p. Seguinte.", "O Art. Primeiro diz isso."),
}


def language_patterns() -> list[tuple[str, str]]:
    pairs = [("de", p) for p in FAST_DIFFERS_NOT_ENGLISH]
    pairs += [(lang, p) for lang, ps in FAST_DIFFERS_BY_LANGUAGE.items() for p in ps]
    return pairs


@pytest.mark.parametrize(("lang", "pattern"), language_patterns())
def test_every_language_construct_has_a_pitfall(lang: str, pattern: str) -> None:
    examples = [
        line for line in LANGUAGE_PITFALLS.get(lang, LANGUAGE_PITFALLS["de"])
        if regex.search(pattern, line)
    ]
    assert examples, f"no example of {pattern!r} for {lang}"

    def differs(line: str) -> bool:
        fast = " ".join(fast_tokenizer(lang, True).tokenize(line))
        return any(
            fast != moses_tokenizer(lang, perl).tokenize(
                line, aggressive_dash_splits=True, escape=False, return_str=True
            )
            for perl in (False, True)
        )

    assert any(differs(line) for line in examples), f"no example of {pattern!r} differs"
    for line in examples:
        assert fast_differs(line, lang)
