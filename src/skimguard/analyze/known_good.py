"""Known-good files by sha256: the analysis engine's first and cheapest step.

A file whose sha256 is known good is clean without being read further (see
:func:`skimguard.analyze.engine.analyze_bytes`). Hashes come from two places:

* **Packaged lists** shipped with skimguard in ``analyze/known_good/*.tsv``: the files of popular
  browser library releases (jQuery, Bootstrap, Vue ...) exactly as published on npm, which is also
  what public CDNs serve. Each line is ``sha256<TAB>package@version/path``; ``#`` starts a comment.
  ``scripts/build-known-good`` regenerates ``npm.tsv`` from ``known_good/packages.txt``.
* **The store**: hashes a human marked good (``skimguard knowngood add``), see
  :meth:`skimguard.store.Store.known_good`.

A hash names exact bytes, so a library that was modified by even one byte (a skimmer appended to
jQuery) is not known good and is analysed like any other file.

Pure apart from reading the packaged files, once per process.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping
from importlib import resources
from types import MappingProxyType

__all__ = ["known_good_set", "packaged_lists", "parse_list"]

DATA_DIR = "known_good"
_SHA256 = re.compile(r"[0-9a-f]{64}")


def parse_list(text: str, name: str = "list") -> dict[str, str]:
    """sha256 -> description of the lines of a known-good list (``sha256<TAB>description``).

    Blank lines and ``#`` comments are skipped. A hash listed several times (a release that bundles
    a copy of jQuery) is described by its most direct name: fewest path parts, then shortest.
    Raises :class:`ValueError` naming the line when a line is malformed: the lists ship with
    skimguard, so a bad line is a packaging bug to catch in the tests, not to step over."""
    found: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        digest, sep, description = line.partition("\t")
        digest = digest.strip().lower()
        if not sep or not _SHA256.fullmatch(digest) or not description.strip():
            raise ValueError(f"{name}:{number}: expected sha256<TAB>package@version/path, got {line[:80]!r}")
        description = description.strip()
        old = found.get(digest)
        if old is None or _directness(description) < _directness(old):
            found[digest] = description
    return found


def _directness(description: str) -> tuple[int, int, str]:
    return description.count("/"), len(description), description


@functools.cache
def packaged_lists() -> Mapping[str, str]:
    """sha256 -> ``package@version/path`` of every packaged list (read-only, loaded once)."""
    merged: dict[str, str] = {}
    folder = resources.files("skimguard.analyze").joinpath(DATA_DIR)
    if folder.is_dir():
        for entry in sorted(folder.iterdir(), key=lambda e: e.name):
            if entry.name.endswith(".tsv") and entry.is_file():
                for digest, description in parse_list(entry.read_text("utf-8"), entry.name).items():
                    old = merged.get(digest)
                    if old is None or _directness(description) < _directness(old):
                        merged[digest] = description
    return MappingProxyType(merged)


@functools.cache
def _packaged_set() -> frozenset[str]:
    return frozenset(packaged_lists())


def known_good_set(store_entries: Iterable[str] | Mapping[str, object] = ()) -> frozenset[str]:
    """The hashes to pass as ``Options(known_good=...)``: the packaged lists plus ``store_entries``
    (sha256 digests, or the mapping :meth:`Store.known_good` returns)."""
    extra = frozenset(d.strip().lower() for d in store_entries)
    return _packaged_set() | extra if extra else _packaged_set()
