"""List a web root: every regular file and symbolic link, with what ``lstat`` says about it.

``os.scandir`` reads a directory and the kind of each entry in one system call; one ``lstat``
per entry gives size, mode, owner, times and inode. Nothing is opened here. Symbolic links are
recorded (with their target) and never followed: a hostile web root can hold link loops, or links
to ``/etc`` that an attacker planted to read other sites' configuration. Version-control folders
are skipped. Devices, sockets and FIFOs are not files a web server serves and are left out.

Each folder is opened once (``O_DIRECTORY``, and ``O_NOFOLLOW`` below the root, so a folder
swapped for a link after it was listed is not followed) and its entries are ``lstat``-ed relative
to that descriptor: the kernel does not resolve the whole path again for each of 100,000 files.

:func:`listing` yields plain tuples, the cheapest thing Python builds: an unchanged re-scan
compares them with the stat cache and builds nothing else for 99% of the files. :func:`walk`
gives the same as :class:`Entry` named tuples, for callers that want names.
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
INODE_MASK: Final = (1 << 63) - 1  # the store keeps a signed 64-bit integer
_DIR_FLAGS: Final = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_CLOEXEC", 0)
_SUB_FLAGS: Final = _DIR_FLAGS | getattr(os, "O_NOFOLLOW", 0)


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


# (path as shown, absolute path to open, lstat result, a link's target or ''): see :func:`listing`
Listed = tuple[str, str, os.stat_result, str]


def display(name: str) -> str:
    """A file-system name as text that can be stored and shown: undecodable bytes as ``\\xNN``."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return os.fsencode(name).decode("utf-8", "backslashreplace")
    return name


def _shown_names(names: list[str]) -> list[str]:
    """The names of one folder as shown, distinct. A name with undecodable bytes can show like
    another one spelled with a literal ``\\xNN`` (``caf\\xe9.php`` twice): the later one gets
    ``~2`` (or the first free number) at the end of its stem, before its extensions, so what a
    name says about the file (extension, double extension, hidden) is kept and both files are
    listed and checked, each under its own path. Only folders with non-ASCII names can collide."""
    if all(map(str.isascii, names)):
        return names
    shown = [name if name.isascii() else display(name) for name in names]
    if len(set(shown)) == len(shown):
        return shown
    taken: set[str] = set()
    out: list[str] = []
    for name in shown:
        if name in taken:
            dot = name.find(".", 1)
            stem, rest = (name, "") if dot < 0 else (name[:dot], name[dot:])
            number = 2
            while f"{stem}~{number}{rest}" in taken or f"{stem}~{number}{rest}" in shown:
                number += 1
            name = f"{stem}~{number}{rest}"
        taken.add(name)
        out.append(name)
    return out


def part_of(path: str, parts: int) -> int:
    """Which of ``parts`` parts a path belongs to in a split walk (:func:`listing` ``share``):
    its length modulo ``parts``. The store computes the same in SQL (``length()`` counts
    characters in SQLite and PostgreSQL, as ``len`` does; shown paths hold no surrogates), so
    each part can load its own share of the stat cache; it costs nothing, and path lengths vary
    enough to split a shop evenly (49.8% / 50.2% on the 100,000-file benchmark tree)."""
    return len(path) % parts


def entry_of(item: Listed) -> Entry:
    """The :class:`Entry` of one :func:`listing` item."""
    path, abspath, st, target = item
    return Entry(
        path,
        abspath,
        FILE if stat.S_ISREG(st.st_mode) else SYMLINK,
        st.st_size,
        stat.S_IMODE(st.st_mode),
        st.st_uid,
        st.st_gid,
        st.st_mtime_ns,
        st.st_ctime_ns,
        st.st_ino & INODE_MASK,
        target,
    )


def listing(
    root: str | os.PathLike[str],
    *,
    max_files: int = MAX_FILES,
    max_depth: int = MAX_DEPTH,
    share: tuple[int, int] = (0, 1),
) -> Iterator[Listed | Problem]:
    """Every file and symbolic link under ``root``, depth first, in directory order, as
    :data:`Listed` tuples (regular files have ``S_ISREG`` set in the lstat's mode, links
    ``S_ISLNK``).

    Stops after ``max_files`` entries (a :class:`Problem` says so). Raises ``OSError`` only when
    ``root`` itself cannot be listed.

    ``share`` ``(index, count)`` lists one part of the files, for ``count`` processes that list
    the same tree side by side: every part reads every folder (that is cheap), but only
    ``lstat``-s the files whose :func:`part_of` is ``index``. Every part reports the folders it
    could not list (the tree may change between their listings: the caller merges them); each
    part stops after ``max_files / count`` files."""
    index, parts = share
    top = os.fspath(root)
    count = 0
    limit = -(-max_files // parts)  # per part: the split is even, so the total is about max_files
    is_reg, is_lnk = stat.S_ISREG, stat.S_ISLNK
    # (absolute path, relative display path with a trailing '/', depth); the root's own errors propagate
    stack: list[tuple[str, str, int]] = [(top, "", 0)]
    first = True
    while stack:
        folder, rel, depth = stack.pop()
        try:
            fd = os.open(folder, _DIR_FLAGS if first else _SUB_FLAGS)
        except OSError as exc:
            if first:
                raise
            yield Problem(rel[:-1] or ".", exc.strerror or type(exc).__name__)
            continue
        at_root, first = first, False
        subfolders: list[tuple[str, str, int]] = []
        try:
            try:
                with os.scandir(fd) as found:
                    entries = list(found)  # directory order: sorting 100,000 names buys nothing
            except OSError as exc:
                if at_root:
                    raise
                yield Problem(rel[:-1] or ".", exc.strerror or type(exc).__name__)
                continue
            prefix = folder if folder.endswith("/") else folder + "/"
            names = _shown_names([e.name for e in entries])
            base = len(rel)
            for entry, shown in zip(entries, names, strict=True):
                own = parts == 1 or (base + len(shown)) % parts == index  # part_of, inlined: 100,000 times
                try:
                    if entry.is_dir(follow_symlinks=False):
                        name = entry.name
                        if name in SKIP_DIRS:
                            continue
                        if depth + 1 >= max_depth:
                            yield Problem(rel + shown, f"deeper than {max_depth} folders: not listed")
                            continue
                        subfolders.append((prefix + name, rel + shown + "/", depth + 1))
                        continue
                    if not own:
                        continue  # another part's file
                    st = entry.stat(follow_symlinks=False)  # fstatat(folder, name): no path walk
                except OSError as exc:
                    if own:
                        yield Problem(rel + shown, exc.strerror or type(exc).__name__)
                    continue
                path, name = rel + shown, entry.name
                mode = st.st_mode
                if is_reg(mode):
                    target = ""
                elif is_lnk(mode):
                    try:
                        target = display(os.readlink(name, dir_fd=fd))[:MAX_TARGET]
                    except OSError:
                        target = ""
                else:
                    continue  # devices, sockets, FIFOs
                if count >= limit:
                    yield Problem(path, f"more than {max_files} files: the rest of the tree was not listed")
                    return
                count += 1
                yield path, prefix + name, st, target
        finally:
            os.close(fd)
        stack.extend(reversed(subfolders))


def walk(
    root: str | os.PathLike[str], *, max_files: int = MAX_FILES, max_depth: int = MAX_DEPTH
) -> Iterator[Entry | Problem]:
    """:func:`listing` as :class:`Entry` named tuples."""
    for item in listing(root, max_files=max_files, max_depth=max_depth):
        yield item if isinstance(item, Problem) else entry_of(item)
