"""Shared fixtures for the whole suite."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import kasha_async
from tests import _aioresponses_compat

_aioresponses_compat.install()


@pytest.fixture(autouse=True)
def _zero_backoff() -> Iterator[None]:
    """Retries wait zero seconds in tests unless a test turns real waits back on."""
    kasha_async.set_testing(True)
    yield
    kasha_async.set_testing(False)
