"""Public value objects: what the SDK sends and what it gets back.

Every class is a frozen, slotted ``attrs`` class. Python names are the
snake_case of the wire names (``transactionId`` → ``transaction_id``); the
conversion lives in ``_convert`` and nowhere else. Request objects validate
themselves at construction and raise :class:`InvalidRequestError` listing every
problem. Response objects keep the exact JSON they were parsed from in
``raw`` (read-only, excluded from ``repr`` and equality).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from types import MappingProxyType
from typing import Any, TypedDict, TypeVar

import attrs

from ._codes import KashaErrorCode, SettleAction, TransactionStatus
from ._constants import MAX_AMOUNT_INTEGER_DIGITS, MAX_AMOUNT_SIGNIFICANT_DIGITS
from ._errors import InvalidRequestError

#: Currencies that allow 8 decimal places instead of 2 (the reference's "crypto currency").
CRYPTO_CURRENCIES: frozenset[str] = frozenset(
    {"BTC", "ETH", "LTC", "BCH", "XRP", "USDT", "USDC", "TRX", "DOGE", "SOL", "BNB", "DAI"}
)


def currency_places(currency: str | None) -> int:
    """Decimal places an amount in ``currency`` may carry: 8 for crypto, else 2."""
    return 8 if currency in CRYPTO_CURRENCIES else 2


_EMPTY: Mapping[str, Any] = MappingProxyType({})
_RAW = attrs.field(factory=lambda: _EMPTY, repr=False, eq=False, hash=False)
_ALPHA2 = re.compile(r"[A-Z]{2}")
_ALPHA3 = re.compile(r"[A-Z]{3}")
_PLAIN_DECIMAL = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")
_MAX_AMOUNT_TEXT = 64


def read_amount(value: object) -> Decimal:
    """The SDK's one amount parser: ``Decimal``, ``int`` or a plain ASCII decimal string.

    ``"130.00"`` and ``"-5"`` are read; ``"1e3"``, ``"1_000.00"``, non-ASCII digits, ``"NaN"``,
    floats and booleans raise ``ValueError`` (whose message never quotes the value).
    Range and places are :func:`amount_problems`' business.
    """
    if isinstance(value, Decimal):
        if value.is_finite():
            return value
        raise ValueError("amount must be a finite number")
    if isinstance(value, int) and not isinstance(value, bool):
        return Decimal(value)
    if isinstance(value, str):
        text = value.strip()
        if len(text) <= _MAX_AMOUNT_TEXT and _PLAIN_DECIMAL.fullmatch(text):
            return Decimal(text)
        raise ValueError("amount must be plain ASCII digits with an optional '.' and decimals")
    if isinstance(value, float):
        raise ValueError("amount must be Decimal, int or str, not float (floats lose cents)")
    raise ValueError(f"amount must be Decimal, int or str, not {type(value).__name__}")


def to_amount(value: object) -> Decimal:
    """Convert a user-supplied amount (:func:`read_amount`); a bad one is an InvalidRequestError."""
    try:
        return read_amount(value)
    except ValueError as exc:
        message = str(exc)
    raise InvalidRequestError(message)


def amount_range_problem(amount: Decimal, field: str = "amount") -> str | None:
    """Why ``amount`` is out of range (negative, or 10**13 and above), or ``None``."""
    if amount < 0:
        return f"{field} must not be negative"
    if amount and amount.adjusted() >= MAX_AMOUNT_INTEGER_DIGITS:
        return f"{field} must be below 10^{MAX_AMOUNT_INTEGER_DIGITS}"
    return None


def amount_problems(amount: Decimal, currency: str, field: str = "amount") -> list[str]:
    """List what is wrong with ``amount`` for ``currency`` (empty when it is fine)."""
    if not amount.is_finite():
        return [f"{field} must be a finite number"]
    if amount <= 0:
        return [f"{field} must be positive, got {amount:.40}"]
    out_of_range = amount_range_problem(amount, field)
    if out_of_range is not None:
        return [out_of_range]  # checked first: formatting 1E+100000 would build 100 KB
    problems = []
    places = currency_places(currency)
    _, digits, exponent = amount.as_tuple()  # once: each call builds a named tuple
    if isinstance(exponent, int) and -exponent > places:
        problems.append(
            f"{field} {amount:.40} has more than {places} decimal places for {currency}"
        )
    # Fewer digits than the limit cannot be too many significant ones: join only past it.
    if len(digits) > MAX_AMOUNT_SIGNIFICANT_DIGITS:
        significant = len("".join(map(str, digits)).strip("0"))
        if significant > MAX_AMOUNT_SIGNIFICANT_DIGITS:
            problems.append(
                f"{field} has {significant} significant digits, more than the "
                f"{MAX_AMOUNT_SIGNIFICANT_DIGITS} a JSON number keeps exactly in every parser"
            )
    return problems


_Request = TypeVar("_Request")


def build_request(cls: type[_Request], fields: Mapping[str, Any]) -> _Request:
    """``cls(**fields)``, with a misspelt, missing or mistyped keyword an InvalidRequestError.

    The resource methods take request fields as keywords; a plain ``TypeError`` from
    the constructor would name neither the request nor a likely correction.
    """
    known = attrs.fields_dict(cls)  # type: ignore[arg-type]
    problems = []
    for name in sorted(set(fields) - set(known)):
        close = difflib.get_close_matches(name, known, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        problems.append(f"unknown keyword {name!r}{hint}")
    missing = [
        name
        for name, field in known.items()
        if field.default is attrs.NOTHING and name not in fields and field.init
    ]
    problems += [f"missing keyword {name!r}" for name in missing]
    _raise_if(problems, cls.__name__)
    try:
        return cls(**fields)
    except TypeError as exc:
        message = f"invalid {cls.__name__}: a keyword has the wrong type ({exc})"
    raise InvalidRequestError(message)


def _check_text(problems: list[str], name: str, value: str | None, low: int, high: int) -> None:
    if value is not None and not low <= len(value) <= high:
        problems.append(f"{name} must be {low}..{high} characters, got {len(value)}")


def _raise_if(problems: list[str], what: str) -> None:
    if problems:
        raise InvalidRequestError(
            f"invalid {what}: " + "; ".join(problems), problems=tuple(problems)
        )


# ---------------------------------------------------------------------------------------------
# Parties and shared pieces
# ---------------------------------------------------------------------------------------------


@attrs.frozen(kw_only=True, slots=True)
class Address:
    """A postal address (customer or shipping)."""

    street: str | None = None
    street_number: str | None = None
    country: str | None = None
    zip_code: str | None = None
    city: str | None = None
    state: str | None = None


@attrs.frozen(kw_only=True, slots=True)
class Identification:
    """A customer's identity document (wire name ``identify``)."""

    number: str | None = attrs.field(default=None, repr=False)
    type: str | None = None


@attrs.frozen(kw_only=True, slots=True)
class Customer:
    """The end user paying or being paid."""

    name: str | None = None
    phone: str | None = attrs.field(default=None, repr=False)
    email: str | None = attrs.field(default=None, repr=False)
    user_device: str | None = None
    user_agent: str | None = None
    ip: str | None = None
    address: Address | None = None
    identify: Identification | None = None


@attrs.frozen(kw_only=True, slots=True)
class OrderDetail:
    """One product line of an order."""

    product_name: str | None = None
    quantity: int | None = None
    dimensions: str | None = None
    description: str | None = None


# ---------------------------------------------------------------------------------------------
# Requests
# ---------------------------------------------------------------------------------------------


@attrs.frozen(kw_only=True, slots=True)
class _InitiateRequest:
    """Fields shared by every call that opens a payment or payout session."""

    country: str
    currency: str
    amount: Decimal = attrs.field(converter=to_amount)
    redirect_url: str
    customer: Customer
    notification_url: str | None = None
    merchant_reference: str | None = None
    language: str | None = None

    def __attrs_post_init__(self) -> None:
        problems: list[str] = []
        if not _ALPHA2.fullmatch(self.country):
            problems.append(f"country must be 2 upper-case letters, got {self.country!r}")
        if not _ALPHA3.fullmatch(self.currency):
            problems.append(f"currency must be 3 upper-case letters, got {self.currency!r}")
        problems += amount_problems(self.amount, self.currency)
        _check_text(problems, "redirect_url", self.redirect_url, 1, 500)
        _check_text(problems, "merchant_reference", self.merchant_reference, 1, 255)
        if self.language is not None and not _ALPHA2.fullmatch(self.language):
            problems.append(f"language must be 2 upper-case letters, got {self.language!r}")
        problems += self._more_problems()
        _raise_if(problems, type(self).__name__)

    def _more_problems(self) -> list[str]:
        return []


@attrs.frozen(kw_only=True, slots=True)
class PaymentOptionsRequest(_InitiateRequest):
    """``POST /v2/payment-options`` and ``/v2/payment-session``: open a payment session."""

    payment_reference: str | None = None
    user_id: str | None = None
    extra1: str | None = None
    extra2: str | None = None
    extra3: str | None = None
    stored_token: str | None = attrs.field(default=None, repr=False)
    tax: str | None = None
    shipping_address: Address | None = None
    order_details: tuple[OrderDetail, ...] | None = None

    def _more_problems(self) -> list[str]:
        problems: list[str] = []
        for name in ("payment_reference", "user_id", "extra1", "extra2", "extra3", "tax"):
            _check_text(problems, name, getattr(self, name), 1, 255)
        return problems


@attrs.frozen(kw_only=True, slots=True)
class PayoutOptionsRequest(_InitiateRequest):
    """``POST /v2/payout-options`` and ``/v2/payout-session``: open a payout session."""

    merchant_domain: str | None = None
    user_id: str | None = None
    extra1: str | None = None
    extra2: str | None = None
    extra3: str | None = None


class _InitiateFields(TypedDict, total=False):
    # Not ``Required``: a call passing a whole request object gives no keywords, and a
    # missing field is named at run time by build_request.
    country: str
    currency: str
    amount: Decimal | int | str
    redirect_url: str
    customer: Customer
    notification_url: str | None
    merchant_reference: str | None
    language: str | None
    user_id: str | None
    extra1: str | None
    extra2: str | None
    extra3: str | None


class PaymentOptionsFields(_InitiateFields, total=False):
    """The keywords of ``payments.options`` / ``create_session``: :class:`PaymentOptionsRequest`."""

    payment_reference: str | None
    stored_token: str | None
    tax: str | None
    shipping_address: Address | None
    order_details: tuple[OrderDetail, ...] | None


class PayoutOptionsFields(_InitiateFields, total=False):
    """The keywords of ``payouts.options`` / ``create_session``: :class:`PayoutOptionsRequest`."""

    merchant_domain: str | None


@attrs.frozen(kw_only=True, slots=True)
class SuboptionsRequest:
    """``POST /v2/payment-suboptions`` and ``/v2/payout-suboptions``."""

    session_id: str
    payment_option_id: str


def _own_copy(value: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    """A request's own copy of a mapping the caller passed (``None`` stays ``None``)."""
    return None if value is None else dict(value)


@attrs.frozen(kw_only=True, slots=True)
class SubmitRequest:
    """``POST /v2/payment``, ``/v2/payout`` and ``/v2/hybrid-payment``: use the session.

    ``extra_data`` holds what the end user typed (card numbers, bank accounts): it is
    never shown in ``repr``, logs or errors.
    """

    session_id: str
    payment_option_id: str
    option_id: str | None = None
    #: Copied: the values masked in any error excerpt are the ones sent, whatever the caller
    #: does to its own mapping while the call is in flight.
    extra_data: Mapping[str, Any] | None = attrs.field(
        default=None, repr=False, converter=_own_copy
    )


@attrs.frozen(kw_only=True, slots=True)
class SettleRequest:
    """``POST /v2/settle-payout``: approve or decline a PENDING payout."""

    action: SettleAction = attrs.field(converter=SettleAction)
    transaction_id: str


@attrs.frozen(kw_only=True, slots=True)
class RefundRequest:
    """``POST /v2/refund``: refund a completed payment by its merchant reference."""

    merchant_reference: str


# ---------------------------------------------------------------------------------------------
# Responses
# ---------------------------------------------------------------------------------------------


@attrs.frozen(kw_only=True, slots=True)
class FormValidations:
    """Constraints on one form input."""

    min_length: int | None = None
    max_length: int | None = None
    pattern: str | None = None


@attrs.frozen(kw_only=True, slots=True)
class FormInput:
    """One field the end user must fill in for a payment option (``formInputs``/``extraData``)."""

    name: str
    label: str | None = None
    type: str | None = None
    values: tuple[Any, ...] = ()
    required: bool = False
    validations: FormValidations | None = None


@attrs.frozen(kw_only=True, slots=True)
class PaymentOption:
    """A payment or payout method offered for a session (e.g. Card, Bank Transfer)."""

    payment_option_id: str
    name: str | None = None
    logo: str | None = None
    extra_data: tuple[FormInput, ...] = ()

    @property
    def is_card(self) -> bool:
        """Card options take no suboptions (reference: "not needed for card payment")."""
        return (self.name or "").strip().lower() in {"card", "cards", "credit card", "debit card"}


@attrs.frozen(kw_only=True, slots=True)
class InitiatedSession:
    """A new session with its transaction id and the options it offers."""

    transaction_id: str
    session_id: str
    payment_options: tuple[PaymentOption, ...] = ()
    raw: Mapping[str, Any] = _RAW


@attrs.frozen(kw_only=True, slots=True)
class CashierLink:
    """A hosted-cashier session and the URL to send the end user to."""

    transaction_id: str
    session_id: str
    cashier_url: str
    raw: Mapping[str, Any] = _RAW


@attrs.frozen(kw_only=True, slots=True)
class Suboption:
    """A bank or sub-method of a payment option (``options`` in the suboptions answer)."""

    id: str
    name: str | None = None
    logo: str | None = None
    uuid: str | None = None
    form_inputs: tuple[FormInput, ...] = ()


@attrs.frozen(kw_only=True, slots=True)
class Suboptions:
    """The suboptions answer, flattened from its ``result`` envelope.

    ``result_code`` is the wire's ``statusCode`` (85 here): the provider's result code,
    not an HTTP status (errors carry that as ``status_code``).
    """

    result_code: int
    result_type: str
    payment_option_id: str | None = None
    transaction_id: str | None = None
    session_id: str | None = None
    options: tuple[Suboption, ...] = ()
    form_inputs: tuple[FormInput, ...] = ()
    raw: Mapping[str, Any] = _RAW


@attrs.frozen(kw_only=True, slots=True)
class SubmitResult:
    """The answer to a payment post, a payout create or a hybrid payment.

    ``result_type`` is ``"success"`` or ``"redirect"`` (3DS or hosted cashier, see
    ``redirect_url``). When the SDK had to reconcile an unknown outcome by looking
    the transaction up, ``reconciled`` is true and ``status`` holds what it found.
    """

    result_code: int
    result_type: str
    transaction_id: str
    redirect_url: str | None = None
    reconciled: bool = False
    status: TransactionStatus | None = None
    raw: Mapping[str, Any] = _RAW

    @property
    def needs_redirect(self) -> bool:
        """Whether the end user must be sent to ``redirect_url`` to finish."""
        return self.result_type == "redirect"


@attrs.frozen(kw_only=True, slots=True)
class SettleResult:
    """The answer to ``/settle-payout``."""

    result_code: int
    status: TransactionStatus
    transaction_id: str
    merchant_reference: str | None = None
    result: str | None = None
    reconciled: bool = False
    raw: Mapping[str, Any] = _RAW


@attrs.frozen(kw_only=True, slots=True)
class Refund:
    """The answer to ``/refund`` (wire ``_id`` is ``id`` here)."""

    id: str | None = None
    status: TransactionStatus
    result_code: int | None = None
    error_reason: str | None = None
    payment_amount: Decimal | None = None
    currency: str | None = None
    country: str | None = None
    payment_option_name: str | None = None
    user_id: str | None = None
    type: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    reconciled: bool = False
    raw: Mapping[str, Any] = _RAW


@attrs.frozen(kw_only=True, slots=True)
class TransactionError:
    """The ``errors`` object of a transaction: the code and message of a failure."""

    code: KashaErrorCode | None = None
    msg: str | None = None


@attrs.frozen(kw_only=True, slots=True)
class Transaction:
    """A transaction as ``GET /v2/transactions/{id}`` and webhooks describe it."""

    id: str
    status: TransactionStatus
    session_id: str | None = None
    country: str | None = None
    currency: str | None = None
    payment_amount: Decimal | None = None
    method: str | None = None
    payment_reference: str | None = None
    merchant_reference: str | None = None
    customer: Customer | None = None
    shipping_address: Address | None = None
    order_details: tuple[OrderDetail, ...] = ()
    errors: TransactionError | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    raw: Mapping[str, Any] = _RAW

    @property
    def is_final(self) -> bool:
        """Whether the status will not change again."""
        return self.status.is_final
