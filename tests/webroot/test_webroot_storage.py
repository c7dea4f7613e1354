"""The web-root tables on SQLite and (with $SKIMGUARD_TEST_POSTGRES_URL) PostgreSQL: roots,
the baseline and stat cache, releases, resolving a root's findings; and the migration."""

from __future__ import annotations

import marshal
import random
import zlib
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from webroot_samples import WEBSHELL

from skimguard.config import load_config
from skimguard.store import Store, migrate
from skimguard.webroot import runner, storage
from skimguard.webroot.scan import page_of
from skimguard.webroot.storage import FileRow
from skimguard.webroot.walk import part_of

AT = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def row(path: str, sha: str = "a" * 64, **kw: object) -> FileRow:
    values: dict[str, object] = {
        "path": path, "kind": "file", "size": 3, "mode": 0o644, "uid": 33, "gid": 33, "mtime_ns": 1, "ctime_ns": 2,
        "inode": 3, "sha256": sha, "flags": 0, "verdict": "clean",
    }  # fmt: skip
    values.update(kw)
    return FileRow(**values)  # type: ignore[arg-type]


def test_rows_baseline_and_stat_cache(any_db: str) -> None:
    with Store.open(any_db) as store:
        root = storage.ensure_root(store, "shop", "/var/www/shop")
        assert storage.ensure_root(store, "shop", "/var/www/shop") == root  # found again, not duplicated
        long_path = "a/" * 1500 + "x.php"  # longer than a b-tree index entry allows: keyed by hash
        based = [row("index.php")._replace(base_kind="file", base_size=3, base_mode=0o644, base_uid=33,
                                           base_gid=33, base_mtime_ns=1, base_sha256="a" * 64),
                 row(long_path, inode=2**63 - 1)]  # fmt: skip
        files = storage.save_baseline(
            store, root, rows=based, settings={"include": [], "exclude": ["*.bak"]}, engine="e1",
            platforms=["wordpress@6.5.2"], actor="tester", note="after deploy", at=AT,
        )  # fmt: skip
        assert files == 1
        again = storage.find_root(store, "shop", "/var/www/shop")
        assert again is not None and again.baseline_at == AT and again.baseline_files == 1
        assert again.settings == {"include": [], "exclude": ["*.bak"]} and again.platforms == ("wordpress@6.5.2",)
        loaded = storage.load_files(store, root.id)
        assert loaded == {"index.php": based[0], long_path: based[1]}
        # a scan: index.php changed (the baseline columns stay), the long one is gone, a new one
        # has a cached analysis
        analysis = {"verdict": "suspicious", "hits": []}
        storage.save_scan_state(
            store, root.id, changed=[row("index.php", "b" * 64, size=4), row("new.php", verdict="suspicious",
                                                                               analysis=analysis)],
            gone=[long_path], engine="e2", platforms=["wordpress@6.5.2"], at=AT,
        )  # fmt: skip
        loaded = storage.load_files(store, root.id)
        assert set(loaded) == {"index.php", "new.php"}
        assert (loaded["index.php"].sha256, loaded["index.php"].size, loaded["index.php"].base_sha256) == (
            "b" * 64, 4, "a" * 64,
        )  # fmt: skip
        assert loaded["new.php"].analysis == analysis and loaded["new.php"].base_sha256 is None
        storage.save_scan_state(store, root.id, changed=[], gone=["index.php"], engine="e2", platforms=[], at=AT)
        gone = storage.load_files(store, root.id)["index.php"]
        assert gone.sha256 is None and gone.base_sha256 == "a" * 64  # still in the baseline: reported deleted
        assert [a.action for a in store.audit("shop")] == ["webroot-baseline"]


def test_stat_cache_tuples_and_parts(any_db: str) -> None:
    """The stat cache is FileRow's values as plain tuples, in FileRow's order (the index names
    match its fields); its parts split the rows by path length exactly as walk.part_of does,
    in SQL, for any text; the analysis comes back for flagged rows only."""
    indexes = [storage.PATH, storage.KIND, storage.SIZE, storage.MODE, storage.UID, storage.GID, storage.MTIME,
               storage.CTIME, storage.INODE, storage.SHA256, storage.FLAGS, storage.VERDICT, storage.ANALYSIS,
               storage.BASE_KIND, storage.BASE_SIZE, storage.BASE_MODE, storage.BASE_UID, storage.BASE_GID,
               storage.BASE_MTIME, storage.BASE_SHA256]  # fmt: skip
    assert indexes == list(range(len(FileRow._fields)))
    analysis = {"verdict": "malicious", "hits": []}
    paths = ["a.php", "ab.php", "日本語/ファイル.php", "caf\\xe9.php", "x/" * 700 + "y.js", "é" * 3]
    rows = [row(p, inode=i) for i, p in enumerate(paths)]
    rows[1] = rows[1]._replace(verdict="malicious", analysis=analysis)
    with Store.open(any_db) as store:
        root = storage.ensure_root(store, "shop", "/var/www/shop")
        other = storage.ensure_root(store, "shop", "/var/www/other")
        storage.save_scan_state(store, root.id, changed=rows, gone=[], engine="e", platforms=[], at=AT)
        storage.save_scan_state(store, other.id, changed=[row("a.php")], gone=[], engine="e", platforms=[], at=AT)
        whole = storage.stat_cache(store, root.id)
        assert whole == {r.path: tuple(r) for r in rows} and all(type(v) is tuple for v in whole.values())
        assert whole["ab.php"][storage.ANALYSIS] == analysis and whole["a.php"][storage.ANALYSIS] is None
        halves = [storage.stat_cache(store, root.id, part=(i, 2)) for i in (0, 1)]
        assert [set(h) for h in halves] == [{p for p in paths if part_of(p, 2) == i} for i in (0, 1)]
        assert {**halves[0], **halves[1]} == whole and all(halves)
        assert storage.count_files(store, root.id) == 6 and storage.count_files(store, other.id) == 1
        assert storage.load_files(store, root.id) == {r.path: r for r in rows}


PARTS = ((0, 1), (0, 2), (1, 2))


def readings(store: Store, root_id: int, part: tuple[int, int]) -> tuple[dict[str, tuple], dict[str, tuple]] | None:
    """(snapshot, table) reading of one part of the stat cache; None when the snapshot is not usable."""
    with store.transaction() as s:
        conn = s.connection()
        snap = storage._from_snapshot(conn, root_id, part, "", storage._count(conn, root_id))
        table = storage._from_table(conn, root_id, part)
    return None if snap is None else (snap.rows, table)


def assert_snapshot_current(store: Store, root_id: int) -> None:
    for part in PARTS:
        both = readings(store, root_id, part)
        assert both is not None, part
        snap, table = both
        assert snap == table and all(type(v) is tuple for v in snap.values()), part


def test_snapshot_follows_every_write(any_db: str) -> None:
    """The snapshot equals the table after every kind of write: a first scan (encoded from the
    rows written), scans that change, add and lose rows (chunks rebuilt from the table; baseline
    columns kept; gone rows deleted or kept for the baseline), baselines (encoded from the rows)."""
    rng = random.Random(7)
    names = ["index.php", "a.js", "日本語/ファイル.php", "caf\\xe9.php", "x/" * 300 + "y.js", "é" * 3]
    names += [f"{'d/' * (i % 7)}f{i}.{rng.choice(['php', 'js', 'jpg'])}" for i in range(120)]
    analysis = {"verdict": "malicious", "hits": []}

    def random_row(path: str) -> FileRow:
        verdict = rng.choice(["clean", "", "good", "malicious"])
        return row(
            path, rng.choice(["a", "b", "c"]) * 64, size=rng.randrange(10**9), mtime_ns=rng.randrange(2**62),
            inode=rng.randrange(2**63), verdict=verdict, analysis=analysis if verdict == "malicious" else None,
            base_sha256="f" * 64,  # not written by a scan: the snapshot must not take it either
        )  # fmt: skip

    with Store.open(any_db) as store:
        root = storage.ensure_root(store, "shop", "/var/www/shop")
        other = storage.ensure_root(store, "shop", "/var/www/other")
        storage.save_scan_state(store, other.id, changed=[row("a.php")], gone=[], engine="e", platforms=[], at=AT)
        first = [random_row(p) for p in names[:60]]
        storage.save_scan_state(store, root.id, changed=first + first[:3], gone=[], engine="e", platforms=[], at=AT)
        assert_snapshot_current(store, root.id)
        assert storage.load_files(store, root.id)["a.js"].base_sha256 is None
        for step in range(12):
            known = sorted(storage.load_files(store, root.id))
            if step in (4, 9):  # a baseline of some of the rows
                rows = [random_row(p)._replace(base_kind="file", base_size=1, base_mode=0o644, base_uid=1, base_gid=1,
                                               base_mtime_ns=1, base_sha256="d" * 64)
                        for p in rng.sample(names, 50)]  # fmt: skip
                storage.save_baseline(store, root, rows=rows, settings={}, engine="e", platforms=[], actor="t",
                                      note="", at=AT)  # fmt: skip
            else:
                changed = [random_row(p) for p in rng.sample(names, rng.randrange(0, 8))]
                gone = rng.sample(known, min(len(known), rng.randrange(0, 5)))
                storage.save_scan_state(store, root.id, changed=changed, gone=gone, engine="e", platforms=[], at=AT)
            assert_snapshot_current(store, root.id)
            with store.transaction() as s:
                table = storage._from_table(s.connection(), root.id, (0, 1))
            cache = storage.stat_cache(store, root.id)
            assert cache.keys() == table.keys()
            assert {p for p, r in cache.items() if r[storage.ANALYSIS] is not None} == {
                p for p, r in table.items() if r[storage.VERDICT] == "malicious" and r[storage.SHA256] is not None
            }
        assert_snapshot_current(store, other.id)
        assert storage.load_files(store, other.id) == {"a.php": row("a.php")}


def test_snapshot_not_usable_falls_back_to_the_table(any_db: str) -> None:
    """A snapshot that is missing (a database from before snapshots), of another format, short of
    rows (a row written behind storage's back) or undecodable is not read: the stat cache comes
    from the table, the same rows; the next scan writes the snapshot whole again (an undecodable
    chunk: the next scan that changes one of its rows)."""
    rows = [row(f"{'sub/' * (i % 5)}file{i}.php", inode=i) for i in range(80)]
    with Store.open(any_db) as store:
        root = storage.ensure_root(store, "shop", "/var/www/shop")
        storage.save_scan_state(store, root.id, changed=rows, gone=[], engine="e", platforms=[], at=AT)
        expected = storage.load_files(store, root.id)
        assert expected == {r.path: r for r in rows}
        snapshots, files = storage.SNAPSHOTS, storage.FILES

        def spoil(statement: sa.Executable) -> None:
            with store.transaction(write=True) as s:
                s.connection().execute(statement)
            assert readings(store, root.id, (0, 1)) is None
            assert storage.load_files(store, root.id) == expected  # from the table
            storage.save_scan_state(store, root.id, changed=[], gone=[], engine="e", platforms=[], at=AT)
            assert_snapshot_current(store, root.id)

        spoil(sa.delete(snapshots))
        spoil(sa.update(snapshots).values(format=storage.SNAPSHOT_FORMAT + 1))
        spoil(sa.delete(snapshots).where(snapshots.c.chunk == 5))
        extra = row("added/behind/storage.php")
        expected[extra.path] = extra
        spoil(sa.insert(files).values(storage._values(root.id, extra, with_base=False)))

        chunk = len(rows[0].path) % storage.CHUNKS
        with store.transaction() as s:
            blobs = dict(s.connection().execute(sa.select(snapshots.c.chunk, snapshots.c.data)).all())
        size = len(storage._decode(blobs[chunk]))
        other_rows = next(data for data in blobs.values() if len(storage._decode(data)) != size)  # decodes, wrong size

        def blob(value: object) -> bytes:  # as storage encodes, whatever the value
            data = marshal.dumps(value)
            return zlib.crc32(data).to_bytes(4, "big") + data

        damaged = bytearray(blobs[chunk])
        damaged[-3] ^= 1
        for garbage in (b"", b"not a blob", bytes(damaged), blob({"a": 1}), blob([(1, 2)]), other_rows):
            with store.transaction(write=True) as s:
                s.connection().execute(sa.update(snapshots).where(snapshots.c.chunk == chunk).values(data=garbage))
            assert readings(store, root.id, (0, 1)) is None
            assert storage.load_files(store, root.id) == expected
        storage.save_scan_state(store, root.id, changed=[rows[0]._replace(size=9)], gone=[], engine="e",
                                platforms=[], at=AT)  # fmt: skip
        assert_snapshot_current(store, root.id)


def test_quiet_marks_keep_to_their_plan_and_version(any_db: str) -> None:
    """Marks are read under the plan they were made under only; a scan marks the chunks it read
    (a first scan: all), as it rewrites them or, unchanged, in place; a chunk another writer
    rewrote since it was read is not marked for what the scan saw."""
    rows = [row(f"{'d/' * (i % 4)}f{i}.php", inode=i) for i in range(64)]
    quiet = {r.path for r in rows[::2]}
    with Store.open(any_db) as store:
        root = storage.ensure_root(store, "shop", "/var/www/shop")
        empty = storage.read_stat_cache(store, root.id, plan="p1")
        assert empty.rows == {} and empty.chunks == {c: (0, []) for c in range(storage.CHUNKS)}  # all to be written
        first = storage.QuietMarks("p1", storage.marks_of(empty, quiet), quiet)
        storage.save_scan_state(store, root.id, changed=rows, gone=[], engine="e", platforms=[], at=AT, marks=first)
        assert storage.read_stat_cache(store, root.id, plan="p1").quiet == quiet
        assert storage.read_stat_cache(store, root.id, plan="p2").quiet == frozenset()
        assert storage.read_stat_cache(store, root.id).quiet == frozenset()
        halves = [storage.read_stat_cache(store, root.id, part=(i, 2), plan="p1") for i in (0, 1)]
        assert halves[0].quiet | halves[1].quiet == quiet and halves[0].quiet.isdisjoint(halves[1].quiet)

        seen = storage.read_stat_cache(store, root.id, plan="p2")  # a scan under another plan reads...
        other = rows[1]._replace(size=7)  # ...while another process changes a row and its chunk
        storage.save_scan_state(store, root.id, changed=[other], gone=[], engine="e", platforms=[], at=AT)
        edited = rows[3]._replace(size=8)  # the scan's own change, in another chunk
        assert len(other.path) % storage.CHUNKS != len(edited.path) % storage.CHUNKS
        later_quiet = quiet | {other.path, edited.path}
        later = storage.QuietMarks("p2", storage.marks_of(seen, later_quiet), later_quiet)
        storage.save_scan_state(store, root.id, changed=[edited], gone=[], engine="e", platforms=[], at=AT, marks=later)
        marked = storage.read_stat_cache(store, root.id, plan="p2")
        assert marked.rows == {r.path: tuple(r) for r in [*rows[:1], other, rows[2], edited, *rows[4:]]}
        lost = {p for p in quiet | {other.path} if len(p) % storage.CHUNKS == len(other.path) % storage.CHUNKS}
        assert marked.quiet == (quiet | {edited.path}) - lost  # its rewrite kept it, the other chunk lost them
        assert_snapshot_current(store, root.id)


def test_rescan_from_snapshot_or_table_alike(tmp_path: Path, shop: Callable[[str], Path]) -> None:
    """A re-scan that reads the snapshot and one that reads the table find the same."""
    root = shop("woocommerce")
    with Store.open(f"sqlite:///{tmp_path / 'snap.db'}") as store:
        runner.baseline(store, "shop", root, actor="tester")
        (root / "wp-content/uploads/2024/05/cache.php").write_text(WEBSHELL)
        (root / "wp-includes/version.php").unlink()
        runner.scan(store, "shop", root)
        outcomes = []
        for _ in range(2):
            outcome = runner.scan(store, "shop", root, now=AT)
            outcomes.append(replace(outcome, stats=replace(outcome.stats, seconds=0)))
            with store.transaction(write=True) as s:
                s.connection().execute(sa.delete(storage.SNAPSHOTS))  # the second reads the table
        assert outcomes[0] == outcomes[1] and outcomes[0].stats.read == 0
        assert {(f.rule_id, f.subject) for f in outcomes[0].findings} == {
            ("SG707", "wp-content/uploads/2024/05/cache.php"),
            ("SG701", "wp-content/uploads/2024/05/cache.php"),
            ("SG705", "wp-includes/version.php"),
        }


def test_releases_replace_and_resolve(any_db: str) -> None:
    with Store.open(any_db) as store:
        files = [("wp-content/plugins/woocommerce/woocommerce.php", "c" * 64), ("x.js", "d" * 64)]
        first = storage.save_release(
            store,
            platform="woocommerce",
            version="8.9.0",
            prefix="wp-content/plugins/woocommerce",
            source="woo.zip",
            source_sha256="e" * 64,
            files=files,
            actor="t",
            at=AT,
        )
        assert first.label == "woocommerce@8.9.0" and first.files == 2
        second = storage.save_release(store, platform="woocommerce", version="8.9.0", prefix="p", source="woo2.zip",
                                      source_sha256="f" * 64, files=files[:1], actor="t", at=AT)  # fmt: skip
        assert [r.source for r in storage.releases(store)] == ["woo2.zip"]
        assert storage.release_files(store, second.id) == dict(files[:1])
        assert storage.releases(store, "wordpress") == []


def test_full_cycle_on_the_database(any_db: str, tmp_path: Path, shop: Callable[[str], Path]) -> None:
    config_path = tmp_path / "pg.yaml"
    config_path.write_text(
        "version: 1\n"
        f"database: '{any_db}'\n"
        "sites:\n  - name: shop\n    base_url: https://shop.test/\n    journeys:\n"
        "      - name: home\n        steps:\n          - goto: /\n"
        "alerts:\n  sinks: []\n",
        encoding="utf-8",
    )
    config = load_config(config_path)
    root = shop("woocommerce")
    with Store.open(any_db) as store:
        runner.baseline(store, "shop", root, actor="tester")
        (root / "wp-content/uploads/2024/05/cache.php").write_text(WEBSHELL)
        first = runner.record(config, store, runner.scan(store, "shop", root), alert=False)
        assert {f.rule_id for f in first.findings} == {"SG701", "SG707"} and first.scan_id
        (root / "wp-content/uploads/2024/05/cache.php").unlink()
        cleaned = runner.record(config, store, runner.scan(store, "shop", root), alert=False)
        assert cleaned.resolved == 2
        assert [s for s in store.findings("shop") if s.finding.page == page_of(str(root))] == []
        scan = store.scan(cleaned.scan_id or "")
        assert scan is not None and scan.status == "failed"


def test_split_rescan_on_the_database(
    any_db: str, shop: Callable[[str], Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The child of a split re-scan reads its share of the stat cache on a connection of its own
    (SQLite and PostgreSQL), and what it finds comes back."""
    root = shop("woocommerce")
    with Store.open(any_db) as store:
        runner.baseline(store, "shop", root, actor="tester")
        runner.scan(store, "shop", root)
        (root / "wp-content/uploads/2024/05/cache.php").write_text(WEBSHELL)  # part 0
        (root / "wp-includes/version.php").unlink()  # part 1
        children: list[bool] = []
        real_result = runner._OtherPart.result

        def result(self: runner._OtherPart) -> runner.PartResult | None:
            got = real_result(self)
            children.append(got is not None)
            return got

        monkeypatch.setattr(runner, "SPLIT_MIN", 1)
        monkeypatch.setattr(runner._OtherPart, "result", result)
        for _ in range(2):  # the change, then unchanged
            outcome = runner.scan(store, "shop", root)
            assert {(f.rule_id, f.subject) for f in outcome.findings} == {
                ("SG707", "wp-content/uploads/2024/05/cache.php"),
                ("SG701", "wp-content/uploads/2024/05/cache.php"),
                ("SG705", "wp-includes/version.php"),
            }
        assert children == [True, True] and outcome.stats.read == 0


def test_migration_up_and_down(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'm.db'}"
    Store.open(url).close()
    engine = sa.create_engine(url)
    webroot = {"webroot_roots", "webroot_files", "webroot_releases", "webroot_release_files", "webroot_snapshots"}
    assert webroot <= set(sa.inspect(engine).get_table_names())
    with engine.begin() as conn:
        migrate.downgrade(conn, "0004")
    assert not webroot & set(sa.inspect(engine).get_table_names())
    with engine.begin() as conn:
        migrate.upgrade(conn)
    assert webroot <= set(sa.inspect(engine).get_table_names())
    engine.dispose()
