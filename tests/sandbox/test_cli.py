"""``kasha sandbox serve`` as a subprocess: prints its URL, serves a payout, stops on SIGTERM."""

from __future__ import annotations

import asyncio
import sys
from decimal import Decimal

from click.testing import CliRunner

from kasha_async import Customer, KashaClient, TransactionStatus
from kasha_async.cli import main


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
