"""A throwaway PostgreSQL server for the session and a fresh database per test."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import asyncpg
import pytest

from tests.batch.conftest import kasha  # the same offline client

from . import _cluster

__all__ = ["kasha"]


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[_cluster.Cluster]:
    """One server for the whole session; fails (never skips) when PostgreSQL is missing."""
    try:
        cluster = _cluster.start()
    except _cluster.ClusterUnavailableError as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        yield cluster
    finally:
        _cluster.stop(cluster)


@pytest.fixture
async def pg_dsn(pg_cluster: _cluster.Cluster) -> str:
    """The URL of a new, empty database on the session's server."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(pg_cluster.dsn())
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return pg_cluster.dsn(name)
