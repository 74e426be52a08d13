"""The run configuration: one typed model for the CLI, the flow's parameters and deployments.

`PipelineConfig` says what happens to the text; named profiles are instances of it (`PROFILES`).
`RunOptions` says how a run executes. `RunConfig` is a whole run: where from, where to, which
profile, field overrides, options. Library objects (`ftfy.TextFixerConfig`, `MosesTokenizer`)
are built from these models in the stage modules, each in exactly one place.
"""

from __future__ import annotations

import hashlib
import json
import re
from importlib.resources import files
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)


class ConfigError(ValueError):
    """A configuration the run cannot start with; the message names the field."""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class InputOptions(_Frozen):
    """Which files are articles and how to read them."""

    format: Literal["auto", "txt", "story", "jsonl", "tar"] = Field(
        "auto",
        description="auto: by extension (.txt, .story, .jsonl/.jsonl.gz, .tar/.tar.gz/.tgz); "
        "otherwise every file is read as this format.",
    )
    id_field: str = Field(
        "id", min_length=1, description="JSONL: the field holding the article id."
    )
    text_fields: tuple[str, ...] = Field(
        ("text", "article"),
        description="JSONL: the first of these present and not null is the article.",
    )
    highlights_field: str = Field(
        "highlights", min_length=1,
        description="JSONL: summary field, kept separate from the article.",
    )
    member_pattern: str = Field(
        "*", description="Archives: glob of member names to read (e.g. *.story)."
    )
    require_highlights: bool = Field(
        False, description="Reject .story files and JSONL records that have no highlights."
    )

    @field_validator("text_fields")
    @classmethod
    def _some_text_field(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError("name at least one field (no line could have a text)")
        if "" in value:
            raise ValueError("a field name is empty")
        return value


class OutputOptions(_Frozen):
    """How the corpus is written under DEST."""

    format: Literal["files", "jsonl"] = Field(
        "files",
        description="files: one file per article, mirroring the source's relative path; "
        "jsonl: gzip-compressed shards part-00000.jsonl.gz with id, text, highlights, source.",
    )
    shard_size: int = Field(1000, ge=1, description="jsonl: articles per shard at most.")


class FetchOptions(_Frozen):
    """How article bytes are read and decoded."""

    fallback_encodings: tuple[str, ...] = Field(
        ("cp1252",),
        description="Tried in order when the bytes are not UTF-8; the one used is recorded "
        "in the article's `fixes` (e.g. `decode:cp1252`).",
    )
    max_bytes: int = Field(
        4 * 1024 * 1024,
        gt=0,
        description="Articles larger than this are rejected unread (news articles are rarely "
        "over 200 KB; Moses needs seconds per MB).",
    )
    max_line_chars: int = Field(
        200_000, gt=0, description="Articles with a longer line are rejected before tokenizing."
    )
    max_control_ratio: float = Field(
        0.01,
        ge=0,
        le=1,
        description="Share of control characters above which decoded bytes count as binary.",
    )

    @field_validator("fallback_encodings")
    @classmethod
    def _known_encodings(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        import codecs

        for name in value:
            try:
                codec = codecs.lookup(name)
            except LookupError:
                raise ValueError(f"unknown encoding {name!r}") from None
            if not codec._is_text_encoding:  # rot13, base64, zlib: not bytes -> text
                raise ValueError(f"{name!r} is not a text encoding (bytes to str)")
        return value


class UnicodeFixOptions(_Frozen):
    """ftfy's `TextFixerConfig`, spelled out so every run records what it used.

    Field names and defaults are ftfy 6.3's; `explain` is always on (the manifest's `fixes`).
    """

    unescape_html: Literal["auto"] | bool = Field(
        "auto", description="Decode HTML entities; 'auto' skips text that contains '<'."
    )
    remove_terminal_escapes: bool = True
    fix_encoding: bool = Field(True, description="Undo mojibake (UTF-8 decoded as cp1252 etc.).")
    restore_byte_a0: bool = True
    replace_lossy_sequences: bool = True
    decode_inconsistent_utf8: bool = True
    fix_c1_controls: bool = True
    fix_latin_ligatures: bool = True
    fix_character_width: bool = True
    uncurl_quotes: bool = Field(
        True, description="Curly quotes become ASCII ones, which Moses tokenizes consistently."
    )
    fix_line_breaks: bool = True
    fix_surrogates: bool = True
    remove_control_chars: bool = True
    normalization: Literal["NFC", "NFKC", "NFD", "NFKD"] | None = "NFC"
    max_decode_length: int = Field(1_000_000, gt=0)


TokenizerEngine = Literal["sacremoses", "fast"]


class TokenizeOptions(_Frozen):
    """Moses tokenization (sacremoses) and the small rules around it."""

    engine: TokenizerEngine = Field(
        "sacremoses",
        description="sacremoses: the reference; fast: opus-fast-mosestokenizer, a C++ Moses "
        "port (pip install 'newsprep[fast]'), several times faster, the same output (lines "
        "it is known to tokenize differently go to sacremoses; check a sample with "
        "parity_sample).",
    )
    lang: str = Field(
        "en",
        description="Moses language code (nonbreaking prefixes, rules): one sacremoses has "
        "prefixes for, or another ISO 639-1 code (English prefixes, as with tokenizer.perl); "
        "anything else is refused, with the list. Case and spaces are ignored (DE is de).",
    )
    escape: bool = Field(
        False,
        description="Moses XML escaping (&quot; &apos; &amp; ...): on in wmt, as MT toolkits "
        "expect; off in the other profiles.",
    )
    aggressive_dash_splits: bool = Field(
        False, description="Split hyphens between letters or digits: far-western -> far - western."
    )
    dash_token: str = Field(
        "@-@", min_length=1, description="The token a split hyphen becomes (Moses writes @-@)."
    )
    split_cannot: bool = Field(False, description="PTB style: cannot -> can not.")
    split_final_period: bool = Field(
        False,
        description="Split a line's final period off its word even when the word has other "
        "periods or is a nonbreaking prefix (U.S. -> U.S ., St. -> St .), as tokenizer.perl "
        "does since 2018; sacremoses 0.2.0 keeps it attached.",
    )
    perl_language_rules: bool = Field(
        False,
        description="tokenizer.perl's rules where sacremoses 0.2.0 has others: Perl's letter "
        "and digit classes (Han and Hangul are letters, viramas are not); fi/sv keep a colon "
        "before lowercase (USA:n), ca a middle dot (col·laboració); ga/ca split contractions "
        "after the apostrophe (d' fhógair), tdt keeps apostrophes before lowercase; "
        "prefix-file entries tokenizer.perl never matches (a trailing space in "
        "mosesdecoder's file: it Arch., nl Nrs., sv Ö., ...) are not prefixes.",
    )
    protect_urls: bool = Field(
        False, description="Keep URLs and e-mail addresses whole (sacremoses' web patterns)."
    )
    drop_patterns: tuple[str, ...] = Field(
        (),
        description="Regular expressions removed (replaced by a space) before tokenizing, "
        "e.g. a source tag such as (CNN).",
    )

    @model_validator(mode="after")
    def _engine_can_do_it(self) -> TokenizeOptions:
        if self.engine == "fast" and self.protect_urls:
            raise ValueError("protect_urls needs engine 'sacremoses': the fast engine splits URLs")
        return self

    @field_validator("lang", mode="before")
    @classmethod
    def _known_language(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value  # pydantic says it is not a string
        lang = value.strip().lower()
        if lang not in MOSES_LANGUAGES and lang not in ISO_639_1:
            raise ValueError(
                f"unknown language {value!r}: Moses (sacremoses) has nonbreaking prefixes "
                f"for {', '.join(MOSES_LANGUAGES)}; another ISO 639-1 code gets the "
                "English ones, as with tokenizer.perl"
            )
        return lang

    @field_validator("drop_patterns")
    @classmethod
    def _compiles(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for pattern in value:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"{pattern!r} is not a valid regular expression: {exc}") from exc
        return value


# Two-letter language codes (ISO 639-1): Moses tokenizes any language, with English
# nonbreaking prefixes where it has none of its own (ar, vi, ...); anything else is a typo.
_ISO_639_1_CODES = """
aa ab ae af ak am an ar as av ay az ba be bg bh bi bm bn bo br bs ca ce ch co cr cs cu cv
cy da de dv dz ee el en eo es et eu fa ff fi fj fo fr fy ga gd gl gn gu gv ha he hi ho hr
ht hu hy hz ia id ie ig ii ik io is it iu ja jv ka kg ki kj kk kl km kn ko kr ks ku kv kw
ky la lb lg li ln lo lt lu lv mg mh mi mk ml mn mr ms mt my na nb nd ne ng nl nn no nr nv
ny oc oj om or os pa pi pl ps pt qu rm rn ro ru rw sa sc sd se sg si sk sl sm sn so sq sr
ss st su sv sw ta te tg th ti tk tl tn to tr ts tt tw ty ug uk ur uz ve vi vo wa wo xh yi
yo za zh zu
"""
ISO_639_1 = frozenset(_ISO_639_1_CODES.split())


# The language codes sacremoses (pinned at 0.2.0) ships nonbreaking prefixes for; with any
# other it tokenizes by English rules without a word. Written out, so that checking a
# config does not import sacremoses (~0.25 s of every command's start); test_config.py
# compares them with `sacremoses.corpus.NonbreakingPrefixes().available_langs`.
MOSES_LANGUAGES = (
    "as", "bn", "ca", "cs", "de", "el", "en", "es", "et", "fi", "fr", "ga", "gu", "hi", "hu",
    "is", "it", "kn", "lt", "lv", "ml", "mni", "mr", "nl", "or", "pa", "pl", "pt", "ro", "ru",
    "sk", "sl", "sv", "ta", "tdt", "te", "yue", "zh",
)


class ValidateOptions(_Frozen):
    """Thresholds of the validation checks (see tasks/validate.py)."""

    min_tokens: int = Field(5, ge=0, description="Fewer output tokens than this: rejected.")
    min_length_ratio: float = Field(
        0.5, ge=0, description="Output/input character ratio below this: rejected."
    )
    max_length_ratio: float = Field(
        2.0, gt=0, description="Output/input character ratio above this: rejected."
    )


class PipelineConfig(_Frozen):
    """What happens to the text. A profile is an instance of this model."""

    description: str = ""
    input: InputOptions = InputOptions()
    fetch: FetchOptions = FetchOptions()
    unicode_fix: UnicodeFixOptions = UnicodeFixOptions()
    tokenize: TokenizeOptions = TokenizeOptions()
    normalize_punctuation: bool = Field(
        False,
        description="Moses' normalize-punctuation.perl -l LANG (tokenize.lang) before "
        "tokenizing: curly and French quotes to \", dashes to -, … to ..., spaces around "
        "brackets and before % : ; fixed, no-break spaces in numbers to , or .",
    )
    remove_non_printing: bool = Field(
        False,
        description="Moses' remove-non-printing-char.perl before tokenizing: every "
        "character of Unicode category C (controls, tab, zero-width space, soft hyphen, "
        "private use, unassigned) becomes a space.",
    )
    lowercase: bool = True
    layout: Literal["paragraphs", "sentences"] = Field(
        "paragraphs",
        description="paragraphs: one output line per non-empty source line; sentences: "
        "sentence-final ' . ' tokens become line breaks (the CNN/DailyMail layout).",
    )
    lowercase_final_sigma: bool = Field(
        True,
        description="Lowercasing: a word-final capital sigma becomes final sigma (ΟΔΟΣ -> οδος) "
        "as Unicode and Python's str.lower() do; off: σ everywhere (οδοσ), as Perl's lc and "
        "Moses' lowercase.perl write it.",
    )
    validation: ValidateOptions = ValidateOptions()
    output: OutputOptions = OutputOptions()

    def fingerprint(self) -> str:
        """A short stable hash of every setting: same fingerprint, same output."""
        settings = self.model_dump(mode="json", exclude={"description"})
        for *parents, leaf in _ADDED_LATER:
            node = settings
            for part in parents:
                node = node[part]
            if node[leaf] == _ADDED_LATER[(*parents, leaf)]:
                del node[leaf]
        blob = json.dumps(settings, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


# Settings added after fingerprints were first recorded, with their defaults: left out of
# the fingerprint while at the default (which keeps the old output), so earlier runs'
# fingerprints stay valid and resumed runs skip what they wrote.
_ADDED_LATER: dict[tuple[str, ...], Any] = {
    ("tokenize", "split_final_period"): False,
    ("tokenize", "perl_language_rules"): False,
    ("lowercase_final_sigma",): True,
    ("normalize_punctuation",): False,
    ("remove_non_printing",): False,
}


PROFILES: dict[str, PipelineConfig] = {
    "default": PipelineConfig(
        description="Moses English, no escaping, lowercase, one line per paragraph.",
    ),
    "cnndm": PipelineConfig(
        description="The CNN/DailyMail corpus format, one sentence per line (reproduces "
        "tests/golden/cnn-xinjiang.cnndm.txt).",
        tokenize=TokenizeOptions(
            aggressive_dash_splits=True,  # the corpus splits far-western into far - western
            dash_token="-",  # ... and writes the split hyphen as a plain -, not Moses' @-@
            split_cannot=True,  # PTB convention used by the corpus: can not
            drop_patterns=(r"\(CNN\)",),  # the dateline source tag is not part of the text
        ),
        layout="sentences",  # one sentence per line, as in the published files
    ),
    "moses": PipelineConfig(
        description="Moses' own scripts: tokenizer.perl -l LANG -no-escape -a, then "
        "lowercase.perl; one line per paragraph. The unicode fix repairs broken text only.",
        unicode_fix=UnicodeFixOptions(
            unescape_html=False,  # &amp; in the text stays, as Moses sees it
            fix_latin_ligatures=False,  # valid characters stay: ligatures,
            fix_character_width=False,  # full-width forms,
            uncurl_quotes=False,  # curly quotes (don’t -> don ’ t, as Moses writes it)
            normalization=None,  # and decomposed accents
        ),
        tokenize=TokenizeOptions(
            aggressive_dash_splits=True, split_final_period=True, perl_language_rules=True
        ),
        lowercase_final_sigma=False,  # Perl's lc
    ),
    "wmt": PipelineConfig(
        description="The WMT preprocessing of MT toolkits: normalize-punctuation.perl -l "
        "LANG | remove-non-printing-char.perl | tokenizer.perl -l LANG -a (XML escaping, case "
        "kept); one line per paragraph. The unicode fix repairs broken text only.",
        unicode_fix=UnicodeFixOptions(
            unescape_html=False,  # valid text stays, as in moses
            fix_latin_ligatures=False,
            fix_character_width=False,
            uncurl_quotes=False,  # the punctuation stage turns them into Moses' quotes
            normalization=None,
            remove_control_chars=False,  # the non-printing stage makes them spaces
            fix_line_breaks=False,  # U+2028 and U+2029: a space to the tokenizer, as in perl
        ),
        normalize_punctuation=True,
        remove_non_printing=True,
        tokenize=TokenizeOptions(
            escape=True,
            aggressive_dash_splits=True,
            split_final_period=True,
            perl_language_rules=True,
        ),
        lowercase=False,
        lowercase_final_sigma=False,  # Perl's lc, should lowercase be set
    ),
}

ProfileName = Literal["default", "cnndm", "moses", "wmt"]

SAMPLE_SOURCE = str(files("newsprep") / "sample")


class RunOptions(_Frozen):
    """How a run executes. None of these change the output bytes."""

    task_unit: Literal["shard", "batch"] = Field(
        "shard",
        description="shard: a task run takes a shard of the source (a folder's files, a JSONL "
        "file or archive) end to end in a worker, and the flow never handles an article "
        "(scales to a cluster); batch: the flow lists every article and maps batches of "
        "them as task runs. JSONL output, and batch_size 1 (a task run per article), "
        "always run in batches.",
    )
    batch_size: int = Field(
        0,
        ge=0,
        le=100_000,
        description="task_unit batch: articles per Prefect task run; 0: chosen from the "
        "corpus size and the workers; 1 gives one task run per article, named after it. "
        "task_unit shard: articles a shard's worker checkpoints at a time; 0: 100.",
    )
    slice_bytes: int = Field(
        64 * 1024 * 1024,
        ge=4096,
        description="task_unit shard: a JSONL file (not compressed) larger than this is cut "
        "into slices of about this size, each a shard of its own, so that one large file "
        "is shared among the workers; read once to cut it, not again while it is unchanged.",
    )
    workers: int = Field(
        0, ge=0, le=1024, description="Parallel worker processes (or threads); 0: the CPU "
        "count (on the Dask cluster of dask_address: its threads)."
    )
    runner: Literal["process", "thread", "dask"] = Field(
        "process",
        description="process: task runs in threads, the CPU-bound stages in a pool of worker "
        "processes; thread: all in one process; dask: a Dask cluster (dask_address, or a "
        "local one).",
    )
    dask_address: str = Field(
        "",
        pattern=r"^$|^(tcp|tls|inproc|ucx)://\S+$",
        description="tcp://HOST:PORT of an existing Dask scheduler (runner dask); empty: a "
        "local cluster.",
    )
    max_attempts: int = Field(
        3, ge=1, description="Attempts per article for transient errors (I/O, timeouts)."
    )
    retry_delay_seconds: float = Field(
        0.5, ge=0, description="First retry delay; doubles per attempt, with jitter."
    )
    max_retry_delay_seconds: float = Field(
        30.0,
        ge=0,
        description="Longest retry delay: the doubling stops here. An article's retries "
        "also stop once the next delay would end past article_timeout_seconds.",
    )
    force: bool = Field(False, description="Reprocess every article, even unchanged ones.")
    max_removal_fraction: float = Field(
        0.5,
        ge=0,
        le=1,
        description="How much DEST's corpus may shrink in one run: a run that would leave "
        "fewer than (1 - this) of its articles, or remove any when SOURCE lists no file (an "
        "empty folder, an unmounted disk, a wrong prefix), removes none of the articles "
        "gone from SOURCE and ends with an error (exit 2).",
    )
    allow_removal: bool = Field(
        False, description="Remove the articles gone from SOURCE however many they are."
    )
    max_failure_rate: float = Field(
        0.01,
        ge=0,
        le=1,
        description="Share of articles that may end `failed` before the run counts as failed.",
    )
    article_timeout_seconds: float = Field(
        300.0,
        gt=0,
        description="Time limit of one article in a worker process (its read, text work "
        "and write together): past it the article ends failed, `timeout`, and the "
        "batch goes on. On every runner and store, no retry of a read or write starts "
        "past it.",
    )
    quarantine_max_item_bytes: int = Field(
        1024 * 1024,
        ge=0,
        description="Most bytes of one article copied to _quarantine/; a larger one gets no "
        "copy, its record's detail says its size and sha256.",
    )
    quarantine_max_run_bytes: int = Field(
        256 * 1024 * 1024,
        ge=0,
        description="Most bytes copied to _quarantine/ by one run; past it rejected articles "
        "get no copy, their records say their size and sha256.",
    )
    parity_sample: float = Field(
        0.0,
        ge=0,
        le=1,
        description="Engine fast only: share of articles (chosen by a hash of the id, so the "
        "same ones every run) tokenized again with sacremoses; the manifest records "
        "`parity` same|differs for each, _run.json the counts.",
    )

    @model_validator(mode="before")
    @classmethod
    def _none_is_auto(cls, data: Any) -> Any:
        # older callers and saved deployment parameters spell "auto" as None
        if isinstance(data, dict):
            auto = {"batch_size": 0, "workers": 0, "dask_address": ""}
            data = {k: auto[k] if v is None and k in auto else v for k, v in data.items()}
        return data

    @model_validator(mode="after")
    def _address_needs_dask(self) -> RunOptions:
        if self.dask_address and self.runner != "dask":
            raise ValueError("dask_address is only used with runner 'dask'")
        return self


def setting_paths(data: dict[str, Any] | None = None, prefix: str = "") -> list[str]:
    """Every dotted path an override may name (option groups and their fields)."""
    data = PipelineConfig().model_dump() if data is None else data
    paths = []
    for key, value in data.items():
        paths.append(prefix + key)
        if isinstance(value, dict):
            paths += setting_paths(value, f"{prefix}{key}.")
    return paths


class RunConfig(_Frozen):
    """A whole run: the `normalize-corpus` flow's one parameter (the form in the Prefect UI)."""

    source: str = Field(SAMPLE_SOURCE, description="Folder, file or fsspec URL of raw articles.")
    dest: str = Field("out", description="Folder or fsspec URL the corpus is written to.")
    profile: ProfileName = Field("default", description="Named pipeline configuration.")
    overrides: dict[str, Any] = Field(
        {},
        description='Profile fields to change, by dotted path: {"tokenize.lang": "de"}.',
        # an unknown path is refused when the run is created, not when it starts
        json_schema_extra={"propertyNames": {"enum": setting_paths()}},
    )
    tokenizer_engine: Literal["profile", "sacremoses", "fast"] = Field(
        "profile",
        description="Moses implementation (sets the profile's tokenize.engine); profile: the "
        "profile's own (sacremoses in every bundled profile). fast needs newsprep[fast].",
    )
    options: RunOptions = RunOptions()

    @field_validator("tokenizer_engine", mode="before")
    @classmethod
    def _none_is_profile(cls, value: Any) -> Any:
        return "profile" if value is None else value  # older callers passed None

    @field_validator("overrides", mode="before")
    @classmethod
    def _none_is_empty(cls, value: Any) -> Any:
        return {} if value is None else value

    def pipeline(self) -> PipelineConfig:
        """The profile with the overrides (and the tokenizer engine) applied, validated."""
        overrides = dict(self.overrides)
        if self.tokenizer_engine != "profile":
            overrides["tokenize.engine"] = self.tokenizer_engine
        pipeline = resolve_pipeline(self.profile, overrides)
        if self.options.parity_sample and pipeline.tokenize.engine != "fast":
            raise ConfigError(
                "parity_sample compares the fast tokenizer engine with sacremoses; this run "
                "uses sacremoses already (set tokenize.engine=fast)"
            )
        return pipeline


def resolve_pipeline(profile: str, overrides: dict[str, Any] | None = None) -> PipelineConfig:
    """Apply dotted-path overrides to a named profile; errors name the profile or field."""
    if profile not in PROFILES:
        raise ConfigError(f"unknown profile {profile!r}; choose one of: {', '.join(PROFILES)}")
    data = PROFILES[profile].model_dump()
    for dotted, value in (overrides or {}).items():
        node = data
        *parents, leaf = dotted.split(".")
        for part in parents:
            if not isinstance(node.get(part), dict):
                raise ConfigError(f"unknown setting {dotted!r}: {part!r} is not an option group")
            node = node[part]
        if leaf not in node:
            raise ConfigError(f"unknown setting {dotted!r}; known here: {', '.join(sorted(node))}")
        node[leaf] = value
    try:
        return PipelineConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_describe(exc)) from None


def _describe(exc: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
    )
