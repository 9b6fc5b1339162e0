"""What a transaction lookup says about an operation whose outcome was unknown.

Each function reads a :class:`Transaction` fetched by ``GET /v2/transactions/{id}``
and returns the operation's result if it landed, ``None`` if it did not (yet),
or raises the decline it ended in. The retry layer decides *when* to look up;
this module decides *what the answer means*.
"""

from __future__ import annotations

from ._codes import KashaErrorCode, TransactionStatus
from ._errors import DeclinedError, OutcomeUnknownError
from ._models import Refund, SettleResult, SubmitResult, Transaction

_SUBMITTED = frozenset(
    {
        TransactionStatus.PENDING,
        TransactionStatus.PROCESSING,
        TransactionStatus.COMPLETED,
        TransactionStatus.REFUNDED,
    }
)
_NOT_SUBMITTED = frozenset({TransactionStatus.CREATED, TransactionStatus.EXPIRED})
_NOT_SETTLED = frozenset({TransactionStatus.CREATED, TransactionStatus.PENDING})


def declined_from(tx: Transaction) -> DeclinedError:
    """The decline a transaction ended in, with its code (999 when it gives none)."""
    code = tx.errors.code if tx.errors and tx.errors.code is not None else None
    code = code if code is not None else KashaErrorCode.MISCELLANEOUS_ERROR
    reason = (tx.errors.msg if tx.errors else None) or code.reason
    return DeclinedError(
        f"Declined: {reason} (code {code.value})",
        code=code,
        reason=reason,
        transaction_id=tx.id,
    )


def submit_landed(tx: Transaction) -> SubmitResult | None:
    """A post/create landed if the transaction moved past CREATED.

    Only CREATED and EXPIRED prove it did not; ERROR (the 1100 "contact support"
    status) and statuses this SDK does not know raise :class:`OutcomeUnknownError`.
    """
    if tx.status is TransactionStatus.DECLINED:
        raise declined_from(tx)
    if tx.status in _NOT_SUBMITTED:
        return None
    if tx.status not in _SUBMITTED:
        raise OutcomeUnknownError(
            f"the transaction is {tx.status.value}: cannot tell whether it was submitted",
            transaction_id=tx.id,
        )
    return SubmitResult(
        result_code=0,
        result_type="success",
        transaction_id=tx.id,
        reconciled=True,
        status=tx.status,
        raw=tx.raw,
    )


def settle_landed(tx: Transaction) -> SettleResult | None:
    """A settle landed if the payout is no longer PENDING."""
    if tx.status in _NOT_SETTLED or (not tx.status.is_final and tx.status not in _SUBMITTED):
        return None
    return SettleResult(
        result_code=0,
        status=tx.status,
        transaction_id=tx.id,
        merchant_reference=tx.merchant_reference,
        result="reconciled by transaction lookup",
        reconciled=True,
        raw=tx.raw,
    )


def refund_landed(tx: Transaction) -> Refund | None:
    """A refund landed if the transaction is REFUNDED."""
    if tx.status is not TransactionStatus.REFUNDED:
        return None
    return Refund(
        id=tx.id,
        status=tx.status,
        payment_amount=tx.payment_amount,
        currency=tx.currency,
        country=tx.country,
        created_at=tx.created_at,
        updated_at=tx.updated_at,
        reconciled=True,
        raw=tx.raw,
    )
