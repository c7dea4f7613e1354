"""One web-root baseline or scan: the store, the file system and the pool, around the pure core.

:func:`survey` does what both commands share:

1. **State.** The root's row, its files (baseline and stat cache), the known-good hashes
   (packaged lists and the store), the detected platforms and the hashes of their releases.
2. **Walk** (:mod:`.walk`): every file's ``lstat``.
3. **Plan.** A file whose kind, size, mtime, ctime and inode equal the stat cache keeps its hash
   and cached verdict and is not read. The ctime is part of the key on purpose: ``touch -r``
   forges an mtime, nothing forges a ctime. Logs and cache data are not read at all; upload
   media only to look for PHP inside (once, then cached).
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

import functools
import hashlib
import importlib.util
import itertools
import os
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from skimguard import __version__
from skimguard.analyze import yara_rules
from skimguard.analyze.known_good import known_good_set
from skimguard.intel import Indicator, IntelIndex
from skimguard.models import Category, Finding, ScanResult, ScanStatus
from skimguard.store import Store, codec
from skimguard.webroot import WebrootError, hashing, kinds
from skimguard.webroot.platform import Detected, Layout, Zone, describe, detect, fs_probe, manifest, profile
from skimguard.webroot.rules import WEBROOT_RULES
from skimguard.webroot.scan import Context, Counts, FileCheck, FileState, Scope, assess, page_of, quiet
from skimguard.webroot.storage import FileRow, RootRow
from skimguard.webroot.walk import MAX_FILES, Entry, Problem, display, walk

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
    watched: frozenset[str]  # paths in the integrity scope
    rows: dict[str, FileRow]  # the current state of every tracked path
    changed: tuple[FileRow, ...]  # rows to write
    gone: tuple[str, ...]  # tracked paths no longer there
    walk_problems: tuple[tuple[str, str], ...]
    truncated: bool
    engine: str
    stats: Stats
    notes: tuple[str, ...] = ()

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
) -> tuple[dict[str, tuple[str, str]], tuple[str, ...], list[str]]:
    """path -> (sha256, release label) of the releases that apply: the detected platforms'
    exact versions (or the only release of a platform whose version was not read), plus those
    forced with ``--release``."""
    wanted: list[tuple[str, str | None, bool]] = [(d.profile.name, d.version, False) for d in detected]
    for label in forced:
        forced_name, _, forced_version = label.partition("@")
        wanted.append((forced_name, forced_version or None, True))
    notes: list[str] = []
    core: dict[str, tuple[str, str]] = {}
    used: list[str] = []
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
            if release.label in used:
                continue
            used.append(release.label)
            for path, digest in storage.release_files(store, release.id).items():
                core.setdefault(path, (digest, release.label))
    return core, tuple(used), notes


class _Loading:
    """:func:`.storage.load_files` in a thread; :meth:`result` joins it (re-raising its error)."""

    def __init__(self, store: Store, root_id: int) -> None:
        self._rows: dict[str, FileRow] = {}
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(store, root_id), name="webroot-load", daemon=True)
        self._thread.start()

    def _run(self, store: Store, root_id: int) -> None:
        try:
            self._rows = storage.load_files(store, root_id)
        except BaseException as exc:  # handed to the caller in result()
            self._error = exc

    def done(self) -> bool:
        return not self._thread.is_alive()

    def result(self) -> dict[str, FileRow]:
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._rows


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
    docstring. ``scope`` None: the baseline's include/exclude globs."""
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
    # the stat cache loads in a thread while the walk starts (SQLite and lstat both wait on I/O);
    # the thread is joined before any worker is forked
    loading = _Loading(store, root.id)
    indicators = tuple(store.indicators())
    intel = IntelIndex.build(indicators) if indicators else None
    engine = engine_fingerprint(indicators)
    engine_same = root.engine == engine
    known_good = known_good_set(store.known_good())
    core, releases, notes = _core_map(store, detected, settings.releases)

    # --- one pass: walk, plan, read (in the pool, while the walk goes on), check
    problems: list[tuple[str, str]] = []
    truncated = False
    checks: list[FileCheck] = []
    watched_paths: set[str] = set()
    rows: dict[str, FileRow] = {}
    changed: list[FileRow] = []
    pending: dict[str, tuple[Entry, Zone, bool, FileRow | None]] = {}
    counts = {"files": 0, "tracked": 0, "read": 0, "reused": 0, "analysed": 0, "prefiltered": 0, "bytes": 0}
    zone_of = layout.zone
    on_done = (lambda n: progress("read", counts["read"], counts["read"])) if progress else None

    def settle(entry: Entry, zone: Zone, watched: bool, old: FileRow | None, got: hashing.Outcome | None) -> None:
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
        if watched:
            watched_paths.add(entry.path)
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
        if not says_nothing:  # most files of a re-scan: no objects built for them
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
        if old is None or row != old:
            changed.append(row)

    def settled(outcomes: Iterable[hashing.Outcome]) -> None:
        for got in outcomes:
            settle(*pending.pop(got.path), got)

    with hashing.Dispatcher(
        known_good=known_good, indicators=indicators, workers=settings.workers, on_done=on_done
    ) as dispatcher:
        try:
            listing = walk(real, max_files=settings.max_files)
            early: list[Entry | Problem] = []
            for item in listing:  # listed while the stat cache loads
                early.append(item)
                if len(early) % 256 == 0 and loading.done():
                    break
            cached = loading.result()  # joins the thread
            for item in itertools.chain(early, listing):
                if isinstance(item, Problem):
                    problems.append((item.path, item.reason))
                    truncated = truncated or item.reason.startswith("more than")
                    continue
                entry = item
                counts["files"] += 1
                zone = zone_of(entry.path)
                name = kinds.name_of(entry.path)
                watched = scope.watched(entry.path, zone)
                code = kinds.is_code(name)
                sniff = entry.kind == "file" and not code and (kinds.is_media(name) or zone is Zone.UPLOAD)
                core_sha = core[entry.path][0] if entry.path in core else ""
                if not (watched or code or sniff or core_sha):
                    continue  # a log or cache data file: not read, not kept
                counts["tracked"] += 1
                old = cached.get(entry.path)
                if (
                    old is not None
                    and old.sha256 is not None
                    and old.kind == entry.kind
                    and old.size == entry.size
                    and old.mtime_ns == entry.mtime_ns
                    and old.ctime_ns == entry.ctime_ns
                    and old.inode == entry.inode
                ):
                    verdict = old.verdict if engine_same or old.verdict in ("", hashing.GOOD) else "stale"
                    needs_engine = analyse and entry.kind == "file" and (code or (sniff and old.flags > 0))
                    if not needs_engine:
                        fine = True
                    elif verdict == hashing.GOOD:
                        fine = old.sha256 in known_good or old.sha256 == core_sha
                    elif verdict in (hashing.SUSPICIOUS, hashing.MALICIOUS):  # cached hits: no read, no engine
                        fine = old.analysis is not None and old.sha256 not in known_good
                    else:
                        fine = verdict == hashing.CLEAN
                    if fine:
                        counts["reused"] += 1
                        settle(entry, zone, watched, old, None)
                        continue
                counts["read"] += 1
                pending[entry.path] = (entry, zone, watched, old)
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
        except OSError as exc:
            raise WebrootError(f"{root_path}: cannot list: {exc.strerror}") from None
        if progress:
            progress("walk", counts["files"], counts["files"])
        settled(dispatcher.finish())
    problem_dirs = [p for p, _ in problems]

    # --- what is gone
    gone: list[str] = []
    if not truncated:
        for path, old in cached.items():
            if path in rows or _under(path, problem_dirs):
                continue
            if old.sha256 is not None:
                gone.append(path)
            if has_baseline and old.base_sha256 is not None:
                zone = layout.zone(path)
                if scope.watched(path, zone):
                    checks.append(FileCheck(path=path, zone=zone, watched=True, now=None, base=_recorded(old)))
    stats = Stats(
        files=counts["files"],
        tracked=counts["tracked"],
        read=counts["read"],
        reused=counts["reused"],
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
        watched=frozenset(watched_paths),
        rows=rows,
        changed=tuple(changed),
        gone=tuple(gone),
        walk_problems=tuple(problems),
        truncated=truncated,
        engine=engine,
        stats=stats,
        notes=tuple(notes),
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
    for path, row in found.rows.items():
        if row.sha256 is None:
            continue
        if path in watched and path not in unreadable:
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
    from skimguard.alerts import build_sinks, dispatch

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
