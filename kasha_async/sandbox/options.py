"""Payment and payout options per country, as data (names, suboptions, form inputs).

Every option id is a stable UUID derived from country and name, so tests can
refer to them across sandbox restarts. Countries not listed get :data:`DEFAULT`.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import attrs

_NAMESPACE = uuid.UUID("6f1d2c3e-4b5a-4c7d-9e8f-0a1b2c3d4e5f")

Wire = dict[str, Any]


def form_input(
    label: str,
    name: str,
    *,
    required: bool = True,
    min_length: int | None = None,
    max_length: int | None = None,
    pattern: str | None = None,
    values: tuple[str, ...] = (),
) -> Wire:
    """One ``FormInput`` in its wire shape (CONTRACT.md §3)."""
    limits = {"minLength": min_length, "maxLength": max_length, "pattern": pattern}
    validations = {k: v for k, v in limits.items() if v is not None} or None
    return {
        "label": label,
        "name": name,
        "type": "string",
        "values": list(values),
        "required": required,
        "validations": validations,
    }


@attrs.frozen(kw_only=True)
class OptionSpec:
    """One payment or payout method offered in a country."""

    country: str
    name: str
    is_card: bool = False
    extra_data: tuple[Wire, ...] = ()
    suboptions: tuple[tuple[str, str], ...] = ()
    suboption_inputs: tuple[Wire, ...] = ()

    @property
    def payment_option_id(self) -> str:
        """The stable id answered as ``paymentOptionId``."""
        return str(uuid.uuid5(_NAMESPACE, f"{self.country}:{self.name}"))

    def option_wire(self) -> Wire:
        """This option as an element of ``paymentOptions``."""
        return {
            "paymentOptionId": self.payment_option_id,
            "name": self.name,
            "logo": None,
            "extraData": list(self.extra_data),
        }

    def suboption_ids(self) -> frozenset[str]:
        """The ``optionId`` values this option accepts."""
        return frozenset(sub_id for sub_id, _ in self.suboptions)

    def required_inputs(self) -> tuple[Wire, ...]:
        """Every form input the end user must fill in for this option."""
        return tuple(fi for fi in self.extra_data + self.suboption_inputs if fi["required"])


_CARD_INPUTS = (
    form_input("Card Number", "cardnum", min_length=12, max_length=19),
    form_input("Owner", "cardholder"),
    form_input("Expiry month", "expirymonth", min_length=2, max_length=2),
    form_input("Expiry year", "expiryyear", min_length=4, max_length=4),
    form_input("CVV", "cardcvv", min_length=3, max_length=4),
)
_PHONE = form_input("phone", "phone", min_length=11, max_length=18)
_DOCUMENT = form_input("Document number", "document", min_length=6, max_length=20)


def _card(country: str) -> OptionSpec:
    return OptionSpec(country=country, name="Card", is_card=True, extra_data=_CARD_INPUTS)


def _payment_table() -> dict[str, tuple[OptionSpec, ...]]:
    return {
        "BR": (
            _card("BR"),
            OptionSpec(country="BR", name="PIX", extra_data=(_DOCUMENT,)),
            OptionSpec(country="BR", name="Boleto", extra_data=(_DOCUMENT,)),
            OptionSpec(
                country="BR",
                name="Bank Transfer",
                suboptions=(("b_101", "Banco do Brasil"), ("b_102", "Itaú"), ("b_103", "Bradesco")),
                suboption_inputs=(_DOCUMENT,),
            ),
        ),
        "AR": (
            _card("AR"),
            OptionSpec(country="AR", name="Rapipago"),
            OptionSpec(
                country="AR",
                name="Bank Transfer",
                suboptions=(("b_201", "Banco Galicia"), ("b_202", "Banco Nación")),
                suboption_inputs=(form_input("CBU", "cbu", min_length=22, max_length=22),),
            ),
        ),
        "MX": (
            _card("MX"),
            OptionSpec(country="MX", name="OXXO"),
            OptionSpec(
                country="MX",
                name="SPEI",
                suboptions=(("b_301", "BBVA México"), ("b_302", "Banorte"), ("b_303", "Santander")),
                suboption_inputs=(_PHONE,),
            ),
        ),
        "GB": (
            _card("GB"),
            OptionSpec(
                country="GB",
                name="Open Banking",
                suboptions=(("b_401", "Barclays"), ("b_402", "HSBC UK"), ("b_403", "Monzo")),
            ),
        ),
    }


@attrs.frozen(kw_only=True)
class PayoutSpec:
    """The bank-transfer payout option of a country, with its one suboption object."""

    country: str
    name: str = "Bank Transfer"
    suboption_id: str
    suboption_name: str
    form_inputs: tuple[Wire, ...]

    @property
    def payment_option_id(self) -> str:
        """The stable id answered as ``paymentOptionId``."""
        return str(uuid.uuid5(_NAMESPACE, f"payout:{self.country}:{self.name}"))

    def option_wire(self) -> Wire:
        """This option as the one element of the payout ``paymentOptions``."""
        return {
            "paymentOptionId": self.payment_option_id,
            "name": self.name,
            "logo": None,
            "extraData": [],
        }

    def suboption_wire(self) -> Wire:
        """The single ``options`` object of the payout-suboptions answer."""
        return {
            "id": self.suboption_id,
            "name": self.suboption_name,
            "logo": None,
            "uuid": str(uuid.uuid5(_NAMESPACE, f"payout-sub:{self.country}:{self.suboption_id}")),
            "formInputs": list(self.form_inputs),
        }


def _payout(country: str, sub_id: str, sub_name: str, account: Wire) -> PayoutSpec:
    inputs = (
        form_input("Beneficiary's name", "name", min_length=5, max_length=100),
        account,
        form_input("Beneficiary's phone", "phone", required=False),
    )
    return PayoutSpec(
        country=country, suboption_id=sub_id, suboption_name=sub_name, form_inputs=inputs
    )


def _payout_table() -> dict[str, PayoutSpec]:
    digits = r"^[0-9]+$"
    return {
        "BR": _payout(
            "BR",
            "d_316",
            "PIX key / bank account",
            form_input("Account", "account", required=False, min_length=5, max_length=40),
        ),
        "AR": _payout(
            "AR",
            "d_317",
            "CBU transfer",
            form_input(
                "CBU", "account", required=False, min_length=22, max_length=22, pattern=digits
            ),
        ),
        "MX": _payout(
            "MX",
            "d_318",
            "SPEI (CLABE)",
            form_input(
                "CLABE", "account", required=False, min_length=18, max_length=18, pattern=digits
            ),
        ),
        "GB": _payout(
            "GB",
            "d_319",
            "Faster Payments",
            form_input(
                "Account number",
                "account",
                required=False,
                min_length=8,
                max_length=8,
                pattern=digits,
            ),
        ),
    }


PAYMENT_OPTIONS: Mapping[str, tuple[OptionSpec, ...]] = MappingProxyType(_payment_table())
PAYOUT_OPTIONS: Mapping[str, PayoutSpec] = MappingProxyType(_payout_table())


def payment_options_for(country: str) -> tuple[OptionSpec, ...]:
    """The payment options of ``country`` (Card and a bank transfer when it is not listed)."""
    options = PAYMENT_OPTIONS.get(country)
    if options is None:
        options = (
            _card(country),
            OptionSpec(
                country=country, name="Bank Transfer", suboptions=(("b_901", "Local bank"),)
            ),
        )
    return options


def payout_option_for(country: str) -> PayoutSpec:
    """The payout option of ``country`` (a generic bank transfer when it is not listed)."""
    spec = PAYOUT_OPTIONS.get(country)
    if spec is None:
        spec = _payout(
            country,
            "d_900",
            "Bank transfer",
            form_input("Account", "account", required=False, min_length=5, max_length=40),
        )
    return spec


def find_payment_option(country: str, payment_option_id: str) -> OptionSpec | None:
    """The payment option of ``country`` with this id, if any."""
    for spec in payment_options_for(country):
        if spec.payment_option_id == payment_option_id:
            return spec
    return None
