"""Read files once: hash them, look for PHP inside media, run the analysis engine, on both cores.

A file is read in 1 MiB chunks: every chunk goes into the sha256, is searched for a PHP open tag
when the file is an image or media file (so polyglots cost no extra read), and the first
:data:`MAX_READ` bytes are kept when the engine may need them. Memory is therefore bounded by that
head per worker, not by the file or the tree. The engine runs only when the content is neither
known good (packaged lists, the store, a platform release) nor the release's own file at that path.

Files are opened with ``O_NOFOLLOW | O_NONBLOCK`` and checked to be regular after opening: the
tree is hostile, and a file swapped for a link or a FIFO between the walk and the read must not be
followed or block the scan.

A :class:`Dispatcher` sends batches to a process pool while the walk goes on (the engine is
Python and holds the GIL), or runs them in this process when the work is small and a pool would
cost more to start than it saves.
"""

from __future__ import annotations

import gc
import hashlib
import multiprocessing
import os
import stat
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, NamedTuple

from skimguard.analyze.files import MAX_READ
from skimguard.analyze.model import CodeHit, FileVerdict, Language, Layer, Verdict
from skimguard.gcpause import settle_after_warm_up
from skimguard.intel import Indicator, IntelIndex
from skimguard.models import Confidence, Severity
from skimguard.webroot import WebrootError, kinds, prefilter
from skimguard.webroot.walk import SYMLINK

if TYPE_CHECKING:
    from skimguard.analyze.engine import Options

CHUNK: Final = 1024 * 1024
BATCH_FILES: Final = 128
BATCH_BYTES: Final = 48 * 1024 * 1024
IN_PROCESS_FILES: Final = 400  # below this many files (and bytes), no pool
IN_PROCESS_BYTES: Final = 64 * 1024 * 1024

# verdicts kept in the stat cache
NOT_ANALYSED: Final = ""
GOOD: Final = "good"  # known good or the release's own file: not analysed
ERROR: Final = "error"
CLEAN: Final = Verdict.CLEAN.value
SUSPICIOUS: Final = Verdict.SUSPICIOUS.value
MALICIOUS: Final = Verdict.MALICIOUS.value


class Job(NamedTuple):
    path: str
    abspath: str
    kind: str
    analyse: bool  # run the engine on the content (code files)
    sniff: bool  # search for PHP inside (images, media)
    core_sha256: str = ""  # the release's hash at this path ('' not a core path)
    target: str = ""  # a symbolic link's target


class Outcome(NamedTuple):
    path: str
    sha256: str | None  # None: unreadable
    size: int
    php_at: int  # offset of PHP inside a media file, -1 none
    verdict: str  # NOT_ANALYSED | GOOD | clean | suspicious | malicious | ERROR
    file_verdict: FileVerdict | None  # kept when not clean, or when analysis had problems
    error: str = ""  # why the file could not be read or analysed
    prefiltered: bool = False  # clean because the prefilter found nothing the engine could use


@dataclass(frozen=True)
class _Context:
    known_good: frozenset[str]
    indicators: tuple[Indicator, ...]


_context: _Context | None = None
_options: Options | None = None  # built lazily, once per process


def init_worker(known_good: frozenset[str], indicators: tuple[Indicator, ...]) -> None:
    """The in-process set-up: what every job of this scan shares."""
    global _context, _options
    _context = _Context(known_good, indicators)
    _options = None


def _init_pool_worker(known_good: frozenset[str], indicators: tuple[Indicator, ...]) -> None:
    """Pool initializer: :func:`init_worker`, and the cyclic garbage collector on (the engine's
    parsers make cycles) in a worker forked from a command that runs without it
    (:data:`skimguard.cli.UNCOLLECTED_COMMANDS`), with what the worker inherited frozen first
    (:func:`skimguard.gcpause.settle_after_warm_up`: the parent's stat cache, the compiled
    rules), so that its collections never walk those objects."""
    settle_after_warm_up()
    gc.enable()
    init_worker(known_good, indicators)


def _engine_options() -> Options:
    global _options
    if _options is None:
        from skimguard.analyze.engine import Options  # imported when first needed: re-scans never do

        indicators = _context.indicators if _context else ()
        _options = Options(intel=IntelIndex.build(indicators) if indicators else None)
    return _options


def symlink_digest(target: str) -> str:
    """The identity of a symbolic link: the sha256 of its target, prefixed so it never equals a file's."""
    return hashlib.sha256(b"symlink:" + target.encode("utf-8", "surrogateescape")).hexdigest()


def process(job: Job) -> Outcome:
    """Hash (and maybe analyse) one file."""
    if job.kind == SYMLINK:
        return Outcome(job.path, symlink_digest(job.target), len(job.target), -1, NOT_ANALYSED, None)
    try:
        digest, size, head, php_at = _read(job)
    except OSError as exc:
        return Outcome(job.path, None, 0, -1, NOT_ANALYSED, None, exc.strerror or type(exc).__name__)
    except _NotRegular as exc:
        return Outcome(job.path, None, 0, -1, NOT_ANALYSED, None, str(exc))
    known = _context.known_good if _context else frozenset()
    if digest in known or (job.core_sha256 and digest == job.core_sha256):
        return Outcome(job.path, digest, size, php_at, GOOD, None)
    polyglot = job.sniff and php_at >= 0
    if not (job.analyse or polyglot):
        return Outcome(job.path, digest, size, php_at, NOT_ANALYSED, None)
    if job.analyse and not polyglot and not (_context and _context.indicators) and prefilter.applies(job.path):
        worth, _ = prefilter.needs_engine(head)
        if not worth:
            return Outcome(job.path, digest, size, php_at, CLEAN, None, prefiltered=True)
    from skimguard.analyze.engine import analyze_bytes

    # PHP hidden in a media file is analysed as PHP whatever its name says
    language_path = job.path + ".php" if polyglot and not job.analyse else job.path
    try:
        verdict = analyze_bytes(head, language_path, _engine_options(), sha256=digest, size=size)
    except Exception as exc:  # an engine bug must not cost the scan: the file is reported unanalysed
        return Outcome(job.path, digest, size, php_at, ERROR, None, f"analysis failed: {type(exc).__name__}")
    keep = verdict.verdict is not Verdict.CLEAN or any(partial_analysis(p) for p in verdict.problems)
    return Outcome(job.path, digest, size, php_at, verdict.verdict.value, verdict if keep else None)


def partial_analysis(problem: str) -> bool:
    """Analysis problems that leave part of a file unchecked (reported by SG715)."""
    return problem.startswith(("too large", "rules:")) or "budget" in problem


class _NotRegular(Exception):
    pass


def _read(job: Job) -> tuple[str, int, bytes, int]:
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(job.abspath, flags)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise _NotRegular("not a regular file any more")
        digest = hashlib.sha256()
        keep_head = job.analyse or job.sniff
        head = bytearray()
        size = 0
        php_at = -1
        tail = b""
        while True:
            chunk = os.read(fd, CHUNK)
            if not chunk:
                break
            digest.update(chunk)
            if job.sniff and php_at < 0:
                found = kinds.php_inside(tail + chunk)
                if found >= 0:
                    php_at = size - len(tail) + found
                tail = chunk[-kinds.PHP_TAG_OVERLAP :]
            if keep_head and len(head) < MAX_READ:
                head += chunk[: MAX_READ - len(head)]
            size += len(chunk)
        return digest.hexdigest(), size, bytes(head), php_at
    finally:
        os.close(fd)


MAX_CACHED_HITS: Final = 20
MAX_CACHED_TEXT: Final = 300


def verdict_to_json(verdict: FileVerdict) -> dict[str, Any]:
    """What the stat cache keeps of a verdict that is not clean, so that an unchanged file needs
    neither a read nor the engine on the next scan (bounded: 20 hits, 300 characters a text)."""
    return {
        "verdict": verdict.verdict.value,
        "score": verdict.score,
        "language": verdict.language.value,
        "size": verdict.size,
        "hits": [
            {
                "rule_id": h.rule_id,
                "layer": h.layer.value,
                "severity": int(h.severity),
                "confidence": int(h.confidence),
                "title": h.title[:MAX_CACHED_TEXT],
                "explanation": h.explanation[:MAX_CACHED_TEXT],
                "excerpt": h.excerpt[:MAX_CACHED_TEXT],
                "line": h.line,
                "column": h.column,
                "normalized": h.normalized,
            }
            for h in verdict.hits[:MAX_CACHED_HITS]
        ],
        "problems": [p[:MAX_CACHED_TEXT] for p in verdict.problems[:5]],
    }


def verdict_from_json(path: str, sha256: str, data: Mapping[str, Any]) -> FileVerdict | None:
    """The inverse of :func:`verdict_to_json`; None when the cached data is not usable."""
    try:
        hits = tuple(
            CodeHit(
                rule_id=str(h["rule_id"]),
                layer=Layer(h["layer"]),
                severity=Severity(int(h["severity"])),
                confidence=Confidence(int(h["confidence"])),
                title=str(h["title"]),
                explanation=str(h["explanation"]),
                excerpt=str(h["excerpt"]),
                line=int(h["line"]),
                column=int(h["column"]),
                normalized=bool(h["normalized"]),
            )
            for h in data["hits"]
        )
        return FileVerdict(
            path=path,
            sha256=sha256,
            language=Language(data["language"]),
            size=int(data["size"]),
            verdict=Verdict(data["verdict"]),
            score=int(data["score"]),
            hits=hits,
            problems=tuple(str(p) for p in data["problems"]),
        )
    except (KeyError, TypeError, ValueError):
        return None


def process_batch(jobs: Sequence[Job]) -> list[Outcome]:
    return [process(job) for job in jobs]


class Dispatcher:
    """Runs jobs as they are planned, so reading starts while the walk goes on.

    Jobs wait in this process until there are :data:`IN_PROCESS_FILES` of them (or
    :data:`IN_PROCESS_BYTES`); then a process pool starts and takes batches of
    :data:`BATCH_FILES` files or :data:`BATCH_BYTES`, at most three batches per worker in flight
    (both cores busy, memory bounded). Work that never reaches the threshold runs in this process
    in :meth:`finish`: a pool costs more to start than a few files cost to read. ``workers`` 0 means
    one per CPU; 1 never starts a pool; more starts one at the first job. Use as a context manager
    (the pool is shut down on exit)."""

    def __init__(
        self,
        *,
        known_good: frozenset[str],
        indicators: tuple[Indicator, ...] = (),
        workers: int = 0,
        on_done: Callable[[int], None] | None = None,
    ) -> None:
        self.known_good = known_good
        self.indicators = indicators
        self.count = workers or os.cpu_count() or 1
        self.eager = workers > 1
        self.on_done = on_done
        self.waiting: list[Job] = []
        self.waiting_bytes = 0
        self.pool: ProcessPoolExecutor | None = None
        self.running: set[Future[list[Outcome]]] = set()
        self.batch: list[Job] = []
        self.batch_bytes = 0

    def __enter__(self) -> Dispatcher:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)
            self.pool = None

    def add(self, job: Job, size: int) -> list[Outcome]:
        """Queue a job; returns the outcomes that finished meanwhile (possibly none)."""
        if self.pool is None:
            self.waiting.append(job)
            self.waiting_bytes += size
            if self.count > 1 and (
                self.eager or len(self.waiting) >= IN_PROCESS_FILES or self.waiting_bytes >= IN_PROCESS_BYTES
            ):
                self._start()
                for queued in self.waiting:
                    self._queue(queued, 0)
                self.waiting, self.waiting_bytes = [], 0
            return []
        return self._queue(job, size)

    def _start(self) -> None:
        method = _start_method()
        if method == "fork":  # compiled once here and inherited, instead of once per worker
            from skimguard.analyze.yara_rules import packaged_rules

            packaged_rules()
            prefilter.rules()
        self.pool = ProcessPoolExecutor(
            max_workers=self.count,
            mp_context=multiprocessing.get_context(method),
            initializer=_init_pool_worker,
            initargs=(self.known_good, self.indicators),
        )

    def _queue(self, job: Job, size: int) -> list[Outcome]:
        self.batch.append(job)
        self.batch_bytes += size
        if len(self.batch) < BATCH_FILES and self.batch_bytes < BATCH_BYTES:
            return []
        return self._submit(block=len(self.running) >= 3 * self.count)

    def _submit(self, *, block: bool) -> list[Outcome]:
        assert self.pool is not None
        if self.batch:
            self.running.add(self.pool.submit(process_batch, self.batch))
            self.batch, self.batch_bytes = [], 0
        done, self.running = wait(self.running, timeout=None if block else 0, return_when=FIRST_COMPLETED)
        return self._collect(done)

    def _collect(self, done: set[Future[list[Outcome]]]) -> list[Outcome]:
        out: list[Outcome] = []
        for future in done:
            try:
                out.extend(future.result())
            except BrokenProcessPool as exc:
                raise WebrootError(
                    "a worker process died while reading files (out of memory, or killed)",
                    hint="run again with --workers 1 to read in one process",
                ) from exc
        if out and self.on_done:
            self.on_done(len(out))
        return out

    def finish(self) -> Iterator[Outcome]:
        """The outcomes of everything still queued or running."""
        if self.pool is None:
            init_worker(self.known_good, self.indicators)
            for job in self.waiting:
                yield process(job)
                if self.on_done:
                    self.on_done(1)
            self.waiting = []
            return
        yield from self._submit(block=False)
        while self.running:
            done, self.running = wait(self.running, return_when=FIRST_COMPLETED)
            yield from self._collect(done)


def _start_method() -> str:
    """``fork`` when this process runs one thread (workers start at once and inherit the loaded
    engine; a lock held by another thread cannot be copied mid-way), else ``forkserver`` (which,
    like ``spawn``, imports the main module in each worker: scripts need a ``__main__`` guard)."""
    methods = multiprocessing.get_all_start_methods()
    if "fork" in methods and threading.active_count() == 1:
        return "fork"
    return "forkserver" if "forkserver" in methods else "spawn"
