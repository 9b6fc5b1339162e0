"""``KASHA_LOG``: the SDK's log on stderr, redacted, configured once at import."""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from collections.abc import Iterator

import pytest

from kasha_async import _logging
from kasha_async.sandbox import Sandbox

SCRIPT = """
import asyncio, logging, os
from decimal import Decimal
from kasha_async import Customer, KashaClient

async def main():
    async with KashaClient() as kasha:
        await kasha.payouts.options(country="GB", currency="GBP", amount=Decimal("5.00"),
                                    redirect_url="https://shop.example/r",
                                    customer=Customer(name="Jo"))
    logging.getLogger("kasha_async.test").info(
        "key %s card 4242424242424242 body %s", os.environ["KASHA_API_KEY"], '{"cardcvv": "123"}')
    print("done")

asyncio.run(main())
"""


async def run_script(level: str | None) -> tuple[str, str, str]:
    """Run SCRIPT against a fresh sandbox with KASHA_LOG=level; its stdout, stderr and key."""
    async with Sandbox(api_key="sk_test_secret_0123456789") as sandbox:
        env = {**os.environ, "KASHA_BASE_URL": sandbox.base_url, "KASHA_API_KEY": sandbox.api_key}
        env.pop("KASHA_LOG", None)
        env.pop("KASHA_SIGNATURE_KEY", None)
        if level is not None:
            env["KASHA_LOG"] = level
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-c", SCRIPT, env=env, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode()
    return out.decode(), err.decode(), sandbox.api_key


async def test_kasha_log_debug_logs_requests_to_stderr_without_secrets() -> None:
    """KASHA_LOG=debug writes the SDK's request log to stderr with key and card data masked."""
    out, err, key = await run_script("debug")
    assert out == "done\n"
    assert "DEBUG kasha_async: POST /v2/payout-options -> 200" in err
    assert "INFO kasha_async.test: key [REDACTED] card [REDACTED-PAN]" in err
    assert '{"cardcvv": "[REDACTED]"}' in err
    assert key not in err
    assert "4242424242424242" not in err


async def test_kasha_log_info_leaves_out_debug_lines() -> None:
    """KASHA_LOG=info shows info records but not the per-request debug lines."""
    _, err, _ = await run_script("info")
    assert "kasha_async.test" in err
    assert "DEBUG" not in err


async def test_without_kasha_log_the_sdk_writes_nothing_to_stderr() -> None:
    """Unset, KASHA_LOG adds no handler: nothing reaches stderr."""
    _, err, _ = await run_script(None)
    assert err == ""


@pytest.fixture
def sdk_logger() -> Iterator[logging.Logger]:
    """The kasha_async logger, restored to its handlers and level afterwards."""
    logger = logging.getLogger("kasha_async")
    handlers, level = list(logger.handlers), logger.level
    yield logger
    logger.handlers[:] = handlers
    logger.setLevel(level)


def test_configure_installs_one_handler_however_often_it_runs(
    sdk_logger: logging.Logger, monkeypatch: pytest.MonkeyPatch
) -> None:
    """configure_from_env() twice leaves one stderr handler and the level it names."""
    monkeypatch.setenv("KASHA_LOG", "INFO")
    first, second = _logging.configure_from_env(), _logging.configure_from_env()
    assert first is second is not None
    assert sdk_logger.level == logging.INFO
    assert sum(h is first for h in sdk_logger.handlers) == 1


def test_unknown_kasha_log_value_is_named_and_ignored(
    sdk_logger: logging.Logger, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """KASHA_LOG=verbose installs nothing and says which values it takes."""
    monkeypatch.setenv("KASHA_LOG", "verbose")
    assert _logging.configure_from_env() is None
    assert "KASHA_LOG='verbose' ignored; use one of debug, info, warning, error" in (
        capsys.readouterr().err
    )
