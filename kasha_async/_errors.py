"""The exception tree of kasha-async.

::

    KashaError
    ├── ConfigError (ValueError)          bad client configuration, found before any I/O
    │   └── InputMismatchError            a resumed batch item differs from its journal record
    ├── InvalidRequestError (ValueError)  bad request arguments or form data, before any I/O
    │   ├── DuplicateReferenceError       a batch input repeats a reference; nothing sent
    │   └── OptionNotFoundError           the named payment/payout option is not offered
    ├── InputFileError (ValueError)       a batch input file is malformed; nothing sent
    ├── FlowStateError (RuntimeError)     a flow step called out of order; nothing was sent
    │   ├── SessionExpiredError           the 30-minute session is over (client side)
    │   ├── SessionAlreadyUsedError       the session's one payment/payout was already sent
    │   └── IllegalTransitionError        a status change the transition table forbids
    ├── TransportError                    the HTTP exchange itself failed
    │   └── RequestNotSentError           certainly never reached the server: safe to retry
    ├── OutcomeUnknownError               may have been processed: reconcile, never resend blindly
    │   ├── ConnectionLostError (TransportError)  reset/timeout after the request was written
    │   └── AnswerMismatchError           an answer or lookup disagrees with what was sent
    ├── APIStatusError                    .status_code .body_excerpt .transaction_id .code
    │   ├── BadRequestError 400 · AuthenticationError 401 · NotFoundError 404
    │   ├── ConflictError 409 · SessionGoneError 410 · RateLimitError 429
    │   └── ServerError 5xx
    ├── DeclinedError                     .code (KashaErrorCode) .reason .transaction_id
    │   ├── ValidationError               codes 1000-1009: fix the request, the session survives
    │   └── DuplicateTransactionError     code 3017 (400 or 409): the merchant reference is used
    ├── ResponseFormatError               the body is not JSON or not the contract's shape
    ├── JournalError                      a batch journal cannot be opened, written or read
    │   ├── JournalLockedError            another live runner holds the journal; nothing sent
    │   └── LeaseLostError (RuntimeError) another worker holds the item now; write refused
    └── WebhookError                      an incoming webhook was rejected; .response_status
        ├── MissingSignatureError 401     no x-signature header
        ├── InvalidSignatureError 401     does not match the raw body: tampered or wrong key
        ├── WebhookPayloadError 400       signed, but not JSON or not a transaction
        └── WebhookTooLargeError 413      body over the size limit; never parsed

Code 1100 ("contact support to confirm payment") is an ``OutcomeUnknownError``,
not a decline. HTTP errors are turned into this tree by one function,
:func:`error_from_response`; a decline code picks its class in one function,
:func:`declined` (3017 is ``DuplicateTransactionError`` at any status, for an
answer and a lookup alike); aiohttp exceptions by one function in ``_http``.
What an error means for a money call (sent? landed?) is ``_outcome``'s to say.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypedDict, Unpack

from ._codes import KashaErrorCode
from ._redact import redact_bytes as redact_bytes
from ._redact import redact_text


class _Exchange(TypedDict, total=False):
    transaction_id: str | None
    body_excerpt: str | None


class _ExchangeWithCode(_Exchange, total=False):
    code: KashaErrorCode | None


class _ExchangeWithStatus(_Exchange, total=False):
    status_code: int | None


class ErrorContext(_ExchangeWithCode, _ExchangeWithStatus, total=False):
    """What any error may carry about the exchange that caused it."""


class KashaError(Exception):
    """Base class of every error this package raises.

    Every error can carry the transaction it concerns, the HTTP status, a
    redacted excerpt of the answer (at most 500 characters) and the provider's
    error code; each is ``None`` where it does not apply.
    """

    def __init__(
        self,
        message: str,
        *,
        transaction_id: str | None = None,
        status_code: int | None = None,
        body_excerpt: str | None = None,
        code: KashaErrorCode | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.transaction_id = transaction_id
        self.status_code = status_code
        self.body_excerpt = body_excerpt
        self.code = code


class ConfigError(KashaError, ValueError):
    """The client was configured wrongly (missing key or URL, bad option)."""


class InvalidRequestError(KashaError, ValueError):
    """Request arguments failed validation before anything was sent.

    ``problems`` lists every problem found, not just the first.
    """

    def __init__(self, message: str, *, problems: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.problems = problems or (message,)


class InputMismatchError(ConfigError):
    """A resumed item differs (amount, currency, country) from what the journal recorded."""


class DuplicateReferenceError(InvalidRequestError):
    """The same reference appears twice in a batch input; nothing was sent."""


class OptionNotFoundError(InvalidRequestError):
    """The payment or payout option named (by name or id) is not offered for the session."""


class InputFileError(KashaError, ValueError):
    """The input file has malformed rows or duplicate references; nothing was sent.

    ``problems`` lists every problem as ``"line N: what"``.
    """

    def __init__(self, path: str, problems: tuple[str, ...]) -> None:
        shown = "\n  ".join(problems[:20])
        more = f"\n  ... and {len(problems) - 20} more" if len(problems) > 20 else ""
        super().__init__(f"{path}: {len(problems)} problem(s):\n  {shown}{more}")
        self.problems = problems


class FlowStateError(KashaError, RuntimeError):
    """A flow step was called in a state that does not allow it; nothing was sent."""


class SessionExpiredError(FlowStateError):
    """The session's 30 minutes are over; start a new flow."""


class SessionAlreadyUsedError(FlowStateError):
    """The session already carried its one payment or payout: reconcile, do not resend."""


class IllegalTransitionError(FlowStateError):
    """A transition outside the flow's transition table was attempted; it is never applied.

    Raised for a bug in the flow, or by ``refresh()``/``wait_final()`` when the
    server reports a status that contradicts the flow's final state (``feed()``
    logs that case instead of raising).
    """


class TransportError(KashaError):
    """The HTTP exchange failed below the HTTP status level."""


class RequestNotSentError(TransportError):
    """The request certainly never reached the server (DNS, refused, connect timeout)."""


class OutcomeUnknownError(KashaError):
    """The request may have been processed: reconcile with ``transactions.get``, never resend."""

    def __init__(
        self, message: str, *, session_id: str | None = None, **context: Unpack[ErrorContext]
    ) -> None:
        super().__init__(message, **context)
        self.session_id = session_id


class ConnectionLostError(TransportError, OutcomeUnknownError):
    """The connection broke (reset, read timeout, truncated body) after the request was written."""


class AnswerMismatchError(OutcomeUnknownError):
    """An answer or a lookup names another amount, currency or option than the one sent.

    Never a success: what the provider holds is not what was asked for, so the
    outcome of the request is unknown until a person looks. ``field`` names what
    differs; ``expected`` and ``actual`` are its two values.
    """

    def __init__(
        self,
        message: str,
        *,
        field: str,
        expected: str,
        actual: str,
        **context: Unpack[ErrorContext],
    ) -> None:
        super().__init__(message, **context)
        self.field = field
        self.expected = expected
        self.actual = actual


class APIStatusError(KashaError):
    """The server answered with an HTTP error status."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        retry_after: float | None = None,
        **context: Unpack[_ExchangeWithCode],
    ) -> None:
        super().__init__(message, **context, status_code=status_code)
        self.status_code: int = status_code
        self.retry_after = retry_after


class BadRequestError(APIStatusError):
    """HTTP 400 without a code from the reference table."""


class AuthenticationError(APIStatusError):
    """HTTP 401: wrong API key or signature. Never retried."""


class NotFoundError(APIStatusError):
    """HTTP 404: unknown transaction or session."""


class ConflictError(APIStatusError):
    """HTTP 409: the session was already used, or the payout is not PENDING."""


class SessionGoneError(APIStatusError):
    """HTTP 410: the server says the session expired."""


class RateLimitError(APIStatusError):
    """HTTP 429: slow down; ``retry_after`` holds the server's hint in seconds."""


class ServerError(APIStatusError):
    """HTTP 5xx: a fault on the provider's side."""


class DeclinedError(KashaError):
    """The provider declined the operation; ``code`` says why."""

    def __init__(
        self,
        message: str,
        *,
        code: KashaErrorCode,
        reason: str,
        **context: Unpack[_ExchangeWithStatus],
    ) -> None:
        super().__init__(message, **context, code=code)
        self.code: KashaErrorCode = code
        self.reason = reason


class ValidationError(DeclinedError):
    """Codes 1000-1009: the request was invalid; the session can be used again."""


class DuplicateTransactionError(DeclinedError):
    """Code 3017, whatever the HTTP status (400 or 409): the merchant reference is taken.

    ``merchant_reference`` names it when the SDK knows what it sent.
    """

    def __init__(
        self,
        message: str,
        *,
        code: KashaErrorCode = KashaErrorCode.DUPLICATE_TRANSACTION,
        reason: str = KashaErrorCode.DUPLICATE_TRANSACTION.reason,
        merchant_reference: str | None = None,
        **context: Unpack[_ExchangeWithStatus],
    ) -> None:
        super().__init__(message, code=code, reason=reason, **context)
        self.merchant_reference = merchant_reference


class ResponseFormatError(KashaError):
    """The response body is not JSON, is truncated or too large, or not the contract's shape."""


class JournalError(KashaError):
    """A batch journal cannot be opened, written or read (disk full, read-only, missing path)."""


class JournalLockedError(JournalError):
    """Another live process holds the journal's lock; this one sent nothing."""


class LeaseLostError(JournalError, RuntimeError):
    """Another worker holds the item now (this worker's lease expired); its write was refused."""


class WebhookError(KashaError):
    """An incoming webhook was rejected; ``response_status`` is the HTTP status to answer."""

    response_status = 400


class MissingSignatureError(WebhookError):
    """The webhook carries no ``x-signature`` header (or an empty one)."""

    response_status = 401


class InvalidSignatureError(WebhookError):
    """The ``x-signature`` does not match the raw body: tampered body or wrong key."""

    response_status = 401


class WebhookPayloadError(WebhookError):
    """The signature matched but the body is not JSON or not a transaction object."""

    response_status = 400


class WebhookTooLargeError(WebhookError):
    """The body is over the size limit; it was neither verified nor parsed."""

    response_status = 413


_STATUS_CLASSES: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    404: NotFoundError,
    409: ConflictError,
    410: SessionGoneError,
    429: RateLimitError,
}


def _parse_code(value: object) -> KashaErrorCode | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return KashaErrorCode(value)
    text = value.strip() if isinstance(value, str) else ""
    # ASCII and short: str.isdigit() also accepts "²", and int() refuses 4300+ digits.
    if text.isascii() and text.isdigit() and len(text) <= 9:
        return KashaErrorCode(int(text))
    return None


def _error_fields(body: object) -> tuple[KashaErrorCode | None, str | None, str | None]:
    """Pull (code, message, transaction id) out of an error body of any tolerated shape."""
    if isinstance(body, list) and len(body) == 1:
        body = body[0]
    if not isinstance(body, Mapping):
        return None, None, None
    errors: Any = body.get("errors")
    if isinstance(errors, list) and errors:
        errors = errors[0]
    code = msg = None
    if isinstance(errors, Mapping):
        code = _parse_code(errors.get("code"))
        raw_msg = errors.get("msg") or errors.get("message")
        # The provider may echo what it was sent: never let a card number into a message.
        msg = redact_text(raw_msg) if isinstance(raw_msg, str) else None
    if code is None:
        code = _parse_code(body.get("errorCode"))
    result = body.get("result")
    tx = result.get("transactionId") if isinstance(result, Mapping) else None
    tx = tx or body.get("transactionId")
    return code, msg, tx if isinstance(tx, str) else None


def declined(
    code: KashaErrorCode,
    reason: str,
    *,
    merchant_reference: str | None = None,
    **context: Unpack[_ExchangeWithStatus],
) -> DeclinedError:
    """The decline for ``code``: the one place a code picks its ``DeclinedError`` class.

    Codes 1000-1009 are :class:`ValidationError`, 3017 is
    :class:`DuplicateTransactionError` (naming ``merchant_reference`` when known),
    every other code a plain :class:`DeclinedError`.
    """
    if code is KashaErrorCode.DUPLICATE_TRANSACTION:
        named = (
            f"merchant reference {merchant_reference!r} is already used"
            if merchant_reference
            else reason
        )
        return DuplicateTransactionError(
            f"Declined: {named} (code {code.value})",
            reason=reason,
            merchant_reference=merchant_reference,
            **context,
        )
    cls = ValidationError if code.is_validation else DeclinedError
    return cls(f"Declined: {reason} (code {code.value})", code=code, reason=reason, **context)


def error_from_response(
    status: int,
    body: object,
    raw: bytes,
    *,
    retry_after: float | None = None,
    merchant_reference: str | None = None,
) -> KashaError:
    """Map one HTTP error response (or a 200 with ``resultType: error``) to the exception tree.

    This is the only place that decides which exception an answer becomes.
    ``merchant_reference`` (what the request's session carried) is named in a 3017.
    A code outside the reference table on a status other than 2xx/400 is the
    status echoed as a code (``401``), not a provider code: it is dropped.
    """
    code, msg, tx = _error_fields(body)
    excerpt = redact_bytes(raw)
    if code is not None and status not in (200, 400) and not code.is_known:
        code = None
    if code is not None and status in (200, 400):
        reason = msg or code.reason
        text = f"{reason} (code {code.value})"
        if code.is_outcome_unknown:
            return OutcomeUnknownError(
                f"Outcome unknown: {text}; reconcile by transaction lookup",
                transaction_id=tx,
                status_code=status,
                body_excerpt=excerpt,
                code=code,
            )
        return declined(
            code,
            reason,
            merchant_reference=merchant_reference,
            transaction_id=tx,
            status_code=status,
            body_excerpt=excerpt,
        )
    if code is KashaErrorCode.DUPLICATE_TRANSACTION:
        # 3017 is a decline whatever the status: the sandbox and the provider answer 409.
        return declined(
            code,
            msg or code.reason,
            merchant_reference=merchant_reference,
            transaction_id=tx,
            status_code=status,
            body_excerpt=excerpt,
        )
    if code is None and status < 300:
        # A 2xx that says "error" without a code: 999 is the table's "unmapped" code.
        code = KashaErrorCode.MISCELLANEOUS_ERROR
        return DeclinedError(
            f"Declined: {msg or code.reason} (no code given)",
            code=code,
            reason=msg or code.reason,
            transaction_id=tx,
            status_code=status,
            body_excerpt=excerpt,
        )
    status_cls = _STATUS_CLASSES.get(status)
    if status_cls is None:
        status_cls = ServerError if status >= 500 else APIStatusError
    detail = f": {msg}" if msg else ""
    return status_cls(
        f"HTTP {status}{detail}",
        status_code=status,
        body_excerpt=excerpt,
        transaction_id=tx,
        code=code,
        retry_after=retry_after,
    )
