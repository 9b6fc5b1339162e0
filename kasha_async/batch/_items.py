"""Batch input: :class:`PayoutItem` and the CSV / JSON readers that validate a whole file first.

A file is read twice: :func:`load_items` validates every row (collecting every
problem with its line number) before anything can be sent, and iterating the
returned :class:`PayoutFile` parses it again row by row, so a large file is never
held in memory.
"""

from __future__ import annotations

import csv
import json
import re
from collections import Counter
from collections.abc import Iterator, Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs

from .._errors import (
    InputFileError,
    InvalidRequestError,
)
from .._models import Customer, amount_problems, to_amount

#: The payout option used when a row names none.
DEFAULT_OPTION = "Bank Transfer"
_ALPHA2 = re.compile(r"[A-Z]{2}")
_ALPHA3 = re.compile(r"[A-Z]{3}")
_CUSTOMER_COLUMNS = ("name", "email", "phone")
_MAX_REFERENCE = 255
#: Columns a CSV header must have, and the others it may have (plus ``extra.<field>``).
REQUIRED_COLUMNS = ("reference", "country", "currency", "amount")
OPTIONAL_COLUMNS = ("option", "option_id", *(f"customer_{c}" for c in _CUSTOMER_COLUMNS))
_EXTRA = "extra."
#: JSON objects may also nest the customer and the form data.
_JSON_KEYS = frozenset({*REQUIRED_COLUMNS, *OPTIONAL_COLUMNS, "customer", "extra_data"})
_DELIMITERS = (",", ";", "\t")
_OTHER_SEPARATOR = re.compile(r"[;\t|:]")


@attrs.frozen(kw_only=True, slots=True)
class PayoutItem:
    """One payout of a batch; ``reference`` is its unique key, sent as ``merchantReference``."""

    reference: str
    country: str
    currency: str
    amount: Decimal = attrs.field(converter=to_amount)
    customer: Customer = attrs.field(factory=Customer)
    option: str = DEFAULT_OPTION
    option_id: str | None = None
    extra_data: Mapping[str, Any] = attrs.field(factory=dict, repr=False)

    def __attrs_post_init__(self) -> None:
        problems = item_problems(self)
        if problems:
            raise InvalidRequestError(
                f"invalid PayoutItem {self.reference!r}: " + "; ".join(problems),
                problems=tuple(problems),
            )


def item_problems(item: PayoutItem) -> list[str]:
    """Everything wrong with one item (empty when it can be sent)."""
    problems = []
    if not item.reference or len(item.reference) > _MAX_REFERENCE:
        problems.append(f"reference must be 1..{_MAX_REFERENCE} characters")
    if not _ALPHA2.fullmatch(item.country):
        problems.append(f"country must be 2 upper-case letters, got {item.country!r}")
    if not _ALPHA3.fullmatch(item.currency):
        problems.append(f"currency must be 3 upper-case letters, got {item.currency!r}")
    problems += amount_problems(item.amount, item.currency)
    if not item.option:
        problems.append("option must not be empty")
    return problems


def _blank_to_none(value: object) -> Any:
    return None if value is None or value == "" else value


def _unknown_keys(row: Mapping[str, Any]) -> list[str]:
    return sorted(
        k for k in row if k not in _JSON_KEYS and not (k.startswith(_EXTRA) and len(k) > 6)
    )


def _file_amount(value: object) -> Decimal:
    """A file's amount, read by the SDK's one parser (:func:`to_amount`: no exponents)."""
    if isinstance(value, float):
        value = repr(value)  # JSON numbers: the shortest repr, never Decimal(float)
    return to_amount(value)


def item_from_mapping(row: Mapping[str, Any]) -> PayoutItem:
    """Build an item from a JSON object or a CSV row (``customer_*`` / ``extra.*`` columns)."""
    unknown = _unknown_keys(row)
    if unknown:
        raise InvalidRequestError(f"unknown field(s) {unknown}")
    customer = row.get("customer")
    if customer is None:
        customer = {k: _blank_to_none(row.get(f"customer_{k}")) for k in _CUSTOMER_COLUMNS}
    extra = row.get("extra_data")
    if extra is None:
        extra = {k[6:]: v for k, v in row.items() if k.startswith("extra.") and v not in ("", None)}
    if not isinstance(customer, Mapping) or not isinstance(extra, Mapping):
        raise InvalidRequestError("customer and extra_data must be objects")
    known = {f.name for f in attrs.fields(Customer)}
    strange = set(customer) - known
    if strange:
        raise InvalidRequestError(f"unknown customer fields {sorted(strange)}")
    amount = row.get("amount")
    if amount not in (None, ""):
        amount = _file_amount(amount)
    return PayoutItem(
        reference=str(row.get("reference") or ""),
        country=str(row.get("country") or ""),
        currency=str(row.get("currency") or ""),
        amount=amount if amount not in (None, "") else "",
        customer=Customer(**{k: _blank_to_none(v) for k, v in customer.items()}),
        option=str(row.get("option") or DEFAULT_OPTION),
        option_id=_blank_to_none(row.get("option_id")),
        extra_data={str(k): v for k, v in extra.items()},
    )


def header_problems(columns: list[str]) -> list[str]:
    """What is wrong with a CSV header: missing and unknown columns, each named."""
    problems = []
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    if missing:
        problems.append(f"missing column(s) {', '.join(missing)}")
    unknown = _unknown_keys(dict.fromkeys(columns))
    if unknown:
        allowed = ", ".join((*REQUIRED_COLUMNS, *OPTIONAL_COLUMNS, "extra.<field>"))
        problems.append(f"unknown column(s) {', '.join(unknown)} (known: {allowed})")
    repeated = sorted(c for c, n in Counter(columns).items() if n > 1)
    if repeated:
        problems.append(f"repeated column(s) {', '.join(repeated)}")
    return problems


def _header(line: str) -> tuple[str, list[str]] | str:
    """The delimiter and columns of a CSV header line, or what is wrong with it."""
    if not line.strip():
        return "the file is empty: the first line must be the header"
    split = {d: [c.strip() for c in next(csv.reader([line], delimiter=d))] for d in _DELIMITERS}
    fits = [d for d in _DELIMITERS if set(REQUIRED_COLUMNS) <= set(split[d])]
    if len(fits) == 1:
        problems = header_problems(split[fits[0]])
        return (fits[0], split[fits[0]]) if not problems else "header: " + "; ".join(problems)
    if not fits and len(split[","]) == 1 and _OTHER_SEPARATOR.search(line):
        return "header: cannot tell the delimiter; separate the columns with commas"
    return "header: " + "; ".join(header_problems(split[","]))


def _csv_rows(path: Path) -> Iterator[tuple[int, Mapping[str, Any] | str]]:
    with path.open(newline="", encoding="utf-8-sig") as handle:
        header = _header(handle.readline())
        if isinstance(header, str):
            yield 1, header
            return
        delimiter, columns = header
        reader = csv.DictReader(handle, fieldnames=columns, delimiter=delimiter)
        rows = 0
        for row in reader:
            rows += 1
            if None in row:
                yield reader.line_num + 1, "more cells than header columns"
            else:
                yield reader.line_num + 1, row
        if not rows:
            yield 1, "the file has a header but no rows"


def _json_rows(path: Path) -> Iterator[tuple[int, Mapping[str, Any] | str]]:
    """Each element of a top-level JSON array, with the line it starts on."""
    text = path.read_text(encoding="utf-8")
    decoder = json.JSONDecoder()
    pos = _skip_space(text, 0)
    if not text.startswith("[", pos):
        yield 1, "the file must hold a JSON array of objects"
        return
    pos = _skip_space(text, pos + 1)
    if text.startswith("]", pos):
        yield 1, "the file holds no rows"
    while pos < len(text) and text[pos] != "]":
        line = text.count("\n", 0, pos) + 1
        try:
            value, pos = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as exc:
            yield exc.lineno, f"not valid JSON: {exc.msg}"
            return
        yield line, value if isinstance(value, dict) else "each element must be a JSON object"
        pos = _skip_space(text, pos)
        if text.startswith(",", pos):
            pos = _skip_space(text, pos + 1)


def _skip_space(text: str, pos: int) -> int:
    while pos < len(text) and text[pos].isspace():
        pos += 1
    return pos


def _rows(path: Path) -> Iterator[tuple[int, Mapping[str, Any] | str]]:
    if path.suffix.lower() == ".json":
        return _json_rows(path)
    return _csv_rows(path)


def _parse_row(line: int, row: Mapping[str, Any] | str) -> PayoutItem | str:
    if isinstance(row, str):
        return f"line {line}: {row}"
    try:
        return item_from_mapping(row)
    except InvalidRequestError as exc:
        return f"line {line}: " + "; ".join(exc.problems)
    except (TypeError, ValueError) as exc:
        return f"line {line}: {exc}"


@attrs.frozen
class PayoutFile:
    """A validated input file; iterating it parses the rows again, one at a time."""

    path: Path
    count: int

    def __iter__(self) -> Iterator[PayoutItem]:
        for line, row in _rows(self.path):
            item = _parse_row(line, row)
            if isinstance(item, str):  # the file changed since it was validated
                raise InputFileError(str(self.path), (item,))
            yield item

    def __len__(self) -> int:
        return self.count


def load_items(path: str | Path) -> PayoutFile:
    """Validate every row of a ``.csv`` or ``.json`` file; :class:`InputFileError` if any is bad.

    Duplicate references are problems too (both lines are named). Nothing is kept
    in memory but the references seen.
    """
    path = Path(path)
    problems: list[str] = []
    first_line: dict[str, int] = {}
    count = 0
    try:
        for line, row in _rows(path):
            item = _parse_row(line, row)
            if isinstance(item, str):
                problems.append(item)
                continue
            count += 1
            seen = first_line.setdefault(item.reference, line)
            if seen != line:
                problems.append(
                    f"line {line}: duplicate reference {item.reference!r} (line {seen})"
                )
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        problems.append(f"cannot read the file: {exc}")
    if problems:
        raise InputFileError(str(path), tuple(problems))
    return PayoutFile(path, count)
