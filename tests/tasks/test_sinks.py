"""write_atomic on a local disk: the whole file or nothing, under its final name."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from fsspec.implementations.local import LocalFileSystem

from newsprep.tasks.io.sinks import TEMP_MARKER, write_atomic, write_atomic_stream


def leftovers(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if TEMP_MARKER in p.name]


@pytest.mark.parametrize("size", [0, 1, 4096, 5 * 2**20 + 3])
def test_write_atomic_writes_every_byte_into_new_folders(tmp_path: Path, size: int) -> None:
    data = os.urandom(size)
    target = tmp_path / "a" / "b" / "x.txt"
    write_atomic(LocalFileSystem(), str(target), data)
    assert target.read_bytes() == data
    write_atomic(LocalFileSystem(), str(target), b"again\n")  # over an existing file
    assert target.read_bytes() == b"again\n"
    assert not leftovers(tmp_path)


def test_a_write_that_cannot_be_renamed_leaves_no_temp_file(tmp_path: Path) -> None:
    (tmp_path / "x.txt").mkdir()  # a folder where the file goes
    (tmp_path / "x.txt" / "inner").write_bytes(b"kept")
    with pytest.raises(IsADirectoryError):
        write_atomic(LocalFileSystem(), str(tmp_path / "x.txt"), b"text\n")
    with pytest.raises(IsADirectoryError):
        write_atomic_stream(LocalFileSystem(), str(tmp_path / "x.txt"), [b"a\n", b"b\n"])
    assert (tmp_path / "x.txt" / "inner").read_bytes() == b"kept"
    assert not leftovers(tmp_path)


def test_a_stream_that_fails_part_way_leaves_neither_file_nor_temp(tmp_path: Path) -> None:
    def lines():
        yield b"first\n"
        raise RuntimeError("the source broke")

    target = tmp_path / "m" / "manifest.jsonl"
    with pytest.raises(RuntimeError):
        write_atomic_stream(LocalFileSystem(), str(target), lines())
    assert not target.exists() and not leftovers(tmp_path)
    write_atomic_stream(LocalFileSystem(), str(target), (b"%d\n" % n for n in range(50_000)))
    assert target.read_bytes() == b"".join(b"%d\n" % n for n in range(50_000))
