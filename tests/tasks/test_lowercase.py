"""Stage 4, lowercase: Unicode str.lower(), not casefold."""

from __future__ import annotations

import pytest

from newsprep.tasks.stages.lowercase import lowercase


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Beijing ( CNN ) China 's ISIS", "beijing ( cnn ) china 's isis"),
        ("STRAßE Straße", "straße straße"),  # not casefold: ß stays ß
        ("МОСКВА , Россия", "москва , россия"),
        ("ΟΔΟΣ", "οδος"),  # final sigma in context
        ("VIỆT NAM", "việt nam"),
        ("北京 مرحبا 123 $ 4.5 %", "北京 مرحبا 123 $ 4.5 %"),  # uncased scripts unchanged
        ("ǅemal", "ǆemal"),  # titlecase digraph
        ("İstanbul", "i̇stanbul"),  # İ lowercases to i + combining dot: one char becomes two
    ],
)
def test_lowercase(text: str, expected: str) -> None:
    assert lowercase(text) == expected


@pytest.mark.parametrize("text", ["Straße", "İstanbul", "ΟΔΟΣ", "ǅ", "Việt"])
def test_lowercase_is_idempotent(text: str) -> None:
    once = lowercase(text)
    assert lowercase(once) == once
