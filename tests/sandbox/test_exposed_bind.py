"""Bound beyond loopback, the sandbox warns and its control routes take the API key."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest
from aiohttp import web

from kasha_async.sandbox import Sandbox
from kasha_async.sandbox.app import is_loopback


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.0.0.2", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("::", False),
        ("", False),
        ("192.168.1.10", False),
        ("sandbox.example", False),
    ],
)
def test_loopback_hosts_are_told_apart(host: str, loopback: bool) -> None:
    """Only loopback addresses and ``localhost`` count as loopback; names and wildcards don't."""
    assert is_loopback(host) is loopback


@pytest.fixture
def bind_loopback_instead(monkeypatch: pytest.MonkeyPatch) -> None:
    """Let a test ask for ``0.0.0.0`` while the socket really binds 127.0.0.1 only."""
    real_site = web.TCPSite

    def site(runner: web.BaseRunner, host: str, port: int, **kwargs: Any) -> web.TCPSite:
        return real_site(runner, "127.0.0.1", port, **kwargs)

    monkeypatch.setattr(web, "TCPSite", site)


@pytest.mark.usefixtures("bind_loopback_instead")
async def test_a_wildcard_bind_warns_and_locks_the_control_routes() -> None:
    """``host="0.0.0.0"``: a loud warning, and /_sandbox/* answers 401 without the key."""
    sandbox = Sandbox(host="0.0.0.0", api_key="sk_test_exposed")
    with pytest.warns(UserWarning, match="beyond loopback"):
        await sandbox.start()
    try:
        assert sandbox.state.control_requires_key
        url = sandbox.base_url
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{url}/_sandbox/ledger") as resp:
                assert resp.status == 401
                assert (await resp.json())["errors"]["code"] == "401"
            async with http.post(f"{url}/_sandbox/clock/advance", json={"seconds": 3600}) as resp:
                assert resp.status == 401
            assert sandbox.clock.offset == 0
            wrong = {"x-api-key": "guess"}
            async with http.get(f"{url}/_sandbox/ledger", headers=wrong) as resp:
                assert resp.status == 401
            right = {"x-api-key": "sk_test_exposed"}
            async with http.get(f"{url}/_sandbox/ledger", headers=right) as resp:
                assert resp.status == 200
            async with http.get(f"{url}/_sandbox/3ds/some-transaction") as resp:
                assert resp.status == 404  # a page the customer's browser opens: keyless, not 401
    finally:
        await sandbox.stop()


async def test_a_loopback_sandbox_keeps_control_routes_open(sb: Sandbox) -> None:
    """On 127.0.0.1 (no warning: warnings are errors here) control routes need no key."""
    assert not sb.state.control_requires_key
    async with aiohttp.ClientSession() as http, http.get(f"{sb.base_url}/_sandbox/ledger") as resp:
        assert resp.status == 200
