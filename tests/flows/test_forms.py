"""Form-input validation of extra_data, before anything is sent."""

from __future__ import annotations

import subprocess
import sys

import pytest

from kasha_async import FormInput, FormValidations, InvalidRequestError, _convert
from kasha_async._models import PaymentOption, Suboptions
from kasha_async.flows._forms import form_inputs, form_problems, validate_extra_data
from tests.fixtures import sample

INPUTS = (
    FormInput(
        name="phone", label="Phone", required=True, validations=FormValidations(min_length=11)
    ),
    FormInput(name="name", required=True, validations=FormValidations(max_length=5)),
    FormInput(name="account", validations=FormValidations(pattern=r"^[0-9]+$")),
    FormInput(name="bank", values=({"value": "b1"}, "b2")),
    FormInput(name="doc", required=True),
)


def test_every_problem_is_listed_in_one_error() -> None:
    """Short, long, pattern, value and missing-required problems come together."""
    data = {"phone": "+55119", "name": "Janet Roe", "account": "12a", "bank": "b3"}
    with pytest.raises(InvalidRequestError) as caught:
        validate_extra_data(INPUTS, data)
    problems = caught.value.problems
    assert len(problems) == 5
    assert [p.split(":")[0] for p in problems] == [
        "phone (Phone)",
        "name",
        "account",
        "bank",
        "doc",
    ]


def test_problems_never_echo_the_value() -> None:
    """A card number typed into a too-long field never appears in the message."""
    secret = "4242424242424242"
    problems = form_problems(INPUTS, {"name": secret, "phone": "+5511999990000", "doc": "x"})
    assert problems == ["name: at most 5 characters, got 16"]
    assert secret not in " ".join(problems)


def test_valid_data_and_blank_optional_fields_pass() -> None:
    """Correct values pass; an optional field left empty is not checked."""
    data = {"phone": "+5511999990000", "name": "Jane", "account": "", "bank": "b1", "doc": "1"}
    validate_extra_data(INPUTS, data)


def test_unreadable_pattern_and_non_text_values() -> None:
    """A pattern Python cannot compile is skipped; a dict value is reported as not text."""
    inputs = (FormInput(name="x", validations=FormValidations(pattern="([")),)
    assert form_problems(inputs, {"x": "anything"}) == []
    assert form_problems(inputs, {"x": {"nested": 1}}) == ["x: must be text, got dict"]


def test_form_rules_and_status_rank_import_without_aiohttp_web() -> None:
    """flows._forms and flows._states (what the sandbox imports) load no aiohttp.web or batch."""
    code = (
        "import sys; import kasha_async.flows._forms, kasha_async.flows._states; "
        "print(sorted(m for m in sys.modules if m == 'aiohttp.web' or 'batch' in m))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_payout_inputs_inside_the_option_are_checked_once() -> None:
    """A payout's inputs (inside its one option, lifted to the answer) each give one problem."""
    subs = _convert.parse(Suboptions, sample("payout-suboptions"))
    option = PaymentOption(payment_option_id="d_316", name="Bank transfer")
    inputs = form_inputs(option, subs, subs.options[0].id)
    assert [field.name for field in inputs] == ["name", "phone"]
    assert [p.split(":")[0] for p in form_problems(inputs, {})] == ["name (Beneficiary's name)"]
