"""``PaymentFlow``: one payment through initiate -> choose -> pay -> wait_final (-> refund)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import attrs

from .._client import KashaClient
from .._errors import (
    AnswerMismatchError,
    APIStatusError,
    FlowStateError,
    OutcomeUnknownError,
    ResponseFormatError,
    TransportError,
)
from .._models import PaymentOption, PaymentOptionsRequest, Refund, SubmitResult
from ._flow import BaseFlow, SendCall, SessionResource, logger
from ._states import FlowKind, FlowState


@attrs.define(eq=False)
class PaymentFlow(BaseFlow[PaymentOptionsRequest]):
    """One payment, walked in order; the API cannot be used out of order through it.

    ``await PaymentFlow.start(kasha, country=..., ...)`` opens the session;
    :meth:`choose` an option, :meth:`pay` once, :meth:`wait_final`, and
    :meth:`refund` a completed payment. See ``docs/flows.md``.
    """

    _kind: ClassVar[FlowKind] = FlowKind.PAYMENT
    _submit_step: ClassVar[str] = "pay"
    _send_operation: ClassVar[str] = "payments.post"

    @classmethod
    def _make_request(cls, fields: dict[str, Any]) -> PaymentOptionsRequest:
        return PaymentOptionsRequest(**fields)

    @staticmethod
    def _resource(kasha: KashaClient) -> SessionResource[PaymentOptionsRequest]:
        return kasha.payments

    def _send_call(self) -> SendCall:
        return self._kasha.payments.post

    async def _submitted(self, result: SubmitResult) -> SubmitResult:
        """Apply the answer's status; a plain success (no status on the wire) is looked up.

        The post's answer carries only the transaction id, so an instant card
        payment would read ``status=None`` until :meth:`wait_final`: one
        ``GET /transactions/{id}`` fills :attr:`transaction` and the result's status
        (held to the flow's amount and currency). If that lookup fails the payment
        still stands: the result keeps ``status=None`` and the flow stays SUBMITTED.
        """
        if result.status is not None:
            self._apply_status(result.status)
            return result
        if result.needs_redirect:
            return result  # the customer has a 3DS page to pass first
        try:
            tx = await self._fetch()
        except AnswerMismatchError:
            raise
        except (TransportError, OutcomeUnknownError, APIStatusError, ResponseFormatError) as exc:
            logger.warning("flow %s: paid, status not read yet: %s", self._transaction_id, exc)
            return result
        return attrs.evolve(result, status=(self._last or tx).status)

    async def pay(
        self, *, option_id: str | None = None, extra_data: Mapping[str, Any] | None = None
    ) -> SubmitResult:
        """Post the session's one payment (``POST /v2/payment``).

        ``extra_data`` is checked against the option's form inputs first (one
        :class:`InvalidRequestError` listing every problem, nothing sent). The flow is
        marked SUBMITTED before the send: any second call raises
        :class:`SessionAlreadyUsedError`, whatever happened to the first. A card needing
        3DS answers ``result.needs_redirect`` with ``result.redirect_url``.
        """
        return await self._submit(option_id, extra_data)

    async def hybrid_link(self, option: PaymentOption | str, option_id: str | None = None) -> str:
        """A hosted-cashier link with ``option`` preselected (``POST /v2/hybrid-payment``).

        The session then belongs to the cashier: the flow is SUBMITTED and :meth:`pay`
        is refused; follow the outcome with :meth:`wait_final` or :meth:`feed`.
        """
        async with self._step("hybrid_link"):
            chosen = self._resolve(option)
            result = await self._kasha.payments.hybrid(
                session_id=self._session_id,
                payment_option_id=chosen.payment_option_id,
                option_id=option_id,
            )
        if not result.redirect_url:
            raise FlowStateError("hybrid_link(): the answer carried no redirectUrl")
        self._move(FlowState.SUBMITTED)
        self._option, self._cashier_url = chosen, result.redirect_url
        return result.redirect_url

    async def refund(self) -> Refund:
        """Refund the completed payment (``POST /v2/refund`` by its merchant reference)."""
        async with self._step("refund"):
            reference = self._merchant_reference
            if reference is None:
                reference = (await self._fetch()).merchant_reference
            if reference is None:
                raise FlowStateError("refund(): the transaction has no merchant reference")
            refund = await self._unknown_if_lost(
                FlowState.COMPLETED,
                self._kasha.refunds.create(
                    merchant_reference=reference, transaction_id=self._transaction_id
                ),
            )
        self._apply_status(refund.status)
        return refund
