"""Secrets never leak: keys and card data stay out of reprs, messages, excerpts and logs."""

from __future__ import annotations

import ast
import logging
import re
import traceback
from collections.abc import AsyncIterator, Awaitable, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest
from aioresponses import aioresponses

import kasha_async
from kasha_async import (
    Customer,
    Identification,
    KashaClient,
    KashaError,
    KashaErrorCode,
    PaymentOptionsRequest,
    PayoutOptionsRequest,
    SubmitRequest,
    ValidationError,
)
from kasha_async._redact import redact_bytes, redact_text
from tests.fixtures import sample

BASE = "https://kasha.test"
API_KEY = "sk_live_7Qz9SECRETAPIKEY"
SIGNATURE_KEY = "whsec_5Yp2SECRETSIGNKEY"
PAN = "4111111111111111"
CVV = "7391"
EXPIRY_YEAR = "2039"
EXPIRY_MONTH = "11"
CARD = {
    "cardnum": PAN,
    "cardcvv": CVV,
    "expiryyear": EXPIRY_YEAR,
    "expirymonth": EXPIRY_MONTH,
    "cardholder": "J Doe",
}
# Values that must appear nowhere; the month is too short to search for alone.
SECRETS = (API_KEY, SIGNATURE_KEY, PAN, CVV, EXPIRY_YEAR)
CARD_FIELD = re.compile(r"(cardnum|cardcvv|expiryyear|expirymonth)\W{0,4}\d")

PAYMENT = PaymentOptionsRequest(
    country="BR",
    currency="BRL",
    amount=Decimal("10.00"),
    redirect_url="https://merchant.example/r",
    customer=Customer(name="A", identify=Identification(number="76486883X", type="DNI")),
    stored_token="tok_saved_card_1",
)
PAYOUT = PayoutOptionsRequest(
    country="AR",
    currency="ARS",
    amount=Decimal("10.00"),
    redirect_url="https://merchant.example/r",
    customer=Customer(name="A"),
)

Call = Callable[[KashaClient], Awaitable[object]]
CALLS: dict[str, tuple[str, str, Call, Any]] = {
    "payments.options": (
        "POST",
        "/v2/payment-options",
        lambda c: c.payments.options(PAYMENT),
        sample("payment-options"),
    ),
    "payments.create_session": (
        "POST",
        "/v2/payment-session",
        lambda c: c.payments.create_session(PAYMENT),
        {"transactionId": "t", "sessionId": "s", "cashierUrl": "https://c"},
    ),
    "payments.suboptions": (
        "POST",
        "/v2/payment-suboptions",
        lambda c: c.payments.suboptions(session_id="s", payment_option_id="p", multipart=True),
        sample("payment-suboptions"),
    ),
    "payments.post": (
        "POST",
        "/v2/payment",
        lambda c: c.payments.post(session_id="s-post", payment_option_id="p", extra_data=CARD),
        sample("payment"),
    ),
    "payments.hybrid": (
        "POST",
        "/v2/hybrid-payment",
        lambda c: c.payments.hybrid(session_id="s", payment_option_id="p"),
        sample("hybrid-payment"),
    ),
    "payouts.options": (
        "POST",
        "/v2/payout-options",
        lambda c: c.payouts.options(PAYOUT),
        sample("payout-options"),
    ),
    "payouts.create_session": (
        "POST",
        "/v2/payout-session",
        lambda c: c.payouts.create_session(PAYOUT),
        {"transactionId": "t", "sessionId": "s", "cashierUrl": "https://c"},
    ),
    "payouts.suboptions": (
        "POST",
        "/v2/payout-suboptions",
        lambda c: c.payouts.suboptions(session_id="s", payment_option_id="p"),
        sample("payout-suboptions"),
    ),
    "payouts.create": (
        "POST",
        "/v2/payout",
        lambda c: c.payouts.create(session_id="s-create", payment_option_id="p", extra_data=CARD),
        sample("payout"),
    ),
    "payouts.settle": (
        "POST",
        "/v2/settle-payout",
        lambda c: c.payouts.settle(transaction_id="t", action="APPROVE"),
        sample("settle-payout"),
    ),
    "refunds.create": (
        "POST",
        "/v2/refund",
        lambda c: c.refunds.create(merchant_reference="m"),
        sample("refund"),
    ),
    "transactions.get": (
        "GET",
        "/v2/transactions/t",
        lambda c: c.transactions.get("t"),
        sample("transaction"),
    ),
}

ECHOED_REQUEST = orjson.dumps(
    {
        "statusCode": "3009",
        "resultType": "error",
        "errors": {"code": "3009", "msg": "Invalid card number."},
        "request": {"sessionId": "s", "extraData": CARD, "x-api-key": API_KEY},
    }
)
ERROR_ANSWERS = {
    "400-echoes-request": (400, ECHOED_REQUEST),
    "200-error-echoes-request": (200, ECHOED_REQUEST),
    "400-card-in-message": (
        400,
        orjson.dumps({"errors": {"code": "3009", "msg": f"Invalid card number {PAN}"}}),
    ),
    "400-card-only": (400, orjson.dumps({"cardnum": PAN, "cardcvv": CVV})),
    "500-html-with-card": (500, f"<html>upstream said {PAN}</html>".encode()),
    "200-truncated-with-card": (200, f'{{"extraData": {{"cardnum": "{PAN}", "cardcvv'.encode()),
    "401-echoes-key": (
        401,
        orjson.dumps({"errors": {"code": "401", "msg": f"Unknown x-api-key {API_KEY}"}}),
    ),
}


def assert_clean(text: str) -> None:
    """No secret value and no card field followed by digits appears in ``text``."""
    for secret in SECRETS:
        assert secret not in text
    assert CARD_FIELD.search(text) is None, CARD_FIELD.search(text)


@pytest.fixture
async def client() -> AsyncIterator[KashaClient]:
    """A signing client with recognisable secrets and no retries."""
    async with KashaClient(
        api_key=API_KEY, base_url=BASE, signature_key=SIGNATURE_KEY, max_retries=0
    ) as kasha:
        yield kasha


def mock(mocked: Any, method: str, path: str, status: int, body: bytes) -> None:
    """Answer ``method path`` with ``status`` and ``body``."""
    mocked.add(BASE + path, method=method, status=status, body=body, repeat=True)


async def test_successful_calls_leak_nothing(
    client: KashaClient, caplog: pytest.LogCaptureFixture
) -> None:
    """Every endpoint's success, logged at DEBUG, shows no key or card data anywhere."""
    caplog.set_level(logging.DEBUG)
    shown: list[str] = [repr(client), str(client), repr(client.with_options(max_retries=1))]
    with aioresponses() as mocked:
        for method, path, _, answer in CALLS.values():
            mock(mocked, method, path, 200, orjson.dumps(answer))
        for _, _, call, _ in CALLS.values():
            result = await call(client)
            shown += [repr(result), str(result)]
    shown += [repr(PAYMENT), repr(PAYOUT)]
    shown.append(repr(SubmitRequest(session_id="s", payment_option_id="p", extra_data=CARD)))
    assert len(caplog.records) >= len(CALLS)
    assert_clean(caplog.text)
    for text in shown:
        assert_clean(text)
    assert "76486883X" not in "".join(shown)
    assert "tok_saved_card_1" not in "".join(shown)


@pytest.mark.parametrize("answer", list(ERROR_ANSWERS), ids=str)
async def test_error_answers_leak_nothing(
    client: KashaClient, caplog: pytest.LogCaptureFixture, answer: str
) -> None:
    """Error answers that echo keys or card data leave them out of errors and logs."""
    caplog.set_level(logging.DEBUG)
    status, body = ERROR_ANSWERS[answer]
    errors: list[KashaError] = []
    with aioresponses() as mocked:
        for method, path, _, _ in CALLS.values():
            mock(mocked, method, path, status, body)
        for _, _, call, _ in CALLS.values():
            with pytest.raises(KashaError) as info:
                await call(client)
            errors.append(info.value)
    assert len(errors) == len(CALLS)
    assert_clean(caplog.text)
    for exc in errors:
        for text in shown_by(exc):
            assert_clean(text)


def chain(exc: BaseException) -> list[BaseException]:
    """``exc`` and every exception reachable through ``__cause__`` and ``__context__``."""
    seen: list[BaseException] = []
    todo: list[BaseException | None] = [exc]
    while todo:
        current = todo.pop()
        if current is not None and all(current is not other for other in seen):
            seen.append(current)
            todo += [current.__cause__, current.__context__]
    return seen


def shown_by(exc: BaseException) -> list[str]:
    """Every text an app could log about ``exc``: its chain's str, repr, attributes, traceback."""
    texts = ["".join(traceback.format_exception(exc))]
    for link in chain(exc):
        texts += [str(link), repr(link), repr(getattr(link, "__dict__", {}))]
        texts += [repr(getattr(link, name, None)) for name in ("request_info", "args")]
    return texts


def test_chain_walk_reaches_causes_and_contexts() -> None:
    """The leak check walks a chained cause and its context, so nothing there hides."""
    try:
        try:
            raise ValueError("inner " + API_KEY)
        except ValueError as inner:
            raise KeyError("middle") from inner
    except KeyError as middle:
        outer = KashaError("outer")
        outer.__context__ = middle
    assert len(chain(outer)) == 3
    assert any(API_KEY in text for text in shown_by(outer))


CBU = "0170099220000067797370"
IBAN = "ES9121000418450200051332"
ACCOUNT = "AC-7788-QZ"
HOLDER = "Maria Lopez Quintana"
BANK = {"cbu": CBU, "iban": IBAN, "accountNumber": ACCOUNT, "holder": HOLDER}
BANK_ECHO = orjson.dumps(
    {
        "statusCode": "1005",
        "resultType": "error",
        "errors": {
            "code": "1005",
            "msg": f"Invalid extraData: cbu={CBU} iban={IBAN} account {ACCOUNT} holder {HOLDER}",
        },
        "request": {"extraData": BANK},
    }
)


@pytest.mark.parametrize("operation", ["payouts.create", "payments.post"])
async def test_echoed_bank_details_are_masked(client: KashaClient, operation: str) -> None:
    """A 1005 that repeats the sent bank details keeps them out of str, reason and excerpt."""
    method, path, _, _ = CALLS[operation]
    submit = client.payouts.create if operation == "payouts.create" else client.payments.post
    with aioresponses() as mocked:
        mock(mocked, method, path, 400, BANK_ECHO)
        with pytest.raises(ValidationError) as info:
            await submit(session_id="s", payment_option_id="p", extra_data=BANK)
    exc = info.value
    assert exc.code == KashaErrorCode.INVALID_BANK_ACCOUNT_FORMAT
    assert "Invalid extraData" in (exc.reason or "")
    texts = [*shown_by(exc), exc.reason or "", exc.body_excerpt or ""]
    for text in texts:
        for value in (CBU, IBAN, ACCOUNT, HOLDER, CBU[:12], "9121000418"):
            assert value not in text, (value, text)


async def test_bank_details_are_masked_by_shape_when_not_sent(client: KashaClient) -> None:
    """A CBU, an IBAN or a named bank field the SDK never sent is masked by shape or name."""
    body = orjson.dumps(
        {
            "errors": {"code": "1005", "msg": f"account {CBU} / {IBAN} refused"},
            "beneficiary": {"accountNumber": "AB-12", "document": "X-99", "phone": "+54 911"},
        }
    )
    with aioresponses() as mocked:
        mock(mocked, "POST", "/v2/payout-suboptions", 400, body)
        with pytest.raises(ValidationError) as info:
            await client.payouts.suboptions(session_id="s", payment_option_id="p")
    for text in [*shown_by(info.value), info.value.body_excerpt or ""]:
        for value in (CBU, IBAN, "AB-12", "X-99", "+54 911"):
            assert value not in text, (value, text)


def file_texts(folder: Path) -> list[str]:
    """The bytes of every file in ``folder`` (journal, its WAL, the report), as text."""
    return [path.read_bytes().decode("latin-1") for path in sorted(folder.iterdir())]


async def test_echoed_bank_details_stay_out_of_the_journal_and_report(
    client: KashaClient, tmp_path: Path
) -> None:
    """A batch payout declined with an echo of its bank details journals and reports them masked."""
    from kasha_async.batch import PayoutItem, run_payouts

    item = PayoutItem(
        reference="r-1",
        country="AR",
        currency="ARS",
        amount="10.00",
        option="Bank Transfer",
        option_id="d_316",
        extra_data={"name": HOLDER, "phone": ACCOUNT},  # the fields the sample form knows
    )
    journal = tmp_path / "journal.sqlite"
    with aioresponses() as mocked:
        mock(mocked, "POST", "/v2/payout-options", 200, orjson.dumps(sample("payout-options")))
        mock(
            mocked, "POST", "/v2/payout-suboptions", 200, orjson.dumps(sample("payout-suboptions"))
        )
        mock(mocked, "POST", "/v2/payout", 400, BANK_ECHO)
        report = await run_payouts(client, [item], journal=journal, progress=False)
    report.write_csv(tmp_path / "report.csv")
    [result] = report.results
    assert "Invalid extraData" in f"{result.decline_reason} {result.last_error}"
    shown = [repr(report), repr(result), *file_texts(tmp_path)]
    for text in shown:
        for value in (CBU, IBAN, ACCOUNT, HOLDER):
            assert value not in text, (value, text[:200])


def test_masking_by_key_name_covers_compound_keys_and_numbers() -> None:
    """A bank or personal key inside a longer name is masked, string or number; others stay."""
    body = orjson.dumps(
        {"beneficiaryAccountNumber": 20345678, "customerPhone": "+54 9", "reference": "ord-7"}
    )
    excerpt = redact_bytes(body)
    assert "20345678" not in excerpt
    assert "+54 9" not in excerpt
    assert '"reference":"ord-7"' in excerpt


def test_a_huge_provider_message_is_cut_before_masking() -> None:
    """A provider message of a megabyte becomes a short reason, so masking stays cheap."""
    reason = redact_text("x " * 500_000 + CBU)
    assert len(reason) <= 1001
    assert reason.endswith("…")


def test_the_log_handler_imports_masking_from_its_home() -> None:
    """_logging imports redact_bytes from _redact, not through _errors' re-export."""
    source = (Path(kasha_async.__file__).parent / "_logging.py").read_text()
    sources = {
        node.module: [alias.name for alias in node.names]
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.ImportFrom)
    }
    assert "redact_bytes" in sources["_redact"]
    assert not any(name.startswith("redact") for name in sources.get("_errors", []))
