"""Layout: tokenized lines to output text (paragraph per line, or sentence per line)."""

from __future__ import annotations

from newsprep.tasks.stages.layout import layout


def test_paragraphs_keep_one_line_per_source_line() -> None:
    lines = ["it rained .", "the end ."]
    assert layout(lines, "paragraphs") == "it rained .\nthe end ."


def test_paragraphs_do_not_split_sentences() -> None:
    assert layout(["one . two ."], "paragraphs") == "one . two ."


def test_sentences_break_after_sentence_final_period() -> None:
    # CNN/DailyMail: the " . " goes; the last period of the text stays.
    lines = ["it rained . it poured .", "the end ."]
    assert layout(lines, "sentences") == "it rained\nit poured\nthe end ."


def test_sentences_closing_quote_starts_the_next_line() -> None:
    assert layout(['" we left . "', "he said ."], "sentences") == '" we left\n" he said .'


def test_sentences_other_punctuation_does_not_break() -> None:
    assert layout(["really ? yes ! no ...", "fine"], "sentences") == "really ? yes ! no ... fine"


def test_sentences_abbreviation_period_does_not_break() -> None:
    assert layout(["in the u.s. troops ."], "sentences") == "in the u.s. troops ."


def test_empty() -> None:
    assert layout([], "paragraphs") == ""
    assert layout([], "sentences") == ""
