"""Did this call move money? The one module that decides, from an error or a lookup.

Two kinds of evidence reach it:

* an exception from one attempt (:func:`of_error`), read with the operation's
  :class:`~kasha_async._operations.Safety` and whether an earlier attempt of the same
  call may already have landed;
* a transaction fetched by ``GET /v2/transactions/{id}`` after an unknown outcome
  (:func:`of_lookup`, and :func:`submit_landed`, :func:`settle_landed`,
  :func:`refund_landed`, which turn a landed lookup into the operation's result).

A lookup counts as :attr:`Outcome.LANDED` only when it matches what was sent
(:class:`Sent`: amount, currency, method, transaction) and can be attributed to
this caller: any difference raises :class:`AnswerMismatchError`
(:func:`check_answer`), and a transaction that another racing post on the same
session may have made is :attr:`Outcome.UNKNOWN`. A mismatching lookup is never
success.

The retry core (:mod:`kasha_async._retry`) decides *when* to resend or look up;
this module decides *what the evidence means*. It does no I/O.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import attrs

from ._codes import KashaErrorCode, TransactionStatus
from ._errors import (
    AnswerMismatchError,
    DeclinedError,
    DuplicateTransactionError,
    OutcomeUnknownError,
    RequestNotSentError,
    ResponseFormatError,
    ServerError,
    declined,
)
from ._models import Refund, SettleResult, SubmitResult, Transaction
from ._operations import Safety

__all__ = [
    "Outcome",
    "Sent",
    "check_answer",
    "declined_from",
    "of_error",
    "of_lookup",
    "refund_landed",
    "settle_landed",
    "submit_landed",
]


class Outcome(enum.Enum):
    """What is known about whether an operation took effect."""

    NOT_SENT = "not sent"  #: certainly never reached the server: sending again is safe
    NOT_LANDED = "not landed"  #: the server answered, and it did not take effect
    LANDED = "landed"  #: it took effect, as it was sent
    UNKNOWN = "unknown"  #: it may have taken effect: look it up, never resend blindly


@attrs.frozen(kw_only=True)
class Sent:
    """What a request carried, to hold answers and lookups against.

    ``None`` means "not carried (or not known)": that field is not compared.
    ``method`` is the option's name as the session listed it, which is what a
    transaction lookup shows (it carries no ``paymentOptionId``).
    """

    amount: Decimal | None = None
    currency: str | None = None
    method: str | None = None
    transaction_id: str | None = None


def check_answer(
    sent: Sent,
    *,
    amount: Decimal | None,
    currency: str | None,
    transaction_id: str | None = None,
    method: str | None = None,
) -> None:
    """Raise :class:`AnswerMismatchError` if an answer differs from what was sent.

    A field is compared only when both sides know it. Amounts compare as numbers
    (``130.0 == 130.00``), currencies and methods without regard to case or
    surrounding spaces.
    """
    # Each field with how it is normalised, which is done only when both sides know it.
    pairs: tuple[tuple[str, Any, Any, Callable[[Any], object] | None], ...] = (
        ("transaction_id", sent.transaction_id, transaction_id, None),
        ("amount", sent.amount, amount, None),
        ("currency", sent.currency, currency, _upper),
        ("method", sent.method, method, _folded),
    )
    for field, expected, actual, normalised in pairs:
        if expected is None or actual is None:
            continue
        if normalised is not None:
            expected, actual = normalised(expected), normalised(actual)
        if expected != actual:
            raise AnswerMismatchError(
                f"the answer shows {field} {actual!s:.80} but the request carried "
                f"{expected!s:.80}: not treated as success; check the transaction "
                "with Kasha support before acting",
                field=field,
                expected=str(expected),
                actual=str(actual),
                transaction_id=transaction_id or sent.transaction_id,
            )


def _upper(text: str) -> str:
    return text.strip().upper()


def _folded(text: str) -> str:
    return text.strip().casefold()


def of_error(exc: BaseException, safety: Safety, *, after_unknown: bool = False) -> Outcome:
    """What one failed attempt says about the operation.

    ``after_unknown``: an earlier attempt of the same call may have landed. Then
    only a decline answers for the session (had the earlier attempt landed, the
    resend would have met 409), except 3017, which a provider checking the
    reference first could answer to the resend of a landed post; anything else
    (409, 410, 401, 404, 3017, even a resend that was certainly not sent) leaves
    the earlier attempt unknown.

    Reads and session openings move no money: their failures are never UNKNOWN
    in the money sense, only "did not land", and are resent by policy.
    """
    if not safety.moves_money:
        return Outcome.NOT_SENT if isinstance(exc, RequestNotSentError) else Outcome.NOT_LANDED
    if after_unknown:
        # Even "this attempt was not sent" says nothing about the earlier one.
        answers = isinstance(exc, DeclinedError) and not isinstance(exc, DuplicateTransactionError)
        return Outcome.NOT_LANDED if answers else Outcome.UNKNOWN
    if isinstance(exc, RequestNotSentError):
        return Outcome.NOT_SENT
    if isinstance(exc, OutcomeUnknownError | ServerError | ResponseFormatError):
        # An answer we could not read (too large, not JSON) may hide a 2xx, a 5xx or a
        # 1100 whatever its status line says.
        return Outcome.UNKNOWN
    return Outcome.NOT_LANDED


def declined_from(tx: Transaction) -> DeclinedError:
    """The decline a transaction ended in, with its code (999 when it gives none)."""
    code = tx.errors.code if tx.errors and tx.errors.code is not None else None
    code = code if code is not None else KashaErrorCode.MISCELLANEOUS_ERROR
    return declined(
        code,
        (tx.errors.msg if tx.errors else None) or code.reason,
        transaction_id=tx.id,
        merchant_reference=tx.merchant_reference,
    )


# Statuses a post/create leaves behind when it took effect, and when it did not.
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

#: The lookup rules, by the operations that need them.
_SUBMIT = frozenset({"payments.post", "payouts.create"})
_SETTLE = frozenset({"payouts.settle"})
_REFUND = frozenset({"refunds.create"})


def of_lookup(operation: str, tx: Transaction, sent: Sent, *, attributable: bool = True) -> Outcome:
    """What a looked-up transaction says about ``operation``, sent as ``sent``.

    Raises the decline a post/create ended in (:func:`declined_from`) and
    :class:`AnswerMismatchError` when the transaction is not what was sent.
    ``attributable=False`` says another post raced this one on the same session:
    the session's one transaction may be the other's, so it is never LANDED.

    * post/create: LANDED once past CREATED; CREATED or EXPIRED is NOT_LANDED;
      ERROR (the 1100 status) and statuses this SDK does not know are UNKNOWN.
    * settle: LANDED once the payout is no longer PENDING.
    * refund: LANDED once the transaction is REFUNDED.
    """
    check_answer(
        sent,
        amount=tx.payment_amount,
        currency=tx.currency,
        method=tx.method,
        transaction_id=tx.id,
    )
    if operation in _SUBMIT:
        if tx.status is TransactionStatus.DECLINED:
            raise declined_from(tx)
        if tx.status in _NOT_SUBMITTED:
            return Outcome.NOT_LANDED
        if tx.status not in _SUBMITTED or not attributable:
            return Outcome.UNKNOWN
        return Outcome.LANDED
    if operation in _SETTLE:
        settled = tx.status not in _NOT_SETTLED and (tx.status.is_final or tx.status in _SUBMITTED)
        return Outcome.LANDED if settled else Outcome.NOT_LANDED
    if operation in _REFUND:
        landed = tx.status is TransactionStatus.REFUNDED
        return Outcome.LANDED if landed else Outcome.NOT_LANDED
    raise ValueError(f"{operation!r} is not reconciled by lookup")


def _unknown(tx: Transaction, attributable: bool) -> OutcomeUnknownError:
    why = (
        "another post on this session raced this one, and the session's one transaction "
        "cannot be attributed to this call"
        if not attributable
        else f"the transaction is {tx.status.value}: cannot tell whether it was submitted"
    )
    return OutcomeUnknownError(why, transaction_id=tx.id, session_id=tx.session_id)


def submit_landed(
    tx: Transaction, sent: Sent, *, operation: str = "payments.post", attributable: bool = True
) -> SubmitResult | None:
    """A post/create's result if the lookup shows it landed, ``None`` if it did not.

    Raises :class:`OutcomeUnknownError` when the lookup cannot tell, or cannot
    tell that the landed transaction is this caller's.
    """
    outcome = of_lookup(operation, tx, sent, attributable=attributable)
    if outcome is Outcome.NOT_LANDED:
        return None
    if outcome is Outcome.UNKNOWN:
        raise _unknown(tx, attributable)
    return SubmitResult(
        result_code=0,
        result_type="success",
        transaction_id=tx.id,
        reconciled=True,
        status=tx.status,
        raw=tx.raw,
    )


def settle_landed(tx: Transaction, sent: Sent) -> SettleResult | None:
    """A settle's result if the payout is no longer PENDING, else ``None``."""
    if of_lookup("payouts.settle", tx, sent) is not Outcome.LANDED:
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


def refund_landed(tx: Transaction, sent: Sent) -> Refund | None:
    """A refund's result if the transaction is REFUNDED, else ``None``."""
    if of_lookup("refunds.create", tx, sent) is not Outcome.LANDED:
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
