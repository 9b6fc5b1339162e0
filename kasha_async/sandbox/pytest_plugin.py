"""pytest plugin (auto-registered by the ``kasha_sandbox`` entry point): sandbox fixtures.

``kasha_sandbox`` yields a running :class:`~kasha_async.sandbox.Sandbox` on
``127.0.0.1`` port 0 (``.base_url``, ``.api_key``, ``.clock``, ``.faults``,
``.ledger()``); ``kasha_client`` yields a ``KashaClient`` pointed at it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio

from .._client import KashaClient
from .server import Sandbox


@pytest_asyncio.fixture
async def kasha_sandbox() -> AsyncIterator[Sandbox]:
    """A fresh sandbox per test, stopped (timers and webhooks cancelled) afterwards."""
    async with Sandbox() as sandbox:
        yield sandbox


@pytest_asyncio.fixture
async def kasha_client(kasha_sandbox: Sandbox) -> AsyncIterator[KashaClient]:
    """A ``kasha_async.KashaClient`` for the ``kasha_sandbox`` of the same test."""
    async with KashaClient(
        api_key=kasha_sandbox.api_key, base_url=kasha_sandbox.base_url
    ) as client:
        yield client
