"""The only cattrs converter: wire JSON <-> value objects, and the provider's quirks.

Rules (CONTRACT.md §4), all here and nowhere else:

- camelCase on the wire, snake_case in Python; ``_id`` is read as ``id``.
- Money is ``Decimal``: JSON integers and strings exactly, floats through their
  shortest ``repr`` (never ``Decimal(float)``); money is written as a JSON number
  with exactly the digits of the ``Decimal``.
- ``statusCode`` as ``"000"``, ``0``, ``"085"``, ``85`` -> one ``int``, ``result_code``.
- Numbers where strings are expected (``customer.phone``) become strings.
- Array-wrapped answers are unwrapped; suboption ``options`` may be an object or a
  list, ``formInputs`` at ``result`` level or inside the option; ``null`` where a list
  belongs is an empty list.
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
from types import MappingProxyType, NoneType
from typing import Any, TypeVar, get_args

import attrs
import orjson
from cattrs import Converter
from cattrs.fns import identity
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override

from . import _models as m
from ._codes import KashaErrorCode, SettleAction, TransactionStatus
from ._errors import ResponseFormatError
from ._redact import redact_bytes, redact_text

T = TypeVar("T")

_converter = Converter(detailed_validation=False)
#: A number literal with 16+ significant digits: more than a binary float holds exactly.
_LONG_NUMBER = re.compile(rb"\d[\d.]{15,}")
#: Digits and "." -> "1": a body whose translation holds no 16 "1"s in a row cannot match
#: _LONG_NUMBER; the check costs ~0.5 us where the regex scan costs ~6 us per answer.
_NUMBER_RUN = bytes.maketrans(b"0123456789.", b"11111111111")
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


# Shape errors name the type, never the value: a message may be logged, and the value
# may be a card number or a key the provider echoed back.


def _structure_int(value: Any, _: type) -> int:
    if type(value) is int:
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)  # "000", "085"
    if isinstance(value, float) and value.is_integer():
        return int(value)
    raise TypeError(f"expected an integer, got {type(value).__name__}")


def _structure_bool(value: Any, _: type) -> bool:
    if isinstance(value, bool):
        return value
    if value in (0, 1, "true", "false"):
        return value in (1, "true")
    raise TypeError(f"expected a boolean, got {type(value).__name__}")


def parse_decimal(value: Any, _: type = Decimal) -> Decimal:
    """Read an answer's money exactly, through :func:`_models.read_amount`.

    JSON floats go through their shortest ``repr`` (never ``Decimal(float)``); NaN,
    infinities, exponent or underscore strings, negative amounts and amounts of 10**13
    and above are refused (a ``TypeError``, so the answer is a ResponseFormatError).
    """
    if isinstance(value, float) and not isinstance(value, bool):
        value = Decimal(repr(value))
    try:
        amount = m.read_amount(value)
    except ValueError as exc:
        message = str(exc)
    else:
        problem = m.amount_range_problem(amount)
        if problem is None:
            return amount
        message = problem
    raise TypeError(message)


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


#: Known statuses by wire value: a dict lookup where the Enum call costs ~1.5 us.
_STATUSES = {status.value: status for status in TransactionStatus}


def _structure_status(value: Any, _: type) -> TransactionStatus:
    if type(value) is not str:
        raise TypeError(f"expected a status string, got {type(value).__name__}")
    known = _STATUSES.get(value)
    return TransactionStatus(value) if known is None else known  # the call keeps unknowns


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
        return {**data, "options": [options]}
    return data


def _lift_form_inputs(suboptions: m.Suboptions, data: dict[str, Any]) -> None:
    """No ``formInputs`` at ``result`` level: the answer's inputs are its options' inputs.

    Done on the structured options, so each input is read once (the objects are frozen
    and shared).
    """
    if data.get("formInputs") is None:
        inputs = tuple(field for option in suboptions.options for field in option.form_inputs)
        object.__setattr__(suboptions, "form_inputs", inputs)


def _normalise_id(data: Any) -> Any:
    data = _unwrap(data)
    if isinstance(data, dict) and "id" not in data:
        fallback = data.get("_id") or data.get("transactionId")
        if fallback is not None:
            return {**data, "id": fallback}
    return data


def _mask_message(data: Any) -> Any:
    """A transaction's ``errors`` with its provider message masked: every reader gets it so."""
    if isinstance(data, dict) and isinstance(data.get("msg"), str):
        return {**data, "msg": redact_text(data["msg"])}
    return data


_NORMALISERS: dict[type, Callable[[Any], Any]] = {
    m.TransactionError: _mask_message,
    m.InitiatedSession: _unwrap,
    m.CashierLink: _unwrap,
    m.Suboptions: _normalise_suboptions,
    m.SubmitResult: _flatten_result,
    m.SettleResult: _unwrap,
    m.Refund: _normalise_id,
    m.Transaction: _normalise_id,
}

#: Quirks read on the structured object (with the normalised wire dict it came from).
_FINISHERS: dict[type, Callable[[Any, dict[str, Any]], None]] = {
    m.Suboptions: _lift_form_inputs,
}


# --- generated class hooks -------------------------------------------------------------------


#: Python names that are not the camelCase of their wire name. The provider's
#: ``statusCode`` is a result code (0, 85, 300), not an HTTP status: ``result_code``.
_WIRE_NAMES = {"result_code": "statusCode"}


def _renames(cls: type) -> dict[str, Any]:
    return {
        field.name: override(omit=True)
        if field.name == "raw"
        else override(rename=_WIRE_NAMES.get(field.name) or to_camel(field.name))
        for field in attrs.fields(cls)
    }


#: Scalar hooks that return a value already of exactly their type unchanged.
_RETURNS_EXACT: dict[Callable[[Any, type], Any], type] = {_structure_str: str, _structure_int: int}


def _optional_hook(inner: type, handler: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    exact = _RETURNS_EXACT.get(handler)
    if exact is not None:

        def structure_optional_scalar(value: Any, _: type) -> Any:
            if value is None or type(value) is exact:
                return value  # what ``handler`` would return, without the call
            return handler(value, exact)

        return structure_optional_scalar

    def structure_optional(value: Any, _: type) -> Any:
        return None if value is None else handler(value, inner)

    return structure_optional


# ``null`` where a list belongs (paymentOptions, extraData, formInputs, orderDetails,
# values) reads as empty: a rule of every list field, so it lives in the list hooks.


def _any_tuple(value: Any, _: type) -> tuple[Any, ...]:
    return () if value is None else tuple(value)


def _tuple_hook(item: type, handler: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    def structure_tuple(value: Any, _: type) -> Any:
        if value is None:
            return ()
        return tuple([handler(element, item) for element in value])

    return structure_tuple


def _is(kind: Any) -> Callable[[Any], bool]:
    return lambda candidate: bool(candidate == kind)


def _optional_inner(kind: Any) -> Any:
    """``X`` of an ``X | None`` field type, or None for any other type."""
    args = get_args(kind)
    if len(args) == 2 and NoneType in args:
        return args[0] if args[1] is NoneType else args[1]
    return None


def _resolve_field_hooks(cls: type) -> None:
    """Give ``X | None`` and ``tuple[X, ...]`` fields a hook bound to ``X``'s hook, once.

    cattrs' generic ``_structure_optional`` and ``_structure_tuple`` look the element's
    hook up again on every value; resolved here, a suboptions answer parses in about
    half the time. Only those two generic hooks are replaced, by code doing the same
    (and reading a list's ``null`` as empty).
    """
    for field in attrs.fields(attrs.resolve_types(cls)):
        kind = field.type
        current = _converter.get_structure_hook(kind)
        args = get_args(kind)
        inner = _optional_inner(kind)
        if current == _converter._structure_optional and inner is not None:
            hook = _optional_hook(inner, _converter.get_structure_hook(inner))
        elif current == _converter._structure_tuple and len(args) == 2 and args[1] is Ellipsis:
            if args[0] is Any:
                hook = _any_tuple
            else:
                hook = _tuple_hook(args[0], _converter.get_structure_hook(args[0]))
        else:
            continue
        _converter.register_structure_hook_func(_is(kind), hook)


def _not_an_object(cls: type, data: Any) -> TypeError:
    return TypeError(f"{cls.__name__}: expected a JSON object, got {type(data).__name__}")


def _class_hook(cls: type, structure: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    """The generated ``structure`` behind the class's quirk normaliser and its ``raw``."""
    normalise = _NORMALISERS.get(cls)
    finish = _FINISHERS.get(cls)
    keeps_raw = "raw" in attrs.fields_dict(cls)
    if normalise is None and finish is None and not keeps_raw:
        # Most nested objects (form inputs, options, customers): nothing but the type check.
        def structure_object(data: Any, _: type) -> Any:
            if isinstance(data, dict):
                return structure(data, cls)
            raise _not_an_object(cls, data)

        return structure_object

    def structure_answer(data: Any, _: type) -> Any:
        wire = data
        if normalise is not None:
            data = normalise(data)
        if not isinstance(data, dict):
            raise _not_an_object(cls, data)
        obj = structure(data, cls)
        if finish is not None:
            finish(obj, data)
        if keeps_raw:
            object.__setattr__(obj, "raw", _readonly(wire))
        return obj

    return structure_answer


def _write_optional_scalars_as_is(cls: type) -> None:
    """``X | None`` fields whose ``X`` is written as it is (``str``, ``int``) are too.

    cattrs wraps them in a None check around the identity; with the identity itself,
    the generated hook reads the attribute without a call.
    """
    for field in attrs.fields(cls):
        inner = _optional_inner(field.type)
        if inner is not None and _converter.get_unstructure_hook(inner) is identity:
            _converter.register_unstructure_hook(field.type, identity)


def _register(cls: type) -> None:
    _resolve_field_hooks(cls)
    _write_optional_scalars_as_is(cls)
    structure: Callable[[Any, Any], Any] = make_dict_structure_fn(
        cls, _converter, _cattrs_forbid_extra_keys=False, **_renames(cls)
    )
    _converter.register_structure_hook(cls, _class_hook(cls, structure))
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
        if b"1" * 16 in body.translate(_NUMBER_RUN) and _LONG_NUMBER.search(body) is not None:
            data = json.loads(body, parse_float=Decimal)
        return data
    except (orjson.JSONDecodeError, ValueError, RecursionError) as exc:
        failure = type(exc).__name__
    # Raised outside the handler: the decoder's error holds the whole body in ``doc``,
    # and ``from None`` would still keep it reachable as ``__context__``.
    raise ResponseFormatError(
        f"response is not valid JSON ({failure})", body_excerpt=redact_bytes(body)
    )


def dumps(payload: Any) -> bytes:
    """Encode a JSON body (``Decimal`` already turned into exact JSON numbers).

    Copied to a right-sized ``bytes``: orjson (3.12 and later) returns its working
    buffer, at least 4 KB, and a request body lives as long as its call (retries,
    signing, reconciliation), so 1,000 calls in flight held 4 MB for 137-byte
    bodies. The copy costs about 0.2 us.
    """
    return bytes(memoryview(orjson.dumps(payload)))


def parse(cls: type[T], data: Any) -> T:
    """Structure wire JSON into ``cls``; any shape problem is a :class:`ResponseFormatError`."""
    try:
        return _converter.structure(data, cls)
    except RecursionError:
        message = f"{cls.__name__}: {_MAX_DEPTH_HINT}"
    except Exception as exc:
        # KeyError names a missing field and our hooks' TypeErrors name types; other
        # messages (datetime's "Invalid isoformat string: '...'") quote the value.
        detail = f": {exc}" if isinstance(exc, KeyError | TypeError) else ""
        message = f"response does not match {cls.__name__}: {type(exc).__name__}{detail}"[:300]
    # Outside the handler, so the original (which may quote a value) is not ``__context__``.
    raise ResponseFormatError(message)


def to_wire(obj: Any) -> dict[str, Any]:
    """Unstructure a request or model into its camelCase wire dict (``None`` fields omitted)."""
    wire: dict[str, Any] = _converter.unstructure(obj)
    return wire


def to_plain(obj: Any) -> dict[str, Any]:
    """Like :func:`to_wire` but JSON-ready with only plain types (money as exact strings)."""
    result: dict[str, Any] = json.loads(orjson.dumps(to_wire(obj)), parse_float=str)
    return result
