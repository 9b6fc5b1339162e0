"""Check the end user's ``extraData`` against an option's form inputs, before anything is sent.

Pure. Every problem is collected and raised as one :class:`InvalidRequestError`
(``.problems``). Messages name the field and the rule, never the value: the
value may be a card number.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping
from typing import Any

from .._errors import InvalidRequestError
from .._models import FormInput, PaymentOption, Suboptions

#: The value types a form input takes (as text). Built once: ``str | int | float`` in
#: an ``isinstance`` call would build the union again on every value.
_TEXT_LIKE = str | int | float


@functools.lru_cache(maxsize=256)
def _compile(pattern: str) -> re.Pattern[str] | None:
    try:
        return re.compile(pattern)
    except re.error:
        return None  # a pattern Python cannot read is the server's to enforce, not ours


def _allowed(values: tuple[Any, ...]) -> frozenset[str]:
    """Allowed values as strings; entries may be scalars or ``{"value"|"id": ...}`` objects."""
    allowed = set()
    for entry in values:
        if isinstance(entry, Mapping):
            entry = entry.get("value", entry.get("id"))
        if entry is not None:
            allowed.add(str(entry))
    return frozenset(allowed)


def _field(form_input: FormInput) -> str:
    """How a message names an input: its name, and its label when it has one."""
    return form_input.name if not form_input.label else f"{form_input.name} ({form_input.label})"


def input_problems(form_input: FormInput, value: object) -> list[str]:
    """What is wrong with one present, non-blank value (empty list when it is fine).

    The messages (and the field's label in them) are only built for a value that
    breaks a rule: a valid value costs the checks and nothing else.
    """
    if isinstance(value, bool) or not isinstance(value, _TEXT_LIKE):
        return [f"{_field(form_input)}: must be text, got {type(value).__name__}"]
    text = str(value)
    problems = []
    rules = form_input.validations
    if rules is not None:
        if rules.min_length is not None and len(text) < rules.min_length:
            problems.append(f"at least {rules.min_length} characters, got {len(text)}")
        if rules.max_length is not None and len(text) > rules.max_length:
            problems.append(f"at most {rules.max_length} characters, got {len(text)}")
        compiled = _compile(rules.pattern) if rules.pattern else None
        if compiled is not None and compiled.search(text) is None:
            problems.append(f"does not match the pattern {rules.pattern!r}")
    allowed = _allowed(form_input.values) if form_input.values else frozenset()
    if allowed and text not in allowed:
        problems.append(f"not one of the allowed values {sorted(allowed)}")
    if not problems:
        return problems
    field = _field(form_input)
    return [f"{field}: {problem}" for problem in problems]


def form_problems(inputs: Iterable[FormInput], extra_data: Mapping[str, Any]) -> list[str]:
    """Every problem of ``extra_data`` against ``inputs``: required, lengths, pattern, values."""
    problems: list[str] = []
    seen: set[str] = set()
    for form_input in inputs:
        if form_input.name in seen:
            continue
        seen.add(form_input.name)
        value = extra_data.get(form_input.name)
        if value is None or (isinstance(value, str) and not value.strip()):  # blank
            if form_input.required:
                problems.append(f"{_field(form_input)}: required")
            continue
        problems += input_problems(form_input, value)
    return problems


def validate_extra_data(inputs: Iterable[FormInput], extra_data: Mapping[str, Any]) -> None:
    """Raise one :class:`InvalidRequestError` listing every problem of ``extra_data``."""
    problems = form_problems(inputs, extra_data)
    if problems:
        raise InvalidRequestError(
            "invalid extra_data: " + "; ".join(problems), problems=tuple(problems)
        )


def form_inputs(
    option: PaymentOption, suboptions: Suboptions | None, option_id: str | None
) -> list[FormInput]:
    """The inputs a create with ``option_id`` fills: the option's, the suboptions' and its own.

    Each once: a payout answer's inputs sit inside its one option and are also its
    ``form_inputs`` (``_convert`` lifts them), so the chosen option's own repeat them.
    """
    inputs = list(option.extra_data)
    if suboptions is not None:
        inputs += suboptions.form_inputs
        for sub in suboptions.options:
            if sub.id == option_id:
                inputs += [field for field in sub.form_inputs if field not in inputs]
    return inputs


def unknown_fields(inputs: Iterable[FormInput], extra_data: Mapping[str, Any]) -> list[str]:
    """The ``extra_data`` names no input has, sorted (the provider would drop them)."""
    return sorted(set(extra_data) - {f.name for f in inputs})
