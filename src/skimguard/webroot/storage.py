"""The web-root tables (``webroot_*``): roots, files (baseline and stat cache), releases.

Queries of this subsystem live here, on the store's public :meth:`Store.transaction` and
:meth:`Store.audit_event`, so ``store.py`` does not grow with every subsystem. Each function is one
transaction. Writes are bulk ``INSERT ... ON CONFLICT DO UPDATE`` in chunks (SQLite and PostgreSQL
both have it), and a scan writes only the rows whose file changed: an unchanged re-scan of a
100,000-file shop writes nothing but its root row.

The stat cache (every ``webroot_files`` row of a root, which each re-scan compares the walk
with) is also kept as a **snapshot** in ``webroot_snapshots``: :data:`CHUNKS` blobs per root (a
chunk: the rows whose path length modulo :data:`CHUNKS` is its number), decoded faster than the
rows are selected. It is derived data with one rule: the two functions that write file rows,
:func:`save_scan_state` and :func:`save_baseline`, rewrite the chunks whose rows they changed in
the same transaction, so a committed snapshot always equals the rows. :func:`read_stat_cache`
reads the table instead when the snapshot is missing (a database from before snapshots), of
another format, damaged, or does not add up to the table's row count; the next scan that
writes then writes it whole (a damaged chunk: when one of its rows changes).

A chunk also carries a scan's **quiet marks** (:class:`QuietMarks`): which of its rows the
scan settled as they were with nothing to report, under which plan (see :mod:`.runner`), so the
next scan under that plan can take them without a second look. Rewriting a chunk drops its marks
unless the writer brings new ones for exactly those rows.
"""

from __future__ import annotations

import hashlib
import itertools
import marshal
import secrets
import zlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, NamedTuple, cast

from sqlalchemy import Connection, Engine, Select, Table, delete, func, insert, null, select, update
from sqlalchemy.orm import Session

from skimguard.gcpause import gc_paused
from skimguard.store import Store
from skimguard.store import tables as t

CHUNK: Final = 2000
FILES: Final = cast(Table, t.WebrootFile.__table__)  # Core statements: no ORM work per row
CURRENT_COLUMNS: Final = (
    "path", "kind", "size", "mode", "uid", "gid", "mtime_ns", "ctime_ns", "inode", "sha256", "flags", "verdict",
    "analysis",
)  # fmt: skip
BASE_COLUMNS: Final = ("base_kind", "base_size", "base_mode", "base_uid", "base_gid", "base_mtime_ns", "base_sha256")
SNAPSHOTS: Final = cast(Table, t.WebrootSnapshot.__table__)
CHUNKS: Final = 32  # snapshot chunks per root: a path's is len(path) % CHUNKS, so a re-scan's part is whole chunks
SNAPSHOT_FORMAT: Final = 1  # bump when FileRow's fields or the encoding change: other formats are not read
FLAGGED: Final = ("suspicious", "malicious")  # the verdicts whose rows keep an analysis


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
        return _count(s.connection(), root_id)


def _count(conn: Connection, root_id: int) -> int:
    return int(conn.execute(select(func.count()).where(FILES.c.root_id == root_id)).scalar_one())


# --------------------------------------------------------------------------------------------
# the stat cache and its snapshot (see the module docstring)
# --------------------------------------------------------------------------------------------


class StatCache(NamedTuple):
    """One part of a root's stat cache as :func:`read_stat_cache` found it."""

    rows: dict[str, CachedRow]  # by path
    quiet: frozenset[str]  # the rows marked settled quietly under the plan asked for (see QuietMarks)
    # the snapshot chunks read: chunk -> (version, its paths in its order); a first scan's
    # chunks are all at version 0, with none; {} when read from the table
    chunks: dict[int, tuple[int, list[str]]]


class QuietMarks(NamedTuple):
    """What a scan tells the snapshot about the rows it settled quietly (as they were, with
    nothing to report: :mod:`.runner` decides), so that the next scan under the same ``plan`` (a
    fingerprint of everything that decision depends on besides the row) takes them as they are
    when their lstat is unchanged. ``chunks`` are the chunks whose every row the scan decided:
    chunk -> (the version it read, one byte per row in the order read, 1: settled quietly, see
    :func:`marks_of`); ``paths`` are the rows settled quietly, for the chunks the scan rewrites.
    A chunk is marked only at the version read, or when rewritten from it in the same
    transaction: rows another process changed meanwhile are never marked for what the scan saw."""

    plan: str
    chunks: Mapping[int, tuple[int, bytes]]
    paths: AbstractSet[str]


def marks_of(cache: StatCache, quiet: AbstractSet[str]) -> dict[int, tuple[int, bytes]]:
    """The :attr:`QuietMarks.chunks` of the chunks ``cache`` read, the rows in ``quiet`` marked."""
    marked = quiet.__contains__
    return {chunk: (version, bytes(map(marked, paths))) for chunk, (version, paths) in cache.chunks.items()}


class _Chunk(NamedTuple):
    """A snapshot chunk's bookkeeping (its rows left unread)."""

    files: int
    version: int
    plan: str
    quiet: bytes


def read_stat_cache(
    store: Store, root_id: int, *, part: tuple[int, int] = (0, 1), plan: str = "", files: int | None = None
) -> StatCache:
    """Every row of a root by path (or, with ``part`` ``(index, count)``, those whose
    :func:`.walk.part_of` is ``index``: ``length(path) % count``), as plain tuples in
    :class:`FileRow`'s field order (``FileRow._make`` turns one into a row when it is needed):
    the stat cache a re-scan compares the walk with, and the rows marked quiet under ``plan``.
    Read from the snapshot when it is whole (:func:`_from_snapshot`), from the table otherwise
    (:func:`_from_table`, no marks): the same rows either way. The JSON ``analysis`` is read in
    a second query, by primary key, only for the few rows that have one. ``files``: the root's
    row count, when the caller has just read it (:func:`count_files`: 100,000 index entries)."""
    with store.transaction() as s, gc_paused():
        conn = s.connection()
        files = _count(conn, root_id) if files is None else files
        found = _from_snapshot(conn, root_id, part, plan, files)
        if found is None:
            rows = _from_table(conn, root_id, part)
            empty = not rows and files == 0  # a first scan: every chunk is to be written
            found = StatCache(rows, frozenset(), {chunk: (0, []) for chunk in _part_chunks(part)} if empty else {})
        rows = found.rows
        flagged = [path_key(path) for path, row in rows.items() if row[VERDICT] in FLAGGED]
        for keys in _chunks(flagged):  # the only rows with an analysis kept, by primary key
            bad = select(FILES.c.path, FILES.c.analysis).where(FILES.c.root_id == root_id, FILES.c.path_hash.in_(keys))
            for path, analysis in conn.execute(bad):
                row = rows.get(path)
                if row is not None and analysis:
                    rows[path] = (*row[:ANALYSIS], analysis, *row[ANALYSIS + 1 :])
        return found


def stat_cache(store: Store, root_id: int, *, part: tuple[int, int] = (0, 1)) -> dict[str, CachedRow]:
    """The rows of :func:`read_stat_cache`."""
    return read_stat_cache(store, root_id, part=part).rows


def _select_rows(conn: Connection, root_id: int) -> Select[Any]:
    """The select of a root's rows in :class:`FileRow`'s field order, ``analysis`` left null.

    On SQLite the root is matched as ``root_id + 0``: the primary key index is ordered by path
    hash, so reading a root through it visits the table's pages in random order, while a scan
    of the table reads them in order (a root's rows are written together) and is about twice as
    fast; PostgreSQL's planner makes that choice itself."""
    f = FILES.c
    columns = [null() if name == "analysis" else f[name] for name in FileRow._fields]
    return select(*columns).where((f.root_id + 0 if conn.dialect.name == "sqlite" else f.root_id) == root_id)


def _fetch(conn: Connection, query: Select[Any]) -> list[CachedRow]:
    """The rows of ``query`` straight from the DBAPI cursor: the columns are integers and
    strings, which neither SQLite nor psycopg converts, so SQLAlchemy's ``Row`` wrappers would
    only cost time on 100,000 rows."""
    result = conn.execute(query)
    fetched = cast(list[CachedRow], result.cursor.fetchall())
    result.close()
    return fetched


def _from_table(conn: Connection, root_id: int, part: tuple[int, int]) -> dict[str, CachedRow]:
    """The rows of :func:`read_stat_cache` from ``webroot_files``: one Core select."""
    index, parts = part
    query = _select_rows(conn, root_id)
    if parts > 1:
        query = query.where(func.length(FILES.c.path) % parts == index)
    return {row[PATH]: row for row in _fetch(conn, query)}


def _part_chunks(part: tuple[int, int]) -> list[int]:
    """The snapshot chunks of a part (``len(path) % count == index`` follows from ``len(path) %
    CHUNKS`` when ``count`` divides :data:`CHUNKS`; [] when it does not)."""
    index, parts = part
    return [chunk for chunk in range(CHUNKS) if chunk % parts == index] if CHUNKS % parts == 0 else []


def _encode(rows: Sequence[CachedRow]) -> bytes:
    """One chunk's rows as a blob: ``marshal`` (the fastest of Python's own encodings to read
    back, for tuples of integers, strings and None; it runs no code when loading, unlike pickle)
    after its CRC-32, so that a damaged blob is refused before it is read. Not compressed: that
    would halve the size and double the time to read it back on SQLite (on PostgreSQL, TOAST
    compresses large values anyway)."""
    data = marshal.dumps(list(rows), 4)
    return zlib.crc32(data).to_bytes(4, "big") + data


def _decode(blob: bytes) -> list[CachedRow]:
    """The rows of :func:`_encode`; ``ValueError`` when ``blob`` is not such a blob."""
    data = memoryview(blob)[4:]
    if len(blob) < 4 or zlib.crc32(data) != int.from_bytes(blob[:4], "big"):
        raise ValueError("not a stat cache snapshot: its checksum does not match")
    try:
        rows = marshal.loads(data)
    except (EOFError, TypeError, ValueError) as exc:
        raise ValueError(f"not a stat cache snapshot: {exc}") from None
    width = len(FileRow._fields)
    if type(rows) is not list or not all(type(row) is tuple and len(row) == width for row in rows):
        raise ValueError("not a stat cache snapshot: not a list of rows")
    return rows


def _marks(rows: Sequence[CachedRow], paths: AbstractSet[str]) -> bytes:
    """One byte per row, 1 for the rows in ``paths``."""
    return bytes(row[PATH] in paths for row in rows)


def _chunk_states(conn: Connection, root_id: int) -> dict[int, _Chunk]:
    """The root's snapshot chunks in the current format."""
    c = SNAPSHOTS.c
    query = select(c.chunk, c.files, c.version, c.plan, c.quiet).where(
        c.root_id == root_id, c.format == SNAPSHOT_FORMAT
    )
    return {row[0]: _Chunk(row[1], row[2], row[3], bytes(row[4])) for row in conn.execute(query)}


def _snapshot_whole(chunks: Mapping[int, _Chunk], files: int) -> bool:
    """Whether the snapshot has every chunk and as many rows as the table has for the root."""
    return chunks.keys() == set(range(CHUNKS)) and sum(chunk.files for chunk in chunks.values()) == files


def _from_snapshot(
    conn: Connection, root_id: int, part: tuple[int, int], plan: str, files: int
) -> StatCache | None:
    """:func:`read_stat_cache` from the snapshot: ``part``'s chunks decoded, and their marks when
    made under ``plan``. None when the snapshot is missing, of another format, does not add up
    to the root's row count ``files``, or a chunk does not decode: the caller reads the table."""
    mine = _part_chunks(part)
    chunks = _chunk_states(conn, root_id)
    if not mine or not _snapshot_whole(chunks, files):
        return None
    c = SNAPSHOTS.c
    query = select(c.chunk, c.version, c.data, c.plan, c.quiet).where(
        c.root_id == root_id, c.format == SNAPSHOT_FORMAT, c.chunk.in_(mine)
    )
    rows: dict[str, CachedRow] = {}
    quiet: list[str] = []
    read: dict[int, tuple[int, list[str]]] = {}
    for chunk, version, data, marked_under, marks in conn.execute(query):
        try:
            decoded = _decode(data)
        except ValueError:
            return None
        if len(decoded) != chunks[chunk].files:
            return None
        paths = [row[PATH] for row in decoded]
        rows.update(zip(paths, decoded, strict=True))
        read[chunk] = (version, paths)
        if plan and marked_under == plan and len(marks) == len(decoded):
            quiet += itertools.compress(paths, marks)
    return StatCache(rows, frozenset(quiet), read) if len(read) == len(mine) else None


def _by_chunk(rows: Iterable[CachedRow], chunks: Iterable[int]) -> dict[int, list[CachedRow]]:
    """``rows`` grouped into ``chunks`` (every row must belong to one of them)."""
    out: dict[int, list[CachedRow]] = {chunk: [] for chunk in chunks}
    for row in rows:
        out[len(row[PATH]) % CHUNKS].append(row)
    return out


def _markable(marks: QuietMarks | None, chunk: int, before: Mapping[int, _Chunk]) -> bool:
    """Whether ``marks`` may mark ``chunk``: the scan decided all of it, at the version it had
    when this transaction began."""
    if marks is None or chunk not in marks.chunks:
        return False
    found = before.get(chunk)
    return marks.chunks[chunk][0] == (found.version if found is not None else 0)


def _write_snapshot(
    s: Session,
    root_id: int,
    chunks: Mapping[int, Sequence[CachedRow]],
    *,
    marks: QuietMarks | None = None,
    before: Mapping[int, _Chunk] | None = None,
) -> None:
    """Replace the root's snapshot ``chunks`` (all of them when ``chunks`` has every one), each
    with a new version and, where :func:`_markable`, its marks."""
    c = SNAPSHOTS.c
    stale = delete(SNAPSHOTS).where(c.root_id == root_id)
    if len(chunks) < CHUNKS:
        stale = stale.where(c.chunk.in_(sorted(chunks)))
    conn = s.connection()
    conn.execute(stale)
    values = []
    for chunk, rows in sorted(chunks.items()):
        plan, quiet = "", b""
        if marks is not None and _markable(marks, chunk, before or {}):
            plan, quiet = marks.plan, _marks(rows, marks.paths)
        values.append(
            {
                "root_id": root_id,
                "chunk": chunk,
                "format": SNAPSHOT_FORMAT,
                "files": len(rows),
                "version": secrets.randbits(62) + 1,
                "data": _encode(rows),
                "plan": plan,
                "quiet": quiet,
            }
        )
    if values:
        conn.execute(insert(SNAPSHOTS), values)


def _update_snapshot(
    s: Session,
    root_id: int,
    *,
    changed: Iterable[str],
    first: Sequence[CachedRow] | None,
    marks: QuietMarks | None,
    before: Mapping[int, _Chunk],
    files_before: int,
) -> None:
    """After a scan's writes (in its transaction): a first scan's rows (``first``: the table had
    none) are encoded as they are; otherwise the chunks of the ``changed`` paths (all of them when
    the snapshot was not whole) are rebuilt from the table as this transaction sees it. Then the
    other chunks that ``marks`` may mark take its marks where they differ."""
    conn = s.connection()
    if first is not None:
        written = set(range(CHUNKS))
        _write_snapshot(s, root_id, _by_chunk(first, written), marks=marks, before=before)
    else:
        whole = _snapshot_whole(before, files_before)
        written = {len(path) % CHUNKS for path in changed} if whole else set(range(CHUNKS))
        if written:
            query = _select_rows(conn, root_id)
            if len(written) < CHUNKS:
                query = query.where((func.length(FILES.c.path) % CHUNKS).in_(sorted(written)))
            _write_snapshot(s, root_id, _by_chunk(_fetch(conn, query), written), marks=marks, before=before)
    if marks is None:
        return
    c = SNAPSHOTS.c
    for chunk, (_, quiet) in sorted(marks.chunks.items()):
        state = before.get(chunk)
        if chunk in written or state is None or (state.plan, state.quiet) == (marks.plan, quiet):
            continue
        if _markable(marks, chunk, before):
            mark = update(SNAPSHOTS).where(c.root_id == root_id, c.chunk == chunk)
            conn.execute(mark.values(plan=marks.plan, quiet=quiet))


def _as_stored(row: FileRow, *, with_base: bool) -> CachedRow:
    """The stat cache tuple of a row as :func:`_values` writes it into an empty slot: no
    analysis (the snapshot leaves it to the table) and, without ``with_base``, no baseline."""
    return (*row[:ANALYSIS], None, *(row[ANALYSIS + 1 :] if with_base else (None,) * len(BASE_COLUMNS)))


def _lock_root(s: Session, root_id: int) -> None:
    """Serialize the writers of one root's rows (PostgreSQL: its root row, locked until the
    transaction ends; SQLite has one writer at a time anyway), so that the snapshot chunks a
    writer rebuilds from what it reads see every earlier writer's rows."""
    s.execute(select(t.WebrootRoot.id).where(t.WebrootRoot.id == root_id).with_for_update())


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
    marks: QuietMarks | None = None,
) -> None:
    """Record what a scan saw: ``changed`` rows (their current columns; the baseline columns of
    an existing row are kept), paths that are ``gone`` (a row still in the baseline keeps its
    baseline with no current state; any other row is deleted), and the root's engine, platforms
    and scan time; then the snapshot follows (:func:`_update_snapshot`), with ``marks``."""
    gone = list(gone)
    with store.transaction(write=True) as s:
        _lock_root(s, root_id)
        conn = s.connection()
        files_before = _count(conn, root_id)
        chunks_before = _chunk_states(conn, root_id)
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
        # no rows before: now those of `changed` (the last row of a path), as inserted
        first = list({r.path: _as_stored(r, with_base=False) for r in changed}.values()) if not files_before else None
        _update_snapshot(
            s,
            root_id,
            changed=[*(r.path for r in changed), *gone],
            first=first,
            marks=marks,
            before=chunks_before,
            files_before=files_before,
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
    of files in the baseline. The rows are then exactly ``rows``: the snapshot is encoded from them."""
    files = sum(1 for r in rows if r.base_sha256 is not None)
    with store.transaction(write=True) as s:
        _lock_root(s, root.id)
        s.execute(
            delete(t.WebrootFile).where(t.WebrootFile.root_id == root.id).execution_options(synchronize_session=False)
        )
        for chunk in _chunks(rows):
            s.connection().execute(insert(FILES), [_values(root.id, r, with_base=True) for r in chunk])
        _write_snapshot(s, root.id, _by_chunk((_as_stored(r, with_base=True) for r in rows), range(CHUNKS)))  # no marks
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
    with store.transaction() as s:
        open_ = s.scalars(
            select(t.Finding.fingerprint).where(
                t.Finding.site == site,
                t.Finding.page == page,
                t.Finding.status == "open",
                t.Finding.rule_id.in_(sorted(set(rule_ids))),
            )
        ).all()
    return store.resolve_findings(site, (fingerprint for fingerprint in open_ if fingerprint not in keep), at)


def annotate_scan(store: Store, scan_id: str, extra: Mapping[str, Any]) -> None:
    """Add web-root details (``kind: webroot``, root, counts) to a stored scan's summary."""
    with store.transaction(write=True) as s:
        scan = s.get(t.Scan, scan_id)
        if scan is not None:
            scan.summary = {**(scan.summary or {}), **extra}
