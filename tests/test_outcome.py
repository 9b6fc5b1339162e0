"""The outcome module on its own: what an error or a lookup says about an operation."""

from __future__ import annotations

from decimal import Decimal

import pytest

from kasha_async import (
    AnswerMismatchError,
    AuthenticationError,
    ConflictError,
    ConnectionLostError,
    DeclinedError,
    DuplicateTransactionError,
    KashaErrorCode,
    NotFoundError,
    OutcomeUnknownError,
    RateLimitError,
    RequestNotSentError,
    ResponseFormatError,
    ServerError,
    SessionGoneError,
    Transaction,
    TransactionError,
    TransactionStatus,
)
from kasha_async._operations import Safety
from kasha_async._outcome import (
    Outcome,
    Sent,
    check_answer,
    declined_from,
    of_error,
    of_lookup,
    refund_landed,
    settle_landed,
    submit_landed,
)

S = TransactionStatus
SENT = Sent(amount=Decimal("130.00"), currency="BRL", method="Pix", transaction_id="tx-1")


def tx(status: TransactionStatus = S.COMPLETED, **fields: object) -> Transaction:
    """A looked-up transaction matching :data:`SENT` unless told otherwise."""
    values: dict[str, object] = {
        "id": "tx-1",
        "status": status,
        "payment_amount": Decimal("130.0"),
        "currency": "BRL",
        "method": "Pix",
        "merchant_reference": "order-1",
        **fields,
    }
    return Transaction(**values)  # type: ignore[arg-type]


# --- errors -----------------------------------------------------------------------------------

LOST = ConnectionLostError("reset")


@pytest.mark.parametrize(
    ("exc", "safety", "after_unknown", "expected"),
    [
        (RequestNotSentError("refused"), Safety.ONCE, False, Outcome.NOT_SENT),
        (RequestNotSentError("refused"), Safety.READ, True, Outcome.NOT_SENT),
        (RequestNotSentError("refused"), Safety.ONCE, True, Outcome.UNKNOWN),
        (RequestNotSentError("refused"), Safety.LOOKUP, True, Outcome.UNKNOWN),
        (LOST, Safety.ONCE, False, Outcome.UNKNOWN),
        (LOST, Safety.LOOKUP, False, Outcome.UNKNOWN),
        (LOST, Safety.READ, False, Outcome.NOT_LANDED),
        (LOST, Safety.SESSION, False, Outcome.NOT_LANDED),
        (ServerError("x", status_code=503), Safety.ONCE, False, Outcome.UNKNOWN),
        (ResponseFormatError("not JSON"), Safety.LOOKUP, False, Outcome.UNKNOWN),
        (
            OutcomeUnknownError("1100", code=KashaErrorCode.CONTACT_SUPPORT),
            Safety.ONCE,
            False,
            Outcome.UNKNOWN,
        ),
        (RateLimitError("x", status_code=429), Safety.ONCE, False, Outcome.NOT_LANDED),
        (ConflictError("x", status_code=409), Safety.ONCE, False, Outcome.NOT_LANDED),
        (ConflictError("x", status_code=409), Safety.ONCE, True, Outcome.UNKNOWN),
        (SessionGoneError("x", status_code=410), Safety.ONCE, True, Outcome.UNKNOWN),
        (AuthenticationError("x", status_code=401), Safety.ONCE, True, Outcome.UNKNOWN),
        (NotFoundError("x", status_code=404), Safety.LOOKUP, True, Outcome.UNKNOWN),
        (DuplicateTransactionError("3017"), Safety.ONCE, False, Outcome.NOT_LANDED),
        (DuplicateTransactionError("3017"), Safety.ONCE, True, Outcome.UNKNOWN),
        (
            DeclinedError("x", code=KashaErrorCode.INSUFFICIENT_FUNDS, reason="r"),
            Safety.ONCE,
            True,
            Outcome.NOT_LANDED,
        ),
    ],
)
def test_of_error(exc: Exception, safety: Safety, after_unknown: bool, expected: Outcome) -> None:
    """Each failure means one outcome, given the safety class and any earlier unknown attempt."""
    assert of_error(exc, safety, after_unknown=after_unknown) is expected


# --- answers against the request --------------------------------------------------------------


def test_check_answer_accepts_what_was_sent() -> None:
    """An answer with the same amount (as a number), currency and method (any case) passes."""
    check_answer(SENT, amount=Decimal("130"), currency="brl", method=" PIX ")
    check_answer(SENT, amount=None, currency=None)  # nothing known: nothing to compare


@pytest.mark.parametrize(
    ("field", "answer"),
    [
        ("amount", {"amount": Decimal("0.01"), "currency": "BRL"}),
        ("currency", {"amount": Decimal("130.00"), "currency": "USD"}),
        ("method", {"amount": None, "currency": None, "method": "Card"}),
        ("transaction_id", {"amount": None, "currency": None, "transaction_id": "tx-2"}),
    ],
)
def test_check_answer_names_the_difference(field: str, answer: dict[str, object]) -> None:
    """A difference raises AnswerMismatchError naming the field, expected and actual value."""
    with pytest.raises(AnswerMismatchError) as info:
        check_answer(SENT, **answer)  # type: ignore[arg-type]
    assert info.value.field == field
    assert info.value.expected != info.value.actual
    assert isinstance(info.value, OutcomeUnknownError)


# --- lookups ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (S.CREATED, Outcome.NOT_LANDED),
        (S.EXPIRED, Outcome.NOT_LANDED),
        (S.PENDING, Outcome.LANDED),
        (S.PROCESSING, Outcome.LANDED),
        (S.COMPLETED, Outcome.LANDED),
        (S.REFUNDED, Outcome.LANDED),
        (S.ERROR, Outcome.UNKNOWN),
        (TransactionStatus("ON_HOLD"), Outcome.UNKNOWN),
    ],
)
def test_submit_lookup(status: TransactionStatus, expected: Outcome) -> None:
    """A post/create landed once past CREATED; ERROR and unknown statuses cannot tell."""
    assert of_lookup("payments.post", tx(status), SENT) is expected


@pytest.mark.parametrize(
    "other",
    [
        {"payment_amount": Decimal("0.01")},
        {"currency": "USD"},
        {"method": "Boleto"},
    ],
)
def test_a_mismatching_lookup_is_never_success(other: dict[str, object]) -> None:
    """A lookup showing another amount, currency or option raises, for every operation."""
    for operation in ("payments.post", "payouts.create", "payouts.settle", "refunds.create"):
        with pytest.raises(AnswerMismatchError):
            of_lookup(operation, tx(S.COMPLETED, **other), SENT)
    with pytest.raises(AnswerMismatchError):
        submit_landed(tx(S.COMPLETED, **other), SENT)


def test_an_unattributable_lookup_is_unknown() -> None:
    """When another post raced this one on the session, its one transaction is not this call's."""
    assert of_lookup("payments.post", tx(), SENT, attributable=False) is Outcome.UNKNOWN
    with pytest.raises(OutcomeUnknownError, match="raced"):
        submit_landed(tx(), SENT, attributable=False)
    assert submit_landed(tx(S.CREATED), SENT, attributable=False) is None


def test_submit_landed_builds_a_reconciled_result() -> None:
    """A landed post/create is a reconciled SubmitResult with the status found."""
    result = submit_landed(tx(S.PENDING), SENT, operation="payouts.create")
    assert result is not None
    assert (result.reconciled, result.status, result.transaction_id) == (True, S.PENDING, "tx-1")
    assert submit_landed(tx(S.CREATED), SENT) is None
    with pytest.raises(OutcomeUnknownError, match="ERROR"):
        submit_landed(tx(S.ERROR), SENT)


def test_a_declined_lookup_raises_the_decline() -> None:
    """A post/create found DECLINED raises its decline; 3017 names the merchant reference."""
    errors = TransactionError(code=KashaErrorCode.DUPLICATE_TRANSACTION, msg=None)
    with pytest.raises(DuplicateTransactionError) as info:
        of_lookup("payments.post", tx(S.DECLINED, errors=errors), SENT)
    assert info.value.merchant_reference == "order-1"
    assert "'order-1'" in str(info.value)
    plain = declined_from(tx(S.DECLINED))
    assert type(plain) is DeclinedError
    assert plain.code is KashaErrorCode.MISCELLANEOUS_ERROR


@pytest.mark.parametrize(
    ("status", "landed"),
    [
        (S.CREATED, False),
        (S.PENDING, False),
        (S.PROCESSING, True),
        (S.COMPLETED, True),
        (S.DECLINED, True),
    ],
)
def test_settle_lookup(status: TransactionStatus, landed: bool) -> None:
    """A settle landed once the payout is no longer PENDING."""
    result = settle_landed(tx(status), Sent(transaction_id="tx-1"))
    assert (result is not None) is landed
    if result is not None:
        assert result.reconciled
        assert result.status is status


def test_refund_lookup() -> None:
    """A refund landed only when the transaction is REFUNDED."""
    assert refund_landed(tx(S.COMPLETED), SENT) is None
    refund = refund_landed(tx(S.REFUNDED), SENT)
    assert refund is not None
    assert refund.reconciled
    assert refund.payment_amount == Decimal("130.00")


def test_of_lookup_refuses_an_operation_not_reconciled() -> None:
    """Only money operations are reconciled by lookup."""
    with pytest.raises(ValueError, match=r"transactions\.get"):
        of_lookup("transactions.get", tx(), SENT)


def test_a_lookup_naming_the_method_in_another_case_is_landed() -> None:
    """A lookup whose method is " pix " for a sent "Pix" is the same option: LANDED."""
    assert of_lookup("payments.post", tx(method=" pix "), SENT) is Outcome.LANDED
    with pytest.raises(AnswerMismatchError):
        of_lookup("payments.post", tx(method="Card"), SENT)
