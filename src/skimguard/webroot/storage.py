"""The web-root tables (``webroot_*``): roots, files (baseline and stat cache), releases.

Queries of this subsystem live here, on the store's public :meth:`Store.transaction` and
:meth:`Store.audit_event`, so ``store.py`` does not grow with every subsystem. Each function is one
transaction. Writes are bulk ``INSERT ... ON CONFLICT DO UPDATE`` in chunks (SQLite and PostgreSQL
both have it), and a scan writes only the rows whose file changed: an unchanged re-scan of a
100,000-file shop writes nothing but its root row.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, NamedTuple, cast

from sqlalchemy import Engine, Table, delete, func, insert, null, select, update
from sqlalchemy.orm import Session

from skimguard.store import Store
from skimguard.store import tables as t

CHUNK: Final = 2000
FILES: Final = cast(Table, t.WebrootFile.__table__)  # Core statements: no ORM work per row
CURRENT_COLUMNS: Final = (
    "path", "kind", "size", "mode", "uid", "gid", "mtime_ns", "ctime_ns", "inode", "sha256", "flags", "verdict",
    "analysis",
)  # fmt: skip
BASE_COLUMNS: Final = ("base_kind", "base_size", "base_mode", "base_uid", "base_gid", "base_mtime_ns", "base_sha256")


def path_key(path: str) -> str:
    """The key of a path in its root: 32 hex digits of its sha256 (a path may be longer than an
    index entry allows)."""
    return hashlib.sha256(path.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def root_key(root: str) -> str:
    return hashlib.sha256(root.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True)
class RootRow:
    id: int
    site: str
    root: str
    platforms: tuple[str, ...]
    settings: Mapping[str, Any]
    engine: str
    baseline_at: datetime | None
    baseline_by: str
    baseline_note: str
    baseline_files: int
    last_scan_at: datetime | None


class FileRow(NamedTuple):
    """A ``webroot_files`` row: current state (``sha256`` None: gone) and baseline (``base_sha256``
    None: not in the baseline)."""

    path: str
    kind: str
    size: int
    mode: int
    uid: int
    gid: int
    mtime_ns: int
    ctime_ns: int
    inode: int
    sha256: str | None
    flags: int  # offset + 1 of PHP found inside a media file, 0 none
    verdict: str
    analysis: dict[str, Any] | None = None  # the engine's verdict when not clean (see hashing.verdict_to_json)
    base_kind: str | None = None
    base_size: int | None = None
    base_mode: int | None = None
    base_uid: int | None = None
    base_gid: int | None = None
    base_mtime_ns: int | None = None
    base_sha256: str | None = None


# A FileRow's values as a plain tuple (what the stat cache holds: building 100,000 named tuples
# costs more than reading them); the indexes below name its fields.
CachedRow = tuple[Any, ...]
PATH, KIND, SIZE, MODE, UID, GID, MTIME, CTIME, INODE, SHA256, FLAGS, VERDICT, ANALYSIS = range(13)
BASE_KIND, BASE_SIZE, BASE_MODE, BASE_UID, BASE_GID, BASE_MTIME, BASE_SHA256 = range(13, 20)


@dataclass(frozen=True)
class ReleaseRow:
    id: int
    platform: str
    version: str
    prefix: str
    source: str
    source_sha256: str
    files: int
    built_at: datetime
    built_by: str

    @property
    def label(self) -> str:
        return f"{self.platform}@{self.version}"


def _root(row: t.WebrootRoot) -> RootRow:
    return RootRow(
        id=row.id,
        site=row.site,
        root=row.root,
        platforms=tuple(str(p) for p in row.platforms or ()),
        settings=dict(row.settings or {}),
        engine=row.engine,
        baseline_at=row.baseline_at,
        baseline_by=row.baseline_by,
        baseline_note=row.baseline_note,
        baseline_files=row.baseline_files,
        last_scan_at=row.last_scan_at,
    )


def find_root(store: Store, site: str, root: str) -> RootRow | None:
    with store.transaction() as s:
        row = s.scalars(
            select(t.WebrootRoot).where(t.WebrootRoot.site == site, t.WebrootRoot.root_hash == root_key(root))
        ).first()
        return _root(row) if row is not None else None


def roots(store: Store, site: str | None = None) -> list[RootRow]:
    with store.transaction() as s:
        q = select(t.WebrootRoot).order_by(t.WebrootRoot.site, t.WebrootRoot.root)
        if site is not None:
            q = q.where(t.WebrootRoot.site == site)
        return [_root(r) for r in s.scalars(q)]


def ensure_root(store: Store, site: str, root: str) -> RootRow:
    """The root row, created (without a baseline) when missing."""
    found = find_root(store, site, root)
    if found is not None:
        return found
    with store.transaction(write=True) as s:
        row = t.WebrootRoot(
            site=site,
            root=root,
            root_hash=root_key(root),
            platforms=[],
            settings={},
            engine="",
            baseline_at=None,
            baseline_by="",
            baseline_note="",
            baseline_files=0,
            last_scan_at=None,
        )
        s.add(row)
        s.flush()
        return _root(row)


def count_files(store: Store, root_id: int) -> int:
    """How many rows a root has (from the primary key index alone)."""
    with store.transaction() as s:
        return int(s.execute(select(func.count()).where(FILES.c.root_id == root_id)).scalar_one())


def stat_cache(store: Store, root_id: int, *, part: tuple[int, int] = (0, 1)) -> dict[str, CachedRow]:
    """Every row of a root by path (or, with ``part`` ``(index, count)``, those whose
    :func:`.walk.part_of` is ``index``: ``length(path) % count`` in SQL), as plain tuples in
    :class:`FileRow`'s field order (``FileRow._make`` turns one into a row when it is needed):
    the stat cache a re-scan compares the walk with. The JSON ``analysis`` is read in a second
    query, by primary key, only for the few rows that have one.

    Built for 100,000 rows: one Core select whose rows are taken straight from the DBAPI
    cursor (the columns are integers and strings, which neither SQLite nor psycopg converts, so
    SQLAlchemy's ``Row`` wrappers would only cost time), no per-row objects but the driver's
    tuples. On SQLite the root is matched as ``root_id + 0``: the primary key index is ordered by
    path hash, so reading a root through it visits the table's pages in random order, while a
    scan of the table reads them in order (a root's rows are written together) and is about
    twice as fast; PostgreSQL's planner makes that choice itself."""
    f = FILES.c
    columns = [null() if name == "analysis" else f[name] for name in FileRow._fields]
    index, parts = part
    with store.transaction() as s:
        conn = s.connection()
        query = select(*columns).where((f.root_id + 0 if conn.dialect.name == "sqlite" else f.root_id) == root_id)
        if parts > 1:
            query = query.where(func.length(f.path) % parts == index)
        result = conn.execute(query)
        fetched = cast(list[CachedRow], result.cursor.fetchall())  # plain tuples (see above)
        result.close()
        rows = {row[PATH]: row for row in fetched}
        flagged = [path_key(row[PATH]) for row in fetched if row[VERDICT] in ("suspicious", "malicious")]
        for keys in _chunks(flagged):  # the only rows with an analysis kept, by primary key
            bad = select(f.path, f.analysis).where(f.root_id == root_id, f.path_hash.in_(keys))
            for path, analysis in conn.execute(bad):
                row = rows.get(path)
                if row is not None and analysis:
                    rows[path] = (*row[:ANALYSIS], analysis, *row[ANALYSIS + 1 :])
        return rows


def after_fork(store: Store) -> None:
    """In a child forked from a process that used ``store``: forget the inherited connections
    without closing them (they belong to the parent), so the child's queries open its own;
    SQLAlchemy's recipe for ``os.fork``. No connection is taken before the pool is replaced."""
    with store.transaction() as s:
        bind = s.get_bind()
        if isinstance(bind, Engine):
            bind.dispose(close=False)


def load_files(store: Store, root_id: int) -> dict[str, FileRow]:
    """Every row of a root by path (see :func:`stat_cache`)."""
    make = FileRow._make
    return {path: make(row) for path, row in stat_cache(store, root_id).items()}


def _values(root_id: int, row: FileRow, *, with_base: bool) -> dict[str, Any]:
    values: dict[str, Any] = {"root_id": root_id, "path_hash": path_key(row.path)}
    for name in CURRENT_COLUMNS:
        values[name] = getattr(row, name)
    if with_base:
        for name in BASE_COLUMNS:
            values[name] = getattr(row, name)
    return values


def _upsert(s: Session, rows: list[dict[str, Any]], columns: Sequence[str]) -> None:
    """INSERT rows of ``webroot_files``; on a known path, take the new values of ``columns``."""
    if not rows:
        return
    if s.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        pg = pg_insert(FILES)
        changes = {c: pg.excluded[c] for c in columns}
        s.connection().execute(pg.on_conflict_do_update(index_elements=["root_id", "path_hash"], set_=changes), rows)
    else:
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        lite = sqlite_insert(FILES)
        changes = {c: lite.excluded[c] for c in columns}
        s.connection().execute(
            lite.on_conflict_do_update(index_elements=["root_id", "path_hash"], set_=changes), rows
        )  # Core, not the ORM's bulk path: a first scan writes 100,000 rows


def _chunks(items: Sequence[Any], size: int = CHUNK) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def save_scan_state(
    store: Store,
    root_id: int,
    *,
    changed: Sequence[FileRow],
    gone: Iterable[str],
    engine: str,
    platforms: Sequence[str],
    at: datetime,
) -> None:
    """Record what a scan saw: ``changed`` rows (their current columns; the baseline columns of
    an existing row are kept), paths that are ``gone`` (a row still in the baseline keeps its
    baseline with no current state; any other row is deleted), and the root's engine, platforms
    and scan time."""
    gone = list(gone)
    with store.transaction(write=True) as s:
        for rows in _chunks(changed):  # values built a chunk at a time: memory stays flat
            _upsert(s, [_values(root_id, r, with_base=False) for r in rows], CURRENT_COLUMNS)
        keys = [path_key(p) for p in gone]
        f = t.WebrootFile
        for chunk in _chunks(keys):
            s.execute(
                delete(f)
                .where(f.root_id == root_id, f.path_hash.in_(chunk), f.base_sha256.is_(None))
                .execution_options(synchronize_session=False)
            )
            s.execute(
                update(f)
                .where(f.root_id == root_id, f.path_hash.in_(chunk))
                .values(sha256=None, verdict="", flags=0, analysis=None)
                .execution_options(synchronize_session=False)
            )
        s.execute(
            update(t.WebrootRoot)
            .where(t.WebrootRoot.id == root_id)
            .values(engine=engine, platforms=list(platforms), last_scan_at=at)
        )


def save_baseline(
    store: Store,
    root: RootRow,
    *,
    rows: Sequence[FileRow],
    settings: Mapping[str, Any],
    engine: str,
    platforms: Sequence[str],
    actor: str,
    note: str,
    at: datetime,
) -> int:
    """Replace the root's rows with ``rows`` (current state and, for watched files, the baseline
    columns set), record the baseline's settings and who took it; audit logged. Returns the number
    of files in the baseline."""
    files = sum(1 for r in rows if r.base_sha256 is not None)
    with store.transaction(write=True) as s:
        s.execute(
            delete(t.WebrootFile).where(t.WebrootFile.root_id == root.id).execution_options(synchronize_session=False)
        )
        for chunk in _chunks(rows):
            s.connection().execute(insert(FILES), [_values(root.id, r, with_base=True) for r in chunk])
        s.execute(
            update(t.WebrootRoot)
            .where(t.WebrootRoot.id == root.id)
            .values(
                engine=engine,
                platforms=list(platforms),
                settings=dict(settings),
                baseline_at=at,
                baseline_by=actor[:200],
                baseline_note=note[:2000],
                baseline_files=files,
            )
        )
        store.audit_event(
            s,
            root.site,
            actor=actor,
            action="webroot-baseline",
            subject=root.root,
            details={"files": files, "platforms": list(platforms), "settings": dict(settings), "note": note[:200]},
        )
    return files


# --------------------------------------------------------------------------------------------
# releases
# --------------------------------------------------------------------------------------------


def _release(row: t.WebrootRelease) -> ReleaseRow:
    return ReleaseRow(
        id=row.id,
        platform=row.platform,
        version=row.version,
        prefix=row.prefix,
        source=row.source,
        source_sha256=row.source_sha256,
        files=row.files,
        built_at=row.built_at,
        built_by=row.built_by,
    )


def releases(store: Store, platform: str | None = None) -> list[ReleaseRow]:
    with store.transaction() as s:
        q = select(t.WebrootRelease).order_by(t.WebrootRelease.platform, t.WebrootRelease.version)
        if platform is not None:
            q = q.where(t.WebrootRelease.platform == platform)
        return [_release(r) for r in s.scalars(q)]


def release_files(store: Store, release_id: int) -> dict[str, str]:
    """path -> sha256 of a release's files (paths as they sit in a web root)."""
    f = t.WebrootReleaseFile
    with store.transaction() as s:
        return {p: d for p, d in s.execute(select(f.path, f.sha256).where(f.release_id == release_id))}


def save_release(
    store: Store,
    *,
    platform: str,
    version: str,
    prefix: str,
    source: str,
    source_sha256: str,
    files: Sequence[tuple[str, str]],
    actor: str,
    at: datetime,
) -> ReleaseRow:
    """Store (or replace) a release and its files; audit logged under the site ``*``."""
    with store.transaction(write=True) as s:
        old = s.scalars(
            select(t.WebrootRelease).where(t.WebrootRelease.platform == platform, t.WebrootRelease.version == version)
        ).first()
        if old is not None:
            s.delete(old)
            s.flush()
            s.execute(delete(t.WebrootReleaseFile).where(t.WebrootReleaseFile.release_id == old.id))
        row = t.WebrootRelease(
            platform=platform,
            version=version,
            prefix=prefix,
            source=source[:1000],
            source_sha256=source_sha256,
            files=len(files),
            built_at=at,
            built_by=actor[:200],
        )
        s.add(row)
        s.flush()
        unique = {path: digest for path, digest in files}
        values = [
            {"release_id": row.id, "path_hash": path_key(p), "path": p, "sha256": d} for p, d in sorted(unique.items())
        ]
        for chunk in _chunks(values):
            s.execute(insert(t.WebrootReleaseFile), list(chunk))
        store.audit_event(
            s,
            "*",
            actor=actor,
            action="webroot-release",
            subject=f"{platform}@{version}",
            details={"files": len(unique), "prefix": prefix, "source": source[:300], "source_sha256": source_sha256},
        )
        return _release(row)


# --------------------------------------------------------------------------------------------
# findings of a root
# --------------------------------------------------------------------------------------------


def resolve_missing(
    store: Store, site: str, page: str, rule_ids: Iterable[str], seen: Iterable[str], at: datetime
) -> int:
    """Resolve the open findings of ``rule_ids`` on ``page`` (one web root) that a complete scan
    did not report again (the file was cleaned, or a new baseline accepted the change). The core
    store never resolves ``server`` findings itself: they have this life cycle. Returns how many."""
    keep = set(seen)
    ids = sorted(set(rule_ids))
    with store.transaction(write=True) as s:
        rows = s.execute(
            select(t.Finding.id, t.Finding.fingerprint).where(
                t.Finding.site == site,
                t.Finding.page == page,
                t.Finding.status == "open",
                t.Finding.rule_id.in_(ids),
            )
        ).all()
        stale = [fid for fid, fingerprint in rows if fingerprint not in keep]
        for chunk in _chunks(stale):
            s.execute(update(t.Finding).where(t.Finding.id.in_(chunk)).values(status="resolved", resolved_at=at))
        return len(stale)


def annotate_scan(store: Store, scan_id: str, extra: Mapping[str, Any]) -> None:
    """Add web-root details (``kind: webroot``, root, counts) to a stored scan's summary."""
    with store.transaction(write=True) as s:
        scan = s.get(t.Scan, scan_id)
        if scan is not None:
            scan.summary = {**(scan.summary or {}), **extra}
