"""One step per journaled item state: what the batch sends, and what it journals around it.

Per item (the intent of a create or settle is committed, with the payout flow's
snapshot, before the call; its outcome after)::

    PLANNED ─open, choose─▶ CREATE_SENT ─create─▶ PENDING ─(hold: stop)
                                 │                   │ auto
                       lookup (resume/unknown)   SETTLE_SENT ─settle─▶ PROCESSING ─wait─▶ final
                                                     │
                                           lookup (resume/unknown)

An in-doubt state (``*_SENT``) is always resolved by ``GET /transactions/{id}``
on the flow restored from the journaled snapshot before anything is resent, and
a resent create uses the same session, which can carry one payout only. A
session that expired unused restarts the item with a new session; nothing was
paid on the old one. An answer the flow refuses (another amount or currency
than the item's: :class:`~kasha_async.AnswerMismatchError`) sets the item aside
as MISMATCH: never approved, never counted as paid. So does a final status the
outcome module calls unknown (``ERROR``, code 1100: only Kasha support can say
whether it was paid).
"""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

import attrs

from .._codes import KashaErrorCode, TransactionStatus
from .._errors import (
    AnswerMismatchError,
    AuthenticationError,
    DeclinedError,
    InvalidRequestError,
    KashaError,
    RequestNotSentError,
    SessionExpiredError,
    SessionGoneError,
    ValidationError,
)
from .._models import Transaction
from .._outcome import Outcome, Sent, of_lookup
from ._driver import OpenedSession, PayoutDriver
from ._items import PayoutItem
from ._journal import ItemState, Journal, JournalRecord, item_transition
from ._options import BatchOptions


@attrs.define(eq=False)
class Payout:
    """One item in flight: its input (``None`` once no step needs it), record and session."""

    item: PayoutItem | None
    record: JournalRecord
    session: OpenedSession | None = None


class SetAside(Exception):
    """The item is journaled MISMATCH (for a person to check): nothing more is sent for it."""


class Retry(Exception):
    """The step failed without a decision; the record (journaled) says why."""

    def __init__(self, record: JournalRecord) -> None:
        super().__init__(record.last_error)
        self.record = record


def move(payout: Payout, **changes: Any) -> None:
    """Change the in-flight record; a new state must be one :data:`ITEM_TRANSITIONS` allows."""
    if "state" in changes:
        item_transition(payout.record.state, changes["state"])
    payout.record = payout.record.evolve(**changes)


def describe(exc: BaseException) -> str:
    """An error as one short line for the journal."""
    return f"{type(exc).__name__}: {exc}"[:500]


class Steps:
    """One method per journaled state; each returns whether the item should step again."""

    def __init__(self, driver: PayoutDriver, journal: Journal, options: BatchOptions) -> None:
        self.driver = driver
        self.journal = journal
        self.options = options
        #: Whether some call of this run got an answer (the API is reachable).
        self.reached = False

    @property
    def hold(self) -> bool:
        """Whether payouts stop at PENDING."""
        return self.options.approve == "hold"

    async def save(self, payout: Payout, **changes: Any) -> None:
        """Journal ``changes`` to the item's record (a state change checked by the table)."""
        move(payout, updated_at=time.time(), **changes)
        await self.journal.put(payout.record)

    async def save_intent(self, payout: Payout, **changes: Any) -> None:
        """Journal the intent of a send with the flow's snapshot, before the send."""
        assert payout.session is not None
        await self.save(payout, flow=self.driver.snapshot(payout.session), **changes)

    async def retry(self, payout: Payout, exc: BaseException) -> Retry:
        """Journal why the step failed; the :class:`Retry` to raise."""
        await self.save(payout, last_error=describe(exc))
        return Retry(payout.record)

    async def retry_or_stop(self, payout: Payout, exc: KashaError) -> Retry:
        """The :class:`Retry` of a failed call, or the error itself raised when it ends the run.

        A refused key ends it; so does a request that never reached the server before any
        call of this run did (the API is unreachable: say so now rather than after every
        item's retries). Anything else is a :class:`Retry` of this item.
        """
        if isinstance(exc, AuthenticationError) or (
            isinstance(exc, RequestNotSentError) and not self.reached
        ):
            raise exc
        return await self.retry(payout, exc)

    async def step(self, payout: Payout) -> bool:
        """Run the step of the record's state (only the steps before PENDING need the input)."""
        try:
            match payout.record.state:
                case ItemState.PLANNED:
                    await self.start(payout)
                case ItemState.CREATE_SENT:
                    await self.reconcile(payout, settle=False)
                case ItemState.PENDING:
                    return await self.settle(payout)
                case ItemState.SETTLE_SENT:
                    await self.reconcile(payout, settle=True)
                case _:
                    return await self.wait(payout)
        except SetAside:
            pass
        return True

    async def set_aside(self, payout: Payout, why: str, **changes: Any) -> SetAside:
        """Journal the item MISMATCH, for a person; the :class:`SetAside` to raise."""
        await self.save(
            payout,
            state=ItemState.MISMATCH,
            last_error=f"set aside, check by hand: {why}",
            finished_at=time.time(),
            **changes,
        )
        return SetAside()

    async def mismatched(self, payout: Payout, exc: AnswerMismatchError) -> SetAside:
        """The flow refused an answer naming another amount or currency: set the item aside."""
        reported: dict[str, object] = {}
        if exc.field == "amount":
            reported["reported_amount"] = Decimal(exc.actual)
        elif exc.field == "currency":
            reported["reported_currency"] = exc.actual
        why = f"the provider reports {exc.field} {exc.actual}, the item has {exc.expected}"
        return await self.set_aside(payout, why, **reported)

    async def start(self, payout: Payout) -> None:
        """Open a session (no money moves), journal the create intent, create."""
        assert payout.item is not None
        try:
            payout.session = await self.driver.open(
                payout.item, redirect_url=self.options.redirect_url
            )
        except (InvalidRequestError, DeclinedError) as exc:
            await self.failed(payout, exc)
            return
        except KashaError as exc:
            raise await self.retry_or_stop(payout, exc) from exc
        self.reached = True
        session = payout.session
        await self.save_intent(
            payout,
            state=ItemState.CREATE_SENT,
            session_id=session.session_id,
            transaction_id=session.transaction_id,
            payment_option_id=session.payment_option_id,
            option_id=session.option_id,
            attempts=payout.record.attempts + 1,
            started_at=payout.record.started_at or time.time(),
            last_error=None,
        )
        await self.create(payout)

    async def create(self, payout: Payout) -> None:
        """Send the create whose intent is journaled; map the answer to a state."""
        assert payout.item is not None
        assert payout.session is not None
        try:
            await self.driver.create(payout.item, payout.session)
        except (ValidationError, InvalidRequestError) as exc:
            await self.failed(payout, exc)  # refused before processing: nothing paid
        except AnswerMismatchError as exc:
            raise await self.mismatched(payout, exc) from None
        except DeclinedError as exc:
            await self.declined(payout, exc)
        except SessionExpiredError as exc:
            if not isinstance(exc.__cause__, SessionGoneError):
                # the flow's own clock refused to send: a lookup decides next pass
                raise await self.retry(payout, exc) from exc
            await self.expired(payout, exc)  # the server said so (410)
        except KashaError as exc:  # unknown, not sent or session used: looked up next pass
            raise await self.retry_or_stop(payout, exc) from exc
        else:
            changes = {"state": ItemState.PENDING, "status": "PENDING", "last_error": None}
            if self.hold:
                await self.save(payout, **changes)
            else:
                move(payout, **changes)

    async def declined(self, payout: Payout, exc: DeclinedError) -> None:
        """A declined create; 3017 (whatever its HTTP status, the flow makes it a decline) fails.

        A 3017 means the provider already holds a payout with this reference: the
        item is FAILED, to be checked by hand, and never sent again.
        """
        if exc.code is KashaErrorCode.DUPLICATE_TRANSACTION:
            await self.failed(payout, exc, "the provider already has a payout with it")
        else:
            await self.final(payout, ItemState.DECLINED, exc.code, exc.reason)

    async def settle(self, payout: Payout) -> bool:
        """Journal the settle intent, APPROVE, and record what the payout moved to."""
        if self.hold:
            return False
        session = payout.session = payout.session or self.driver.restore(payout.record)
        await self.save_intent(payout, state=ItemState.SETTLE_SENT, last_error=None)
        try:
            status = await self.driver.approve(session)
        except DeclinedError as exc:
            await self.final(payout, ItemState.DECLINED, exc.code, exc.reason)
            return True
        except AnswerMismatchError as exc:
            raise await self.mismatched(payout, exc) from None
        except KashaError as exc:
            raise await self.retry_or_stop(payout, exc) from exc
        if status is TransactionStatus.PROCESSING:
            move(payout, state=ItemState.PROCESSING, status=status.value)
        else:
            await self.observe(payout, await self.lookup(payout))
        return True

    async def reconcile(self, payout: Payout, *, settle: bool) -> None:
        """Resolve an intent without outcome by lookup; resend only what certainly did not land."""
        tx = await self.look_again(payout)
        if tx.status is TransactionStatus.CREATED and not settle:
            await self.save(payout, attempts=payout.record.attempts + 1)
            await self.create(payout)  # the create never landed: same session again
        elif tx.status is TransactionStatus.EXPIRED and not settle:
            await self.restart(payout, None)
        elif tx.status is TransactionStatus.PENDING and settle and not self.hold:
            move(payout, state=ItemState.PENDING)
            await self.settle(payout)
        else:
            await self.observe(payout, tx)

    async def expired(self, payout: Payout, exc: SessionExpiredError) -> None:
        """The server says the session is gone; a new one only if the lookup proves it unused.

        A 410 does not say whether an earlier send of this create (a resend inside the client,
        or a worker that lost its lease) landed before the expiry; the lookup does, and once the
        session is gone nothing can land on it any more, so ``CREATED`` is proof too.
        """
        tx = await self.look_again(payout)
        if tx.status in (TransactionStatus.CREATED, TransactionStatus.EXPIRED):
            await self.restart(payout, exc)
        else:
            await self.observe(payout, tx)

    async def wait(self, payout: Payout) -> bool:
        """Follow a PROCESSING payout to its final status, or stop at the timeout."""
        session = payout.session = payout.session or self.driver.restore(payout.record)
        try:
            tx = await self.driver.wait_final(session, timeout=self.options.processing_timeout)
        except AnswerMismatchError as exc:
            raise await self.mismatched(payout, exc) from None
        except KashaError as exc:
            raise await self.retry_or_stop(payout, exc) from exc
        if not tx.is_final:
            await self.save(payout, status=tx.status.value)
            return False
        await self.observe(payout, tx)
        return True

    async def look_again(self, payout: Payout) -> Transaction:
        """The lookup on the flow restored from the journaled snapshot of the last send."""
        payout.session = self.driver.restore(payout.record)
        return await self.lookup(payout)

    async def lookup(self, payout: Payout) -> Transaction:
        """The transaction as the server has it (a failure is a :class:`Retry`)."""
        assert payout.session is not None
        try:
            tx = await self.driver.lookup(payout.session)
        except AnswerMismatchError as exc:
            raise await self.mismatched(payout, exc) from None
        except KashaError as exc:
            raise await self.retry_or_stop(payout, exc) from exc
        self.reached = True
        return tx

    async def observe(self, payout: Payout, tx: Transaction) -> None:
        """Move the record to what the server's transaction (checked by the flow) says.

        A final status means what :func:`~kasha_async._outcome.of_lookup` says it
        means for a create: landed (COMPLETED, REFUNDED), not landed (EXPIRED: nothing
        paid, FAILED), or unknown (ERROR, the 1100 status, or one this SDK does not
        know): set aside for a person, never FAILED.
        """
        reported = {"reported_amount": tx.payment_amount, "reported_currency": tx.currency}
        if tx.status is TransactionStatus.PENDING:
            await self.save(payout, state=ItemState.PENDING, status="PENDING", last_error=None)
            return
        if tx.status is TransactionStatus.PROCESSING:
            await self.save(payout, state=ItemState.PROCESSING, status="PROCESSING")
            return
        if not tx.is_final:
            raise await self.retry(payout, RuntimeError(f"transaction is {tx.status.value}"))
        code = tx.errors.code if tx.errors else None
        reason = tx.errors.msg if tx.errors else None
        reason = reason or (code.reason if code else None)
        if tx.status is TransactionStatus.DECLINED:
            state = ItemState.DECLINED
        else:  # the flow has checked the answer: only the status is left to read
            outcome = of_lookup("payouts.create", tx, Sent())
            if outcome is Outcome.UNKNOWN:
                why = f"the provider reports {tx.status.value}" + (f" ({reason})" if reason else "")
                raise await self.set_aside(
                    payout,
                    f"{why}: ask Kasha support whether it was paid",
                    status=tx.status.value,
                    decline_code=None if code is None else code.value,
                    decline_reason=reason,
                    **reported,
                )
            state = ItemState.COMPLETED if outcome is Outcome.LANDED else ItemState.FAILED
        await self.final(payout, state, code, reason, tx.status, **reported)

    async def final(
        self,
        payout: Payout,
        state: ItemState,
        code: KashaErrorCode | None,
        reason: str | None,
        status: TransactionStatus | None = None,
        **reported: object,
    ) -> None:
        """Journal a final state."""
        status = status or (TransactionStatus.COMPLETED if state is ItemState.COMPLETED else None)
        await self.save(
            payout,
            state=state,
            status=(status or TransactionStatus.DECLINED).value,
            decline_code=None if code is None else code.value,
            decline_reason=reason,
            last_error=None,
            finished_at=time.time(),
            **reported,
        )

    async def failed(self, payout: Payout, exc: KashaError, why: str | None = None) -> None:
        """Journal a failure that a resume leaves alone (nothing was, or can be, paid)."""
        code = getattr(exc, "code", None)
        await self.save(
            payout,
            state=ItemState.FAILED,
            decline_code=code.value if isinstance(code, KashaErrorCode) else None,
            decline_reason=getattr(exc, "reason", None),
            last_error=describe(exc) + (f" ({why})" if why else ""),
            finished_at=time.time(),
        )

    async def restart(self, payout: Payout, exc: BaseException | None) -> None:
        """The session expired unused: forget it and open a new one next."""
        payout.session = None
        await self.save(
            payout,
            state=ItemState.PLANNED,
            session_id=None,
            transaction_id=None,
            flow=None,
            last_error=None if exc is None else describe(exc),
        )
