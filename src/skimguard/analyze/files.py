"""Reading files for ``skimguard analyze``: walk paths, read bounded, hash whole.

Directories are walked recursively without following symbolic links (a hostile web root can
hold link loops); version-control metadata is skipped. A file is hashed in full, streaming, but
only its first :data:`MAX_READ` bytes are kept for analysis.
"""

from __future__ import annotations

import hashlib
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

MAX_READ = 4 * 1024 * 1024
SKIP_DIRS = frozenset({".git", ".svn", ".hg", "__pycache__"})
CHUNK = 1024 * 1024


@dataclass(frozen=True)
class FileData:
    path: str  # as shown to the user
    head: bytes  # the first MAX_READ bytes
    sha256: str  # of the whole file
    size: int


@dataclass(frozen=True)
class Unreadable:
    path: str
    reason: str


def iter_paths(paths: list[str]) -> Iterator[Path | Unreadable]:
    """Files under ``paths`` (``-`` is stdin and is yielded as ``Path('-')``), sorted per directory."""
    for raw in paths:
        if raw == "-":
            yield Path("-")
            continue
        path = Path(raw)
        if path.is_symlink() and path.is_dir():
            yield Unreadable(raw, "a symbolic link to a directory (not followed)")
        elif path.is_dir():
            for root, dirs, files in os.walk(path, followlinks=False):
                dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS)
                for name in sorted(files):
                    yield Path(root) / name
        elif path.exists():
            yield path
        else:
            yield Unreadable(raw, "no such file or directory")


def read(path: Path) -> FileData | Unreadable:
    """The head and hash of a file (or stdin for ``-``)."""
    try:
        if str(path) == "-":
            return _consume(sys.stdin.buffer, "-")
        if not path.is_file():
            return Unreadable(str(path), "not a regular file")
        with path.open("rb") as stream:
            return _consume(stream, str(path))
    except OSError as exc:
        return Unreadable(str(path), exc.strerror or type(exc).__name__)


def _consume(stream: BinaryIO, shown: str) -> FileData:
    digest = hashlib.sha256()
    head = bytearray()
    size = 0
    while True:
        chunk = stream.read(CHUNK)
        if not chunk:
            break
        size += len(chunk)
        digest.update(chunk)
        if len(head) < MAX_READ:
            head.extend(chunk[: MAX_READ - len(head)])
    return FileData(path=shown, head=bytes(head), sha256=digest.hexdigest(), size=size)
