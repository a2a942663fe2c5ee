"""A `store` on each backend: a SQLite file in tmp_path, and PostgreSQL from TEST_DATABASE_URL.

Each PostgreSQL test gets a schema of its own (created here, dropped after), selected with
libpq's `options=-csearch_path=…` in the URL the store is given: fast, and nothing leaks
between tests or into the database's public schema.
"""

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from app.store import Store
from tests.conftest import opened_store, postgres_schema


@pytest.fixture(params=["sqlite", "postgresql"])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.db'}"
        return
    async with postgres_schema() as url:
        yield url


@pytest.fixture
async def postgres_url() -> AsyncIterator[str]:
    """For what only PostgreSQL has (advisory locks, a pool of connections)."""
    async with postgres_schema() as url:
        yield url


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[Store]:
    async with opened_store(database_url) as store:
        yield store


@pytest.fixture
async def replica(database_url: str) -> AsyncIterator[Store]:
    """A second store on the same database: another replica, or this one after a restart."""
    async with opened_store(database_url) as other:
        yield other
