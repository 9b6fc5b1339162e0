"""``kasha sandbox serve``: its banner, its options, a busy port, and the example app behind it."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import socket
import sys
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from click.testing import CliRunner
from starlette.applications import Starlette

from examples.checkout_app import create_app
from kasha_async import Customer, KashaClient, TransactionStatus
from kasha_async.cli import main
from kasha_async.sandbox import DEFAULT_API_KEY, SUCCESS_CARD, serve_app

README = Path(__file__).resolve().parents[2] / "README.md"
# The command the README gives for running the example app against a local sandbox.
README_SERVE = re.findall(r"^kasha sandbox serve .*--signature-key \S+", README.read_text(), re.M)[
    0
]


def test_cli_is_a_click_group_with_sandbox_serve() -> None:
    """`kasha --help` lists the sandbox group and `kasha sandbox --help` lists serve."""
    runner = CliRunner()
    assert "sandbox" in runner.invoke(main, ["--help"]).output
    assert "serve" in runner.invoke(main, ["sandbox", "--help"]).output


def test_triggers_command_prints_the_doc_table() -> None:
    """`kasha sandbox triggers` prints exactly render_markdown()."""
    from kasha_async.sandbox.triggers import render_markdown

    assert CliRunner().invoke(main, ["sandbox", "triggers"]).output == render_markdown()


async def test_serve_subprocess_completes_a_payout() -> None:
    """The served sandbox prints a real URL and key, and a full payout flow completes through it."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "kasha_async.cli",
        "sandbox",
        "serve",
        "--port",
        "0",
        "--api-key",
        "sk_cli",
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        first = (await asyncio.wait_for(proc.stdout.readline(), 20)).decode()
        second = (await asyncio.wait_for(proc.stdout.readline(), 20)).decode()
        base_url = first.rsplit(" ", 1)[-1].strip()
        assert base_url.startswith("http://127.0.0.1:")
        assert not base_url.endswith(":0")
        assert second.strip() == "API key: sk_cli"
        async with KashaClient(api_key="sk_cli", base_url=base_url) as kasha:
            session = await kasha.payouts.options(
                country="GB",
                currency="GBP",
                amount=Decimal("25.00"),
                redirect_url="https://merchant.example/r",
                customer=Customer(name="Jane Roe"),
            )
            created = await kasha.payouts.create(
                session_id=session.session_id,
                payment_option_id=session.payment_options[0].payment_option_id,
                extra_data={"name": "Jane Roe", "account": "12345678"},
            )
            await kasha.payouts.settle(transaction_id=created.transaction_id, action="APPROVE")
            status = TransactionStatus.PROCESSING
            for _ in range(100):  # the default payout delay is 0: done on the server's next turn
                status = (await kasha.transactions.get(created.transaction_id)).status
                if status is TransactionStatus.COMPLETED:
                    break
            assert status is TransactionStatus.COMPLETED
    finally:
        proc.terminate()
        await asyncio.wait_for(proc.wait(), 20)
    assert proc.returncode == 0


@contextlib.asynccontextmanager
async def served(*args: str) -> AsyncIterator[list[str]]:
    """``kasha sandbox serve ARGS`` in a subprocess; yields its banner lines, then SIGTERMs it."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "kasha_async.cli", "sandbox", "serve", *args,
        stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        lines: list[str] = []
        while not lines or not lines[-1].startswith("export "):
            line = await asyncio.wait_for(proc.stdout.readline(), 20)
            assert line, f"serve ended early after {lines}"
            lines.append(line.decode().strip())
        yield lines
    finally:
        proc.terminate()
        await asyncio.wait_for(proc.wait(), 20)


async def test_banner_prints_every_key_and_the_environment() -> None:
    """The banner names the API key, the signature key, the webhook secret and an export line."""
    args = ["--port", "0", "--api-key", "k1", "--signature-key", "s1", "--webhook-secret", "w1"]
    async with served(*args) as lines:
        url = lines[0].rsplit(" ", 1)[-1]
        assert lines[1:] == [
            "API key: k1",
            "Signature key: s1",
            "Webhook secret: w1 (--webhook-secret)",
            f"export KASHA_BASE_URL={url} KASHA_API_KEY=k1 KASHA_SIGNATURE_KEY=s1",
        ]


async def test_banner_says_webhooks_are_signed_with_the_api_key_by_default() -> None:
    """Without keys, the banner says signatures are unchecked and webhooks use the API key."""
    async with served("--port", "0") as lines:
        assert lines[2] == "Signature key: none (x-signature is not checked)"
        assert lines[3] == (
            f"Webhook secret: {DEFAULT_API_KEY} (the API key; set --webhook-secret or "
            "--signature-key)"
        )


def test_busy_port_prints_one_line_suggesting_port_0_and_exits_2() -> None:
    """serve on a port already listened on: exit 2 and one stderr line naming --port 0."""
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = CliRunner().invoke(main, ["sandbox", "serve", "--port", str(port)])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr == (
        f"kasha sandbox serve: 127.0.0.1:{port} is already in use; "
        "pass --port 0 to take any free port\n"
    )


@pytest.mark.filterwarnings("ignore:Kasha sandbox bound to:UserWarning")  # warned before the bind
def test_unbindable_host_prints_one_line_naming_host_and_exits_2() -> None:
    """serve on an address this machine does not have: exit 2 and one line saying check --host."""
    result = CliRunner().invoke(main, ["sandbox", "serve", "--host", "203.0.113.7", "--port", "0"])
    assert result.exit_code == 2
    assert result.stderr.startswith("kasha sandbox serve: 203.0.113.7:0 cannot be bound (")
    assert result.stderr.endswith("); check --host\n")
    assert result.stderr.count("\n") == 1


def test_help_texts_have_no_rest_markup_or_cut_summaries() -> None:
    """`kasha --help` and the sandbox commands' help show no ``markup`` and no "..." cuts."""
    runner = CliRunner()
    top = runner.invoke(main, ["--help"]).output
    sandbox_line = next(line for line in top.splitlines() if line.startswith("  sandbox "))
    texts = [top.split("Commands:")[0], sandbox_line]
    for args in (["sandbox"], ["sandbox", "serve"], ["sandbox", "triggers"]):
        texts.append(runner.invoke(main, [*args, "--help"]).output)
    for text in texts:
        assert "``" not in text
        summaries = [line for line in text.splitlines() if not line.startswith("Usage:")]
        assert not [line for line in summaries if line.endswith("...")], text


class LateApp:
    """An ASGI app set after the server is up (the app needs its own public URL)."""

    app: Starlette | None = None

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if self.app is not None:
            await self.app(scope, receive, send)  # a lifespan scope before that: none


async def test_example_app_webhooks_verify_against_the_sandbox_the_readme_starts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The README's serve command + its printed export line: the example's webhooks all verify."""
    command = README_SERVE.split()[3:]
    command[command.index("--port") + 1] = "0"
    async with served(*command) as lines:
        for assignment in lines[-1].removeprefix("export ").split():
            monkeypatch.setenv(*assignment.split("=", 1))
        base_url = os.environ["KASHA_BASE_URL"]
        late = LateApp()
        async with serve_app(late) as public_url, KashaClient() as kasha:
            late.app = create_app(
                kasha, webhook_key=os.environ["KASHA_SIGNATURE_KEY"], public_url=public_url
            )
            form = {"amount": "130.00", "name": "Jane Roe", "cardnum": SUCCESS_CARD,
                    "cardholder": "Jane Roe", "expirymonth": "01", "expiryyear": "2030",
                    "cardcvv": "123"}  # fmt: skip
            async with aiohttp.ClientSession() as http:
                async with http.post(
                    f"{public_url}/checkout", data=form, allow_redirects=False
                ) as answer:
                    assert answer.status == 303
                deliveries: list[dict[str, Any]] = []
                for _ in range(200):
                    async with http.get(f"{base_url}/_sandbox/webhooks") as answer:
                        deliveries = await answer.json()
                    if deliveries:
                        break
                    await asyncio.sleep(0.05)
    assert deliveries
    assert {d["http_status"] for d in deliveries} == {200}
