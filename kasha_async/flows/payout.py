"""``PayoutFlow``: one payout through initiate -> choose -> create -> approve/decline."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import attrs

from .._client import KashaClient
from .._codes import SettleAction
from .._errors import ConflictError, DeclinedError
from .._models import PayoutOptionsRequest, SettleResult, SubmitResult
from ._flow import BaseFlow, SendCall, SessionResource
from ._states import FlowKind, FlowState


@attrs.define(eq=False)
class PayoutFlow(BaseFlow[PayoutOptionsRequest]):
    """One payout, walked in order: :meth:`choose`, :meth:`create` once, then
    :meth:`approve` or :meth:`decline`, and :meth:`wait_final` for the processor's answer.
    """

    _kind: ClassVar[FlowKind] = FlowKind.PAYOUT
    _submit_step: ClassVar[str] = "create"
    _send_operation: ClassVar[str] = "payouts.create"

    @classmethod
    def _make_request(cls, fields: dict[str, Any]) -> PayoutOptionsRequest:
        return PayoutOptionsRequest(**fields)

    @staticmethod
    def _resource(kasha: KashaClient) -> SessionResource[PayoutOptionsRequest]:
        return kasha.payouts

    def _send_call(self) -> SendCall:
        return self._kasha.payouts.create

    async def _submitted(self, result: SubmitResult) -> SubmitResult:
        if result.status is not None:
            self._apply_status(result.status)
        else:
            # a created payout is PENDING (CONTRACT §2), unless a webhook already said more
            self._move_unless_overtaken(FlowState.SUBMITTED, FlowState.PENDING_APPROVAL)
        return result

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
        async with self._step(step):
            try:
                result = await self._unknown_if_lost(
                    FlowState.PENDING_APPROVAL,
                    self._kasha.payouts.settle(transaction_id=self._transaction_id, action=action),
                )
            except DeclinedError:
                self._move_unless_overtaken(FlowState.PENDING_APPROVAL, FlowState.DECLINED)
                raise
            except ConflictError:
                self._needs_recheck = True  # not PENDING any more: ask the server next step
                raise
        self._merchant_declined = action is SettleAction.DECLINE
        self._apply_status(result.status)
        return result
