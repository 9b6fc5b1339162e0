"""The batch drives one PayoutFlow per payout: option by name or id, form check and 3017 on every
path, resumed from the journaled flow snapshot, checked on the sandbox ledger."""

from __future__ import annotations

import json
from collections import Counter
from decimal import Decimal
from pathlib import Path

import attrs
import pytest

from kasha_async import (
    Customer,
    KashaClient,
    KashaErrorCode,
    Transaction,
    TransactionError,
    TransactionStatus,
)
from kasha_async._outcome import Sent, check_answer
from kasha_async.batch import (
    FlowDriver,
    ItemState,
    OpenedSession,
    PayoutItem,
    SQLiteJournal,
    approve_held,
    run_payouts,
)
from kasha_async.batch._driver import session_request
from kasha_async.batch.cli import exit_code
from kasha_async.sandbox import Sandbox

from ..flows.test_answers import _report_as
from ._fake import Crash, FakeDriver, make_items, unknown_once


def _item(reference: str, option: str, *, name: str = "Jane Roe") -> PayoutItem:
    return PayoutItem(
        reference=reference,
        country="BR",
        currency="BRL",
        amount=Decimal("25.00"),
        customer=Customer(name="Jane Roe"),
        option=option,
        extra_data={"name": name, "account": "1234567"},
    )


def _paid(sandbox: Sandbox) -> Counter[str]:
    """Payouts past CREATED per (reference, status) on the ledger."""
    ledger = sandbox.ledger()
    return Counter(
        f"{tx.merchant_reference}:{tx.status.value}"
        for tx_id, tx in ledger.transactions.items()
        if ledger.kinds[tx_id] == "payout" and tx.status.value not in ("CREATED", "EXPIRED")
    )


async def _option_id(kasha: KashaClient) -> str:
    session = await kasha.payouts.options(session_request(_item("probe", "x"), "https://x.test"))
    return session.payment_options[0].payment_option_id


class _CrashBeforeCreate(FlowDriver):
    """The process dies after the create's intent is journaled, before the create is sent."""

    async def create(self, item: PayoutItem, session: OpenedSession) -> None:
        """Die instead of sending."""
        raise Crash


async def _crash_before_create(kasha: KashaClient, item: PayoutItem, journal: Path) -> None:
    """Run ``item`` until its create intent is journaled, then die before the send."""
    with pytest.raises(Crash):
        await run_payouts(
            kasha, [item], journal=journal, driver=_CrashBeforeCreate(kasha), progress=False
        )


@pytest.mark.parametrize("by", ["name", "id"])
async def test_an_option_by_name_or_id_pays_once_fresh_and_resumed(
    kasha_sandbox: Sandbox, kasha_client: KashaClient, tmp_path: Path, by: str
) -> None:
    """An item's option as a name or a paymentOptionId opens, and a resumed create sends, once."""
    option = "bank transfer" if by == "name" else await _option_id(kasha_client)
    fresh, resumed = _item("fresh-1", option), _item("resumed-1", option)
    report = await run_payouts(kasha_client, [fresh], journal=tmp_path / "a.db", progress=False)
    assert report.summary.counts == {"COMPLETED": 1}
    await _crash_before_create(kasha_client, resumed, tmp_path / "b.db")
    again = await run_payouts(
        kasha_client, [resumed], journal=tmp_path / "b.db", resume=True, progress=False
    )
    assert again.summary.counts == {"COMPLETED": 1}
    assert _paid(kasha_sandbox) == {"fresh-1:COMPLETED": 1, "resumed-1:COMPLETED": 1}


async def test_the_journal_holds_the_flows_own_snapshot_before_the_create(
    kasha_client: KashaClient, tmp_path: Path
) -> None:
    """The create's intent carries PayoutFlow.to_dict (state OPTION_CHOSEN), no form values."""
    await _crash_before_create(kasha_client, _item("snap-1", "Bank Transfer"), tmp_path / "j.db")
    async with SQLiteJournal(tmp_path / "j.db") as journal:
        record = await journal.get("snap-1")
    assert record is not None
    assert record.state is ItemState.CREATE_SENT
    assert record.flow is not None
    snapshot = json.loads(record.flow)
    assert (snapshot["kind"], snapshot["state"]) == ("payout", "OPTION_CHOSEN")
    assert snapshot["transaction_id"] == record.transaction_id
    assert "1234567" not in record.flow


async def test_a_resumed_create_goes_through_the_flows_form_check(
    kasha_sandbox: Sandbox, kasha_client: KashaClient, tmp_path: Path
) -> None:
    """Resumed with form data the option refuses, the create is never sent: FAILED, nothing paid."""
    await _crash_before_create(kasha_client, _item("form-1", "Bank Transfer"), tmp_path / "j.db")
    report = await run_payouts(
        kasha_client,
        [_item("form-1", "Bank Transfer", name="Jo")],
        journal=tmp_path / "j.db",
        resume=True,
        progress=False,
    )
    assert report.summary.counts == {"FAILED": 1}
    assert "InvalidRequestError" in (report.results[0].last_error or "")
    assert _paid(kasha_sandbox) == {}


async def test_a_reference_paid_before_fails_once_as_3017_and_is_never_paid_twice(
    kasha_sandbox: Sandbox, kasha_client: KashaClient, tmp_path: Path
) -> None:
    """The same items in a new journal: each create is a 3017 decline, FAILED, paid once in all."""
    items = [_item(f"dup-{i}", "Bank Transfer") for i in range(3)]
    first = await run_payouts(kasha_client, items, journal=tmp_path / "a.db", progress=False)
    assert first.summary.counts == {"COMPLETED": 3}
    second = await run_payouts(kasha_client, items, journal=tmp_path / "b.db", progress=False)
    assert second.summary.counts == {"FAILED": 3}
    assert all(r.decline_code == 3017 for r in second.results)
    assert all("already has a payout" in (r.last_error or "") for r in second.results)
    completed = {k: v for k, v in _paid(kasha_sandbox).items() if k.endswith(":COMPLETED")}
    assert completed == {f"dup-{i}:COMPLETED": 1 for i in range(3)}


class _OtherAmount(FakeDriver):
    """The provider reports every transaction at 0.01 USD: the flow's answer check refuses it."""

    async def lookup(self, session: OpenedSession) -> Transaction:
        """The fake's transaction, refused as the flow refuses it (AnswerMismatchError)."""
        tx = await super().lookup(session)
        sent = Sent(amount=Decimal("10.50"), currency="BRL")
        check_answer(sent, amount=Decimal("0.01"), currency="USD", transaction_id=tx.id)
        return tx


class _EndsInError(FakeDriver):
    """A payout the provider ends in ERROR with code 1100 (contact support to confirm)."""

    async def lookup(self, session: OpenedSession) -> Transaction:
        """The fake's transaction; once approved it is ERROR, 1100."""
        tx = await super().lookup(session)
        if tx.status is not TransactionStatus.COMPLETED:
            return tx
        errors = TransactionError(code=KashaErrorCode(1100), msg="contact support")
        return attrs.evolve(tx, status=TransactionStatus.ERROR, errors=errors)


async def test_an_answer_with_another_amount_is_set_aside_never_approved_or_counted(
    kasha: KashaClient, tmp_path: Path
) -> None:
    """A lookup naming 0.01 USD for a 10.50 BRL item: MISMATCH, never approved, exit 3, not paid."""
    items = make_items(2)
    driver = _OtherAmount(unknown_once("create", {items[0].reference}))
    report = await run_payouts(
        kasha, items, journal=tmp_path / "j.db", driver=driver, retry_delay=0, progress=False
    )
    assert report.summary.counts == {"MISMATCH": 2}
    assert driver.calls["approve"] == 1  # the clean item, approved before any answer named 0.01
    assert driver.created_refs[items[0].reference] == 0  # the in-doubt one: never resent
    assert driver.status[next(iter(driver.status))] is TransactionStatus.CREATED
    assert report.summary.completed_amounts == {}
    assert exit_code(report) == 3
    assert all("check by hand" in (r.last_error or "") for r in report.results)
    assert all(r.reported_amount == Decimal("0.01") for r in report.results)


async def test_a_payout_ending_in_error_1100_is_set_aside_never_failed(
    kasha: KashaClient, tmp_path: Path
) -> None:
    """A final ERROR (1100) is MISMATCH for a person, never FAILED; a resume leaves it."""
    items, driver = make_items(2), _EndsInError()
    journal = tmp_path / "j.db"
    report = await run_payouts(kasha, items, journal=journal, driver=driver, progress=False)
    assert report.summary.counts == {"MISMATCH": 2}
    assert all(r.decline_code == 1100 and "support" in (r.last_error or "") for r in report.results)
    assert report.summary.completed_amounts == {}
    assert exit_code(report) == 3
    lookups = driver.calls["lookup"]
    again = await run_payouts(
        kasha, items, journal=journal, driver=driver, resume=True, progress=False
    )
    assert again.summary.counts == {"MISMATCH": 2}
    assert driver.calls["lookup"] == lookups


async def test_the_real_flow_refusing_a_lookup_sets_the_item_aside_never_approved(
    kasha_sandbox: Sandbox,
    kasha_client: KashaClient,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """FlowDriver: lookups at 0.01 set a held payout aside on approve; the ledger keeps PENDING."""
    journal = tmp_path / "j.db"
    items = [_item(f"lie-{i}", "Bank Transfer") for i in range(2)]
    held = await run_payouts(kasha_client, items, journal=journal, approve="hold", progress=False)
    assert held.summary.counts == {"PENDING": 2}
    _report_as(kasha_client, monkeypatch, payment_amount=Decimal("0.01"))
    report = await approve_held(kasha_client, journal=journal, progress=False)
    assert report.summary.counts == {"MISMATCH": 2}
    assert all(r.reported_amount == Decimal("0.01") for r in report.results)
    assert all("AnswerMismatch" not in (r.last_error or "x") for r in report.results)
    assert _paid(kasha_sandbox) == {"lie-0:PENDING": 1, "lie-1:PENDING": 1}
    again = await approve_held(kasha_client, journal=journal, progress=False)
    assert again.summary.counts == {"MISMATCH": 2}
