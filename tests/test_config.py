"""Pipeline configuration: the profiles, dotted-path overrides, errors, the fingerprint."""

from __future__ import annotations

import subprocess
import sys

import pytest
from pydantic import ValidationError

from newsprep.config import (
    MOSES_LANGUAGES,
    PROFILES,
    ConfigError,
    PipelineConfig,
    RunConfig,
    TokenizeOptions,
    resolve_pipeline,
)


def test_profiles() -> None:
    assert set(PROFILES) == {"default", "cnndm", "moses", "wmt"}
    default, cnndm = PROFILES["default"], PROFILES["cnndm"]
    assert default.tokenize == TokenizeOptions()
    assert default.lowercase is True
    assert default.layout == "paragraphs"
    assert cnndm.tokenize.aggressive_dash_splits is True
    assert cnndm.tokenize.dash_token == "-"
    assert cnndm.tokenize.split_cannot is True
    assert cnndm.tokenize.drop_patterns == (r"\(CNN\)",)
    assert cnndm.layout == "sentences"
    assert cnndm.lowercase is True
    # Everything else is the default profile's.
    assert cnndm.fetch == default.fetch
    assert cnndm.unicode_fix == default.unicode_fix
    assert cnndm.validation == default.validation


def test_profiles_are_frozen() -> None:
    with pytest.raises(ValidationError):
        PROFILES["default"].lowercase = False


def test_resolve_without_overrides_is_the_profile() -> None:
    assert resolve_pipeline("cnndm") == PROFILES["cnndm"]
    assert resolve_pipeline("default", {}) == PROFILES["default"]


def test_overrides_change_only_the_named_fields() -> None:
    config = resolve_pipeline(
        "cnndm", {"tokenize.lang": "de", "lowercase": False, "fetch.max_bytes": 1024}
    )
    assert config.tokenize.lang == "de"
    assert config.lowercase is False
    assert config.fetch.max_bytes == 1024
    assert config.tokenize.dash_token == "-"  # the rest of the profile is kept
    assert config.layout == "sentences"
    assert PROFILES["cnndm"].tokenize.lang == "en"  # the profile itself is not changed


def test_override_values_are_validated_and_coerced() -> None:
    config = resolve_pipeline("default", {"tokenize.drop_patterns": [r"\(AP\)"]})
    assert config.tokenize.drop_patterns == (r"\(AP\)",)


def test_run_config_pipeline_applies_overrides() -> None:
    run = RunConfig(profile="cnndm", overrides={"layout": "paragraphs"})
    assert run.pipeline().layout == "paragraphs"
    assert run.pipeline().tokenize.split_cannot is True


def test_unknown_profile() -> None:
    with pytest.raises(ConfigError, match=r"unknown profile 'wiki'.*default, cnndm"):
        resolve_pipeline("wiki")


def test_unknown_setting_names_the_path() -> None:
    with pytest.raises(ConfigError, match=r"unknown setting 'tokenize\.langauge'.*lang"):
        resolve_pipeline("default", {"tokenize.langauge": "de"})


def test_unknown_group_names_the_path() -> None:
    with pytest.raises(ConfigError, match=r"'lowercase\.mode'.*'lowercase' is not an option group"):
        resolve_pipeline("default", {"lowercase.mode": "upper"})


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"fetch.max_bytes": 0}, "fetch.max_bytes"),
        ({"layout": "columns"}, "layout"),
        ({"tokenize.dash_token": ""}, "tokenize.dash_token"),
        ({"tokenize.drop_patterns": ["(unclosed"]}, "tokenize.drop_patterns"),
        ({"validation.min_tokens": -1}, "validation.min_tokens"),
        ({"fetch.max_control_ratio": 2}, "fetch.max_control_ratio"),
        ({"input.text_fields": []}, "input.text_fields"),  # no line could have a text
        ({"input.text_fields": ["text", ""]}, "input.text_fields"),
        ({"input.id_field": ""}, "input.id_field"),  # a field named nothing: a slip
        ({"input.highlights_field": ""}, "input.highlights_field"),
    ],
)
def test_invalid_value_error_names_the_field(overrides: dict, field: str) -> None:
    with pytest.raises(ConfigError) as info:
        resolve_pipeline("default", overrides)
    assert str(info.value).startswith(f"{field}:")


def test_unknown_fallback_encoding_error_names_the_field() -> None:
    # codecs.lookup raises LookupError, which pydantic would not turn into a field error.
    with pytest.raises(ConfigError, match=r"^fetch\.fallback_encodings"):
        resolve_pipeline("default", {"fetch.fallback_encodings": ["no-such-codec"]})


def test_fingerprint_is_stable() -> None:
    a, b = PROFILES["default"].fingerprint(), PipelineConfig().fingerprint()
    assert a == b
    assert len(a) == 16
    assert int(a, 16) >= 0  # hex


@pytest.mark.e2e  # a subprocess
def test_fingerprint_is_stable_across_processes() -> None:
    # No per-process salt (such as hash()) may enter it.
    code = "from newsprep.config import PROFILES; print(PROFILES['cnndm'].fingerprint())"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == PROFILES["cnndm"].fingerprint()


@pytest.mark.parametrize(
    "overrides",
    [
        {"tokenize.lang": "de"},
        {"tokenize.split_cannot": False},
        {"tokenize.drop_patterns": []},
        {"lowercase": False},
        {"layout": "paragraphs"},
        {"unicode_fix.uncurl_quotes": False},
        {"unicode_fix.normalization": None},
        {"fetch.fallback_encodings": []},
        {"validation.min_tokens": 6},
        {"tokenize.split_final_period": True},
        {"tokenize.perl_language_rules": True},
        {"lowercase_final_sigma": False},
    ],
    ids=lambda overrides: next(iter(overrides)),
)
def test_fingerprint_changes_with_any_setting(overrides: dict) -> None:
    assert resolve_pipeline("cnndm", overrides).fingerprint() != PROFILES["cnndm"].fingerprint()


def test_profiles_have_different_fingerprints() -> None:
    fingerprints = {profile.fingerprint() for profile in PROFILES.values()}
    assert len(fingerprints) == len(PROFILES)


def test_settings_added_later_keep_the_earlier_fingerprints() -> None:
    """The fingerprints of default and cnndm as recorded before the moses profile's options
    existed (commit 0bd8fe2): runs made then are still resumed, not redone."""
    assert PROFILES["default"].fingerprint() == "108937ebabec9c35"
    assert PROFILES["cnndm"].fingerprint() == "6b430ba3b05e49a1"


def test_fingerprint_ignores_the_description() -> None:
    cnndm = PROFILES["cnndm"]
    renamed = cnndm.model_copy(update={"description": "something else entirely"})
    assert renamed.description != cnndm.description
    assert renamed.fingerprint() == cnndm.fingerprint()
    assert resolve_pipeline("cnndm", {"description": "x"}).fingerprint() == cnndm.fingerprint()


def test_tokenizer_engine_parameter_sets_the_profile_engine() -> None:
    fast = RunConfig(tokenizer_engine="fast").pipeline()
    assert fast.tokenize.engine == "fast"
    assert RunConfig().pipeline().tokenize.engine == "sacremoses"
    assert fast.fingerprint() != RunConfig().pipeline().fingerprint()  # a different output


# -- #19 class 15: a language typo is refused -------------------------------------------


@pytest.mark.parametrize("lang", ["xx", "english", "de-DE", "", "q"])
@pytest.mark.parametrize("engine", ["sacremoses", "fast"])
def test_an_unknown_language_is_refused_with_the_list(lang: str, engine: str) -> None:
    with pytest.raises(ConfigError) as refused:
        resolve_pipeline("default", {"tokenize.lang": lang, "tokenize.engine": engine})
    message = str(refused.value)
    assert message.startswith(f"tokenize.lang: Value error, unknown language {lang!r}")
    assert ", de, el, en, es," in message and "\n" not in message


@pytest.mark.parametrize("spelled", ["DE", "De", " de "])
def test_a_language_code_is_read_in_any_case(spelled: str) -> None:
    pipeline = resolve_pipeline("moses", {"tokenize.lang": spelled})
    assert pipeline.tokenize.lang == "de"
    lower = resolve_pipeline("moses", {"tokenize.lang": "de"})
    assert pipeline.fingerprint() == lower.fingerprint()


def test_a_language_without_moses_prefixes_is_allowed_as_tokenizer_perl_allows_it() -> None:
    assert resolve_pipeline("default", {"tokenize.lang": "vi"}).tokenize.lang == "vi"


def test_the_written_out_moses_languages_are_sacremoses_own() -> None:
    """MOSES_LANGUAGES spares the command an import of sacremoses; it must still be the
    list of the installed sacremoses, which knows these languages' nonbreaking prefixes."""
    from sacremoses.corpus import NonbreakingPrefixes

    assert tuple(sorted(set(NonbreakingPrefixes().available_langs.values()))) == MOSES_LANGUAGES


def test_checking_a_config_imports_no_tokenizer() -> None:
    """The command checks its config before the workers start: without sacremoses, whose
    import alone is ~0.25 s of every run's start (the workers import it)."""
    code = (
        "import sys; from newsprep.cli import build_parser, config_from_args; "
        "config_from_args(build_parser().parse_args(['run', 'a', 'b', '--profile', 'wmt', "
        "'--set', 'tokenize.lang=de'])); print(sorted(m for m in sys.modules "
        "if m.split('.')[0] in ('sacremoses', 'mosestokenizer')))"
    )
    shown = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert shown.stdout.strip() == "[]", shown.stderr[-2000:]


def test_checking_the_fast_engine_loads_no_tokenizer() -> None:
    """The command checks the fast engine is installed and knows the language without
    loading its C++ library (~0.12 s of CPU): the fork server loads it for the workers."""
    code = (
        "import sys; from newsprep.config import resolve_pipeline; "
        "from newsprep.tasks.stages.fast_tokenize import require_engine; "
        "print(require_engine(resolve_pipeline('moses', {'tokenize.engine': 'fast', "
        "'tokenize.lang': 'de'}).tokenize)); print(sorted(m for m in sys.modules "
        "if m.split('.')[0] in ('sacremoses', 'mosestokenizer')))"
    )
    shown = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    versions, loaded = shown.stdout.strip().splitlines()
    assert "opus-fast-mosestokenizer" in versions and loaded == "[]", shown.stderr[-2000:]
