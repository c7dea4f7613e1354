"""List a web root: every regular file and symbolic link, with what ``lstat`` says about it.

``os.scandir`` reads a directory and the kind of each entry in one system call; one ``lstat``
per entry gives size, mode, owner, times and inode. Nothing is opened here. Symbolic links are
recorded (with their target) and never followed: a hostile web root can hold link loops, or links
to ``/etc`` that an attacker planted to read other sites' configuration. Version-control folders
are skipped. Devices, sockets and FIFOs are not files a web server serves and are left out.

Entries are :class:`typing.NamedTuple` rather than frozen dataclasses: a shop has 100,000 files
and more, and a named tuple is built several times faster while being just as immutable.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from typing import Final, NamedTuple

SKIP_DIRS: Final = frozenset({".git", ".svn", ".hg", ".bzr", "CVS"})
MAX_FILES: Final = 2_000_000
MAX_DEPTH: Final = 64
MAX_TARGET: Final = 1024  # characters of a symbolic link's target kept

FILE: Final = "file"
SYMLINK: Final = "symlink"
_INODE_MASK: Final = (1 << 63) - 1  # the store keeps a signed 64-bit integer


class Entry(NamedTuple):
    """One file or symbolic link. ``path`` is relative to the root, with ``/`` separators and
    undecodable bytes shown as ``\\xNN`` (the identity stored and shown); ``abspath`` is the
    real path to open (it may hold surrogate escapes)."""

    path: str
    abspath: str
    kind: str  # FILE | SYMLINK
    size: int
    mode: int  # permission bits (stat.S_IMODE)
    uid: int
    gid: int
    mtime_ns: int
    ctime_ns: int
    inode: int
    target: str = ""  # a symbolic link's target


class Problem(NamedTuple):
    """A part of the tree that could not be listed (permission denied, too deep, too many files)."""

    path: str
    reason: str


def display(name: str) -> str:
    """A file-system name as text that can be stored and shown: undecodable bytes as ``\\xNN``."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return os.fsencode(name).decode("utf-8", "backslashreplace")
    return name


def walk(
    root: str | os.PathLike[str], *, max_files: int = MAX_FILES, max_depth: int = MAX_DEPTH
) -> Iterator[Entry | Problem]:
    """Every file and symbolic link under ``root``, depth first, in directory order.

    Stops after ``max_files`` entries (a :class:`Problem` says so). Raises ``OSError`` only when
    ``root`` itself cannot be listed."""
    top = os.fspath(root)
    count = 0
    # (absolute path, relative display path, depth); the root's own listing errors propagate
    stack: list[tuple[str, str, int]] = [(top, "", 0)]
    first = True
    while stack:
        folder, rel, depth = stack.pop()
        try:
            with os.scandir(folder) as listing:
                entries = list(listing)  # directory order: sorting 100,000 names buys nothing
        except OSError as exc:
            if first:
                raise
            yield Problem(rel or ".", exc.strerror or type(exc).__name__)
            continue
        first = False
        subfolders: list[tuple[str, str, int]] = []
        for entry in entries:
            name = entry.name
            path = f"{rel}/{display(name)}" if rel else display(name)
            try:
                if entry.is_dir(follow_symlinks=False):
                    if name in SKIP_DIRS:
                        continue
                    if depth + 1 >= max_depth:
                        yield Problem(path, f"deeper than {max_depth} folders: not listed")
                        continue
                    subfolders.append((entry.path, path, depth + 1))
                    continue
                st = entry.stat(follow_symlinks=False)
            except OSError as exc:
                yield Problem(path, exc.strerror or type(exc).__name__)
                continue
            if stat.S_ISREG(st.st_mode):
                kind, target = FILE, ""
            elif stat.S_ISLNK(st.st_mode):
                kind = SYMLINK
                try:
                    target = display(os.readlink(entry.path))[:MAX_TARGET]
                except OSError:
                    target = ""
            else:
                continue  # devices, sockets, FIFOs
            if count >= max_files:
                yield Problem(path, f"more than {max_files} files: the rest of the tree was not listed")
                return
            count += 1
            yield Entry(
                path,
                entry.path,
                kind,
                st.st_size,
                stat.S_IMODE(st.st_mode),
                st.st_uid,
                st.st_gid,
                st.st_mtime_ns,
                st.st_ctime_ns,
                st.st_ino & _INODE_MASK,
                target,
            )
        stack.extend(reversed(subfolders))
