"""Fixtures of the store tests: one store per test, on SQLite and (when configured) PostgreSQL.

PostgreSQL runs when ``SKIMGUARD_TEST_POSTGRES_URL`` is set, e.g.
``postgresql+psycopg://postgres@127.0.0.1:5432/test``. Each test gets a fresh schema, selected
through ``search_path`` in the URL, and dropped afterwards.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from skimguard.store import Store

PG_ENV = "SKIMGUARD_TEST_POSTGRES_URL"
PG_SKIP = f"PostgreSQL tests need {PG_ENV} (e.g. postgresql+psycopg://postgres@127.0.0.1:5432/test)"


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database URL nobody else uses: a new SQLite file, or a new PostgreSQL schema."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'data' / 'skimguard.db'}"
        return
    base = os.environ.get(PG_ENV)
    if not base:
        pytest.skip(PG_SKIP)
    schema = f"sg_test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(base)
    try:
        with admin.begin() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
        url = sa.make_url(base).update_query_dict({"options": f"-csearch_path={schema}"})
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def open_db(db_url: str) -> Iterator[Callable[..., Store]]:
    """Open (more) stores on the test database; all are closed at the end."""
    opened: list[Store] = []

    def _open(*, migrate: bool = True) -> Store:
        store = Store.open(db_url, migrate=migrate)
        opened.append(store)
        return store

    yield _open
    for store in opened:
        store.close()


@pytest.fixture
def store(open_db: Callable[..., Store]) -> Store:
    return open_db()


@pytest.fixture
def engine(db_url: str) -> Iterator[sa.Engine]:
    """A plain engine on the test database, to look at the rows directly."""
    eng = sa.create_engine(db_url)
    yield eng
    eng.dispose()
