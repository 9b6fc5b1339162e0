"""kasha-async: an async-first SDK for the Kasha payments API v2.

Everything public is importable from here; the modules behind it are private.
The batch names (``run_payouts``, ``approve_held``, ``PayoutItem``) load on first
use, so ``import kasha_async`` brings in no batch, sandbox, ``sqlite3``,
``asyncpg`` or ``rich`` module.
"""

import importlib
from typing import TYPE_CHECKING, Any

from ._client import KashaClient, Payments, Payouts, Refunds, Transactions
from ._codes import CODE_TABLE, CodeInfo, KashaErrorCode, SettleAction, TransactionStatus
from ._constants import PRODUCTION_BASE_URL
from ._errors import (
    AnswerMismatchError,
    APIStatusError,
    AuthenticationError,
    BadRequestError,
    ConfigError,
    ConflictError,
    ConnectionLostError,
    DeclinedError,
    DuplicateReferenceError,
    DuplicateTransactionError,
    FlowStateError,
    IllegalTransitionError,
    InputFileError,
    InputMismatchError,
    InvalidRequestError,
    InvalidSignatureError,
    JournalError,
    JournalLockedError,
    KashaError,
    LeaseLostError,
    MissingSignatureError,
    NotFoundError,
    OptionNotFoundError,
    OutcomeUnknownError,
    RateLimitError,
    RequestNotSentError,
    ResponseFormatError,
    ServerError,
    SessionAlreadyUsedError,
    SessionExpiredError,
    SessionGoneError,
    TransportError,
    ValidationError,
    WebhookError,
    WebhookPayloadError,
    WebhookTooLargeError,
)
from ._http import Timeout
from ._logging import configure_from_env as _configure_logging
from ._models import (
    CRYPTO_CURRENCIES,
    Address,
    CashierLink,
    Customer,
    FormInput,
    FormValidations,
    Identification,
    InitiatedSession,
    OrderDetail,
    PaymentOption,
    PaymentOptionsRequest,
    PayoutOptionsRequest,
    Refund,
    RefundRequest,
    SettleRequest,
    SettleResult,
    SubmitRequest,
    SubmitResult,
    Suboption,
    Suboptions,
    SuboptionsRequest,
    Transaction,
    TransactionError,
)
from ._operations import ROUTES
from ._retry import RetryBudget, RetryStats, set_testing
from ._version import __version__
from .flows import FlowState, PaymentFlow, PayoutFlow

if TYPE_CHECKING:
    from .batch import PayoutItem, approve_held, run_payouts

__all__ = [
    "APIStatusError",
    "Address",
    "AnswerMismatchError",
    "AuthenticationError",
    "BadRequestError",
    "CODE_TABLE",
    "CRYPTO_CURRENCIES",
    "CashierLink",
    "CodeInfo",
    "ConfigError",
    "ConflictError",
    "ConnectionLostError",
    "Customer",
    "DeclinedError",
    "DuplicateReferenceError",
    "DuplicateTransactionError",
    "FlowState",
    "FlowStateError",
    "FormInput",
    "FormValidations",
    "Identification",
    "IllegalTransitionError",
    "InitiatedSession",
    "InputFileError",
    "InputMismatchError",
    "InvalidRequestError",
    "InvalidSignatureError",
    "JournalError",
    "JournalLockedError",
    "KashaClient",
    "KashaError",
    "KashaErrorCode",
    "LeaseLostError",
    "MissingSignatureError",
    "NotFoundError",
    "OptionNotFoundError",
    "OrderDetail",
    "OutcomeUnknownError",
    "PRODUCTION_BASE_URL",
    "PaymentFlow",
    "PaymentOption",
    "PaymentOptionsRequest",
    "Payments",
    "PayoutFlow",
    "PayoutItem",
    "PayoutOptionsRequest",
    "Payouts",
    "ROUTES",
    "RateLimitError",
    "Refund",
    "RefundRequest",
    "Refunds",
    "RequestNotSentError",
    "ResponseFormatError",
    "RetryBudget",
    "RetryStats",
    "ServerError",
    "SessionAlreadyUsedError",
    "SessionExpiredError",
    "SessionGoneError",
    "SettleAction",
    "SettleRequest",
    "SettleResult",
    "SubmitRequest",
    "SubmitResult",
    "Suboption",
    "Suboptions",
    "SuboptionsRequest",
    "Timeout",
    "Transaction",
    "TransactionError",
    "TransactionStatus",
    "Transactions",
    "TransportError",
    "ValidationError",
    "WebhookError",
    "WebhookPayloadError",
    "WebhookTooLargeError",
    "__version__",
    "approve_held",
    "run_payouts",
    "set_testing",
]

#: Public names served from a submodule loaded on first use: name -> module.
_LAZY = {
    "PayoutItem": ".batch",
    "approve_held": ".batch",
    "run_payouts": ".batch",
}


def __getattr__(name: str) -> Any:
    """Load a lazily exported name (the batch) the first time it is asked for."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


_configure_logging()  # KASHA_LOG=debug|info: the SDK's log on stderr, redacted
