"""``PayoutFlow``: one payout through initiate -> choose -> create -> approve/decline."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any, ClassVar, Self

import attrs

from .._client import KashaClient
from .._codes import SettleAction
from .._errors import ConflictError, DeclinedError, OutcomeUnknownError
from .._models import (
    CashierLink,
    InitiatedSession,
    PaymentOption,
    PayoutOptionsRequest,
    SettleResult,
    SubmitResult,
    Suboptions,
)
from ._base import DEFAULT_SAFETY_MARGIN, BaseFlow, Clock
from ._states import FlowKind, FlowState


def _payout_request(
    request: PayoutOptionsRequest | None, fields: dict[str, Any]
) -> PayoutOptionsRequest:
    return request or PayoutOptionsRequest(**fields)


@attrs.define(eq=False)
class PayoutFlow(BaseFlow[PayoutOptionsRequest]):
    """One payout, walked in order: :meth:`choose`, :meth:`create` once, then
    :meth:`approve` or :meth:`decline`, and :meth:`wait_final` for the processor's answer.
    """

    _kind: ClassVar[FlowKind] = FlowKind.PAYOUT
    _submit_step: ClassVar[str] = "create"

    @classmethod
    async def start(
        cls,
        kasha: KashaClient,
        request: PayoutOptionsRequest | None = None,
        /,
        *,
        clock: Clock | None = None,
        safety_margin: float | timedelta = DEFAULT_SAFETY_MARGIN,
        **fields: Any,
    ) -> Self:
        """Open a payout session (``POST /v2/payout-options``) and return its flow."""
        req = _payout_request(request, fields)
        return await cls._start(kasha, req, clock, safety_margin, cashier=False)

    @classmethod
    async def cashier_link(
        cls,
        kasha: KashaClient,
        request: PayoutOptionsRequest | None = None,
        /,
        *,
        clock: Clock | None = None,
        safety_margin: float | timedelta = DEFAULT_SAFETY_MARGIN,
        **fields: Any,
    ) -> Self:
        """Open a hosted-cashier payout session (``POST /v2/payout-session``).

        The flow is SUBMITTED; once the payout shows PENDING (``refresh``/``feed``) it is
        PENDING_APPROVAL and :meth:`approve`/:meth:`decline` apply.
        """
        req = _payout_request(request, fields)
        return await cls._start(kasha, req, clock, safety_margin, cashier=True)

    @classmethod
    async def _initiate(cls, kasha: KashaClient, request: PayoutOptionsRequest) -> InitiatedSession:
        return await kasha.payouts.options(request)

    @classmethod
    async def _open_cashier(cls, kasha: KashaClient, request: PayoutOptionsRequest) -> CashierLink:
        return await kasha.payouts.create_session(request)

    async def _fetch_suboptions(self, option: PaymentOption) -> Suboptions:
        return await self._kasha.payouts.suboptions(
            session_id=self._session_id, payment_option_id=option.payment_option_id
        )

    async def _send(
        self, option: PaymentOption, option_id: str | None, extra_data: Mapping[str, Any] | None
    ) -> SubmitResult:
        return await self._kasha.payouts.create(
            session_id=self._session_id,
            payment_option_id=option.payment_option_id,
            option_id=option_id,
            extra_data=extra_data,
            transaction_id=self._transaction_id,
        )

    def _submitted(self, result: SubmitResult) -> None:
        if result.status is not None:
            self._apply_status(result.status)
        else:
            self._move(FlowState.PENDING_APPROVAL)  # a created payout is PENDING (CONTRACT §2)

    @property
    def cashier_url(self) -> str | None:
        """The hosted-cashier URL of :meth:`cashier_link`, if the flow was opened that way."""
        return self._cashier_url

    async def create(
        self, *, option_id: str | None = None, extra_data: Mapping[str, Any] | None = None
    ) -> SubmitResult:
        """Create the session's one payout (``POST /v2/payout``); it waits for approval.

        Form data is checked first; the flow is marked SUBMITTED before the send, so
        a second call raises :class:`SessionAlreadyUsedError`.
        """
        return await self._submit(option_id, extra_data)

    async def approve(self) -> SettleResult:
        """Approve the pending payout (``/settle-payout`` APPROVE); returns at the answer.

        The payout is then PROCESSING; :meth:`wait_final` follows the processor.
        """
        return await self._settle("approve", SettleAction.APPROVE)

    async def decline(self) -> SettleResult:
        """Decline the pending payout (``/settle-payout`` DECLINE); the flow ends DECLINED."""
        return await self._settle("decline", SettleAction.DECLINE)

    async def _settle(self, step: str, action: SettleAction) -> SettleResult:
        await self._begin(step)
        self._busy = step
        try:
            result = await self._kasha.payouts.settle(
                transaction_id=self._transaction_id, action=action
            )
        except OutcomeUnknownError:
            self._move(FlowState.OUTCOME_UNKNOWN)
            raise
        except DeclinedError:
            self._move(FlowState.DECLINED)
            raise
        except ConflictError:
            self._needs_recheck = True  # not PENDING any more: ask the server before next step
            raise
        finally:
            self._busy = None
        self._merchant_declined = action is SettleAction.DECLINE
        self._apply_status(result.status)
        return result
