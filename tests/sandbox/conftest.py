"""Fixtures of the sandbox tests: a deterministic sandbox and a raw aiohttp caller."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest_asyncio

from kasha_async.sandbox import Sandbox

from ._helpers import Api


@pytest_asyncio.fixture
async def sb() -> AsyncIterator[Sandbox]:
    """A sandbox whose pending payments and processing payouts wait for control calls."""
    async with Sandbox(payment_delay=None, payout_delay=None) as sandbox:
        yield sandbox
        assert sandbox.state.internal_errors == []


@pytest_asyncio.fixture
async def api(sb: Sandbox) -> AsyncIterator[Api]:
    """A raw aiohttp caller bound to ``sb``."""
    async with aiohttp.ClientSession() as http:
        yield Api(sb, http)
