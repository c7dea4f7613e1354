"""Pause Python's cyclic garbage collector around code that builds many objects and no cycles.

Building a large result (a web root's stat cache, an incident's scoped records) allocates millions
of small tuples and strings; each allocation burst sets off collections that walk every object
still alive, again and again, which made such builds several times slower. Reference counting
still frees everything while the collector is paused. Use it only around our own building, never
around a caller's iterables (an importer may make cycles).
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Disable the cyclic collector for the block; enable it again after, if it was enabled."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()
