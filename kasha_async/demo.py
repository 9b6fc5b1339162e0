"""``make demo``: a narrated end-to-end tour of kasha-async against the embedded sandbox.

Run it with ``python -m kasha_async.demo``. It starts the sandbox and a webhook
receiver on 127.0.0.1, then walks through a card payment, a 3DS card payment,
a bank transfer with suboptions and form inputs, a decline, a payout with
approval, a refund, a verified webhook and a batch of payouts with a progress
bar. It exits 0 only if every step ended as expected. It uses only public names.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs
from aiohttp import web
from rich.console import Console
from rich.table import Table

from kasha_async import (
    Customer,
    DeclinedError,
    FlowState,
    InvalidRequestError,
    KashaClient,
    PaymentFlow,
    PayoutFlow,
    Transaction,
    TransactionStatus,
)
from kasha_async.batch import PayoutItem, run_payouts
from kasha_async.sandbox import SUCCESS_CARD, THREE_DS_CARD, Sandbox, trigger_card
from kasha_async.webhooks import aiohttp_handler

console = Console(highlight=False)
WEBHOOK_SECRET = "whsec_demo"
RETURN_URL = "https://shop.example/return"
CUSTOMER = Customer(name="Jane Roe", phone="+5511999990000", ip="203.0.113.7")
BATCH_SIZE = 500


def card(number: str) -> dict[str, str]:
    """The card form a checkout page would collect (never logged or shown by the SDK)."""
    return {
        "cardnum": number,
        "cardholder": "Jane Roe",
        "expirymonth": "12",
        "expiryyear": "2030",
        "cardcvv": "123",
    }


@attrs.define
class Demo:
    """The running demo: sandbox, client, webhook inbox and the results so far."""

    sandbox: Sandbox
    kasha: KashaClient
    webhook_url: str
    inbox: list[Transaction]
    results: list[tuple[str, bool, str]] = attrs.field(factory=list)

    def check(self, step: str, ok: bool, detail: str) -> None:
        """Record one step's outcome and narrate it."""
        self.results.append((step, ok, detail))
        mark = "[green]✔[/]" if ok else "[red]✘[/]"
        console.print(f"  {mark} {detail}")

    async def start_payment(self, reference: str, **extra: Any) -> PaymentFlow:
        """Open a BRL 130.00 payment session for ``reference``."""
        fields: dict[str, Any] = {
            "country": "BR",
            "currency": "BRL",
            "amount": Decimal("130.00"),
            "redirect_url": RETURN_URL,
            "language": "EN",
            "customer": CUSTOMER,
            "merchant_reference": reference,
            **extra,
        }
        return await PaymentFlow.start(self.kasha, **fields)


def title(text: str) -> None:
    """Print a step heading."""
    console.print(f"\n[bold cyan]{text}[/]")


async def card_payment(demo: Demo) -> PaymentFlow:
    """A card payment completes at once; its webhook is delivered, signed, to our receiver."""
    title("1. Card payment")
    flow = await demo.start_payment("demo-card-1", notification_url=demo.webhook_url)
    console.print(f"  session {flow.session_id} expires at {flow.expires_at:%H:%M:%S} UTC")
    console.print(f"  options: {', '.join(o.name or '?' for o in flow.options)}")
    await flow.choose(flow.option(name="Card"))
    result = await flow.pay(extra_data=card(SUCCESS_CARD))
    final = await flow.wait_final(timeout=10, poll_interval=0.05)
    demo.check(
        "card payment",
        final.status is TransactionStatus.COMPLETED,
        f"transaction {result.transaction_id} is {final.status}",
    )
    return flow


async def three_ds_payment(demo: Demo) -> None:
    """A 3DS card answers with a redirect; after the customer passes 3DS it completes."""
    title("2. Card payment with 3DS")
    flow = await demo.start_payment("demo-3ds-1")
    await flow.choose(flow.option(name="Card"))
    result = await flow.pay(extra_data=card(THREE_DS_CARD))
    console.print(f"  send the customer to {result.redirect_url}")
    await demo.sandbox.complete(result.transaction_id)  # the customer passes 3DS
    final = await flow.wait_final(timeout=10, poll_interval=0.05)
    demo.check(
        "3DS payment",
        result.needs_redirect and final.status is TransactionStatus.COMPLETED,
        f"redirect asked, then {final.status}",
    )


async def bank_transfer(demo: Demo) -> None:
    """An APM with suboptions: bad form data is refused locally, then the payment completes."""
    title("3. Bank transfer with suboptions and form inputs")
    flow = await demo.start_payment("demo-apm-1")
    subs = await flow.choose(flow.option(name="Bank Transfer"))
    assert subs is not None
    console.print(f"  banks: {', '.join(o.name or o.id for o in subs.options)}")
    console.print(f"  form: {', '.join(f.name for f in subs.form_inputs)}")
    requests_before = demo.sandbox.ledger().total_requests
    try:
        await flow.pay(option_id=subs.options[0].id, extra_data={"document": "12"})
        refused = False
    except InvalidRequestError as exc:
        refused = demo.sandbox.ledger().total_requests == requests_before
        console.print(f"  refused before sending: {'; '.join(exc.problems)}")
    await flow.pay(option_id=subs.options[0].id, extra_data={"document": "12345678"})
    final = await flow.wait_final(timeout=10, poll_interval=0.05)
    demo.check(
        "bank transfer",
        refused and final.status is TransactionStatus.COMPLETED,
        f"form checked locally, then {final.status}",
    )


async def declined_payment(demo: Demo) -> None:
    """A declined card ends the flow DECLINED with the reference's code and reason."""
    title("4. A declined payment")
    flow = await demo.start_payment("demo-decline-1")
    await flow.choose(flow.option(name="Card"))
    try:
        await flow.pay(extra_data=card(trigger_card(3000)))
    except DeclinedError as exc:
        demo.check(
            "decline",
            exc.code == 3000 and flow.state is FlowState.DECLINED,
            f"declined with code {exc.code.value} ({exc.code.name}): {exc.reason}",
        )
        return
    demo.check("decline", False, "the payment was not declined")


async def payout(demo: Demo) -> None:
    """A payout is created PENDING, approved, and completed by the processor."""
    title("5. Payout with approval")
    flow = await PayoutFlow.start(
        demo.kasha,
        country="BR",
        currency="BRL",
        amount=Decimal("150.00"),
        redirect_url=RETURN_URL,
        customer=CUSTOMER,
        merchant_reference="demo-payout-1",
    )
    subs = await flow.choose(flow.option(name="Bank Transfer"))
    assert subs is not None
    await flow.create(option_id=subs.options[0].id, extra_data={"name": "Jane Roe"})
    console.print(f"  created, now {flow.state}: waiting for our approval")
    settled = await flow.approve()
    final = await flow.wait_final(timeout=10, poll_interval=0.05)
    demo.check(
        "payout",
        final.status is TransactionStatus.COMPLETED,
        f"approved ({settled.status}), then {final.status}",
    )


async def refund(demo: Demo, paid: PaymentFlow) -> None:
    """The first card payment is refunded by its merchant reference."""
    title("6. Refund")
    answer = await paid.refund()
    demo.check(
        "refund",
        answer.status is TransactionStatus.REFUNDED,
        f"{paid.merchant_reference} is {answer.status}",
    )


async def webhook(demo: Demo, paid: PaymentFlow) -> None:
    """Our receiver verified the sandbox's signed webhook for the first payment."""
    title("7. Webhook")
    await demo.sandbox.wait_webhooks()
    mine = [tx for tx in demo.inbox if tx.id == paid.transaction_id]
    statuses = [str(tx.status) for tx in mine]
    console.print(f"  verified deliveries for {paid.transaction_id}: {', '.join(statuses)}")
    demo.check(
        "webhook",
        TransactionStatus.COMPLETED in statuses,
        "signature checked over the raw body, transaction parsed",
    )


async def batch(demo: Demo) -> None:
    """500 payouts at concurrency 50, journaled, with a live progress bar and a summary."""
    title(f"8. A batch of {BATCH_SIZE} payouts")
    items = [
        PayoutItem(
            reference=f"demo-batch-{i:04d}",
            country="BR",
            currency="BRL",
            amount=Decimal(10 + i % 90),
            customer=Customer(name=f"Affiliate {i:04d}"),
            option="Bank Transfer",
            option_id="d_316",
            extra_data={"name": f"Affiliate {i:04d}"},
        )
        for i in range(BATCH_SIZE)
    ]
    with tempfile.TemporaryDirectory() as tmp:
        report = await run_payouts(
            demo.kasha, items, journal=Path(tmp) / "payouts.db", concurrency=50, progress=True
        )
    summary = report.summary
    table = Table(title="Batch summary")
    table.add_column("status")
    table.add_column("items", justify="right")
    for status, count in sorted(summary.counts.items()):
        table.add_row(str(status), str(count))
    console.print(table)
    paid = ", ".join(f"{cur} {amount}" for cur, amount in summary.completed_amounts.items())
    console.print(f"  {summary.payouts_per_second:.0f} payouts/s; paid {paid}")
    completed = summary.counts.get("COMPLETED", 0)
    demo.check("batch", completed == BATCH_SIZE, f"{completed}/{BATCH_SIZE} payouts completed")


async def start_receiver(inbox: list[Transaction]) -> tuple[web.AppRunner, str]:
    """A webhook endpoint on 127.0.0.1 that verifies and collects transactions."""

    def collect(tx: Transaction) -> None:
        inbox.append(tx)

    app = web.Application()
    app.router.add_post("/webhooks/kasha", aiohttp_handler(WEBHOOK_SECRET, collect))
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    return runner, f"http://127.0.0.1:{port}/webhooks/kasha"


Step = Callable[[Demo], Awaitable[None]]


async def main() -> int:
    """Run every step; 0 when all ended as expected."""
    started = time.perf_counter()
    inbox: list[Transaction] = []
    runner, webhook_url = await start_receiver(inbox)
    try:
        async with Sandbox(webhook_secret=WEBHOOK_SECRET, payment_delay=0.2) as sandbox:
            console.print(f"[bold]Kasha sandbox[/] at {sandbox.base_url} (key {sandbox.api_key})")
            async with KashaClient(api_key=sandbox.api_key, base_url=sandbox.base_url) as kasha:
                demo = Demo(sandbox, kasha, webhook_url, inbox)
                paid = await card_payment(demo)
                steps: list[Step] = [three_ds_payment, bank_transfer, declined_payment, payout]
                for step in steps:
                    await step(demo)
                await refund(demo, paid)
                await webhook(demo, paid)
                await batch(demo)
    finally:
        await runner.cleanup()
    failed = [name for name, ok, _ in demo.results if not ok]
    elapsed = time.perf_counter() - started
    if failed:
        console.print(f"\n[bold red]{len(failed)} step(s) failed:[/] {', '.join(failed)}")
        return 1
    console.print(f"\n[bold green]All {len(demo.results)} steps passed[/] in {elapsed:.1f} s.")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
