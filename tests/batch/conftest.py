"""Fixtures shared by the batch tests (single process and PostgreSQL workers)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from kasha_async import KashaClient


@pytest.fixture
async def kasha() -> AsyncIterator[KashaClient]:
    """A client that is never used for I/O (the fake driver answers)."""
    client = KashaClient(api_key="k", base_url="http://127.0.0.1:9")
    yield client
    await client.close()
