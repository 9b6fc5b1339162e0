"""The pytest plugin: loads without pytest-asyncio, takes options, and serves apps for webhooks."""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from starlette.applications import Starlette
from starlette.routing import Route

from kasha_async import Customer, KashaClient, PaymentFlow, Transaction
from kasha_async.sandbox import SUCCESS_CARD, Sandbox, serve_app
from kasha_async.sandbox.pytest_plugin import MISSING_PYTEST_ASYNCIO
from kasha_async.webhooks import WebhookASGIApp

# Shadows the installed pytest-asyncio from PYTHONPATH (which comes first on sys.path, for
# pytest's own import hook too), so importing it fails as in a project without it.
BLOCKER = 'raise ModuleNotFoundError("No module named \'pytest_asyncio\'", name="pytest_asyncio")\n'


def run_pytest_without_pytest_asyncio(tmp_path: Path, test_source: str) -> tuple[int, str]:
    """Run pytest on ``test_source`` in a subprocess where pytest-asyncio cannot be imported."""
    blocker = tmp_path / "blocker"
    blocker.mkdir()
    (blocker / "pytest_asyncio.py").write_text(BLOCKER, encoding="utf-8")
    project = tmp_path / "project"
    project.mkdir()
    (project / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
    (project / "test_user.py").write_text(test_source, encoding="utf-8")
    # pytest-asyncio's own entry point is installed here, so it must be switched off too.
    args = [sys.executable, "-m", "pytest", "-q", "-p", "no:asyncio", "-p", "no:cacheprovider"]
    done = subprocess.run(
        args,
        cwd=project,
        env={"PYTHONPATH": str(blocker), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return done.returncode, done.stdout + done.stderr


def test_plugin_loads_and_sync_tests_pass_without_pytest_asyncio(tmp_path: Path) -> None:
    """With pytest-asyncio unimportable, the plugin loads and a plain sync test passes."""
    code, output = run_pytest_without_pytest_asyncio(tmp_path, "def test_x():\n    assert 1\n")
    assert code == 0, output
    assert "1 passed" in output
    assert "pytest_asyncio" not in output


def test_async_fixture_without_pytest_asyncio_fails_with_the_install_hint(tmp_path: Path) -> None:
    """Asking for kasha_sandbox without pytest-asyncio fails the test naming the [testing] extra."""
    source = "def test_uses_sandbox(kasha_sandbox):\n    pass\n"
    code, output = run_pytest_without_pytest_asyncio(tmp_path, source)
    assert code == 1, output
    assert "pip install 'kasha-async[testing]'" in output
    assert MISSING_PYTEST_ASYNCIO.split(":")[0] in output


@pytest.fixture
def kasha_sandbox_options() -> dict[str, Any]:
    """This module's sandbox options: a custom key and no automatic payment completion."""
    return {"api_key": "sk_custom", "payment_delay": None}


async def test_overridden_options_fixture_configures_the_sandbox(kasha_sandbox: Sandbox) -> None:
    """An overridden kasha_sandbox_options fixture is passed to Sandbox(...)."""
    assert kasha_sandbox.api_key == "sk_custom"
    assert kasha_sandbox.state.payment_delay is None


@pytest.mark.kasha_sandbox(webhook_secret="whsec_marker", api_key="sk_marker")
async def test_marker_updates_the_options_fixture(kasha_sandbox: Sandbox) -> None:
    """A kasha_sandbox marker's keywords win over the options fixture, the rest is kept."""
    assert (kasha_sandbox.api_key, kasha_sandbox.webhook_secret) == ("sk_marker", "whsec_marker")
    assert kasha_sandbox.state.payment_delay is None


@pytest.mark.kasha_sandbox(signature_key="sig_marker")
async def test_client_fixture_signs_with_the_sandbox_signature_key(
    kasha_client: KashaClient,
) -> None:
    """kasha_client carries the sandbox's signature key, so a signing sandbox accepts it."""
    session = await kasha_client.payments.options(
        country="GB",
        currency="GBP",
        amount=Decimal("5.00"),
        redirect_url="https://shop.example/return",
        customer=Customer(name="Jo"),
    )
    assert session.payment_options


async def test_serve_app_serves_an_aiohttp_app_on_a_free_port() -> None:
    """serve_app(aiohttp app) answers on 127.0.0.1 at a real port."""

    async def hello(_: web.Request) -> web.Response:
        return web.Response(text="hi")

    app = web.Application()
    app.router.add_get("/hello", hello)
    async with serve_app(app) as url, aiohttp.ClientSession() as http:
        assert url.startswith("http://127.0.0.1:")
        assert not url.endswith(":0")
        async with http.get(f"{url}/hello") as answer:
            assert (answer.status, await answer.text()) == (200, "hi")


async def test_serve_app_delivers_sandbox_webhooks_to_an_asgi_app(kasha_sandbox: Sandbox) -> None:
    """A Starlette app with a lifespan, served by serve_app, receives a verified sandbox webhook."""
    received: list[Transaction] = []
    events: list[str] = []

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        events.append("startup")
        yield
        events.append("shutdown")

    endpoint = WebhookASGIApp(kasha_sandbox.webhook_secret, received.append)
    app = Starlette(routes=[Route("/kasha/webhook", endpoint, methods=["POST"])], lifespan=lifespan)
    async with (
        serve_app(app) as url,
        KashaClient(api_key=kasha_sandbox.api_key, base_url=kasha_sandbox.base_url) as kasha,
    ):
        assert events == ["startup"]
        flow = await PaymentFlow.start(
            kasha,
            country="GB",
            currency="GBP",
            amount=Decimal("5.00"),
            language="EN",
            redirect_url="https://shop.example/return",
            customer=Customer(name="Jo"),
            notification_url=f"{url}/kasha/webhook",
        )
        await flow.choose(flow.option(name="Card"))
        await flow.pay(
            extra_data={
                "cardnum": SUCCESS_CARD,
                "cardholder": "Jo",
                "expirymonth": "12",
                "expiryyear": "2030",
                "cardcvv": "123",
            }
        )
        await kasha_sandbox.wait_webhooks()
    assert events == ["startup", "shutdown"]
    assert [d.http_status for d in kasha_sandbox.webhook_deliveries] == [200]
    assert [tx.id for tx in received] == [flow.transaction_id]


async def test_serve_app_runs_an_asgi_app_without_lifespan_support() -> None:
    """A bare ASGI callable that rejects lifespan scopes is still served."""

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        assert scope["type"] == "http"
        request = await receive()
        await send({"type": "http.response.start", "status": 201,
                    "headers": [(b"x-seen", scope["path"].encode())]})  # fmt: skip
        await send({"type": "http.response.body", "body": request["body"][::-1]})

    async with (
        serve_app(app) as url,
        aiohttp.ClientSession() as http,
        http.post(f"{url}/echo?x=1", data=b"abc") as answer,
    ):
        assert answer.status == 201
        assert answer.headers["x-seen"] == "/echo"
        assert await answer.read() == b"cba"
