"""Hash a platform release (zip, tar archive or unpacked folder) for the known-good store.

``skimguard webroot known-good build ARCHIVE --platform ec-cube-4 --version 4.2.3`` reads the
release the user downloaded from the platform's official source, hashes every regular file
(streamed: nothing is extracted to disk), and maps each to the path it has in a web root: an
archive's single top folder (``eccube-4.2.3/``, ``woocommerce/``) is dropped (an unpacked folder is
taken as the release's root) and the platform's prefix added (``wp-content/plugins/woocommerce/``
for WooCommerce). Unmodified core files then
cost nothing in a scan, and a file at a core path with another hash stands out (SG709).

The archive is hostile input like any other: members are bounded in number and size, links,
devices and paths that climb out (``../``) or are absolute are skipped, and nothing is written.
"""

from __future__ import annotations

import hashlib
import posixpath
import tarfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Final

from skimguard.webroot import WebrootError
from skimguard.webroot.walk import FILE, Entry, walk

MAX_MEMBERS: Final = 1_000_000
MAX_MEMBER_BYTES: Final = 1024 * 1024 * 1024
MAX_TOTAL_BYTES: Final = 32 * 1024 * 1024 * 1024
CHUNK: Final = 1024 * 1024
TAR_SUFFIXES: Final = (".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz")


@dataclass(frozen=True)
class ReleaseFiles:
    """The files of a release as they sit in a web root, and what was left out."""

    files: tuple[tuple[str, str], ...]  # (path, sha256), sorted by path
    source_sha256: str  # of the archive ('' for a folder)
    skipped: int = 0  # links, devices, unsafe or oversized members
    stripped: str = ""  # the top folder that was dropped


def _hash_stream(stream: IO[bytes], limit: int) -> str:
    digest = hashlib.sha256()
    total = 0
    while True:
        chunk = stream.read(CHUNK)
        if not chunk:
            return digest.hexdigest()
        total += len(chunk)
        if total > limit:
            raise WebrootError(f"an archive member is larger than {limit // (1024 * 1024)} MiB")
        digest.update(chunk)


def safe_member(name: str) -> str | None:
    """An archive member name as a relative POSIX path, or None when it is absolute or climbs out."""
    name = name.replace("\\", "/")
    while name.startswith("./"):
        name = name[2:]
    if not name or name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        return None
    clean = posixpath.normpath(name)
    if clean in (".", "") or clean == ".." or clean.startswith("../"):
        return None
    return clean


def _zip_members(path: Path) -> Iterator[tuple[str, str] | None]:
    try:
        archive = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as exc:
        raise WebrootError(f"{path}: not a readable zip archive ({exc})") from None
    with archive:
        for count, info in enumerate(archive.infolist()):
            if count >= MAX_MEMBERS:
                raise WebrootError(f"{path}: more than {MAX_MEMBERS} members")
            if info.is_dir():
                continue
            mode = (info.external_attr >> 16) & 0o170000
            name = safe_member(info.filename)
            if name is None or mode not in (0, 0o100000) or info.file_size > MAX_MEMBER_BYTES:
                yield None
                continue
            with archive.open(info) as stream:
                yield name, _hash_stream(stream, MAX_MEMBER_BYTES)


def _tar_members(path: Path) -> Iterator[tuple[str, str] | None]:
    try:
        archive = tarfile.open(path, mode="r|*")  # noqa: SIM115 - closed by the with below; open errors differ
    except (OSError, tarfile.TarError) as exc:
        raise WebrootError(f"{path}: not a readable tar archive ({exc})") from None
    with archive:
        try:
            for count, member in enumerate(archive):
                if count >= MAX_MEMBERS:
                    raise WebrootError(f"{path}: more than {MAX_MEMBERS} members")
                if member.isdir():
                    continue
                name = safe_member(member.name)
                if name is None or not member.isreg() or member.size > MAX_MEMBER_BYTES:
                    yield None
                    continue
                stream = archive.extractfile(member)
                if stream is None:
                    yield None
                    continue
                with stream:
                    yield name, _hash_stream(stream, MAX_MEMBER_BYTES)
        except (OSError, tarfile.TarError, EOFError) as exc:
            raise WebrootError(f"{path}: the tar archive is damaged ({exc})") from None


def _folder_members(path: Path) -> Iterator[tuple[str, str] | None]:
    for item in walk(path, max_files=MAX_MEMBERS):
        if not isinstance(item, Entry):
            raise WebrootError(f"{path}/{item.path}: {item.reason}")
        if item.kind != FILE:
            yield None
            continue
        try:
            with open(item.abspath, "rb") as stream:
                yield item.path, _hash_stream(stream, MAX_MEMBER_BYTES)
        except OSError as exc:
            raise WebrootError(f"{item.abspath}: cannot read: {exc.strerror}") from None


def strip_top(files: list[tuple[str, str]]) -> tuple[list[tuple[str, str]], str]:
    """Drop the single top folder every path shares (``eccube-4.2.3/``), if there is one."""
    tops = {p.split("/", 1)[0] for p, _ in files}
    if len(tops) != 1 or any("/" not in p for p, _ in files):
        return files, ""
    top = tops.pop()
    return [(p.split("/", 1)[1], d) for p, d in files], top


def read_release(source: Path, prefix: str = "") -> ReleaseFiles:
    """Every regular file of a release (a zip or tar archive, or a folder) with its sha256, at its
    path in a web root: an archive's shared top folder dropped (a folder is taken as the release's
    root), ``prefix`` (a folder) put in front."""
    if source.is_dir():
        members = _folder_members(source)
        source_sha = ""
    elif source.is_file():
        name = source.name.lower()
        if name.endswith(".zip"):
            members = _zip_members(source)
        elif name.endswith(TAR_SUFFIXES):
            members = _tar_members(source)
        else:
            raise WebrootError(
                f"{source}: not a .zip, .tar(.gz|.bz2|.xz) or folder", hint="give the release archive as downloaded"
            )
        with source.open("rb") as stream:
            source_sha = _hash_stream(stream, MAX_TOTAL_BYTES)
    else:
        raise WebrootError(f"{source}: no such file or folder")
    files: list[tuple[str, str]] = []
    skipped = 0
    for member in members:
        if member is None:
            skipped += 1
        else:
            files.append(member)
    if not files:
        raise WebrootError(f"{source}: no regular files in it")
    files, stripped = strip_top(files) if source_sha else (files, "")  # a folder is the release root
    base = safe_member(prefix.strip("/")) if prefix.strip("/") else ""
    if base is None:
        raise WebrootError(f"--prefix {prefix!r}: must be a relative folder inside the web root")
    if base:
        files = [(f"{base}/{p}", d) for p, d in files]
    return ReleaseFiles(tuple(sorted(files)), source_sha, skipped, stripped)
