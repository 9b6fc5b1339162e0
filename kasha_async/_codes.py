"""The provider's error-code table and transaction statuses, as data.

This is the one home of the code table: the exception tree reads it to pick
``DeclinedError`` vs ``ValidationError`` vs ``OutcomeUnknownError``, and the
sandbox reads it to answer each code's trigger. Unknown codes and statuses that
the provider may add later are kept, never rejected: both enums hand out
pseudo-members for values they do not list.
"""

from __future__ import annotations

import enum
from typing import NamedTuple


class CodeInfo(NamedTuple):
    """One row of the reference's error-code table."""

    status: str
    reason: str
    description: str


# Code -> (transaction status, error reason, description), word for word from the reference.
CODE_TABLE: dict[int, CodeInfo] = {
    1000: CodeInfo("DECLINED", "Validation error.", "Default validation error."),
    1001: CodeInfo("DECLINED", "Missing phone number.", "Customer phone number is missing."),
    1002: CodeInfo(
        "DECLINED", "Invalid document id.", "Document id is not accepted by the provider."
    ),
    1003: CodeInfo(
        "DECLINED", "Invalid document type.", "Document type is not accepted by the provider."
    ),
    1004: CodeInfo("DECLINED", "Invalid phone number.", "Phone number is incorrect."),
    1005: CodeInfo("DECLINED", "Invalid bank account format.", "Bank account format is invalid."),
    1006: CodeInfo("DECLINED", "Invalid zip code.", "Zip code format is invalid or missing."),
    1007: CodeInfo("DECLINED", "Low amount received.", "Payment amount is too low."),
    1008: CodeInfo("DECLINED", "Payment amount is too high.", "High amount received."),
    1009: CodeInfo("DECLINED", "Invalid amount.", "Invalid payment amount, wrong format perhaps?"),
    1100: CodeInfo(
        "ERROR", "Contact support to confirm payment.", "Contact Support to confirm payment"
    ),
    3000: CodeInfo(
        "DECLINED",
        "Insufficient card funds.",
        "Card doesn't have enough funds to complete the transaction.",
    ),
    3001: CodeInfo("DECLINED", "Do not honour.", ""),
    3002: CodeInfo("DECLINED", "Untrusted transaction.", "Risk decline."),
    3003: CodeInfo("DECLINED", "Abandoned 3DS.", ""),
    3004: CodeInfo("DECLINED", "Invalid CVV2/CVC2.", ""),
    3005: CodeInfo("DECLINED", "Invalid cardholder name.", "Cardholder name wasn't accepted."),
    3006: CodeInfo("DECLINED", "Exceeded amount limit.", ""),
    3007: CodeInfo("DECLINED", "Card expired.", "An expired card was used."),
    3008: CodeInfo(
        "DECLINED", "Transaction already in progress.", "A transactions is already in progress."
    ),
    3009: CodeInfo("DECLINED", "Invalid card number.", ""),
    3010: CodeInfo("DECLINED", "Customer has failed 3DS.", "3DS was abandoned by customer."),
    3011: CodeInfo("DECLINED", "No card record.", ""),
    3012: CodeInfo("DECLINED", "Pickup card.", ""),
    3013: CodeInfo("DECLINED", "Charge count limit reached for this card.", ""),
    3014: CodeInfo("DECLINED", "Exceeded amount limit.", ""),
    3015: CodeInfo("DECLINED", "Transaction not permitted to cardholder.", ""),
    3016: CodeInfo("DECLINED", "Visa decline.", "This Transaction was Declined by Scheme (Visa)"),
    3017: CodeInfo("DECLINED", "Duplicate transaction.", ""),
    3018: CodeInfo("DECLINED", "Payment was not received.", ""),
    3019: CodeInfo("DECLINED", "Recalculation.", ""),
    3020: CodeInfo("DECLINED", "Transaction amount less than allowed.", ""),
    3021: CodeInfo("DECLINED", "Country is blocked.", ""),
    3022: CodeInfo("DECLINED", "Transaction blocked.", "Generic blocked transaction."),
    3023: CodeInfo("DECLINED", "Declined by card Issuer.", "VSIFC"),
    3024: CodeInfo("DECLINED", "Card type declined.", "This type of card is blocked."),
    3025: CodeInfo(
        "DECLINED", "Transaction not allowed in country.", "Only a local card can be used."
    ),
    3026: CodeInfo(
        "DECLINED", "Mastercard Decline.", "This Transaction was Declined by Scheme (MasterCard)"
    ),
    994: CodeInfo("DECLINED", "Unidentified subject.", "Blacklisted card."),
    995: CodeInfo(
        "DECLINED",
        "No payment options were found.",
        "No payment options were found for the payment.",
    ),
    996: CodeInfo("DECLINED", "Currency conversion error.", "Couldnt convert currency."),
    997: CodeInfo("DECLINED", "No route was found.", "Couldn't route payment to any provider."),
    998: CodeInfo("DECLINED", "Adapter timeout.", "Communication error with our adapter."),
    999: CodeInfo("DECLINED", "Miscellaneous error.", "Default error for unmapped errors."),
}

_UNKNOWN_CODE = CodeInfo("DECLINED", "Unknown error code.", "Not in the reference table.")


class KashaErrorCode(enum.IntEnum):
    """Every error code of the Kasha v2 reference; unknown codes become pseudo-members."""

    UNIDENTIFIED_SUBJECT = 994
    NO_PAYMENT_OPTIONS = 995
    CURRENCY_CONVERSION_ERROR = 996
    NO_ROUTE = 997
    ADAPTER_TIMEOUT = 998
    MISCELLANEOUS_ERROR = 999
    VALIDATION_ERROR = 1000
    MISSING_PHONE_NUMBER = 1001
    INVALID_DOCUMENT_ID = 1002
    INVALID_DOCUMENT_TYPE = 1003
    INVALID_PHONE_NUMBER = 1004
    INVALID_BANK_ACCOUNT_FORMAT = 1005
    INVALID_ZIP_CODE = 1006
    LOW_AMOUNT = 1007
    HIGH_AMOUNT = 1008
    INVALID_AMOUNT = 1009
    CONTACT_SUPPORT = 1100
    INSUFFICIENT_FUNDS = 3000
    DO_NOT_HONOUR = 3001
    UNTRUSTED_TRANSACTION = 3002
    ABANDONED_3DS = 3003
    INVALID_CVV = 3004
    INVALID_CARDHOLDER_NAME = 3005
    EXCEEDED_AMOUNT_LIMIT = 3006
    CARD_EXPIRED = 3007
    TRANSACTION_IN_PROGRESS = 3008
    INVALID_CARD_NUMBER = 3009
    FAILED_3DS = 3010
    NO_CARD_RECORD = 3011
    PICKUP_CARD = 3012
    CHARGE_COUNT_LIMIT = 3013
    EXCEEDED_AMOUNT_LIMIT_3014 = 3014
    NOT_PERMITTED_TO_CARDHOLDER = 3015
    VISA_DECLINE = 3016
    DUPLICATE_TRANSACTION = 3017
    PAYMENT_NOT_RECEIVED = 3018
    RECALCULATION = 3019
    AMOUNT_LESS_THAN_ALLOWED = 3020
    COUNTRY_BLOCKED = 3021
    TRANSACTION_BLOCKED = 3022
    DECLINED_BY_ISSUER = 3023
    CARD_TYPE_DECLINED = 3024
    NOT_ALLOWED_IN_COUNTRY = 3025
    MASTERCARD_DECLINE = 3026

    @classmethod
    def _missing_(cls, value: object) -> KashaErrorCode | None:
        if isinstance(value, int) and not isinstance(value, bool):
            member = int.__new__(cls, value)
            member._name_ = f"UNKNOWN_{value}"
            member._value_ = value
            return member
        return None

    @property
    def info(self) -> CodeInfo:
        """The reference row for this code (a placeholder row for unknown codes)."""
        return CODE_TABLE.get(self.value, _UNKNOWN_CODE)

    @property
    def reason(self) -> str:
        """The reference's error reason, e.g. ``"Insufficient card funds."``."""
        return self.info.reason

    @property
    def is_known(self) -> bool:
        """Whether the reference table lists this code."""
        return self.value in CODE_TABLE

    @property
    def is_validation(self) -> bool:
        """Codes 1000-1009: the request was rejected and the session is still usable."""
        return 1000 <= self.value <= 1009

    @property
    def is_outcome_unknown(self) -> bool:
        """Code 1100: the payment may have gone through; reconcile, never resend."""
        return self.value == 1100


class TransactionStatus(enum.StrEnum):
    """Transaction statuses of CONTRACT.md §5; unknown strings become pseudo-members."""

    CREATED = "CREATED"
    PENDING = "PENDING"
    PROCESSING = "PROCESSING"
    COMPLETED = "COMPLETED"
    DECLINED = "DECLINED"
    ERROR = "ERROR"
    REFUNDED = "REFUNDED"
    EXPIRED = "EXPIRED"

    @classmethod
    def _missing_(cls, value: object) -> TransactionStatus | None:
        if isinstance(value, str):
            member = str.__new__(cls, value)
            member._name_ = value
            member._value_ = value
            return member
        return None

    @property
    def is_final(self) -> bool:
        """Whether no further status change is expected (unknown statuses are not final)."""
        return self in _FINAL_STATUSES


_FINAL_STATUSES = frozenset(
    {
        TransactionStatus.COMPLETED,
        TransactionStatus.DECLINED,
        TransactionStatus.ERROR,
        TransactionStatus.REFUNDED,
        TransactionStatus.EXPIRED,
    }
)


class SettleAction(enum.StrEnum):
    """The two answers to a pending payout."""

    APPROVE = "APPROVE"
    DECLINE = "DECLINE"
