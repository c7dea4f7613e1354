"""One web-root baseline or scan: the store, the file system and the pool, around the pure core.

:func:`survey` does what both commands share:

1. **State.** The root's row, its files (baseline and stat cache, as plain tuples), the
   known-good hashes (packaged lists and the store), the detected platforms and the hashes of
   their releases.
2. **Walk** (:mod:`.walk`): every file's ``lstat``, every time; a folder's mtime proves nothing
   (editing a file does not change it).
3. **Triage** (:func:`_triage`). A file whose kind, size, mtime, ctime and inode equal the stat
   cache keeps its hash and cached verdict and is not read; when it has nothing to report, its
   cached tuple is all that is kept of it (nothing is built, nothing written). The ctime is part
   of the key on purpose: ``touch -r`` forges an mtime, nothing forges a ctime. Logs and cache
   data are not read at all; upload media only to look for PHP inside (once, then cached). A
   re-scan of a big root runs this in two processes, each with its share of the files and of
   the stat cache (:class:`_OtherPart`). What a scan settled that way is marked in the stat
   cache's snapshot under a fingerprint of the scan's plan (:func:`_plan_key`: engine, platforms,
   scope, releases, baseline): the next scan under the same plan takes a marked file whose lstat
   is unchanged as it is, without classifying it again (most of the per-file work).
4. **Read** (:mod:`.hashing`, both cores): hash, PHP-inside check, and for code files whose
   content is neither known good nor the release's own, the analysis engine.
5. **Checks**: one :class:`~.scan.FileCheck` per path, plus the baseline's files that are gone.

:func:`baseline` then records the current state as the baseline (hashing only: no analysis).
:func:`scan` asks :func:`.scan.assess` for findings, saves the stat cache, and :func:`record`
stores the findings like a scan (``webroot-<time>-<hex>``) and sends the alerts.

Every code file is analysed once per engine version (the rules and engine code are part of the
fingerprint), so a shop infected before its baseline was taken is still caught; after that only
files whose stat changed are read again.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import hashlib
import importlib.util
import os
import pickle
import secrets
import signal
import stat
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from skimguard import __version__
from skimguard.analyze.known_good import known_good_set
from skimguard.intel import Indicator, IntelIndex
from skimguard.models import Category, Finding, ScanResult, ScanStatus
from skimguard.store import Store, codec
from skimguard.webroot import WebrootError, hashing, kinds
from skimguard.webroot.platform import Detected, Layout, Zone, describe, detect, fs_probe, manifest, profile
from skimguard.webroot.rules import WEBROOT_RULES
from skimguard.webroot.scan import Context, Counts, FileCheck, FileState, Scope, assess, page_of, quiet
from skimguard.webroot.storage import (
    ANALYSIS,
    BASE_GID,
    BASE_KIND,
    BASE_MODE,
    BASE_SHA256,
    BASE_UID,
    CTIME,
    FLAGS,
    INODE,
    KIND,
    MTIME,
    SHA256,
    SIZE,
    VERDICT,
    CachedRow,
    FileRow,
    QuietMarks,
    ReleaseRow,
    RootRow,
)
from skimguard.webroot.walk import (
    INODE_MASK,
    MAX_FILES,
    SYMLINK,
    Entry,
    Listed,
    Problem,
    display,
    entry_of,
    listing,
)

if TYPE_CHECKING:
    from rich.console import Console

    from skimguard.alerts import DispatchReport
    from skimguard.config import Config

from skimguard.webroot import storage

RULE_IDS: Final = frozenset(r.id for r in WEBROOT_RULES)
ENGINE_MODULES: Final = tuple(
    f"skimguard.{m}"
    for m in (
        "analyze.engine", "analyze.extract", "analyze.normalize", "analyze.structure", "analyze.triage",
        "analyze.yara_rules", "webroot.hashing", "webroot.kinds", "webroot.prefilter",
    )
)  # fmt: skip
MAX_PHP_OFFSET: Final = 2**31 - 2
SPLIT_MIN: Final = 20_000  # cached files from which a re-scan lists the tree in two processes
Progress = Callable[[str, int, int], None]  # (phase, done, total)


@dataclass(frozen=True)
class Settings:
    workers: int = 0  # 0: one per CPU
    max_files: int = MAX_FILES
    releases: tuple[str, ...] = ()  # platform@version forced in addition to the detected ones


@dataclass(frozen=True)
class Stats:
    files: int = 0  # listed by the walk
    tracked: int = 0  # files the scan keeps state of (not logs, not cache data)
    read: int = 0  # read (hashed) this time
    reused: int = 0  # hash taken from the stat cache
    analysed: int = 0  # run through the analysis engine
    prefiltered: int = 0  # PHP files the yara-x prefilter found nothing in (clean without the engine)
    bytes_read: int = 0
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "files": self.files,
            "tracked": self.tracked,
            "read": self.read,
            "reused": self.reused,
            "analysed": self.analysed,
            "prefiltered": self.prefiltered,
            "bytes_read": self.bytes_read,
            "seconds": round(self.seconds, 3),
        }


@dataclass(frozen=True)
class Survey:
    root: RootRow
    path: str  # the root's absolute path as shown
    platforms: tuple[Detected, ...]
    releases: tuple[str, ...]
    scope: Scope
    has_baseline: bool
    checks: tuple[FileCheck, ...]  # the paths with something to say (see scan.quiet)
    watched: frozenset[str]  # paths in the integrity scope (kept for a baseline only)
    rows: dict[str, CachedRow]  # the current state of every tracked path (FileRow values as tuples)
    changed: tuple[FileRow, ...]  # rows to write
    gone: tuple[str, ...]  # tracked paths no longer there
    walk_problems: tuple[tuple[str, str], ...]
    truncated: bool
    engine: str
    stats: Stats
    notes: tuple[str, ...] = ()
    marks: QuietMarks | None = None  # for the snapshot (scans without threat intel)

    @property
    def complete(self) -> bool:
        return not self.truncated and not self.walk_problems


@dataclass(frozen=True)
class ScanOutcome:
    site: str
    root: str
    started_at: datetime
    finished_at: datetime
    platforms: tuple[str, ...]
    releases: tuple[str, ...]
    baseline_at: datetime | None
    counts: Counts
    stats: Stats
    findings: tuple[Finding, ...]
    notes: tuple[str, ...] = ()
    complete: bool = True  # the whole tree was listed (findings not reported can be resolved)
    scan_id: str | None = None
    resolved: int = 0
    alerts: DispatchReport | None = field(default=None)


@dataclass(frozen=True)
class BaselineOutcome:
    site: str
    root: str
    taken_at: datetime
    platforms: tuple[str, ...]
    files: int
    unreadable: tuple[str, ...]
    scope: Scope
    stats: Stats
    notes: tuple[str, ...] = ()


# --------------------------------------------------------------------------------------------
# engine fingerprint
# --------------------------------------------------------------------------------------------


@functools.cache
def _engine_code_digest() -> str:
    from skimguard.analyze import yara_rules  # (and yara-x: not for a re-scan's start-up)

    digest = hashlib.sha256(__version__.encode())
    for module in ENGINE_MODULES:  # their source, not imported: an unchanged re-scan never needs them
        spec = importlib.util.find_spec(module)
        if spec is not None and spec.origin:
            digest.update(Path(spec.origin).read_bytes())
    for name, text in sorted(yara_rules.packaged_rule_sources().items()):
        digest.update(name.encode() + b"\0" + text.encode())
    return digest.hexdigest()


def engine_fingerprint(indicators: Iterable[Indicator]) -> str:
    """Identifies what a cached verdict depends on: the engine's code and rules, and the threat
    intel loaded. Verdicts cached under another fingerprint are recomputed."""
    digest = hashlib.sha256(_engine_code_digest().encode())
    for kind, value in sorted((i.kind.value, i.value) for i in indicators):
        digest.update(f"{kind}\0{value}\n".encode())
    return digest.hexdigest()[:32]


# --------------------------------------------------------------------------------------------
# survey
# --------------------------------------------------------------------------------------------


def resolve_root(path: str | os.PathLike[str]) -> str:
    """The web root's absolute, link-free path; :class:`WebrootError` when it is not a folder."""
    real = os.path.realpath(os.fspath(path))
    if not os.path.isdir(real):
        raise WebrootError(f"{path}: not a folder", hint="give the shop's document root (the folder with index.php)")
    return real


def _core_map(
    store: Store, detected: Sequence[Detected], forced: Sequence[str]
) -> tuple[dict[str, tuple[str, str]], tuple[ReleaseRow, ...], list[str]]:
    """path -> (sha256, release label) of the releases that apply: the detected platforms'
    exact versions (or the only release of a platform whose version was not read), plus those
    forced with ``--release``; the releases used; notes."""
    wanted: list[tuple[str, str | None, bool]] = [(d.profile.name, d.version, False) for d in detected]
    for label in forced:
        forced_name, _, forced_version = label.partition("@")
        wanted.append((forced_name, forced_version or None, True))
    notes: list[str] = []
    core: dict[str, tuple[str, str]] = {}
    used: list[ReleaseRow] = []
    for name, version, explicit in wanted:
        candidates = storage.releases(store, name)
        chosen = [r for r in candidates if version is not None and r.version == version]
        if not chosen and version is None and len(candidates) == 1:
            chosen = candidates
        if not chosen:
            if explicit or (candidates and version):
                have = ", ".join(r.version for r in candidates) or "none"
                notes.append(f"no known-good release for {name}@{version or '?'} (built: {have})")
            elif name != "generic-php":
                notes.append(
                    f"no known-good release for {name}{'@' + version if version else ''}: "
                    "`skimguard webroot known-good build` makes unmodified core files free and modified ones stand out"
                )
            continue
        for release in chosen:
            if any(r.label == release.label for r in used):
                continue
            used.append(release)
            for path, digest in storage.release_files(store, release.id).items():
                core.setdefault(path, (digest, release.label))
    return core, tuple(used), notes


def _recorded(row: FileRow) -> FileState | None:
    """The baseline's record of a path (None: not in the baseline)."""
    if row.base_sha256 is None:
        return None
    return FileState(
        kind=row.base_kind or "file",
        size=row.base_size or 0,
        mode=row.base_mode or 0,
        uid=row.base_uid or 0,
        gid=row.base_gid or 0,
        mtime_ns=row.base_mtime_ns or 0,
        sha256=row.base_sha256,
    )


def _under(path: str, folders: Sequence[str]) -> bool:
    return any(path == f or path.startswith(f.rstrip("/") + "/") for f in folders)


# A file the quick path could not settle: (listing item, zone, watched, code, sniff, release
# sha256, reusable: the stat cache holds its hash and verdict, nothing needs reading)
Slow = tuple[Listed, Zone, bool, bool, bool, str, bool]


def _plan_key(
    engine: str, detected: Sequence[Detected], scope: Scope, releases: Sequence[ReleaseRow], has_baseline: bool
) -> str:
    """A fingerprint of what the quick path's verdict on an unchanged file depends on besides
    its cached row: the engine (code, rules, threat intel), the detected platforms and versions
    (zones), the integrity scope, the releases compared with (by id: a rebuilt release is a new
    row) and whether there is a baseline. The known-good lists are not in it: a file known good
    by them is never marked (see :func:`_triage`)."""
    digest = hashlib.sha256(engine.encode())
    for part in (*manifest(detected), repr(sorted(scope.to_json().items())), str(has_baseline)):
        digest.update(b"\0" + part.encode("utf-8", "surrogatepass"))
    for release in releases:
        digest.update(f"\0{release.label}#{release.id}".encode())
    return digest.hexdigest()[:32]


def _reusable(
    old: CachedRow, *, is_file: bool, code: bool, sniff: bool, core_sha: str, plan: _Plan, engine_same: bool
) -> tuple[bool, str]:
    """Whether the engine has nothing to do for a file whose lstat matches its cached row ``old``
    (not code, or its verdict under this engine is cached: clean, known good and still known
    good, or hits kept in the cache), and the verdict to take ("stale": made by another engine)."""
    verdict = old[VERDICT]
    if not (engine_same or verdict in ("", hashing.GOOD)):
        verdict = "stale"
    if not (plan.analyse and is_file and (code or (sniff and old[FLAGS] > 0))):
        return True, verdict
    if verdict == hashing.GOOD:
        return old[SHA256] in plan.known_good or old[SHA256] == core_sha, verdict
    if verdict in (hashing.SUSPICIOUS, hashing.MALICIOUS):  # cached hits: no read, no engine
        return old[ANALYSIS] is not None and old[SHA256] not in plan.known_good, verdict
    return verdict == hashing.CLEAN, verdict


def _markable_verdict(verdict: str, sha256: str | None, core_sha: str) -> bool:
    """Whether a row with this cached ``verdict`` may be marked quiet: nothing cached to report
    (no verdict, clean), or known good as the release's own file at its path (the plan key holds
    the releases; known good by the known-good lists is not in it, so those rows are not marked)."""
    return verdict in ("", hashing.CLEAN) or (verdict == hashing.GOOD and sha256 == core_sha)


@dataclass(frozen=True)
class _Plan:
    """What :func:`_triage` needs to know about this scan (the same in both parts of a split walk)."""

    cached: Mapping[str, CachedRow]
    marked: frozenset[str]  # the cached rows marked quiet under this scan's plan (see _plan_key)
    zone_of: Callable[[str], Zone]
    in_scope: Callable[[str, Zone, str], bool]
    core: Mapping[str, tuple[str, str]]
    known_good: frozenset[str]
    engine_same: bool
    analyse: bool
    has_baseline: bool
    intel: bool  # threat intel loaded: every hash is looked up (the general path)
    collect_watched: bool  # keep the watched paths (a baseline needs them)
    key: str  # marks are read and made under this key (see _plan_key; '': none, as with threat intel)
    files: int  # the root's rows in the store when the scan began (the snapshot must add up to them)


@dataclass
class _Tally:
    """What one part of the walk counted (filled by :func:`_triage`)."""

    files: int = 0
    tracked: int = 0
    reused: int = 0
    watched: list[str] = field(default_factory=list)
    problems: list[tuple[str, str]] = field(default_factory=list)
    truncated: bool = False
    quiet: set[str] = field(default_factory=set)  # settled quietly (to mark), known good by the lists left out
    marks: dict[int, tuple[int, bytes]] = field(default_factory=dict)  # of the chunks it read (storage.QuietMarks)


def _triage(
    items: Iterable[Listed | Problem], plan: _Plan, tally: _Tally, rows: dict[str, CachedRow]
) -> Iterator[Slow]:
    """The quick path of :func:`survey`, once per file: classify it, compare its lstat with the
    stat cache (kind, size, mtime, ctime and inode, field by field) and, when it is as it was and
    :func:`.scan.quiet` says it has nothing to report, keep its cached tuple in ``rows``; nothing
    else is built for it. Every other file is yielded for the general path.

    A file whose stat matches is reusable when the engine has nothing to do (:func:`_reusable`);
    a new engine makes every cached finding stale.

    A file marked quiet under this scan's plan (``plan.marked``) whose stat matches is settled
    first, before anything else is computed for it: the marks were made for exactly its cached
    row and this plan, and the stat match says its row is still right. Marks are made for the
    next scan of the same engine, so they are not taken when the rows' verdicts are another
    engine's (not ``engine_same``: a scan of another version or with other threat intel came
    between). The files settled quietly are collected in ``tally.quiet`` to be marked, but for
    those known good by the known-good lists, which the plan key leaves out (known good as the
    release's own file is in it)."""
    cached, zone_of, in_scope, core = plan.cached, plan.zone_of, plan.in_scope, plan.core
    engine_same, has_baseline, marking = plan.engine_same, plan.has_baseline, bool(plan.key)
    marked = plan.marked if engine_same else frozenset()
    general_only, collect, watched_paths, quiet_paths = plan.intel, plan.collect_watched, tally.watched, tally.quiet
    is_code, is_media, name_of = kinds.is_code, kinds.is_media, kinds.name_of
    is_reg, imode, upload, no_base = stat.S_ISREG, stat.S_IMODE, Zone.UPLOAD, (None, None, None, None, None)
    plain = ("", hashing.GOOD, hashing.CLEAN)
    files = tracked = reused = 0
    try:
        for item in items:
            if isinstance(item, Problem):
                tally.problems.append((item.path, item.reason))
                tally.truncated = tally.truncated or item.reason.startswith("more than")
                continue
            path, _, st, _ = item
            files += 1
            if path in marked:
                known = cached[path]
                if (
                    known[MTIME] == st.st_mtime_ns
                    and known[CTIME] == st.st_ctime_ns
                    and known[SIZE] == st.st_size
                    and known[INODE] == st.st_ino & INODE_MASK
                    and (known[KIND] == "file") is is_reg(st.st_mode)
                ):
                    tracked += 1
                    reused += 1
                    rows[path] = known
                    quiet_paths.add(path)
                    continue
            zone = zone_of(path)
            name = name_of(path)
            watched = in_scope(path, zone, name)
            code = is_code(name)
            is_file = is_reg(st.st_mode)
            sniff = is_file and not code and (zone is upload or is_media(name))
            core_sha = core[path][0] if core and path in core else ""
            if not (watched or code or sniff or core_sha):
                continue  # a log or cache data file: not read, not kept
            tracked += 1
            if collect and watched:
                watched_paths.append(path)
            old = cached.get(path)
            fine = False
            if old is not None and (
                old[SHA256] is not None
                and old[MTIME] == st.st_mtime_ns
                and old[CTIME] == st.st_ctime_ns
                and old[SIZE] == st.st_size
                and old[INODE] == st.st_ino & INODE_MASK
                and (old[KIND] == "file") is is_file
            ):
                fine, verdict = _reusable(
                    old, is_file=is_file, code=code, sniff=sniff, core_sha=core_sha, plan=plan, engine_same=engine_same
                )
                if fine:
                    reused += 1
                    if (
                        verdict in plain  # no cached hits, not stale
                        and not general_only
                        and quiet(
                            path,
                            zone,
                            watched=watched,
                            has_baseline=has_baseline,
                            now=("file" if is_file else SYMLINK, old[SHA256], imode(st.st_mode), st.st_uid,
                                 st.st_gid, old[FLAGS] - 1),
                            base=(old[BASE_KIND], old[BASE_SHA256], old[BASE_MODE], old[BASE_UID],
                                  old[BASE_GID]) if has_baseline else no_base,
                            verdict=verdict,
                            core_sha256=core_sha,
                            intel="",
                            partial=False,
                            name=name,
                        )
                    ):  # fmt: skip
                        rows[path] = old  # the common case: nothing built, nothing written
                        if marking and _markable_verdict(verdict, old[SHA256], core_sha):
                            quiet_paths.add(path)
                        continue
            yield item, zone, watched, code, sniff, core_sha, fine
    finally:
        tally.files += files
        tally.tracked += tracked
        tally.reused += reused


# What a part of a split walk hands back: the files for the general path with their cached
# rows, the cached paths it did not see (gone, unless under a folder that could not be listed),
# and its counts and quiet marks.
PartResult = tuple[list[tuple[Slow, CachedRow | None]], list[tuple[str, CachedRow]], _Tally]


def _part(store: Store, root_id: int, real: str, max_files: int, plan: _Plan, share: tuple[int, int]) -> PartResult:
    """One part of a split walk, whole: its share of the stat cache, its files triaged, the
    marks of its chunks."""
    found = storage.read_stat_cache(store, root_id, part=share, plan=plan.key, files=plan.files)
    cached = found.rows
    tally, rows = _Tally(), dict[str, CachedRow]()
    mine = replace(plan, cached=cached, marked=found.quiet)
    items = listing(real, max_files=max_files, share=share)
    slow = [(item, cached.get(item[0][0])) for item in _triage(items, mine, tally, rows)]
    tally.marks = storage.marks_of(found, tally.quiet)
    seen = rows.keys() | {item[0][0] for item, _ in slow}
    return slow, [(path, row) for path, row in cached.items() if path not in seen], tally


class _OtherPart:
    """Part 1 of a split re-scan (:func:`.walk.listing` ``share``, :func:`.walk.part_of`), run by
    :func:`_part` in a forked child while this process does part 0: its own share of the stat
    cache, read on its own connection, and its own share of the lstat calls and comparisons. A
    re-scan is otherwise one Python thread while the second core idles; the child sends back
    only what the parent needs (nothing much, when nothing changed: its chunks' quiet marks, a
    byte per file).

    The child lists, reads the database on a new connection (:func:`.storage.after_fork`) and
    writes to a pipe; it takes no lock another thread could hold, so forking beside the progress
    display's thread is safe. It never collects garbage (that would touch, and so copy, every
    object it shares with the parent) and leaves with ``os._exit``. Any failure of the child
    makes :meth:`result` None: the parent then does part 1 itself."""

    def __init__(self, store: Store, root_id: int, real: str, max_files: int, plan: _Plan) -> None:
        self._read, write = os.pipe()
        self._pid = os.fork()
        if self._pid == 0:  # the child
            code = 1
            try:
                gc.disable()
                os.close(self._read)
                storage.after_fork(store)
                found = _part(store, root_id, real, max_files, plan, (1, 2))
                slow, gone, tally = found
                # the paths settled quietly mark the chunks rewritten: only those with a row that
                # changes (a file to read again, or gone); the others' marks go as they are
                if not (gone or any(not reusable for (*_, reusable), _ in slow)):
                    tally.quiet = set()
                with os.fdopen(write, "wb") as out:
                    pickle.dump(found, out, protocol=pickle.HIGHEST_PROTOCOL)
                code = 0
            finally:
                os._exit(code)
        os.close(write)

    def result(self) -> PartResult | None:
        """What the child found (waits for it), or None when it failed."""
        received, self._read = os.fdopen(self._read, "rb"), -1
        with received:
            data = received.read()
        _, status = os.waitpid(self._pid, 0)
        self._pid = 0
        if not os.WIFEXITED(status) or os.WEXITSTATUS(status) != 0 or not data:
            return None
        found: PartResult = pickle.loads(data)  # our own child's output, over our own pipe
        return found

    def close(self) -> None:
        """Stop and reap the child when the parent gives up early (an error, an interrupt)."""
        if self._read >= 0:
            os.close(self._read)
            self._read = -1
        if self._pid:
            with contextlib.suppress(OSError):
                os.kill(self._pid, signal.SIGKILL)
            with contextlib.suppress(OSError):
                os.waitpid(self._pid, 0)
            self._pid = 0


def survey(
    store: Store,
    site: str,
    root_path: str | os.PathLike[str],
    *,
    scope: Scope | None = None,
    analyse: bool = True,
    settings: Settings = Settings(),
    progress: Progress | None = None,
) -> Survey:
    """Walk, hash (reusing the stat cache) and, when ``analyse``, run the engine; see the module
    docstring. ``scope`` None: the baseline's include/exclude globs.

    :func:`_triage` settles the common case of a re-scan, a file as it was with nothing to say,
    without building anything (no :class:`.walk.Entry`, no :class:`.storage.FileRow`, no check).
    Everything else (a new or changed file, a cached finding, threat intel, a new engine) takes
    the general path: ``general`` reads it in the pool or takes it from the stat cache, and
    ``settle`` turns it into its row and, unless quiet, a check."""
    started = time.monotonic()
    real = resolve_root(root_path)
    shown = display(real)
    root = storage.ensure_root(store, site, shown)
    detected = detect(fs_probe(real))
    for label in settings.releases:
        try:
            profile(label.partition("@")[0])
        except KeyError:
            raise WebrootError(
                f"--release {label}: unknown platform", hint="see `skimguard webroot platforms`"
            ) from None
    layout = Layout(detected)
    scope = scope if scope is not None else Scope.from_json(root.settings)
    has_baseline = root.baseline_at is not None
    indicators = tuple(store.indicators())
    intel = IntelIndex.build(indicators) if indicators else None
    engine = engine_fingerprint(indicators)
    engine_same = root.engine == engine
    known_good = known_good_set(store.known_good())
    core, used, notes = _core_map(store, detected, settings.releases)
    releases = tuple(r.label for r in used)
    # marks are made and read by scans only, and not with threat intel (every hash is looked up then)
    plan_key = _plan_key(engine, detected, scope, used, has_baseline) if analyse and intel is None else ""

    # --- one pass: walk, triage, read (in the pool, while the walk goes on), check
    checks: list[FileCheck] = []
    rows: dict[str, CachedRow] = {}  # every tracked path's row (part 0's only, in a split re-scan)
    changed: list[FileRow] = []
    pending: dict[str, tuple[Entry, Zone, bool, bool, bool, FileRow | None]] = {}
    counts = {"read": 0, "analysed": 0, "prefiltered": 0, "bytes": 0}
    on_done = (lambda n: progress("read", counts["read"], counts["read"])) if progress else None
    plan = _Plan(
        cached={},
        marked=frozenset(),
        zone_of=layout.zone,
        in_scope=scope.matcher(),
        core=core,
        known_good=known_good,
        engine_same=engine_same,
        analyse=analyse,
        has_baseline=has_baseline,
        intel=intel is not None,
        collect_watched=not analyse,
        key=plan_key,
        files=storage.count_files(store, root.id),
    )
    tally = _Tally()
    # A re-scan of a big root is split in two processes (see _OtherPart); a baseline is not (it
    # rewrites every row, so it needs them all here), nor a first scan (its time is the reading).
    split = (
        analyse
        and hasattr(os, "fork")
        and settings.workers != 1
        and (os.cpu_count() or 1) > 1
        and SPLIT_MIN <= plan.files <= settings.max_files // 4
    )
    other = _OtherPart(store, root.id, real, settings.max_files, plan) if split else None
    share = (0, 2) if other is not None else (0, 1)
    try:
        # loaded before the walk, not beside it in a thread: both hold the GIL nearly all the
        # time once the tree and the database are in the page cache, so a thread only adds switching
        found = storage.read_stat_cache(store, root.id, part=share, plan=plan.key, files=plan.files)
    except BaseException:
        if other is not None:
            other.close()
        raise
    cached = found.rows
    plan = replace(plan, cached=cached, marked=found.quiet)

    def mark(
        row: CachedRow, zone: Zone, watched: bool, code: bool, sniff: bool, core_sha: str, says_nothing: bool
    ) -> None:
        """Mark a row this scan writes or keeps when the next scan's quick path would settle it
        quietly with its lstat unchanged (:func:`_triage`: reusable under this engine, a plain
        verdict but for known good by the lists, quiet). ``says_nothing`` is :func:`.scan.quiet`
        of this scan, which saw the same values, or less: a file analysed in part is not quiet
        now, and not marked."""
        if not (plan.key and says_nothing and _markable_verdict(row[VERDICT], row[SHA256], core_sha)):
            return
        fine, _ = _reusable(
            row, is_file=row[KIND] == "file", code=code, sniff=sniff, core_sha=core_sha, plan=plan, engine_same=True
        )
        if fine:
            tally.quiet.add(row[0])

    def settle(
        entry: Entry,
        zone: Zone,
        watched: bool,
        code: bool,
        sniff: bool,
        old: FileRow | None,
        got: hashing.Outcome | None,
    ) -> None:
        """Turn one tracked file (read now, or from the stat cache when ``got`` is None) into its
        row and, unless :func:`.scan.quiet`, a check."""
        sha: str | None
        if got is None:
            assert old is not None and old.sha256 is not None
            sha, php_at, verdict, error = old.sha256, old.flags - 1, old.verdict, ""
            analysis = (
                hashing.verdict_from_json(entry.path, old.sha256, old.analysis) if old.analysis is not None else None
            )
            if not engine_same and verdict not in ("", hashing.GOOD):
                verdict = "stale"
        else:
            sha, php_at, verdict, analysis, error = got.sha256, got.php_at, got.verdict, got.file_verdict, got.error
            counts["bytes"] += got.size
            counts["analysed"] += got.verdict not in (hashing.NOT_ANALYSED, hashing.GOOD) and not got.prefiltered
            counts["prefiltered"] += got.prefiltered
        core_sha, core_label = core.get(entry.path, ("", ""))
        listed = ""
        if sha is not None and intel is not None:
            indicator = intel.match_hash(sha)
            if indicator is not None:
                listed = f"{indicator.source}: {indicator.value}"
        if old is not None and has_baseline:
            base: tuple[str | None, str | None, int | None, int | None, int | None] = (
                old.base_kind, old.base_sha256, old.base_mode, old.base_uid, old.base_gid
            )  # fmt: skip
        else:
            base = (None, None, None, None, None)
        partial = analysis is not None and any(hashing.partial_analysis(p) for p in analysis.problems)
        says_nothing = quiet(
            entry.path,
            zone,
            watched=watched,
            has_baseline=has_baseline,
            now=(entry.kind, sha, entry.mode, entry.uid, entry.gid, php_at),
            base=base,
            verdict=verdict,
            core_sha256=core_sha,
            intel=listed,
            partial=partial,
        )
        if not says_nothing:
            now = FileState(
                kind=entry.kind,
                size=entry.size,
                mode=entry.mode,
                uid=entry.uid,
                gid=entry.gid,
                mtime_ns=entry.mtime_ns,
                sha256=sha,
                target=entry.target,
                php_at=php_at,
            )
            checks.append(
                FileCheck(
                    path=entry.path,
                    zone=zone,
                    watched=watched,
                    now=now,
                    base=_recorded(old) if old is not None and has_baseline else None,
                    verdict=verdict,
                    analysis=analysis,
                    core_sha256=core_sha,
                    core_release=core_label,
                    intel=listed,
                    exec_expected=layout.executable_expected(entry.path),
                    error=error,
                )
            )
        if sha is None:
            if old is not None:
                rows[entry.path] = old  # unreadable this time: keep what we knew
            return
        if got is None and old is not None and verdict != "stale":
            rows[entry.path] = old  # from the stat cache, unchanged: no new row object
            mark(old, zone, watched, code, sniff, core_sha, says_nothing)
            return
        row = FileRow(
            path=entry.path,
            kind=entry.kind,
            size=entry.size,
            mode=entry.mode,
            uid=entry.uid,
            gid=entry.gid,
            mtime_ns=entry.mtime_ns,
            ctime_ns=entry.ctime_ns,
            inode=entry.inode,
            sha256=sha,
            flags=min(php_at + 1, MAX_PHP_OFFSET) if php_at >= 0 else 0,
            verdict=verdict if verdict != "stale" else "",
            analysis=hashing.verdict_to_json(analysis)
            if analysis is not None and verdict in (hashing.SUSPICIOUS, hashing.MALICIOUS)
            else None,
        )
        if old is not None:
            row = row._replace(
                base_kind=old.base_kind,
                base_size=old.base_size,
                base_mode=old.base_mode,
                base_uid=old.base_uid,
                base_gid=old.base_gid,
                base_mtime_ns=old.base_mtime_ns,
                base_sha256=old.base_sha256,
            )
        rows[entry.path] = row
        mark(row, zone, watched, code, sniff, core_sha, says_nothing)
        if old is None or row != old:
            changed.append(row)

    def settled(outcomes: Iterable[hashing.Outcome]) -> None:
        for got in outcomes:
            settle(*pending.pop(got.path), got)

    make_row = FileRow._make

    def general(slow: Slow, old: CachedRow | None) -> None:
        """A file the quick path did not settle: from the stat cache, or read now."""
        item, zone, watched, code, sniff, core_sha, reusable = slow
        entry = entry_of(item)
        if reusable:
            assert old is not None  # reusable: its cached row matched
            settle(entry, zone, watched, code, sniff, make_row(old), None)
            return
        counts["read"] += 1
        pending[entry.path] = (entry, zone, watched, code, sniff, make_row(old) if old is not None else None)
        job = hashing.Job(
            path=entry.path,
            abspath=entry.abspath,
            kind=entry.kind,
            analyse=analyse and code,
            sniff=sniff,
            core_sha256=core_sha,
            target=entry.target,
        )
        settled(dispatcher.add(job, entry.size if entry.kind == "file" else 0))

    missing: list[tuple[str, CachedRow]] = []  # cached paths not seen again
    with hashing.Dispatcher(
        known_good=known_good, indicators=indicators, workers=settings.workers, on_done=on_done
    ) as dispatcher:
        try:
            for slow in _triage(listing(real, max_files=settings.max_files, share=share), plan, tally, rows):
                general(slow, cached.get(slow[0][0]))
            if other is not None:
                theirs = other.result()
                if theirs is None:  # the child failed: this process does part 1 itself
                    theirs = _part(store, root.id, real, settings.max_files, plan, (1, 2))
                slows, gone_there, counted = theirs
                for slow, old in slows:
                    general(slow, old)
                missing += gone_there
                tally.files += counted.files
                tally.tracked += counted.tracked
                tally.reused += counted.reused
                known = set(tally.problems)  # a folder either part could not list counts once
                tally.problems += [p for p in counted.problems if p not in known]
                tally.truncated = tally.truncated or counted.truncated
                tally.quiet |= counted.quiet  # sent only when one of its chunks is rewritten
                tally.marks.update(counted.marks)
        except OSError as exc:
            raise WebrootError(f"{root_path}: cannot list: {exc.strerror}") from None
        finally:
            if other is not None:
                other.close()
        if progress:
            progress("walk", tally.files, tally.files)
        settled(dispatcher.finish())
    if not cached.keys() <= rows.keys():  # a set test in C: nothing gone, the usual case
        missing += [(path, row) for path, row in cached.items() if path not in rows]
    problems, truncated = tally.problems, tally.truncated
    problem_dirs = [p for p, _ in problems]

    # --- what is gone
    gone: list[str] = []
    if not truncated:
        for path, cached_row in missing:
            if _under(path, problem_dirs):
                continue
            old_row = make_row(cached_row)
            if old_row.sha256 is not None:
                gone.append(path)
            if has_baseline and old_row.base_sha256 is not None:
                zone = layout.zone(path)
                if scope.watched(path, zone):
                    checks.append(FileCheck(path=path, zone=zone, watched=True, now=None, base=_recorded(old_row)))
    stats = Stats(
        files=tally.files,
        tracked=tally.tracked,
        read=counts["read"],
        reused=tally.reused,
        analysed=counts["analysed"],
        prefiltered=counts["prefiltered"],
        bytes_read=counts["bytes"],
        seconds=time.monotonic() - started,
    )
    return Survey(
        root=root,
        path=shown,
        platforms=detected,
        releases=releases,
        scope=scope,
        has_baseline=has_baseline,
        checks=tuple(checks),
        watched=frozenset(tally.watched),
        rows=rows,
        changed=tuple(changed),
        gone=tuple(gone),
        walk_problems=tuple(problems),
        truncated=truncated,
        engine=engine,
        stats=stats,
        notes=tuple(notes),
        marks=QuietMarks(plan_key, {**storage.marks_of(found, tally.quiet), **tally.marks}, tally.quiet)
        if plan_key
        else None,
    )


# --------------------------------------------------------------------------------------------
# baseline
# --------------------------------------------------------------------------------------------


def baseline(
    store: Store,
    site: str,
    root_path: str | os.PathLike[str],
    *,
    include: Sequence[str] | None = None,
    exclude: Sequence[str] | None = None,
    actor: str,
    note: str = "",
    now: datetime | None = None,
    settings: Settings = Settings(),
    progress: Progress | None = None,
) -> BaselineOutcome:
    """Record the current state of the watched files as the root's integrity baseline. Without
    ``include`` and ``exclude``, the previous baseline's globs are kept."""
    now = now or datetime.now(UTC)
    scope = None if include is None and exclude is None else Scope(tuple(include or ()), tuple(exclude or ()))
    found = survey(store, site, root_path, scope=scope, analyse=False, settings=settings, progress=progress)
    watched = found.watched
    rows: list[FileRow] = []
    unreadable = [c.path for c in found.checks if c.now is not None and c.now.sha256 is None and c.watched]
    not_read = frozenset(unreadable)
    for path, values in found.rows.items():
        row = FileRow._make(values)
        if row.sha256 is None:
            continue
        if path in watched and path not in not_read:
            row = row._replace(
                base_kind=row.kind,
                base_size=row.size,
                base_mode=row.mode,
                base_uid=row.uid,
                base_gid=row.gid,
                base_mtime_ns=row.mtime_ns,
                base_sha256=row.sha256,
            )
        else:
            row = row._replace(
                base_kind=None,
                base_size=None,
                base_mode=None,
                base_uid=None,
                base_gid=None,
                base_mtime_ns=None,
                base_sha256=None,
            )
        rows.append(row)
    files = storage.save_baseline(
        store,
        found.root,
        rows=rows,
        settings=found.scope.to_json(),
        engine=found.engine,
        platforms=manifest(found.platforms),
        actor=actor,
        note=note,
        at=now,
    )
    return BaselineOutcome(
        site=site,
        root=found.path,
        taken_at=now,
        platforms=tuple(manifest(found.platforms)),
        files=files,
        unreadable=tuple(unreadable),
        scope=found.scope,
        stats=found.stats,
        notes=found.notes,
    )


# --------------------------------------------------------------------------------------------
# scan
# --------------------------------------------------------------------------------------------


def scan(
    store: Store,
    site: str,
    root_path: str | os.PathLike[str],
    *,
    now: datetime | None = None,
    settings: Settings = Settings(),
    progress: Progress | None = None,
) -> ScanOutcome:
    """Compare the web root with its baseline and analyse what needs it; save the stat cache.
    The findings are not stored yet: see :func:`record`."""
    started = now or datetime.now(UTC)
    found = survey(store, site, root_path, analyse=True, settings=settings, progress=progress)
    ctx = Context(
        site=site,
        root=found.path,
        has_baseline=found.has_baseline,
        walk_problems=found.walk_problems,
        truncated=found.truncated,
    )
    assessment = assess(found.checks, ctx)
    findings = tuple(replace(f, evidence=codec.json_safe(f.evidence)) for f in assessment.findings)
    storage.save_scan_state(
        store,
        found.root.id,
        changed=found.changed,
        gone=found.gone,
        engine=found.engine,
        platforms=manifest(found.platforms),
        at=started,
        marks=found.marks,
    )
    notes = list(found.notes)
    if not found.has_baseline:
        notes.append("no baseline for this web root: integrity not checked (`skimguard webroot baseline PATH`)")
    return ScanOutcome(
        site=site,
        root=found.path,
        started_at=started,
        finished_at=started if now is not None else datetime.now(UTC),
        platforms=tuple(manifest(found.platforms)),
        releases=found.releases,
        baseline_at=found.root.baseline_at,
        counts=assessment.counts,
        stats=found.stats,
        findings=findings,
        notes=tuple(notes),
        complete=found.complete,
    )


def _known(store: Store, outcome: ScanOutcome) -> dict[str, tuple[str, str, datetime]]:
    """fingerprint -> (status, content hash, first seen) of this root's stored findings."""
    page = page_of(outcome.root)
    return {
        s.fingerprint: (s.status, s.content_hash, s.first_seen)
        for s in store.findings(outcome.site, status=None)
        if s.finding.page == page and s.finding.rule_id in RULE_IDS and s.finding.category is Category.SERVER
    }


def _changes(outcome: ScanOutcome, known: Mapping[str, tuple[str, str, datetime]]) -> bool:
    """Whether storing brings anything: a finding new, changed in substance or resolved before,
    or (after a complete walk) an open finding of this root not reported any more."""
    current = {f.fingerprint for f in outcome.findings}
    for f in outcome.findings:
        status, content, _ = known.get(f.fingerprint, ("", "", outcome.started_at))
        if status in ("", "resolved") or content != f.content_hash:
            return True
    return outcome.complete and any(status == "open" and fp not in current for fp, (status, _, _) in known.items())


def record(
    config: Config,
    store: Store,
    outcome: ScanOutcome,
    *,
    alert: bool = True,
    console: Console | None = None,
) -> ScanOutcome:
    """Store the findings as a scan ``webroot-<time>-<hex>`` when something is new (see
    :func:`_changes`), resolve this root's findings that a complete scan no longer reports, and
    send the alerts.

    The scan's status is ``failed`` on purpose, as for telemetry checks: an ``ok`` scan resolves
    every open browser-scanner finding it did not see, and ``ok``/``partial`` scans are what
    ``baseline accept`` takes as the latest capture. Its summary says ``kind: webroot``."""
    findings = list(outcome.findings)
    scan_id: str | None = None
    resolved = 0
    reopened: frozenset[str] = frozenset()
    known = _known(store, outcome)
    if not _changes(outcome, known):  # nothing to store: the first sightings come from the store
        findings = [replace(f, first_seen=known[f.fingerprint][2]) for f in findings]
    else:
        at = outcome.started_at
        scan_id = f"webroot-{at:%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"
        store.begin_scan(outcome.site, scan_id, at)
        stored = store.finish_scan(
            ScanResult(
                site=outcome.site,
                scan_id=scan_id,
                started_at=at,
                finished_at=outcome.finished_at,
                status=ScanStatus.FAILED,
                captures=(),
                findings=tuple(findings),
            )
        )
        storage.annotate_scan(
            store,
            scan_id,
            {
                "kind": "webroot",
                "root": outcome.root,
                "platforms": list(outcome.platforms),
                "changes": outcome.counts.as_dict(),
                "files": outcome.stats.as_dict(),
            },
        )
        first_seen = {s.fingerprint: s.finding.first_seen for s in stored}
        findings = [replace(f, first_seen=first_seen.get(f.fingerprint, f.first_seen)) for f in findings]
        reopened = frozenset(s.fingerprint for s in stored if s.reopened)
        if outcome.complete:
            resolved = storage.resolve_missing(
                store, outcome.site, page_of(outcome.root), RULE_IDS, (s.fingerprint for s in stored), at
            )
    report = None
    if alert and findings:
        from skimguard.alerts import build_sinks, dispatch  # the sinks' libraries only when alerting

        report = dispatch(
            findings,
            site=outcome.site,
            scan_id=scan_id,
            sinks=build_sinks(config.alerts, console),
            log=store,
            record=store.record_alert,
            min_severity=config.alerts.min_severity,
            reopened=reopened,
        )
    return replace(outcome, findings=tuple(findings), scan_id=scan_id, resolved=resolved, alerts=report)


def platforms_line(labels: Sequence[str]) -> str:
    """``EC-CUBE 4 4.2.3`` from stored labels."""
    from skimguard.webroot.platform import from_manifest

    return describe(from_manifest(labels))
