"""The flow snapshot format: what ``to_dict`` writes and ``from_dict`` reads, and nothing else.

Pure: no client, no clock. A :class:`Snapshot` is the typed form of one flow's
resumable state; :meth:`Snapshot.to_dict` is JSON-safe (money as a decimal
string, times as ISO 8601 with their zone) and carries no keys, card data or
form values. :meth:`Snapshot.from_dict` refuses anything but an intact snapshot
of the expected kind and format: a flow is never half-restored.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import attrs

from .. import _convert
from .._errors import InvalidRequestError, ResponseFormatError
from .._models import PaymentOption, Suboptions, amount_range_problem, read_amount
from ._states import FlowKind, FlowState

__all__ = ["FLOW_FORMAT", "Snapshot", "check_margin"]

#: Version of the snapshot format.
FLOW_FORMAT = 1
_ZERO = timedelta(0)


def check_margin(seconds: float | timedelta) -> timedelta:
    """A safety margin as a ``timedelta``; a negative one is refused."""
    margin = seconds if isinstance(seconds, timedelta) else timedelta(seconds=seconds)
    if margin < _ZERO:
        raise InvalidRequestError("safety_margin must not be negative")
    return margin


@attrs.frozen(kw_only=True)
class Snapshot:
    """One flow's resumable state, as ``to_dict`` writes it."""

    kind: FlowKind
    state: FlowState
    transaction_id: str
    session_id: str = attrs.field(repr=False)
    expires_at: datetime
    safety_margin: timedelta
    merchant_reference: str | None = None
    country: str | None = None
    currency: str | None = None
    amount: Decimal | None = None
    options: tuple[PaymentOption, ...] = attrs.field(default=(), repr=False)
    chosen_option_id: str | None = None
    suboptions: Suboptions | None = attrs.field(default=None, repr=False)
    status: str | None = None
    cashier_url: str | None = attrs.field(default=None, repr=False)
    merchant_declined: bool = False

    def to_dict(self) -> dict[str, Any]:
        """The JSON-safe mapping (format :data:`FLOW_FORMAT`)."""
        subs = self.suboptions
        return {
            "format": FLOW_FORMAT,
            "kind": self.kind.value,
            "state": self.state.value,
            "transaction_id": self.transaction_id,
            "session_id": self.session_id,
            "expires_at": self.expires_at.isoformat(),
            "safety_margin": self.safety_margin.total_seconds(),
            "merchant_reference": self.merchant_reference,
            "country": self.country,
            "currency": self.currency,
            "amount": None if self.amount is None else f"{self.amount:f}",
            "options": [_convert.to_plain(o) for o in self.options],
            "chosen_option_id": self.chosen_option_id,
            "suboptions": None if subs is None else _convert.to_plain(subs),
            "status": self.status,
            "cashier_url": self.cashier_url,
            "merchant_declined": self.merchant_declined,
        }

    @classmethod
    def from_dict(cls, data: object, *, kind: FlowKind, owner: str) -> Snapshot:
        """Read a :meth:`to_dict` mapping of ``kind``; ``owner`` names the flow class in errors.

        Anything else (another version, a wrong type, a naive timestamp, a
        non-finite amount) raises :class:`InvalidRequestError`.
        """
        if not isinstance(data, Mapping):
            raise InvalidRequestError(f"a {owner} snapshot is a mapping, not {type(data).__name__}")
        version, found = data.get("format"), data.get("kind")
        # type() rather than ==: True == 1, and a snapshot saying "format": true is not ours
        if type(version) is not int or version != FLOW_FORMAT or found != kind.value:
            raise InvalidRequestError(
                f"not a {owner} snapshot this version can read (format {FLOW_FORMAT}, "
                f"kind {kind.value!r}): format={version!r:.40} kind={found!r:.40}"
            )
        try:
            return cls._parse(data, kind)
        except (KeyError, TypeError, ValueError, ArithmeticError, ResponseFormatError) as exc:
            raise InvalidRequestError(f"malformed {owner} snapshot: {exc!r:.300}") from None

    @classmethod
    def _parse(cls, data: Mapping[str, Any], kind: FlowKind) -> Snapshot:
        suboptions = data["suboptions"]
        snapshot = cls(
            kind=kind,
            state=FlowState(data["state"]),
            transaction_id=_text(data, "transaction_id"),
            session_id=_text(data, "session_id"),
            expires_at=_aware_time(data["expires_at"]),
            safety_margin=check_margin(float(data["safety_margin"])),
            merchant_reference=_optional_text(data, "merchant_reference"),
            country=_optional_text(data, "country"),
            currency=_optional_text(data, "currency"),
            amount=_amount(data.get("amount")),
            options=tuple(_convert.parse(PaymentOption, o) for o in data["options"]),
            chosen_option_id=_optional_text(data, "chosen_option_id"),
            suboptions=None if suboptions is None else _convert.parse(Suboptions, suboptions),
            status=_optional_text(data, "status"),
            cashier_url=_optional_text(data, "cashier_url"),
            merchant_declined=bool(data.get("merchant_declined")),
        )
        offered = {o.payment_option_id for o in snapshot.options}
        if snapshot.chosen_option_id is not None and snapshot.chosen_option_id not in offered:
            raise ValueError(f"chosen option {snapshot.chosen_option_id!r:.60} is not offered")
        return snapshot


def _text(data: Mapping[str, Any], key: str) -> str:
    """``data[key]``, checked to be a non-empty string."""
    value = data[key]
    if not isinstance(value, str) or not value:
        raise TypeError(f"{key} must be a non-empty string, not {type(value).__name__}")
    return value


def _optional_text(data: Mapping[str, Any], key: str) -> str | None:
    """``data[key]`` when present and not None, checked like :func:`_text`."""
    return None if data.get(key) is None else _text(data, key)


def _aware_time(value: object) -> datetime:
    if not isinstance(value, str):
        raise TypeError(f"expires_at must be an ISO 8601 string, not {type(value).__name__}")
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:  # comparing it with the aware clock would fail at the next step
        raise ValueError("expires_at has no time zone")
    return moment


def _amount(value: object) -> Decimal | None:
    if value is None:
        return None
    if not isinstance(value, str):  # to_dict writes money as a string, never a float
        raise TypeError(f"amount must be a decimal string, not {type(value).__name__}")
    amount = read_amount(value)  # the one amount parser: plain digits, never 1E+999999
    problem = amount_range_problem(amount)
    if problem is not None:
        raise ValueError(problem)
    return amount
