"""Observing a flow's transaction: the server's word (refresh, feed, wait_final) and moves.

:class:`ObservedFlow` is the lower half of every flow: it holds the state, moves
it through the one transition table (:mod:`._states`), and applies what the
server says about the transaction, from a lookup or a webhook. Before a
transaction is believed it is held to what the flow asked for
(:func:`kasha_async._outcome.check_answer`: amount, currency, and the option's
method once the flow sent it itself): a transaction that differs raises
:class:`AnswerMismatchError` and leaves the flow OUTCOME_UNKNOWN where the table
allows it, never COMPLETED.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from decimal import Decimal
from typing import ClassVar, TypeVar

import attrs

from .. import _telemetry
from .._client import KashaClient
from .._codes import TransactionStatus
from .._errors import AnswerMismatchError, IllegalTransitionError, OutcomeUnknownError
from .._models import Transaction
from .._outcome import Sent, check_answer, declined_from
from .._timing import poll
from ._states import (
    TRANSITIONS,
    FlowKind,
    FlowState,
    check_step,
    is_older,
    state_for_status,
    transition,
)

logger = logging.getLogger("kasha_async.flows")
T = TypeVar("T")


@attrs.define(eq=False, kw_only=True)
class ObservedFlow:
    """A transaction's state as the flow knows it, and the server's word about it."""

    _kind: ClassVar[FlowKind]

    _kasha: KashaClient = attrs.field(repr=False)
    _transaction_id: str
    _state: FlowState = FlowState.CREATED
    _merchant_reference: str | None = None
    _currency: str | None = None
    _amount: Decimal | None = None
    _last: Transaction | None = attrs.field(default=None, repr=False)
    _merchant_declined: bool = attrs.field(default=False, repr=False)
    _needs_recheck: bool = attrs.field(default=False, repr=False)
    _final: asyncio.Event | None = attrs.field(default=None, repr=False)

    @property
    def state(self) -> FlowState:
        """Where the flow stands."""
        return self._state

    @property
    def transaction_id(self) -> str:
        """The transaction this flow carries (known from the first call on)."""
        return self._transaction_id

    @property
    def merchant_reference(self) -> str | None:
        """The merchant reference the flow was started with (or learnt from the server)."""
        return self._merchant_reference

    @property
    def transaction(self) -> Transaction | None:
        """The last transaction seen (refresh, wait_final, feed, or a pay that completed)."""
        return self._last

    @property
    def is_resumed(self) -> bool:
        """Whether the flow was restored by ``from_dict`` and has not re-checked the server yet."""
        return self._needs_recheck

    # --- moves ------------------------------------------------------------------------------

    def _move(self, target: FlowState) -> None:
        previous = self._state
        self._state = transition(previous, target)
        if logger.isEnabledFor(logging.DEBUG) and previous is not target:
            logger.debug("flow %s: %s -> %s", self._transaction_id, previous, target)

    def _move_unless_overtaken(self, expected: FlowState, target: FlowState) -> None:
        """Move to ``target`` unless the flow left ``expected`` while a call was in flight.

        A webhook fed (or a refresh) during the call is the server's own word about
        the transaction; what the call's answer or failure implies must not overwrite it.
        """
        if self._state is expected:
            self._move(target)
        else:
            logger.info(
                "flow %s: kept %s (learnt while the call ran) instead of %s",
                self._transaction_id,
                self._state,
                target,
            )

    async def _unknown_if_lost(self, expected: FlowState, call: Awaitable[T]) -> T:
        """Await a settle or refund; if its outcome is lost, the flow is OUTCOME_UNKNOWN.

        Lost means :class:`OutcomeUnknownError` or a cancellation: the request may
        have been written, so only the server can say what happened.
        """
        try:
            return await call
        except (OutcomeUnknownError, asyncio.CancelledError):
            self._move_unless_overtaken(expected, FlowState.OUTCOME_UNKNOWN)
            raise

    # --- believing a transaction ------------------------------------------------------------

    def _sent(self) -> Sent:
        """What the flow asked for, to hold the server's transactions to."""
        return Sent(
            amount=self._amount,
            currency=self._currency,
            method=self._sent_method(),
            transaction_id=self._transaction_id,
        )

    def _sent_method(self) -> str | None:
        """The option name the flow itself sent, if any (an observer alone sent none)."""
        return None

    def _check(self, transaction: Transaction) -> None:
        """Raise :class:`AnswerMismatchError` (flow OUTCOME_UNKNOWN) if ``transaction`` differs."""
        try:
            check_answer(
                self._sent(),
                amount=transaction.payment_amount,
                currency=transaction.currency,
                transaction_id=transaction.id,
                method=transaction.method,
            )
        except AnswerMismatchError:
            if FlowState.OUTCOME_UNKNOWN in TRANSITIONS[self._state]:
                self._move(FlowState.OUTCOME_UNKNOWN)
            raise

    def _apply_status(self, status: TransactionStatus) -> bool:
        """Move to what a server status means unless it is older news; ``False`` if older.

        Raises :class:`IllegalTransitionError` when the status contradicts the flow's
        final state (e.g. DECLINED after COMPLETED).
        """
        target = state_for_status(status, self._kind)
        if target is None or target is FlowState.CREATED:
            return True  # unknown status, or "nothing posted yet": nothing to move
        if is_older(target, self._state):
            return False
        try:
            self._move(target)
        except IllegalTransitionError:
            raise IllegalTransitionError(
                f"transaction {self._transaction_id}: the server reports {status.value} "
                f"but the flow is already {self._state}; the flow keeps {self._state}. "
                "Check the transaction with Kasha support before acting on either"
            ) from None
        if target.is_terminal and self._final is not None:
            self._final.set()
        return True

    def _record(self, transaction: Transaction) -> bool:
        """Check the transaction, apply its status, remember it; ``False`` if it is older news."""
        self._check(transaction)
        if not self._apply_status(transaction.status):
            return False
        self._last = transaction
        return True

    # --- the server's word ------------------------------------------------------------------

    async def _fetch(self) -> Transaction:
        tx = await self._kasha.transactions.get(self._transaction_id)
        self._needs_recheck = False
        self._record(tx)  # a contradiction or a mismatch raises here: the caller asked
        if self._merchant_reference is None:
            self._merchant_reference = tx.merchant_reference
        return tx

    async def refresh(self) -> Transaction:
        """Ask the server (``GET /transactions/{id}``) and move to what it says.

        This is how an OUTCOME_UNKNOWN flow is resolved; a status older than the
        one already known does not move the flow back. A transaction whose amount,
        currency or method differs from the flow's raises :class:`AnswerMismatchError`.
        """
        return await self._fetch()

    def feed(self, transaction: Transaction) -> bool:
        """Apply a webhook's transaction; ``True`` if applied. Never raises for a status.

        ``False`` (nothing changed) for another transaction id, older news, or a
        status that contradicts the flow's final state: that one is logged at
        WARNING and left for :meth:`refresh`/:meth:`wait_final` to raise, because a
        webhook handler that raised would make the provider redeliver forever.
        A transaction that does not match the flow's amount, currency or method
        is logged the same way and moves the flow to OUTCOME_UNKNOWN.
        A final status wakes a pending :meth:`wait_final` without a poll.
        """
        if transaction.id != self._transaction_id:
            return False
        try:
            return self._record(transaction)
        except (IllegalTransitionError, AnswerMismatchError) as exc:
            logger.warning("flow %s: webhook ignored: %s", self._transaction_id, exc)
            return False

    async def wait_final(
        self,
        timeout: float = 120.0,
        *,
        poll_interval: float = 1.0,
        max_poll_interval: float = 15.0,
    ) -> Transaction:
        """Wait for a final status: poll with backoff, or be woken by :meth:`feed`.

        Returns the final transaction; a decline by the provider raises
        :class:`DeclinedError` with its code. Raises ``TimeoutError`` after ``timeout``
        seconds with the flow unchanged (call it again, or :meth:`refresh` later).
        """
        check_step(self._kind, "wait_final", self._state)
        if self._final is None:
            self._final = asyncio.Event()
        try:
            with _telemetry.step(f"{type(self).__name__}.wait_final", self._transaction_id):
                async with asyncio.timeout(timeout):
                    tx = await poll(
                        self._fetch_unless_final,
                        lambda _: self._state.is_terminal,
                        interval=poll_interval,
                        max_interval=max_poll_interval,
                        wake=self._final,
                    )
        except TimeoutError:
            raise TimeoutError(
                f"wait_final(): transaction {self._transaction_id} still {self._state} "
                f"after {timeout:g} s"
            ) from None
        tx = self._last or tx
        if tx.status is TransactionStatus.DECLINED and not self._merchant_declined:
            raise declined_from(tx)
        return tx

    async def _fetch_unless_final(self) -> Transaction:
        """The known final transaction (fed by a webhook, or seen), else a fresh lookup."""
        last = self._last
        if self._state.is_terminal and last is not None and last.is_final:
            return last
        return await self._fetch()
