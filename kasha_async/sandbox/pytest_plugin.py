"""pytest plugin (auto-registered by the ``kasha_sandbox`` entry point): sandbox fixtures.

``kasha_sandbox`` yields a running :class:`~kasha_async.sandbox.Sandbox` on
``127.0.0.1`` port 0 (``.base_url``, ``.api_key``, ``.clock``, ``.faults``,
``.ledger()``); ``kasha_client`` yields a ``KashaClient`` pointed at it. Both are
async fixtures and need pytest-asyncio (``pip install 'kasha-async[testing]'``);
without it the plugin still loads, so installing the SDK never breaks a test
suite, and a test that asks for one of them fails with a message saying so.

``Sandbox(...)`` keyword arguments come from the ``kasha_sandbox_options``
fixture (override it in a ``conftest.py``) updated by a test's
``@pytest.mark.kasha_sandbox(...)`` marker (the closest marker wins).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any, NoReturn, TypeVar, cast

import pytest

from .._client import KashaClient
from .server import Sandbox

MISSING_PYTEST_ASYNCIO = (
    "the kasha_sandbox and kasha_client fixtures are async and need pytest-asyncio: "
    "pip install 'kasha-async[testing]' (or pytest-asyncio) and set "
    'asyncio_mode = "auto" under [tool.pytest.ini_options]'
)
_F = TypeVar("_F", bound=Callable[..., Any])


def _async_fixture() -> Callable[[_F], _F] | None:
    """pytest-asyncio's fixture decorator, or None when it is not installed."""
    try:
        import pytest_asyncio
    except ImportError:
        return None
    return cast("Callable[[_F], _F]", pytest_asyncio.fixture)


def pytest_configure(config: pytest.Config) -> None:
    """Register the ``kasha_sandbox`` marker (the suite may run with --strict-markers)."""
    config.addinivalue_line(
        "markers",
        "kasha_sandbox(**options): Sandbox(...) keyword arguments for this test's "
        "kasha_sandbox fixture, e.g. payment_delay=None, webhook_secret='whsec'",
    )


@pytest.fixture
def kasha_sandbox_options() -> dict[str, Any]:
    """``Sandbox(...)`` keyword arguments of ``kasha_sandbox``; override it to change them."""
    return {}


def sandbox_options(request: pytest.FixtureRequest, base: dict[str, Any]) -> dict[str, Any]:
    """``base`` updated by the test's ``kasha_sandbox`` markers, the closest one last."""
    options = dict(base)
    for marker in reversed(list(request.node.iter_markers("kasha_sandbox"))):
        if marker.args:
            raise pytest.UsageError("@pytest.mark.kasha_sandbox takes keyword arguments only")
        options.update(marker.kwargs)
    return options


_fixture = _async_fixture()

if _fixture is not None:

    @_fixture
    async def kasha_sandbox(
        request: pytest.FixtureRequest, kasha_sandbox_options: dict[str, Any]
    ) -> AsyncIterator[Sandbox]:
        """A fresh sandbox per test, stopped (timers and webhooks cancelled) afterwards."""
        async with Sandbox(**sandbox_options(request, kasha_sandbox_options)) as sandbox:
            yield sandbox

    @_fixture
    async def kasha_client(kasha_sandbox: Sandbox) -> AsyncIterator[KashaClient]:
        """A ``kasha_async.KashaClient`` for the ``kasha_sandbox`` of the same test."""
        async with KashaClient(
            api_key=kasha_sandbox.api_key,
            base_url=kasha_sandbox.base_url,
            signature_key=kasha_sandbox.signature_key,
        ) as client:
            yield client

else:

    @pytest.fixture(name="kasha_sandbox")
    def _kasha_sandbox_unavailable() -> NoReturn:
        """Fails the test: the async fixture cannot run without pytest-asyncio."""
        pytest.fail(MISSING_PYTEST_ASYNCIO, pytrace=False)

    @pytest.fixture(name="kasha_client")
    def _kasha_client_unavailable() -> NoReturn:
        """Fails the test: the async fixture cannot run without pytest-asyncio."""
        pytest.fail(MISSING_PYTEST_ASYNCIO, pytrace=False)
