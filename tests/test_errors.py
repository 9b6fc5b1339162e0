"""The exception tree and CONTRACT.md §5: every error answer maps to its exception."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
from aioresponses import aioresponses
from yarl import URL

from kasha_async import (
    CODE_TABLE,
    APIStatusError,
    AuthenticationError,
    BadRequestError,
    ConfigError,
    ConflictError,
    ConnectionLostError,
    Customer,
    DeclinedError,
    FlowStateError,
    InvalidRequestError,
    KashaClient,
    KashaError,
    KashaErrorCode,
    NotFoundError,
    OutcomeUnknownError,
    RateLimitError,
    RequestNotSentError,
    ResponseFormatError,
    ServerError,
    SessionAlreadyUsedError,
    SessionExpiredError,
    SessionGoneError,
    TransportError,
    ValidationError,
)
from kasha_async._errors import DuplicateTransactionError, error_from_response, redact_bytes

BASE = "https://kasha.test"
TX_URL = BASE + "/v2/transactions/tx-1"
POST_URL = BASE + "/v2/payment"
VALIDATION_CODES = list(range(1000, 1010))
DECLINE_CODES = [*range(994, 1000), *range(3000, 3027)]
EXCERPT_MAX = 501  # 500 characters and an ellipsis


def error_body(code: int | str, msg: str, transaction_id: str | None = "tx-err") -> bytes:
    """The sandbox's error body for ``code``."""
    body: dict[str, Any] = {
        "statusCode": str(code),
        "resultType": "error",
        "errors": {"code": str(code), "msg": msg},
    }
    if transaction_id is not None:
        body["result"] = {"transactionId": transaction_id}
    return orjson.dumps(body)


@pytest.fixture
async def client() -> AsyncIterator[KashaClient]:
    """A client that never retries, so each answer maps straight to its exception."""
    async with KashaClient(api_key="k", base_url=BASE, max_retries=0) as kasha:
        yield kasha


@pytest.fixture
def mocked() -> Any:
    """aioresponses, active for the test."""
    with aioresponses() as mock:
        yield mock


def sent(mocked: Any, method: str, url: str) -> int:
    """How many requests went to ``method`` ``url`` (asserting nothing else was sent)."""
    assert set(mocked.requests) <= {(method, URL(url))}
    return len(mocked.requests.get((method, URL(url)), []))


async def post_payment(client: KashaClient) -> object:
    """Post a payment on a session the client never opened (no transaction id known)."""
    return await client.payments.post(session_id="s-1", payment_option_id="po-1")


# --- the tree ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cls", "bases"),
    [
        (ConfigError, (KashaError, ValueError)),
        (InvalidRequestError, (KashaError, ValueError)),
        (FlowStateError, (KashaError, RuntimeError)),
        (SessionExpiredError, (FlowStateError,)),
        (SessionAlreadyUsedError, (FlowStateError,)),
        (RequestNotSentError, (TransportError,)),
        (ConnectionLostError, (TransportError, OutcomeUnknownError)),
        (BadRequestError, (APIStatusError,)),
        (AuthenticationError, (APIStatusError,)),
        (NotFoundError, (APIStatusError,)),
        (ConflictError, (APIStatusError,)),
        (SessionGoneError, (APIStatusError,)),
        (RateLimitError, (APIStatusError,)),
        (ServerError, (APIStatusError,)),
        (ValidationError, (DeclinedError,)),
        (ResponseFormatError, (KashaError,)),
    ],
)
def test_exception_tree(cls: type[Exception], bases: tuple[type[Exception], ...]) -> None:
    """Each exception sits where the drawn tree puts it, under KashaError."""
    assert issubclass(cls, KashaError)
    assert all(issubclass(cls, base) for base in bases)


def test_not_sent_and_unknown_are_disjoint() -> None:
    """Nothing is both "certainly not sent" and "outcome unknown"."""
    assert not issubclass(RequestNotSentError, OutcomeUnknownError)
    assert not issubclass(OutcomeUnknownError, DeclinedError)
    assert not issubclass(DeclinedError, APIStatusError)


# --- error_from_response, the one mapping function ---------------------------------------------


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, BadRequestError),
        (401, AuthenticationError),
        (403, APIStatusError),
        (404, NotFoundError),
        (409, ConflictError),
        (410, SessionGoneError),
        (429, RateLimitError),
        (500, ServerError),
        (502, ServerError),
        (503, ServerError),
        (504, ServerError),
        (307, APIStatusError),
    ],
)
def test_status_without_code_maps_to_status_class(status: int, cls: type[APIStatusError]) -> None:
    """An error status whose body has no code picks the class for the status."""
    raw = b'{"message": "nope"}'
    exc = error_from_response(status, orjson.loads(raw), raw)
    assert type(exc) is cls
    assert isinstance(exc, APIStatusError)
    assert exc.status_code == status
    assert exc.body_excerpt == raw.decode()
    assert exc.code is None


def test_body_message_joins_the_status_message() -> None:
    """The ``errors.msg`` of an error body ends up in the exception's message."""
    raw = error_body(404, "Transaction not found")
    exc = error_from_response(404, orjson.loads(raw), raw)
    assert isinstance(exc, NotFoundError)
    assert str(exc) == "HTTP 404: Transaction not found"
    assert exc.transaction_id == "tx-err"


@pytest.mark.parametrize("code", ["3017", 3017, " 3017 "])
def test_code_as_string_or_number(code: object) -> None:
    """A code sent as a string, a number or a padded string is read as the same enum member."""
    body = {"errors": {"code": code, "msg": "dup"}}
    exc = error_from_response(400, body, orjson.dumps(body))
    assert isinstance(exc, DeclinedError)
    assert exc.code is KashaErrorCode.DUPLICATE_TRANSACTION


def test_errors_given_as_a_list_and_body_array_wrapped() -> None:
    """An ``errors`` list and an array-wrapped body are read like the plain shape."""
    body = [{"errors": [{"code": "3000", "message": "no funds"}], "transactionId": "tx-w"}]
    exc = error_from_response(400, body, orjson.dumps(body))
    assert isinstance(exc, DeclinedError)
    assert exc.code is KashaErrorCode.INSUFFICIENT_FUNDS
    assert exc.reason == "no funds"
    assert exc.transaction_id == "tx-w"


def test_reason_falls_back_to_the_code_table() -> None:
    """Without a message the reason is the reference table's reason for the code."""
    body = {"errors": {"code": "3007"}}
    exc = error_from_response(400, body, orjson.dumps(body))
    assert isinstance(exc, DeclinedError)
    assert exc.reason == "Card expired."
    assert str(exc) == "Declined: Card expired. (code 3007)"


def test_redact_bytes_caps_the_excerpt() -> None:
    """An excerpt is at most 500 characters plus an ellipsis, however large the body."""
    excerpt = redact_bytes(b"x" * 10_000_000)
    assert len(excerpt) == EXCERPT_MAX
    assert excerpt.endswith("…")
    assert redact_bytes(b"short") == "short"


def test_redact_bytes_masks_card_data_and_keys() -> None:
    """Card fields, keys and bare card numbers are masked in excerpts."""
    raw = (
        b'{"cardnum": "4111111111111111", "cardcvv": "739", "expiryyear": 2031,'
        b' "expirymonth": "08", "x-api-key": "sk-secret", "note": "pan 4111 1111 1111 1111"}'
    )
    excerpt = redact_bytes(raw)
    for secret in ("4111111111111111", "739", "2031", '"08"', "sk-secret", "4111 1111"):
        assert secret not in excerpt
    assert excerpt.count("[REDACTED]") == 5
    assert "[REDACTED-PAN]" in excerpt


def test_redact_bytes_adds_no_ellipsis_to_a_short_masked_body() -> None:
    """Masking shortens a body; a short body is still shown whole, without an ellipsis."""
    assert redact_bytes(b"card 4111111111111111 refused") == "card [REDACTED-PAN] refused"


def test_card_number_in_error_message_is_masked() -> None:
    """A card number echoed in ``errors.msg`` is masked in the message and the reason."""
    body = {"errors": {"code": "3009", "msg": "Invalid card number 4111 1111 1111 1111"}}
    exc = error_from_response(400, body, orjson.dumps(body))
    assert isinstance(exc, DeclinedError)
    assert exc.reason == "Invalid card number [REDACTED-PAN]"
    assert "1111" not in str(exc)


# --- §5 through the client ---------------------------------------------------------------------


async def test_401_is_authentication_error_never_retried(mocked: Any) -> None:
    """401 raises AuthenticationError after exactly one request, even with retries on."""
    mocked.get(TX_URL, status=401, body=error_body(401, "Invalid API key"), repeat=True)
    async with KashaClient(api_key="k", base_url=BASE, max_retries=3) as kasha:
        with pytest.raises(AuthenticationError) as info:
            await kasha.transactions.get("tx-1")
    assert info.value.status_code == 401
    assert info.value.code is None  # the status echoed as a code is no provider code
    assert sent(mocked, "GET", TX_URL) == 1


async def test_401_on_a_payment_is_never_retried(mocked: Any) -> None:
    """A 401 on a payment post is an AuthenticationError after one request."""
    mocked.post(POST_URL, status=401, body=b"{}", repeat=True)
    async with KashaClient(api_key="k", base_url=BASE, max_retries=3) as kasha:
        with pytest.raises(AuthenticationError):
            await post_payment(kasha)
    assert sent(mocked, "POST", POST_URL) == 1


@pytest.mark.parametrize("code", VALIDATION_CODES)
async def test_validation_codes_are_validation_errors(
    client: KashaClient, mocked: Any, code: int
) -> None:
    """400 with a code 1000-1009 is a ValidationError carrying the code."""
    reason = CODE_TABLE[code].reason
    mocked.post(POST_URL, status=400, body=error_body(code, reason))
    with pytest.raises(ValidationError) as info:
        await post_payment(client)
    exc = info.value
    assert exc.code == code
    assert type(exc.code) is KashaErrorCode
    assert exc.code.is_known
    assert exc.reason == reason
    assert exc.transaction_id == "tx-err"
    assert exc.status_code == 400
    assert sent(mocked, "POST", POST_URL) == 1


@pytest.mark.parametrize("code", DECLINE_CODES)
async def test_decline_codes_are_declined_errors(
    client: KashaClient, mocked: Any, code: int
) -> None:
    """400 with a decline code is a DeclinedError with the enum code, reason and transaction."""
    reason = CODE_TABLE[code].reason
    mocked.post(POST_URL, status=400, body=error_body(code, reason, "tx-declined"))
    with pytest.raises(DeclinedError) as info:
        await post_payment(client)
    exc = info.value
    expected = DuplicateTransactionError if code == 3017 else DeclinedError
    assert type(exc) is expected
    assert exc.code is KashaErrorCode(code)
    assert exc.code.name != f"UNKNOWN_{code}"
    assert exc.reason == reason
    assert exc.transaction_id == "tx-declined"
    assert exc.status_code == 400
    assert exc.body_excerpt is not None
    assert sent(mocked, "POST", POST_URL) == 1


async def test_200_with_result_type_error_is_declined(client: KashaClient, mocked: Any) -> None:
    """A 200 whose resultType is "error" is a DeclinedError, not a success."""
    mocked.post(POST_URL, status=200, body=error_body(3000, "Insufficient card funds.", "tx-200"))
    with pytest.raises(DeclinedError) as info:
        await post_payment(client)
    assert info.value.code is KashaErrorCode.INSUFFICIENT_FUNDS
    assert info.value.reason == "Insufficient card funds."
    assert info.value.transaction_id == "tx-200"
    assert info.value.status_code == 200


async def test_200_error_array_wrapped_on_payout_options(client: KashaClient, mocked: Any) -> None:
    """An array-wrapped ``resultType: error`` answer (payout shape) is a DeclinedError too."""
    body = b"[" + error_body(995, "No payment options were found.") + b"]"
    mocked.post(BASE + "/v2/payout-options", status=200, body=body)
    with pytest.raises(DeclinedError) as info:
        await client.payouts.options(
            country="AR",
            currency="ARS",
            amount="10",
            redirect_url="https://r.example",
            customer=Customer(),
        )
    assert info.value.code is KashaErrorCode.NO_PAYMENT_OPTIONS


async def test_200_error_without_code_is_miscellaneous_decline(
    client: KashaClient, mocked: Any
) -> None:
    """A 200 ``resultType: error`` with no code is declined as 999, the unmapped-error code."""
    mocked.post(POST_URL, status=200, body=b'{"resultType": "error", "errors": {"msg": "nope"}}')
    with pytest.raises(DeclinedError) as info:
        await post_payment(client)
    assert info.value.code is KashaErrorCode.MISCELLANEOUS_ERROR
    assert info.value.reason == "nope"


def test_1100_maps_to_outcome_unknown() -> None:
    """The mapping function turns 400 + 1100 into OutcomeUnknownError with code and transaction."""
    raw = error_body(1100, "Contact support to confirm payment.", "tx-1100")
    exc = error_from_response(400, orjson.loads(raw), raw)
    assert type(exc) is OutcomeUnknownError
    assert exc.code is KashaErrorCode.CONTACT_SUPPORT
    assert exc.transaction_id == "tx-1100"
    assert exc.status_code == 400


async def test_1100_on_a_payment_is_outcome_unknown_keeping_the_transaction(
    client: KashaClient, mocked: Any
) -> None:
    """400 + 1100 on a payment is OutcomeUnknownError (no decline), reconciled by the body's id."""
    raw = error_body(1100, "Contact support to confirm payment.", "tx-1100")
    mocked.post(POST_URL, status=400, body=raw)
    lookup = POST_URL.replace("/v2/payment", "/v2/transactions/tx-1100")
    mocked.get(lookup, payload={"id": "tx-1100", "status": "ERROR"})
    with pytest.raises(OutcomeUnknownError) as info:
        await post_payment(client)
    exc = info.value
    assert DeclinedError not in type(exc).__mro__
    assert len(mocked.requests[("POST", URL(POST_URL))]) == 1
    assert len(mocked.requests[("GET", URL(lookup))]) == 1
    assert exc.code is KashaErrorCode.CONTACT_SUPPORT
    assert exc.transaction_id == "tx-1100"
    assert exc.status_code == 400
    assert exc.body_excerpt is not None


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (404, NotFoundError),
        (409, ConflictError),
        (410, SessionGoneError),
        (500, ServerError),
        (502, ServerError),
        (503, ServerError),
        (504, ServerError),
    ],
)
async def test_status_errors_through_the_client(
    client: KashaClient, mocked: Any, status: int, cls: type[APIStatusError]
) -> None:
    """404, 409, 410 and 5xx answers raise their status class with status and excerpt."""
    raw = error_body(status, f"answer {status}", None)
    mocked.get(TX_URL, status=status, body=raw)
    with pytest.raises(cls) as info:
        await client.transactions.get("tx-1")
    assert type(info.value) is cls
    assert info.value.status_code == status
    assert info.value.body_excerpt == raw.decode()
    assert sent(mocked, "GET", TX_URL) == 1


async def test_409_on_a_fresh_payment_is_conflict(client: KashaClient, mocked: Any) -> None:
    """A first post answered 409 (session already used) is a ConflictError."""
    mocked.post(POST_URL, status=409, body=error_body(409, "Session already used"))
    with pytest.raises(ConflictError) as info:
        await post_payment(client)
    assert info.value.status_code == 409


async def test_410_on_a_payment_is_session_gone(client: KashaClient, mocked: Any) -> None:
    """A post on an expired session (410) is a SessionGoneError."""
    mocked.post(POST_URL, status=410, body=error_body(410, "Session expired"))
    with pytest.raises(SessionGoneError) as info:
        await post_payment(client)
    assert info.value.status_code == 410
    assert info.value.code is None


@pytest.mark.parametrize(("header", "seconds"), [("7", 7.0), ("120", 60.0)])
async def test_429_is_rate_limit_with_retry_after(
    client: KashaClient, mocked: Any, header: str, seconds: float
) -> None:
    """429 raises RateLimitError holding Retry-After in seconds (capped at 60)."""
    mocked.get(TX_URL, status=429, body=b"{}", headers={"Retry-After": header})
    with pytest.raises(RateLimitError) as info:
        await client.transactions.get("tx-1")
    assert info.value.status_code == 429
    assert info.value.retry_after == seconds
    assert sent(mocked, "GET", TX_URL) == 1


async def test_429_without_retry_after(client: KashaClient, mocked: Any) -> None:
    """429 without the header is a RateLimitError whose retry_after is None."""
    mocked.get(TX_URL, status=429, body=b"")
    with pytest.raises(RateLimitError) as info:
        await client.transactions.get("tx-1")
    assert info.value.retry_after is None


async def test_unknown_code_is_kept_as_pseudo_member(client: KashaClient, mocked: Any) -> None:
    """An error code missing from the table (4242) is kept, not rejected."""
    mocked.post(POST_URL, status=400, body=error_body(4242, "Something new"))
    with pytest.raises(DeclinedError) as info:
        await post_payment(client)
    code = info.value.code
    assert isinstance(code, KashaErrorCode)
    assert code.value == 4242
    assert code.name == "UNKNOWN_4242"
    assert not code.is_known
    assert info.value.reason == "Something new"


async def test_400_without_code_is_bad_request(client: KashaClient, mocked: Any) -> None:
    """A 400 with no table code is a BadRequestError, not a decline."""
    mocked.get(TX_URL, status=400, body=b"<html>Bad Request</html>")
    with pytest.raises(BadRequestError) as info:
        await client.transactions.get("tx-1")
    assert info.value.code is None
    assert info.value.body_excerpt == "<html>Bad Request</html>"


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b'{"id": "tx-1", "status": "COMPL', id="truncated"),
        pytest.param(b'{"id": "tx-1",, "status": "COMPLETED"}', id="malformed"),
        pytest.param(b"<!DOCTYPE html><html><body>502 Bad Gateway</body></html>", id="html"),
        pytest.param(b"", id="empty"),
        pytest.param(b"[" * 2000 + b"]" * 2000, id="deep-nesting"),
        pytest.param(b"\xff\xfe\x00garbage", id="not-utf8"),
    ],
)
async def test_undecodable_bodies_are_response_format_errors(
    client: KashaClient, mocked: Any, body: bytes
) -> None:
    """A 200 whose body is not JSON is a ResponseFormatError with status and a short excerpt."""
    mocked.get(TX_URL, status=200, body=body)
    with pytest.raises(ResponseFormatError) as info:
        await client.transactions.get("tx-1")
    exc = info.value
    assert exc.status_code == 200
    assert exc.body_excerpt is not None
    assert len(exc.body_excerpt) <= EXCERPT_MAX


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b'{"id": ["tx-1"], "status": "COMPLETED"}', id="list-for-string"),
        pytest.param(b'{"id": "tx-1", "status": 5}', id="number-for-status"),
        pytest.param(b'{"id": "tx-1"}', id="missing-status"),
        pytest.param(
            b'{"id": "tx-1", "status": "COMPLETED", "paymentAmount": "ten"}', id="bad-money"
        ),
        pytest.param(
            b'{"id": "tx-1", "status": "COMPLETED", "createdAt": "yesterday"}', id="bad-date"
        ),
        pytest.param(
            b'{"id": "tx-1", "status": "COMPLETED", "customer": [1]}', id="list-for-object"
        ),
        pytest.param(b'["tx-1", "COMPLETED"]', id="array"),
        pytest.param(b'"tx-1"', id="string"),
        pytest.param(b"null", id="null"),
    ],
)
async def test_wrong_shapes_are_response_format_errors(
    client: KashaClient, mocked: Any, body: bytes
) -> None:
    """Valid JSON of the wrong shape is a ResponseFormatError with status and excerpt."""
    mocked.get(TX_URL, status=200, body=body)
    with pytest.raises(ResponseFormatError) as info:
        await client.transactions.get("tx-1")
    exc = info.value
    assert exc.status_code == 200
    assert exc.body_excerpt is not None
    assert len(exc.body_excerpt) <= EXCERPT_MAX


async def test_error_status_with_html_body_keeps_status_class(
    client: KashaClient, mocked: Any
) -> None:
    """A 502 gateway page (not JSON) is still a ServerError with the page's excerpt."""
    page = b"<html>" + b"x" * 5000 + b"</html>"
    mocked.get(TX_URL, status=502, body=page)
    with pytest.raises(ServerError) as info:
        await client.transactions.get("tx-1")
    excerpt = info.value.body_excerpt
    assert excerpt is not None
    assert len(excerpt) == EXCERPT_MAX
    assert excerpt.startswith("<html>xxx")
