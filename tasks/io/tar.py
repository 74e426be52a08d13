"""The archive reader: `.txt`/`.story` members of a tar archive (plain, gzip, bz2, xz),
streamed member by member, never unpacked to disk or read whole into memory."""

from __future__ import annotations

import hashlib
import math
import tarfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from fnmatch import fnmatch
from typing import IO

from fsspec import AbstractFileSystem

from newsprep.config import PipelineConfig
from newsprep.errors import Problem, Rejected, is_transient
from newsprep.tasks.io.paths import (
    ARCHIVE_SUFFIXES,
    format_by_name,
    safe_id_component,
    safe_relative_path,
    strip_suffix,
)
from newsprep.tasks.io.refs import CORRUPT, ArticleRef, SourceFile, broken_container
from newsprep.tasks.io.stores import on_local_disk
from newsprep.tasks.io.stream import Retry, open_container, open_regular


@dataclass(frozen=True)
class Member:
    name: str
    data: bytes | None  # None when the member is over the size limit, or not a file
    size: int
    mtime: int
    kind: str = "file"  # "file", "hardlink" (to `link`), or what else it is, in words
    link: str = ""  # a hard link's target (an earlier member), a symbolic link's

    @property
    def signature(self) -> str:
        """A hash of the content: a member rewritten with the same size and mtime differs."""
        if self.data is None:
            return f"{self.size}-unread"
        return "sha1:" + hashlib.sha1(self.data).hexdigest()


def archive_compression(name: str) -> str | None:
    """fsspec compression of an archive by name; None for a plain .tar or an unknown name."""
    lower = name.lower()
    if lower.endswith((".tgz", ".tar.gz")):
        return "gzip"
    return {".tar.bz2": "bz2", ".tar.xz": "xz"}.get(lower[lower.rfind(".tar") :])


# tarfile reads a GNU long-name, pax or sparse-map header into memory whole, before the
# member it describes: one over this size is refused, so a small archive cannot make the
# reader hold gigabytes (a real one is a path and a few attributes).
MAX_HEADER_BYTES = 1024 * 1024


class _BoundedTarInfo(tarfile.TarInfo):
    """A TarInfo that refuses extended headers over MAX_HEADER_BYTES (a ReadError: the
    archive is corrupt from there on), instead of reading them whole. A header that is not
    one (a bad checksum, a negative size) past the first member is a ReadError too:
    tarfile would take it for the end of the archive and drop the rest without a word."""

    @classmethod
    def fromtarfile(cls, tarfile_: tarfile.TarFile) -> tarfile.TarInfo:
        try:
            info = super().fromtarfile(tarfile_)
        except tarfile.InvalidHeaderError as exc:
            if not tarfile_.offset:
                raise
            raise tarfile.SubsequentHeaderError(
                f"invalid header at offset {tarfile_.offset}: {exc}"
            ) from None
        if info.size < 0:
            raise tarfile.SubsequentHeaderError(
                f"header at offset {tarfile_.offset} gives a negative size ({info.size})"
            )
        return info

    def _refuse_large(self, what: str, size: int) -> None:
        if size > MAX_HEADER_BYTES:
            raise tarfile.SubsequentHeaderError(
                f"{what} header of {size} bytes at offset {self.offset}, over "
                f"{MAX_HEADER_BYTES} bytes"
            )

    def _proc_gnulong(self, tarfile_: tarfile.TarFile) -> tarfile.TarInfo:
        self._refuse_large("GNU long name", self.size)
        return super()._proc_gnulong(tarfile_)

    def _proc_pax(self, tarfile_: tarfile.TarFile) -> tarfile.TarInfo:
        self._refuse_large("pax", self.size)
        return super()._proc_pax(tarfile_)

    def _proc_sparse(self, tarfile_: tarfile.TarFile) -> tarfile.TarInfo:
        """tarfile's own, with its extension blocks (old GNU sparse format) counted."""
        structs, isextended, origsize = self._sparse_structs
        del self._sparse_structs
        read = 0
        while isextended:
            read += tarfile.BLOCKSIZE
            self._refuse_large("GNU sparse map", read)
            buf = tarfile_.fileobj.read(tarfile.BLOCKSIZE)
            pos = 0
            for _ in range(21):
                try:
                    offset = tarfile.nti(buf[pos : pos + 12])
                    numbytes = tarfile.nti(buf[pos + 12 : pos + 24])
                except ValueError:
                    break
                if offset and numbytes:
                    structs.append((offset, numbytes))
                pos += 24
            isextended = bool(buf[504])
        self.sparse = structs
        self.offset_data = tarfile_.fileobj.tell()
        tarfile_.offset = self.offset_data + self._block(self.size)
        self.size = origsize
        return self

    def _proc_gnusparse_10(
        self, member: tarfile.TarInfo, pax_headers: dict, tarfile_: tarfile.TarFile
    ) -> None:
        """tarfile's own (GNU sparse 1.0: a count, then the numbers, one a line), with the
        blocks it reads counted."""
        buf = tarfile_.fileobj.read(tarfile.BLOCKSIZE)
        read = tarfile.BLOCKSIZE
        count, buf = buf.split(b"\n", 1)
        fields, sparse = int(count), []
        while len(sparse) < fields * 2:
            if b"\n" not in buf:
                read += tarfile.BLOCKSIZE
                self._refuse_large("GNU sparse map", read)
                buf += tarfile_.fileobj.read(tarfile.BLOCKSIZE)
            number, buf = buf.split(b"\n", 1)
            sparse.append(int(number))
        member.offset_data = tarfile_.fileobj.tell()
        member.sparse = list(zip(sparse[::2], sparse[1::2], strict=False))


def _kind(info: tarfile.TarInfo) -> str:
    if info.issym():
        return f"symbolic link to {info.linkname!r}"
    if info.ischr() or info.isblk():
        return "device"
    if info.isfifo():
        return "FIFO"
    return f"tar entry of type {info.type!r}"


@dataclass
class TarCount:
    """What a pass over an archive saw: its members (not folders), those that matched
    the member pattern, and the regular files so far of each name in `files`."""

    members: int = 0
    matched: int = 0
    files: dict[str, int] = field(default_factory=dict)  # name as extracted: files so far


def extracted_name(name: str) -> str:
    """The path GNU tar writes a member to: `./x.txt`, `sub//x.txt` and `sub/./x.txt` are
    `x.txt` and `sub/x.txt`, copies of one name. A leading `/` is kept (such a name is
    `unsafe-id`, never a copy of another)."""
    if "//" not in name and "/." not in name and not name.startswith("./"):
        return name  # most names
    parts = [part for part in name.split("/") if part not in ("", ".")]
    return "/" * name.startswith("/") + "/".join(parts)


def iter_tar(
    stream: IO[bytes], pattern: str, max_bytes: int, mode: str = "r|*",
    count: TarCount | None = None,
) -> Iterator[Member]:
    """Members matching `pattern`, streamed: never unpacked, never seeked.

    With mode "r|*" tarfile detects compression from the bytes; callers that decompress
    the stream themselves (fsspec's gzip checks the trailer, so a cut shows) pass "r|".
    Regular files come with their bytes (at most `max_bytes`: a larger one is read past),
    hard links with their target, symbolic links, devices and FIFOs with what they are
    (kind); folders are left out.
    A truncated or corrupt archive raises `tarfile.TarError` or `EOFError` after the
    members that could be read; so does a header tarfile's parser raises anything else on
    (a GNU sparse map that is not numbers), naming it.
    """
    count = count if count is not None else TarCount()
    with tarfile.open(fileobj=stream, mode=mode, tarinfo=_BoundedTarInfo) as archive:
        for info in _members(archive):
            if info.isdir():
                continue
            count.members += 1
            if count.files and info.isfile():
                key = extracted_name(info.name)
                if key in count.files:
                    count.files[key] += 1
            if not fnmatch(info.name, pattern):
                continue
            count.matched += 1
            mtime = _mtime(info)
            if info.islnk():
                yield Member(info.name, None, 0, mtime, "hardlink", info.linkname)
                continue
            if not info.isfile():
                yield Member(info.name, None, 0, mtime, _kind(info), info.linkname)
                continue
            if info.size > max_bytes:
                yield Member(info.name, None, info.size, mtime)
                continue
            handle = archive.extractfile(info)
            data = handle.read() if handle is not None else b""
            if len(data) != info.size:
                raise EOFError(f"member {info.name!r} is truncated")
            yield Member(info.name, data, info.size, mtime)


def _members(archive: tarfile.TarFile) -> Iterator[tarfile.TarInfo]:
    """The archive's headers; an error of tarfile's own parser that is not a TarError
    (a ValueError on a pax field, say) is one, so the archive's record says where."""
    while True:
        offset = archive.offset
        try:
            info = archive.next()
        except (tarfile.TarError, EOFError, OSError):
            raise
        except Exception as exc:
            raise tarfile.ReadError(
                f"header at offset {offset} cannot be parsed: {type(exc).__name__}: {exc}"
            ) from None
        if info is None:
            return
        yield info


def _mtime(info: tarfile.TarInfo) -> int:
    """The member's mtime in whole seconds; 0 for what a pax header may say instead of a
    time (nan, inf, a number too large for a float)."""
    mtime = info.mtime
    return int(mtime) if isinstance(mtime, int | float) and math.isfinite(mtime) else 0


def iter_link_targets(
    stream: IO[bytes], targets: set[str], max_bytes: int, mode: str
) -> Iterator[tuple[str, int, Member]]:
    """The regular members named in `targets` (what hard links point to, as extracted),
    streamed again: (the name as extracted, which copy of it: 1 for the first, the member)."""
    copies: dict[str, int] = {}
    for member in iter_tar(stream, "*", max_bytes, mode):
        if member.kind == "file" and (key := extracted_name(member.name)) in targets:
            copies[key] = copies.get(key, 0) + 1
            yield key, copies[key], member


def archive_articles(
    fs: AbstractFileSystem,
    file: SourceFile,
    config: PipelineConfig,
    member_pattern: str | None,
    single: bool,
    retry: Retry | None = None,
    on_ignored: Callable[[str], None] = lambda what: None,
    on_warning: Callable[[str], None] = lambda what: None,
) -> Iterator[ArticleRef]:
    """The articles of one archive. A hard link (how GNU tar stores a second copy of a
    file) is the article its target is, the target's last copy before the link, as GNU
    tar extracts it: read in a second pass over the archive, only when it has links.
    Names are compared as GNU tar writes them (`./x.txt` is `x.txt`). Symbolic links,
    devices, FIFOs and members that are not articles by their name (a README.md, a
    metadata.jsonl, as in a folder) are reported to `on_ignored`; a member pattern that
    matches none of its members (or an archive without members), to `on_warning`."""
    url = fs.unstrip_protocol(file.path)
    prefix = "" if single else strip_suffix(file.relative, ARCHIVE_SUFFIXES) + "/"
    pattern = member_pattern or config.input.member_pattern
    max_bytes = config.fetch.max_bytes
    compression = archive_compression(file.path)
    mode = "r|" if compression or file.path.lower().endswith(".tar") else "r|*"
    # target as extracted -> [(regular files of its name before the link, the link, the
    # target as stored)]
    links: dict[str, list[tuple[int, str, str]]] = {}
    name = ""
    try:
        if compression is None:  # a plain `.tar` by its name: GNU tar goes by the bytes
            compression = _compression_by_magic(fs, file, retry)
        # a name stored more than once (`tar -r`): the last copy is the member, as GNU
        # tar extracts it; the earlier ones are ignored
        copies, repeated = _repeated_names(fs, file, compression, retry, mode, pattern)
        count = TarCount(files=dict.fromkeys(repeated, 0))
        raw, stream = open_container(fs, file.path, compression, retry, file.depth)
        with raw, stream:
            for member in iter_tar(stream, pattern, max_bytes, mode, count):
                name = member.name
                key = extracted_name(name) if copies else name
                if copies.get(key, 0) > 1:
                    copies[key] -= 1
                    on_ignored(f"{file.relative}!{name} (an earlier copy; the last one is read)")
                elif member.kind not in ("file", "hardlink"):
                    on_ignored(f"{file.relative}!{member.name} ({member.kind})")
                elif _member_format(member.name, config, pattern) is None and _safe(name):
                    on_ignored(f"{file.relative}!{member.name} (not an article)")
                elif member.kind == "hardlink":
                    target = extracted_name(member.link)
                    copy = count.files.get(target, 0)
                    links.setdefault(target, []).append((copy, member.name, member.link))
                else:
                    yield _member_article(member, member.name, url, prefix, config, max_bytes)
        if not count.members:
            on_warning(f"{file.relative} has no members")
        elif not count.matched:
            on_warning(
                f"the member pattern {pattern!r} matched none of the {count.members} "
                f"members of {file.relative}"
            )
        if links:
            name = ""
            raw, stream = open_container(fs, file.path, compression, retry, file.depth)
            with raw, stream:
                for key, copy, target in iter_link_targets(stream, set(links), max_bytes, mode):
                    # a link before any copy of its target (GNU tar fails it) reads the first
                    waiting = links[key]
                    for before, link, _ in waiting:
                        if max(before, 1) == copy:
                            yield _member_article(target, link, url, prefix, config, max_bytes)
                    links[key] = [each for each in waiting if max(each[0], 1) != copy]
            for waiting in links.values():
                for _, link, target_name in waiting:
                    problem = Problem(
                        "rejected", "broken-link",
                        f"hard link to {target_name!r}, not in the archive",
                    )
                    yield _member_article(
                        Member(link, None, 0, 0), link, url, prefix, config, max_bytes, problem
                    )
    except CORRUPT as exc:
        after = f"after member {name!r}" if name else "before any member"
        yield broken_container(file, url, exc, "corrupt-archive", after)


# the first bytes of a compressed stream, as GNU tar recognizes them when reading a file
_MAGIC = (
    (b"\x1f\x8b", "gzip"), (b"BZh", "bz2"), (b"\xfd7zXZ\x00", "xz"),
    (b"\x28\xb5\x2f\xfd", "zstd"),
)


def _compression_by_magic(
    fs: AbstractFileSystem, file: SourceFile, retry: Retry | None
) -> str | None:
    """The compression of an archive named as plain (a `.tgz` saved as `.tar`), by its
    first bytes, as GNU tar finds it: None when they are a tar header (a member's name,
    which may begin `BZh`) or no compression's."""
    raw, _ = open_container(fs, file.path, None, retry, file.depth)
    with raw:
        head = raw.read(tarfile.BLOCKSIZE)
    if _is_tar_header(head):
        return None
    return next((name for magic, name in _MAGIC if head.startswith(magic)), None)


def _is_tar_header(block: bytes) -> bool:
    """Whether a block is a tar header (tarfile's own check: its length, its checksum)."""
    try:
        tarfile.TarInfo.frombuf(block, "utf-8", "surrogateescape")
    except tarfile.HeaderError:
        return False
    return True


def _repeated_names(
    fs: AbstractFileSystem, file: SourceFile, compression: str | None, retry: Retry | None,
    mode: str, pattern: str,
) -> tuple[dict[str, int], set[str]]:
    """How many times each name `pattern` matches is in the archive, of those stored more
    than once (`tar -r`); and every name stored more than once, matched or not (what a
    hard link points to need not match). Names as extracted (`./x.txt` is `x.txt`). A
    plain archive on the local disk has its headers read and its members' bytes seeked
    past (0.07 s for 20,000 members); any other is streamed once more, headers only (a
    second download or decompression: 0.46 s for a .tgz of 20,000 members). A corrupt
    archive counts what could be read (the pass that reads it says where it broke); a
    transient error that outlives its retries is raised, as in that pass."""
    if compression is None and on_local_disk(fs):
        with open_regular(fs._strip_protocol(file.path), file.depth) as handle:
            names = _plain_header_names(handle)
            if names is None:  # extended headers (pax, GNU long names): tarfile reads them
                handle.seek(0)
                names = _tarfile_names(handle, "r:")
    else:
        raw, stream = open_container(fs, file.path, compression, retry, file.depth)
        with raw, stream:
            names = _tarfile_names(stream, mode)
    seen: set[str] = set()
    repeated: set[str] = set()
    for name in names:
        key = extracted_name(name)
        if key in seen:
            repeated.add(key)
        seen.add(key)
    del seen
    copies: dict[str, int] = {}
    if repeated:  # matched by the name as stored, as `tar -x PATTERN` matches
        for name in names:
            key = extracted_name(name)
            if key in repeated and fnmatch(name, pattern):
                copies[key] = copies.get(key, 0) + 1
    return {key: n for key, n in copies.items() if n > 1}, repeated


def _plain_header_names(handle: IO[bytes]) -> list[str] | None:
    """The names of an archive's members but folders, from its 512-byte headers alone (a
    tenth of tarfile's time: 0.07 s for 20,000 members); None at the first extended header."""
    names: list[str] = []
    offset = 0
    while len(header := handle.read(tarfile.BLOCKSIZE)) == tarfile.BLOCKSIZE:
        if not header.strip(b"\0"):
            break  # the end of the archive
        kind = header[156:157]
        if kind in (tarfile.XHDTYPE, tarfile.XGLTYPE, tarfile.GNUTYPE_LONGNAME,
                    tarfile.GNUTYPE_LONGLINK, tarfile.GNUTYPE_SPARSE):
            return None
        try:
            size = tarfile.nti(header[124:136])
        except tarfile.HeaderError:
            size = -1
        if size < 0:
            break  # the pass that reads the archive says where it broke
        name = header[:100].split(b"\0", 1)[0]
        if header[257:263] == tarfile.POSIX_MAGIC[:6] and header[345]:  # ustar's prefix
            name = header[345:500].split(b"\0", 1)[0] + b"/" + name
        if kind != tarfile.DIRTYPE:
            names.append(name.decode("utf-8", "surrogateescape"))
        offset += tarfile.BLOCKSIZE + -(-size // tarfile.BLOCKSIZE) * tarfile.BLOCKSIZE
        handle.seek(offset)
    return names


def _tarfile_names(handle: IO[bytes], mode: str) -> list[str]:
    """The names of the archive's members but folders, as far as it can be read; a
    transient error is raised."""
    names: list[str] = []
    try:
        with tarfile.open(fileobj=handle, mode=mode, tarinfo=_BoundedTarInfo) as archive:
            names.extend(info.name for info in _members(archive) if not info.isdir())
    except CORRUPT as exc:
        if is_transient(exc):
            raise
    return names


def _safe(name: str) -> bool:
    """Whether a member's name is usable as an id; an unsafe one (`_manifest.jsonl`,
    `../x`) is a record of its own even when its name says it is not an article."""
    try:
        safe_relative_path(name)
    except Rejected:
        return False
    return True


def _member_format(name: str, config: PipelineConfig, pattern: str) -> str | None:
    """A member's format: by its name as a file's in a folder ('txt', 'story'; None: not
    an article), unless `input.format` says txt or story, or a member pattern of the
    user's chose it (then `.story` is a story and anything else text)."""
    if config.input.format in ("txt", "story"):
        return config.input.format
    fmt = format_by_name(name)
    if fmt in ("txt", "story"):
        return fmt
    return "txt" if pattern != "*" else None


def _member_article(
    member: Member,
    name: str,
    url: str,
    prefix: str,
    config: PipelineConfig,
    max_bytes: int,
    problem: Problem | None = None,
) -> ArticleRef:
    """The article of a member read under `name` (its own, or a hard link's)."""
    source = f"{url}!{name}" if name == member.name else f"{url}!{name} (= {member.name})"
    fmt = _member_format(name, config, "*") or "txt"  # the loop chose it: text if not by name
    try:
        article_id = prefix + safe_relative_path(name)
    except Rejected as exc:
        return ArticleRef(
            id=prefix + "_unsafe/" + safe_id_component(name), source=source,
            data=member.data, signature=member.signature, problem=exc.problem,
        )
    if problem is None and member.data is None:
        detail = f"{member.size} bytes, max_bytes={max_bytes}"
        problem = Problem("rejected", "too-large", detail)
    return ArticleRef(
        id=article_id, source=source, format=fmt, data=member.data,
        signature=member.signature, problem=problem,
    )
