"""The packaged Alembic migrations create exactly the schema of ``tables.py``; opening works."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from skimguard.errors import StoreError
from skimguard.store import Store, migrate, tables


def _diff(engine: sa.Engine) -> list[object]:
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True, "compare_server_default": True})
        return list(compare_metadata(ctx, tables.metadata))


def test_migrated_schema_matches_metadata(store: Store, engine: sa.Engine) -> None:
    assert _diff(engine) == []
    names = set(sa.inspect(engine).get_table_names())
    assert names == set(tables.metadata.tables) | {"alembic_version"}
    with engine.connect() as conn:
        assert migrate.current_revision(conn) == migrate.head_revision() == "0007"


def test_compare_sees_a_difference(store: Store, engine: sa.Engine) -> None:
    """Guard against a vacuous comparison: a dropped index must show up."""
    with engine.begin() as conn:
        conn.execute(sa.text("DROP INDEX ix_page_scripts_sha256"))
    diff = _diff(engine)
    assert any(d[0] == "add_index" for d in diff if isinstance(d, tuple)), diff


def test_downgrade_and_upgrade_again(store: Store, engine: sa.Engine) -> None:
    store.close()
    with engine.begin() as conn:
        migrate.downgrade(conn, "base")
    assert set(sa.inspect(engine).get_table_names()) <= {"alembic_version"}
    with engine.begin() as conn:
        migrate.upgrade(conn)
    assert _diff(engine) == []


def test_reopen_is_idempotent(open_db: Callable[..., Store], engine: sa.Engine) -> None:
    open_db().ensure_site("shop", "https://shop.test")
    again = open_db()
    again.ensure_site("shop", "https://shop.test/")
    assert _diff(engine) == []
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM sites")).scalar_one() == 1
        assert conn.execute(sa.text("SELECT base_url FROM sites")).scalar_one() == "https://shop.test/"


def test_open_without_migrate_needs_a_migrated_database(open_db: Callable[..., Store]) -> None:
    with pytest.raises(StoreError, match="schema"):
        open_db(migrate=False)
    open_db()  # migrates
    open_db(migrate=False).ensure_site("shop", "https://shop.test")


def test_sqlite_pragmas_and_parent_directory(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "er" / "sg.db"
    with Store.open(f"sqlite:///{path}") as store:
        assert path.exists()
        assert store.dialect == "sqlite"
        with store._engine.connect() as conn:  # white-box: the connect-time pragmas
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30_000


def test_plain_path_means_sqlite(tmp_path: Path) -> None:
    path = tmp_path / "plain" / "skimguard.db"
    with Store.open(str(path)) as store:
        store.ensure_site("shop", "https://shop.test")
    assert path.exists()


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("", "empty"),
        ("nosuchdb://x/y", "unsupported database"),
        ("mysql://u:secret@localhost/db", "unsupported database"),
        ("postgresql+psycopg2://u@127.0.0.1/db", "driver"),
        ("sqlite+nosuchdriver:///x.db", "driver"),
    ],
)
def test_bad_urls(url: str, message: str) -> None:
    with pytest.raises(StoreError, match=message) as info:
        Store.open(url)
    assert "secret" not in str(info.value)


def test_unreachable_postgres_is_a_store_error() -> None:
    # Port 9 (discard) on loopback: connection refused at once.
    with pytest.raises(StoreError, match="cannot connect") as info:
        Store.open("postgresql://skim:hunter2@127.0.0.1:9/nothing")
    assert "hunter2" not in str(info.value)
    assert info.value.hint
