"""The only cattrs converter: wire JSON <-> value objects, and the provider's quirks.

Rules (CONTRACT.md §4), all here and nowhere else:

- camelCase on the wire, snake_case in Python; ``_id`` is read as ``id``.
- Money is ``Decimal``: JSON integers and strings exactly, floats through their
  shortest ``repr`` (never ``Decimal(float)``); money is written as a JSON number
  with exactly the digits of the ``Decimal``.
- ``statusCode`` as ``"000"``, ``0``, ``"085"``, ``85`` -> one ``int``.
- Numbers where strings are expected (``customer.phone``) become strings.
- Array-wrapped answers are unwrapped; suboption ``options`` may be an object or a
  list, ``formInputs`` at ``result`` level or inside the option.
- Dates are ISO 8601 or ``DD/MM/YYYY HH:MM:SS``, always returned as aware UTC.
- Unknown fields are ignored; unknown statuses and error codes are kept.

Hooks are generated once, at import, for every model class.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from types import MappingProxyType
from typing import Any, TypeVar

import attrs
import orjson
from cattrs import Converter
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override

from . import _models as m
from ._codes import KashaErrorCode, SettleAction, TransactionStatus
from ._errors import ResponseFormatError, redact_bytes

T = TypeVar("T")

_converter = Converter(detailed_validation=False)
#: A number literal with 16+ significant digits: more than a binary float holds exactly.
_LONG_NUMBER = re.compile(rb"\d[\d.]{15,}")
_CAMEL = re.compile(r"_([a-z0-9])")
_MAX_DEPTH_HINT = "nesting too deep"


def to_camel(name: str) -> str:
    """``payment_option_id`` -> ``paymentOptionId``."""
    return _CAMEL.sub(lambda match: match.group(1).upper(), name)


# --- scalar hooks --------------------------------------------------------------------------


def _structure_str(value: Any, _: type) -> str:
    if type(value) is str:
        return value
    if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        return str(value)  # customer.phone arrives as a JSON number in the reference
    raise TypeError(f"expected a string, got {type(value).__name__}")


def _structure_int(value: Any, _: type) -> int:
    if type(value) is int:
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)  # "000", "085"
    if isinstance(value, float) and value.is_integer():
        return int(value)
    raise TypeError(f"expected an integer, got {value!r:.40}")


def _structure_bool(value: Any, _: type) -> bool:
    if isinstance(value, bool):
        return value
    if value in (0, 1, "true", "false"):
        return value in (1, "true")
    raise TypeError(f"expected a boolean, got {value!r:.40}")


def parse_decimal(value: Any, _: type = Decimal) -> Decimal:
    """Read money exactly: ints and strings as written, floats through their shortest repr."""
    if isinstance(value, bool):
        raise TypeError("expected an amount, got a boolean")
    if isinstance(value, Decimal) and value.is_finite():
        return value
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        value = repr(value)
    if isinstance(value, str):
        amount = Decimal(value.strip())
        if amount.is_finite():
            return amount
    raise TypeError(f"expected an amount, got {value!r:.40}")


def parse_datetime(value: Any, _: type = datetime) -> datetime:
    """ISO 8601 or the refund sample's ``DD/MM/YYYY HH:MM:SS``, as an aware UTC datetime."""
    if not isinstance(value, str):
        raise TypeError(f"expected a date string, got {type(value).__name__}")
    if "/" in value:
        parsed = datetime.strptime(value.strip(), "%d/%m/%Y %H:%M:%S")
    else:
        parsed = datetime.fromisoformat(value.strip())
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def _structure_code(value: Any, _: type) -> KashaErrorCode:
    return KashaErrorCode(_structure_int(value, int))


def _structure_status(value: Any, _: type) -> TransactionStatus:
    if type(value) is not str:
        raise TypeError(f"expected a status string, got {type(value).__name__}")
    return TransactionStatus(value)


def _decimal_to_json(value: Decimal) -> orjson.Fragment:
    # A JSON number with exactly the Decimal's digits: 130.00 stays 130.00, never 130.0.
    return orjson.Fragment(format(value, "f").encode())


_converter.register_structure_hook(str, _structure_str)
_converter.register_structure_hook(int, _structure_int)
_converter.register_structure_hook(bool, _structure_bool)
_converter.register_structure_hook(Decimal, parse_decimal)
_converter.register_structure_hook(datetime, parse_datetime)
_converter.register_structure_hook(KashaErrorCode, _structure_code)
_converter.register_structure_hook(TransactionStatus, _structure_status)
_converter.register_structure_hook(Any, lambda value, _: value)
_converter.register_unstructure_hook(Decimal, _decimal_to_json)
_converter.register_unstructure_hook(SettleAction, lambda action: action.value)
_converter.register_unstructure_hook(datetime, lambda value: value.isoformat())


# --- quirk normalisers: wire shape -> the shape the generated hooks expect -------------------


def _unwrap(data: Any) -> Any:
    """Payout answers come wrapped in a one-element array; accept both."""
    if isinstance(data, list) and len(data) == 1:
        return data[0]
    return data


def _flatten_result(data: Any) -> Any:
    """Lift the ``result`` envelope of suboptions/submit answers to the top level."""
    data = _unwrap(data)
    result = data.get("result") if isinstance(data, dict) else None
    if not isinstance(result, dict):
        return data
    return {**result, "statusCode": data.get("statusCode"), "resultType": data.get("resultType")}


def _normalise_suboptions(data: Any) -> Any:
    data = _flatten_result(data)
    if not isinstance(data, dict):
        return data
    options = data.get("options")
    if isinstance(options, dict):
        options = [options]
    if options is None:
        options = []
    inputs = data.get("formInputs")
    if inputs is None and isinstance(options, list):
        inputs = [
            fi for opt in options if isinstance(opt, dict) for fi in opt.get("formInputs") or ()
        ]
    return {**data, "options": options, "formInputs": inputs or []}


def _normalise_id(data: Any) -> Any:
    data = _unwrap(data)
    if isinstance(data, dict) and "id" not in data:
        fallback = data.get("_id") or data.get("transactionId")
        if fallback is not None:
            return {**data, "id": fallback}
    return data


def _null_lists(data: Any, *names: str) -> Any:
    if isinstance(data, dict) and any(data.get(n, ()) is None for n in names):
        return {k: ([] if k in names and v is None else v) for k, v in data.items()}
    return data


_NORMALISERS: dict[type, Callable[[Any], Any]] = {
    m.InitiatedSession: lambda d: _null_lists(_unwrap(d), "paymentOptions"),
    m.CashierLink: _unwrap,
    m.Suboptions: _normalise_suboptions,
    m.SubmitResult: _flatten_result,
    m.SettleResult: _unwrap,
    m.Refund: _normalise_id,
    m.Transaction: lambda d: _null_lists(_normalise_id(d), "orderDetails"),
    m.PaymentOption: lambda d: _null_lists(d, "extraData"),
    m.FormInput: lambda d: _null_lists(d, "values"),
    m.Suboption: lambda d: _null_lists(d, "formInputs"),
}


# --- generated class hooks -------------------------------------------------------------------


def _renames(cls: type) -> dict[str, Any]:
    return {
        field.name: override(omit=True)
        if field.name == "raw"
        else override(rename=to_camel(field.name))
        for field in attrs.fields(cls)
    }


def _register(cls: type) -> None:
    structure: Callable[[Any, Any], Any] = make_dict_structure_fn(
        cls, _converter, _cattrs_forbid_extra_keys=False, **_renames(cls)
    )
    normalise = _NORMALISERS.get(cls)
    keeps_raw = "raw" in attrs.fields_dict(cls)

    def hook(data: Any, _: type) -> Any:
        wire = data
        if normalise is not None:
            data = normalise(data)
        if not isinstance(data, dict):
            raise TypeError(f"{cls.__name__}: expected a JSON object, got {type(data).__name__}")
        obj = structure(data, cls)
        if keeps_raw:
            object.__setattr__(obj, "raw", _readonly(wire))
        return obj

    _converter.register_structure_hook(cls, hook)
    _converter.register_unstructure_hook(
        cls,
        make_dict_unstructure_fn(cls, _converter, _cattrs_omit_if_default=True, **_renames(cls)),
    )


def _readonly(wire: Any) -> Mapping[str, Any]:
    if isinstance(wire, dict):
        return MappingProxyType(wire)
    return MappingProxyType({"items": wire})


for _cls in (
    m.Address,
    m.Identification,
    m.Customer,
    m.OrderDetail,
    m.PaymentOptionsRequest,
    m.PayoutOptionsRequest,
    m.SuboptionsRequest,
    m.SubmitRequest,
    m.SettleRequest,
    m.RefundRequest,
    m.FormValidations,
    m.FormInput,
    m.PaymentOption,
    m.InitiatedSession,
    m.CashierLink,
    m.Suboption,
    m.Suboptions,
    m.SubmitResult,
    m.SettleResult,
    m.Refund,
    m.TransactionError,
    m.Transaction,
):
    _register(_cls)


# --- public helpers used by the client, the sandbox and the webhooks --------------------------


def loads(body: bytes) -> Any:
    """Decode a JSON body; any failure is a :class:`ResponseFormatError`.

    orjson reads JSON numbers as binary floats, exact up to 15 significant digits.
    A body holding a longer number (a large crypto amount, say) is read again with
    the stdlib parser and ``Decimal`` for every non-integer, so money stays exact.
    """
    try:
        data = orjson.loads(body)
        if _LONG_NUMBER.search(body) is not None:
            data = json.loads(body, parse_float=Decimal)
        return data
    except (orjson.JSONDecodeError, ValueError, RecursionError) as exc:
        raise ResponseFormatError(
            f"response is not valid JSON ({type(exc).__name__})", body_excerpt=redact_bytes(body)
        ) from None


def dumps(payload: Any) -> bytes:
    """Encode a JSON body (``Decimal`` already turned into exact JSON numbers)."""
    return orjson.dumps(payload)


def parse(cls: type[T], data: Any) -> T:
    """Structure wire JSON into ``cls``; any shape problem is a :class:`ResponseFormatError`."""
    try:
        return _converter.structure(data, cls)
    except RecursionError:
        raise ResponseFormatError(f"{cls.__name__}: {_MAX_DEPTH_HINT}") from None
    except Exception as exc:
        raise ResponseFormatError(
            f"response does not match {cls.__name__}: {type(exc).__name__}: {exc}"[:300]
        ) from None


def to_wire(obj: Any) -> dict[str, Any]:
    """Unstructure a request or model into its camelCase wire dict (``None`` fields omitted)."""
    wire: dict[str, Any] = _converter.unstructure(obj)
    return wire


def to_plain(obj: Any) -> dict[str, Any]:
    """Like :func:`to_wire` but JSON-ready with only plain types (money as exact strings)."""
    result: dict[str, Any] = json.loads(orjson.dumps(to_wire(obj)), parse_float=str)
    return result
