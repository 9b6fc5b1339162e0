"""KashaClient: what every endpoint method sends and parses, and how the client is built."""

from __future__ import annotations

import asyncio
import base64
import gc
import hashlib
import hmac
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal
from email.parser import BytesParser
from email.policy import HTTP
from pathlib import Path
from typing import Any

import aiohttp
import mypy.api
import orjson
import pytest
from aiohttp import web
from aioresponses import aioresponses
from yarl import URL

import kasha_async
from kasha_async import (
    AnswerMismatchError,
    CashierLink,
    ConfigError,
    Customer,
    InitiatedSession,
    InvalidRequestError,
    KashaClient,
    PaymentOptionsRequest,
    PayoutOptionsRequest,
    Refund,
    RequestNotSentError,
    ServerError,
    SettleResult,
    SubmitResult,
    Suboptions,
    Timeout,
    Transaction,
    TransactionStatus,
)
from kasha_async._convert import parse
from tests.fixtures import sample, sample_bytes
from tests.test_http import client_for, stalling_server

BASE = "https://kasha.test"
API_KEY = "test-api-key-0001"
SIGNATURE_KEY = "test-signature-key-0001"
REDIRECT = "https://merchant.example/return"
CASHIER = {
    "transactionId": "0b6f6f49-0001-4000-8000-000000000001",
    "sessionId": "0b6f6f49-0002-4000-8000-000000000002",
    "cashierUrl": "https://cashier.kasha.test/s/0b6f6f49",
}
PAYMENT_REQUEST = PaymentOptionsRequest(
    country="BR",
    currency="BRL",
    amount=Decimal("130.00"),
    redirect_url=REDIRECT,
    customer=Customer(name="John Doe", phone="+34666999666"),
    merchant_reference="order-1",
)
PAYMENT_KW: dict[str, Any] = {
    "country": "BR",
    "currency": "BRL",
    "redirect_url": REDIRECT,
    "customer": Customer(name="John Doe"),
}
PAYMENT_WIRE: dict[str, Any] = {
    "country": "BR",
    "currency": "BRL",
    "amount": 130.0,
    "redirectUrl": REDIRECT,
    "customer": {"name": "John Doe", "phone": "+34666999666"},
    "merchantReference": "order-1",
}
PAYOUT_REQUEST = PayoutOptionsRequest(
    country="AR",
    currency="ARS",
    amount=Decimal("200.50"),
    redirect_url=REDIRECT,
    customer=Customer(name="John Smith"),
    merchant_reference="payout-1",
)
PAYOUT_WIRE: dict[str, Any] = {
    "country": "AR",
    "currency": "ARS",
    "amount": 200.5,
    "redirectUrl": REDIRECT,
    "customer": {"name": "John Smith"},
    "merchantReference": "payout-1",
}
CARD = {"cardnum": "5200000000000007", "cardholder": "J Doe"}


def signature(body: bytes) -> str:
    """The contract's signature, computed independently of the package."""
    mac = hmac.new(SIGNATURE_KEY.encode(), body, hashlib.sha256).digest()
    return base64.b64encode(mac).decode()


@pytest.fixture
async def client() -> AsyncIterator[KashaClient]:
    """A signing client on a fake base URL."""
    async with KashaClient(api_key=API_KEY, base_url=BASE, signature_key=SIGNATURE_KEY) as kasha:
        yield kasha


@pytest.fixture
def mocked() -> Any:
    """aioresponses, active for the test."""
    with aioresponses() as mock:
        yield mock


def only_request(mocked: Any, method: str, path: str) -> dict[str, Any]:
    """The kwargs of the single request sent, asserting it went to ``method`` ``path``."""
    key = (method, URL(BASE + path))
    assert list(mocked.requests) == [key]
    calls = mocked.requests[key]
    assert len(calls) == 1
    kwargs: dict[str, Any] = calls[0].kwargs
    return kwargs


@dataclass(frozen=True)
class Endpoint:
    """One client method: how to call it, what must go out and what comes back."""

    name: str
    call: Callable[[KashaClient], Awaitable[object]]
    path: str
    wire: dict[str, Any]
    answer: Any
    result: type


ENDPOINTS = [
    Endpoint(
        "payments.options",
        lambda c: c.payments.options(PAYMENT_REQUEST),
        "/v2/payment-options",
        PAYMENT_WIRE,
        sample("payment-options"),
        InitiatedSession,
    ),
    Endpoint(
        "payments.create_session",
        lambda c: c.payments.create_session(PAYMENT_REQUEST),
        "/v2/payment-session",
        PAYMENT_WIRE,
        CASHIER,
        CashierLink,
    ),
    Endpoint(
        "payments.suboptions",
        lambda c: c.payments.suboptions(session_id="s-1", payment_option_id="po-1"),
        "/v2/payment-suboptions",
        {"sessionId": "s-1", "paymentOptionId": "po-1"},
        sample("payment-suboptions"),
        Suboptions,
    ),
    Endpoint(
        "payments.post",
        lambda c: c.payments.post(session_id="s-1", payment_option_id="po-1", extra_data=CARD),
        "/v2/payment",
        {"sessionId": "s-1", "paymentOptionId": "po-1", "extraData": CARD},
        sample("payment"),
        SubmitResult,
    ),
    Endpoint(
        "payments.hybrid",
        lambda c: c.payments.hybrid(session_id="s-1", payment_option_id="po-1", option_id="e_1"),
        "/v2/hybrid-payment",
        {"sessionId": "s-1", "paymentOptionId": "po-1", "optionId": "e_1"},
        sample("hybrid-payment"),
        SubmitResult,
    ),
    Endpoint(
        "payouts.options",
        lambda c: c.payouts.options(PAYOUT_REQUEST),
        "/v2/payout-options",
        PAYOUT_WIRE,
        sample("payout-options"),
        InitiatedSession,
    ),
    Endpoint(
        "payouts.create_session",
        lambda c: c.payouts.create_session(PAYOUT_REQUEST),
        "/v2/payout-session",
        PAYOUT_WIRE,
        CASHIER,
        CashierLink,
    ),
    Endpoint(
        "payouts.suboptions",
        lambda c: c.payouts.suboptions(session_id="s-2", payment_option_id="po-2"),
        "/v2/payout-suboptions",
        {"sessionId": "s-2", "paymentOptionId": "po-2"},
        sample("payout-suboptions"),
        Suboptions,
    ),
    Endpoint(
        "payouts.create",
        lambda c: c.payouts.create(
            session_id="s-2", payment_option_id="po-2", option_id="d_316", extra_data={"name": "n"}
        ),
        "/v2/payout",
        {
            "sessionId": "s-2",
            "paymentOptionId": "po-2",
            "optionId": "d_316",
            "extraData": {"name": "n"},
        },
        sample("payout"),
        SubmitResult,
    ),
    Endpoint(
        "payouts.settle",
        lambda c: c.payouts.settle(transaction_id="tx-9", action="APPROVE"),
        "/v2/settle-payout",
        {"action": "APPROVE", "transactionId": "tx-9"},
        sample("settle-payout"),
        SettleResult,
    ),
    Endpoint(
        "refunds.create",
        lambda c: c.refunds.create(merchant_reference="order-1"),
        "/v2/refund",
        {"merchantReference": "order-1"},
        sample("refund"),
        Refund,
    ),
]


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=lambda e: e.name)
async def test_post_endpoint_sends_signed_camel_case_json(
    client: KashaClient, mocked: Any, endpoint: Endpoint
) -> None:
    """Each POST endpoint sends one signed camelCase JSON body to its path and parses the answer."""
    mocked.post(BASE + endpoint.path, status=200, body=orjson.dumps(endpoint.answer))
    result = await endpoint.call(client)

    sent = only_request(mocked, "POST", endpoint.path)
    body: bytes = sent["data"]
    headers: dict[str, str] = sent["headers"]
    assert orjson.loads(body) == endpoint.wire
    assert headers["x-api-key"] == API_KEY
    assert headers["User-Agent"] == f"kasha-async/{kasha_async.__version__}"
    assert headers["Content-Type"] == "application/json"
    assert headers["x-signature"] == signature(body)
    assert sent["allow_redirects"] is False
    assert type(result) is endpoint.result
    assert result == parse(endpoint.result, endpoint.answer)


async def test_transactions_get_sends_signed_get_without_body(
    client: KashaClient, mocked: Any
) -> None:
    """``transactions.get`` is a GET on the id's path, no body or Content-Type, signing b""."""
    mocked.get(BASE + "/v2/transactions/tx-1", status=200, body=sample_bytes("transaction"))
    tx = await client.transactions.get("tx-1")

    sent = only_request(mocked, "GET", "/v2/transactions/tx-1")
    headers: dict[str, str] = sent["headers"]
    assert sent["data"] is None
    assert "Content-Type" not in headers
    assert headers["x-api-key"] == API_KEY
    assert headers["User-Agent"] == f"kasha-async/{kasha_async.__version__}"
    assert headers["x-signature"] == signature(b"")
    assert isinstance(tx, Transaction)
    assert tx.id == "099cdc76-45d1-49e1-8985-e1c82dcfadb3"
    assert tx.status is TransactionStatus.COMPLETED
    assert tx.payment_amount == Decimal("10")


async def test_transactions_get_escapes_the_id_into_one_path_segment(
    client: KashaClient, mocked: Any
) -> None:
    """A transaction id with ``/`` and spaces stays one percent-encoded path segment."""
    url = URL(BASE + "/v2/transactions/a%2Fb%20c", encoded=True)
    mocked.get(url, status=200, body=sample_bytes("transaction"))
    await client.transactions.get("a/b c")
    [(method, sent_url)] = list(mocked.requests)
    assert method == "GET"
    assert sent_url.raw_path == "/v2/transactions/a%2Fb%20c"


async def test_payments_suboptions_multipart(client: KashaClient, mocked: Any) -> None:
    """``multipart=True`` sends the two fields as form-data, signed over the exact bytes."""
    mocked.post(
        BASE + "/v2/payment-suboptions", status=200, body=sample_bytes("payment-suboptions")
    )
    result = await client.payments.suboptions(
        session_id="s-1", payment_option_id="po-1", multipart=True
    )

    sent = only_request(mocked, "POST", "/v2/payment-suboptions")
    body: bytes = sent["data"]
    headers: dict[str, str] = sent["headers"]
    content_type = headers["Content-Type"]
    assert content_type.startswith("multipart/form-data; boundary=")
    assert headers["x-signature"] == signature(body)
    message = BytesParser(policy=HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + body
    )
    fields = {
        part.get_param("name", header="content-disposition"): part.get_payload()
        for part in message.iter_parts()
    }
    assert fields == {"sessionId": "s-1", "paymentOptionId": "po-1"}
    assert result.result_code == 85
    assert [o.id for o in result.options] == ["b_26", "b_56", "b_256", "b_25", "b_24"]


async def test_amount_digits_are_sent_exactly(client: KashaClient, mocked: Any) -> None:
    """The amount 130.00 leaves as the JSON number ``130.00``, not 130.0 or "130.00"."""
    mocked.post(BASE + "/v2/payment-options", status=200, body=sample_bytes("payment-options"))
    await client.payments.options(PAYMENT_REQUEST)
    body: bytes = only_request(mocked, "POST", "/v2/payment-options")["data"]
    assert b'"amount":130.00,' in body


async def test_none_fields_are_omitted(client: KashaClient, mocked: Any) -> None:
    """Optional fields left as None are not sent at all (no ``null`` on the wire)."""
    mocked.post(BASE + "/v2/payment", status=200, body=sample_bytes("payment"))
    await client.payments.post(session_id="s-1", payment_option_id="po-1")
    body: bytes = only_request(mocked, "POST", "/v2/payment")["data"]
    assert orjson.loads(body) == {"sessionId": "s-1", "paymentOptionId": "po-1"}
    assert b"null" not in body


async def test_options_by_keywords_equals_options_by_request(
    client: KashaClient, mocked: Any
) -> None:
    """Keyword fields build the same request as a request object."""
    mocked.post(BASE + "/v2/payment-options", status=200, body=sample_bytes("payment-options"))
    session = await client.payments.options(
        country="BR",
        currency="BRL",
        amount="130.00",
        redirect_url=REDIRECT,
        customer=Customer(name="John Doe", phone="+34666999666"),
        merchant_reference="order-1",
    )
    body: bytes = only_request(mocked, "POST", "/v2/payment-options")["data"]
    assert orjson.loads(body) == PAYMENT_WIRE
    assert session.session_id == "c3ee84b7-6ef7-4541-a2c7-5881fe86bb30"


async def test_options_remembers_the_sessions_transaction(client: KashaClient, mocked: Any) -> None:
    """After ``options`` the client knows which transaction belongs to the new session."""
    mocked.post(BASE + "/v2/payout-options", status=200, body=sample_bytes("payout-options"))
    session = await client.payouts.options(PAYOUT_REQUEST)
    assert client.transaction_for_session(session.session_id) == session.transaction_id
    assert client.transaction_for_session("never-seen") is None


async def test_payment_post_3ds_redirect(client: KashaClient, mocked: Any) -> None:
    """A card needing 3DS answers ``redirect`` with the URL to send the user to."""
    answer = {
        "statusCode": "300",
        "resultType": "redirect",
        "result": {"transactionId": "tx-3ds", "redirectUrl": "https://acs.example/3ds"},
    }
    mocked.post(BASE + "/v2/payment", status=200, body=orjson.dumps(answer))
    result = await client.payments.post(session_id="s", payment_option_id="card", extra_data=CARD)
    assert result.needs_redirect is True
    assert result.redirect_url == "https://acs.example/3ds"
    assert result.transaction_id == "tx-3ds"
    assert result.result_code == 300


async def test_routes_can_be_overridden(mocked: Any) -> None:
    """A per-client route table sends an operation to another path."""
    routes = {"refunds.create": ("POST", "/v3/refunds")}
    async with KashaClient(api_key=API_KEY, base_url=BASE + "/", routes=routes) as kasha:
        mocked.post(BASE + "/v3/refunds", status=200, body=sample_bytes("refund"))
        refund = await kasha.refunds.create(merchant_reference="order-1")
    sent = only_request(mocked, "POST", "/v3/refunds")
    assert "x-signature" not in sent["headers"]
    assert refund.status is TransactionStatus.REFUNDED


# --- construction ----------------------------------------------------------------------------


@pytest.fixture
def no_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No KASHA_* variable is set."""
    for name in ("KASHA_API_KEY", "KASHA_BASE_URL", "KASHA_SIGNATURE_KEY"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


async def test_environment_supplies_missing_arguments(no_env: pytest.MonkeyPatch) -> None:
    """KASHA_API_KEY, KASHA_BASE_URL and KASHA_SIGNATURE_KEY fill in missing arguments."""
    no_env.setenv("KASHA_API_KEY", "env-key")
    no_env.setenv("KASHA_BASE_URL", "https://env.kasha.test/")
    no_env.setenv("KASHA_SIGNATURE_KEY", SIGNATURE_KEY)
    with aioresponses() as mock:
        mock.get("https://env.kasha.test/v2/transactions/t", body=sample_bytes("transaction"))
        async with KashaClient() as kasha:
            assert kasha.base_url == "https://env.kasha.test"
            await kasha.transactions.get("t")
        [calls] = mock.requests.values()
    headers = calls[0].kwargs["headers"]
    assert headers["x-api-key"] == "env-key"
    assert headers["x-signature"] == signature(b"")


async def test_arguments_win_over_environment(no_env: pytest.MonkeyPatch) -> None:
    """Explicit arguments are used even when the environment says otherwise."""
    no_env.setenv("KASHA_API_KEY", "env-key")
    no_env.setenv("KASHA_BASE_URL", "https://env.kasha.test")
    with aioresponses() as mock:
        mock.get(BASE + "/v2/transactions/t", body=sample_bytes("transaction"))
        async with KashaClient(api_key=API_KEY, base_url=BASE) as kasha:
            await kasha.transactions.get("t")
        [calls] = mock.requests.values()
    assert calls[0].kwargs["headers"]["x-api-key"] == API_KEY
    assert "x-signature" not in calls[0].kwargs["headers"]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"base_url": BASE},
        {"api_key": API_KEY},
        {"api_key": "", "base_url": BASE},
        {"api_key": API_KEY, "base_url": "kasha.test"},
        {"api_key": API_KEY, "base_url": BASE, "max_retries": -1},
        {"api_key": API_KEY, "base_url": BASE, "routes": {"payments.nope": ("GET", "/x")}},
    ],
    ids=[
        "no-key",
        "no-url",
        "empty-key",
        "no-scheme",
        "negative-retries",
        "bad-route",
    ],
)
def test_bad_configuration_is_a_config_error(
    no_env: pytest.MonkeyPatch, kwargs: dict[str, Any]
) -> None:
    """Missing key or URL and bad options raise ConfigError at construction."""
    with pytest.raises(ConfigError) as info:
        KashaClient(**kwargs)
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"api_key": API_KEY + "\n"},
        {"api_key": "key\twith-tab"},
        {"api_key": API_KEY + "\x7f"},
        {"api_key": API_KEY, "signature_key": SIGNATURE_KEY + "\r\n"},
        {"api_key": API_KEY, "signature_key": "sig\x00nul-key"},
    ],
    ids=["key-newline", "key-tab", "key-del", "signature-crlf", "signature-nul"],
)
def test_control_characters_in_keys_are_config_errors(
    no_env: pytest.MonkeyPatch, kwargs: dict[str, Any]
) -> None:
    """A key with a newline or any control character is refused at construction, unquoted."""
    with pytest.raises(ConfigError) as info:
        KashaClient(base_url=BASE, **kwargs)
    assert "control character" in str(info.value)
    assert API_KEY not in str(info.value)
    assert SIGNATURE_KEY not in str(info.value)


def test_control_characters_in_environment_keys_are_config_errors(
    no_env: pytest.MonkeyPatch,
) -> None:
    """A key read from the environment with a trailing newline is refused the same way."""
    no_env.setenv("KASHA_API_KEY", API_KEY + "\n")
    with pytest.raises(ConfigError):
        KashaClient(base_url=BASE)


@pytest.mark.parametrize(
    "url",
    ["http://api.kasha.test", "http://10.0.0.5:8080", "http://[2001:db8::1]", "http://127.example"],
)
def test_plain_http_beyond_loopback_is_refused(no_env: pytest.MonkeyPatch, url: str) -> None:
    """Plain http to a non-loopback host is a ConfigError: the key would travel in clear."""
    with pytest.raises(ConfigError) as info:
        KashaClient(api_key=API_KEY, base_url=url)
    assert "allow_insecure_http" in str(info.value)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080",
        "http://127.1.2.3",
        "http://localhost:9",
        "http://[::1]:80",
        "http://0.0.0.0:8080",
    ],
)
def test_plain_http_to_loopback_is_allowed(no_env: pytest.MonkeyPatch, url: str) -> None:
    """Plain http to 127.0.0.0/8, ::1, localhost or 0.0.0.0 (this host) is accepted."""
    assert KashaClient(api_key=API_KEY, base_url=url).base_url == url.rstrip("/")


def test_allow_insecure_http_opts_out(no_env: pytest.MonkeyPatch) -> None:
    """``allow_insecure_http=True`` accepts plain http to any host (a trusted test proxy)."""
    kasha = KashaClient(api_key=API_KEY, base_url="http://proxy.test", allow_insecure_http=True)
    assert kasha.base_url == "http://proxy.test"


def test_failed_construction_leaves_nothing_to_warn_about(monkeypatch: pytest.MonkeyPatch) -> None:
    """A client whose construction failed (bad timeout) is collected without an error."""
    unraisable: list[Any] = []
    monkeypatch.setattr(sys, "unraisablehook", unraisable.append)
    with pytest.raises(ConfigError) as info:
        KashaClient(api_key=API_KEY, base_url=BASE, timeout=0)
    del info
    gc.collect()
    assert [str(u.exc_value) for u in unraisable] == []


def test_construction_does_no_io() -> None:
    """Building a client opens no session (and so needs no close to stay warning-free)."""
    kasha = KashaClient(api_key=API_KEY, base_url=BASE)
    assert kasha._transport.has_open_session is False
    assert kasha._transport._session is None


async def test_works_without_async_with_then_close(mocked: Any) -> None:
    """A client used without ``async with`` works and ``close()`` releases its session."""
    kasha = KashaClient(api_key=API_KEY, base_url=BASE)
    mocked.get(BASE + "/v2/transactions/t", body=sample_bytes("transaction"))
    tx = await kasha.transactions.get("t")
    open_before_close = kasha._transport.has_open_session
    await kasha.close()
    assert tx.id == "099cdc76-45d1-49e1-8985-e1c82dcfadb3"
    assert open_before_close
    assert not kasha._transport.has_open_session
    assert kasha._transport.closed


async def test_calls_after_close_are_config_errors(mocked: Any) -> None:
    """A closed client refuses to send instead of opening a new session."""
    kasha = KashaClient(api_key=API_KEY, base_url=BASE)
    await kasha.close()
    with pytest.raises(ConfigError):
        await kasha.transactions.get("t")
    assert mocked.requests == {}


async def test_passed_in_session_is_used_and_left_open() -> None:
    """A caller's aiohttp session carries the requests and is not closed by the client."""
    seen: list[str | None] = []

    async def handler(request: web.Request) -> web.Response:
        seen.append(request.headers.get("X-Caller"))
        return web.Response(body=sample_bytes("transaction"), content_type="application/json")

    app = web.Application()
    app.router.add_get("/v2/transactions/{id}", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        async with aiohttp.ClientSession(headers={"X-Caller": "mine"}) as session:
            kasha = KashaClient(
                api_key=API_KEY, base_url=f"http://127.0.0.1:{port}", session=session
            )
            tx = await kasha.transactions.get("t")
            await kasha.close()
            assert session.closed is False
    finally:
        await runner.cleanup()
    assert seen == ["mine"]
    assert tx.status is TransactionStatus.COMPLETED


async def test_with_options_shares_transport_and_stats(client: KashaClient) -> None:
    """``with_options`` returns a copy with new settings on the same pool and stats."""
    copy = client.with_options(timeout=Timeout(connect=1, read=2, total=3), max_retries=0)
    assert copy is not client
    assert copy._transport is client._transport
    assert copy.stats is client.stats
    assert copy.timeout == Timeout(connect=1, read=2, total=3)
    assert copy.max_retries == 0
    assert client.max_retries == kasha_async._constants.DEFAULT_MAX_RETRIES
    assert client.timeout == Timeout()
    assert client.with_options(timeout=7).timeout.total == 7.0


async def test_with_options_max_retries_applies(client: KashaClient, mocked: Any) -> None:
    """A ``max_retries=0`` copy sends one request on 503 where the original retries."""
    url = BASE + "/v2/transactions/t"
    mocked.get(url, status=503, body=b"{}", repeat=True)
    with pytest.raises(ServerError):
        await client.with_options(max_retries=0).transactions.get("t")
    assert len(mocked.requests[("GET", URL(url))]) == 1
    with pytest.raises(ServerError):
        await client.transactions.get("t")
    assert len(mocked.requests[("GET", URL(url))]) == 1 + 1 + client.max_retries
    assert client.stats.calls == 2


async def test_closing_a_copy_leaves_the_original_open(client: KashaClient, mocked: Any) -> None:
    """Closing a ``with_options`` copy does not close the shared pool."""
    mocked.get(BASE + "/v2/transactions/t", body=sample_bytes("transaction"), repeat=True)
    copy = client.with_options(max_retries=1)
    await copy.transactions.get("t")
    await copy.close()
    tx = await client.transactions.get("t")
    assert client._transport.closed is False
    assert tx.id == "099cdc76-45d1-49e1-8985-e1c82dcfadb3"


def test_repr_names_url_and_settings() -> None:
    """The client's repr shows where it talks and how, nothing else."""
    kasha = KashaClient(api_key=API_KEY, base_url=BASE + "/", max_retries=2, timeout=9)
    assert repr(kasha) == f"<KashaClient {BASE} timeout=9s max_retries=2>"


async def test_with_options_changes_key_url_and_headers_on_the_same_pool(
    client: KashaClient, mocked: Any
) -> None:
    """A copy with another key, URL and headers sends them; the original keeps its own."""
    other = "https://eu.kasha.test"
    mocked.get(other + "/v2/transactions/t", body=sample_bytes("transaction"))
    mocked.get(BASE + "/v2/transactions/t", body=sample_bytes("transaction"))
    copy = client.with_options(
        api_key="other-key-0002", base_url=other + "/", default_headers={"X-Tenant": "eu"}
    )
    await copy.transactions.get("t")
    await client.transactions.get("t")
    [sent_by_copy] = mocked.requests[("GET", URL(other + "/v2/transactions/t"))]
    [sent_by_original] = mocked.requests[("GET", URL(BASE + "/v2/transactions/t"))]
    assert sent_by_copy.kwargs["headers"]["x-api-key"] == "other-key-0002"
    assert sent_by_copy.kwargs["headers"]["X-Tenant"] == "eu"
    assert "x-signature" in sent_by_copy.kwargs["headers"]
    assert sent_by_original.kwargs["headers"]["x-api-key"] == API_KEY
    assert "X-Tenant" not in sent_by_original.kwargs["headers"]
    assert copy.base_url == other
    assert copy._transport._get_session() is client._transport._get_session()
    assert copy.stats is client.stats


async def test_default_headers_are_sent_and_a_user_agent_replaces_ours(mocked: Any) -> None:
    """Constructor ``default_headers`` go on every request; copies add to them."""
    mocked.get(BASE + "/v2/transactions/t", body=sample_bytes("transaction"), repeat=True)
    headers = {"user-agent": "shop/1.0", "X-Team": "payments"}
    async with KashaClient(api_key=API_KEY, base_url=BASE, default_headers=headers) as kasha:
        await kasha.with_options(default_headers={"X-Extra": "1"}).transactions.get("t")
    [call] = mocked.requests[("GET", URL(BASE + "/v2/transactions/t"))]
    sent = call.kwargs["headers"]
    assert sent["user-agent"] == "shop/1.0"
    assert "User-Agent" not in dict(sent)
    assert (sent["X-Team"], sent["X-Extra"], sent["x-api-key"]) == ("payments", "1", API_KEY)


@pytest.mark.parametrize(
    "options",
    [
        {"default_headers": {"X-Api-Key": "forged"}},
        {"default_headers": {"x-signature": "forged"}},
        {"default_headers": {"X-Note": "a\r\nX-Injected: 1"}},
        {"api_key": "key\n"},
        {"base_url": "http://api.kasha.test"},
        {"max_retries": -1},
    ],
    ids=[
        "api-key-header",
        "signature-header",
        "header-injection",
        "key-newline",
        "http",
        "retries",
    ],
)
def test_with_options_checks_like_the_constructor(
    client: KashaClient, options: dict[str, Any]
) -> None:
    """A copy's key, URL and headers are checked as the constructor checks them."""
    with pytest.raises(ConfigError):
        client.with_options(**options)


async def test_per_call_timeout_applies_to_that_call_only(client: KashaClient, mocked: Any) -> None:
    """``timeout=`` on a resource method bounds that call; the client's default is kept."""
    mocked.get(BASE + "/v2/transactions/t", body=sample_bytes("transaction"), repeat=True)
    seen: list[Timeout] = []
    send = client._transport.send

    async def recording_send(*args: Any, timeout: Timeout, **kwargs: Any) -> Any:
        seen.append(timeout)
        return await send(*args, timeout=timeout, **kwargs)

    client._transport.send = recording_send  # type: ignore[method-assign]
    await client.transactions.get("t", timeout=2.5)
    await client.transactions.get("t")
    assert [t.total for t in seen] == [2.5, Timeout().total]
    assert client.timeout == Timeout()


@pytest.mark.parametrize("method", ["payments.options", "payouts.create_session"])
async def test_a_misspelt_request_keyword_is_an_invalid_request_error(
    client: KashaClient, mocked: Any, method: str
) -> None:
    """``ammount=`` raises InvalidRequestError naming it (and the likely fix); nothing is sent."""
    area, name = method.split(".")
    call = getattr(getattr(client, area), name)
    fields = {**PAYMENT_KW, "ammount": Decimal("1.00")}
    with pytest.raises(InvalidRequestError) as info:
        await call(**fields)
    assert "'ammount'" in str(info.value)
    assert "did you mean 'amount'" in str(info.value)
    assert "missing keyword 'amount'" in str(info.value)
    assert isinstance(info.value, ValueError)
    assert mocked.requests == {}


async def test_a_request_and_keywords_together_are_refused(client: KashaClient) -> None:
    """Passing a request object and keywords is an error, not keywords silently ignored."""
    with pytest.raises(InvalidRequestError, match="not both"):
        await client.payments.options(PAYMENT_REQUEST, merchant_reference="other")


def test_mypy_sees_a_misspelt_request_keyword(tmp_path: Path) -> None:
    """The request keywords are typed: mypy reports ``ammount=`` as an unexpected keyword."""
    snippet = tmp_path / "typo.py"
    snippet.write_text(
        "from kasha_async import Customer, KashaClient\n"
        "async def main(kasha: KashaClient) -> None:\n"
        "    await kasha.payments.options(country='BR', currency='BRL', ammount='1.00',\n"
        "        redirect_url='https://r', customer=Customer())\n"
    )
    out, _, status = mypy.api.run(["--strict", "--no-error-summary", str(snippet)])
    assert status == 1
    assert 'Unexpected keyword argument "ammount"' in out


async def test_a_post_answer_naming_another_transaction_is_a_mismatch(
    client: KashaClient, mocked: Any
) -> None:
    """A post answered with a transactionId other than the session's raises AnswerMismatchError."""
    opened = sample("payment-options")
    mocked.post(BASE + "/v2/payment-options", status=200, body=orjson.dumps(opened))
    session = await client.payments.options(PAYMENT_REQUEST)
    answer = {"statusCode": "000", "resultType": "success", "result": {"transactionId": "tx-other"}}
    mocked.post(BASE + "/v2/payment", status=200, body=orjson.dumps(answer))
    with pytest.raises(AnswerMismatchError) as info:
        await client.payments.post(session_id=session.session_id, payment_option_id="po-1")
    assert info.value.field == "transaction_id"
    assert info.value.expected == session.transaction_id
    assert info.value.actual == "tx-other"


async def test_calls_queued_on_a_closed_client_are_not_retried() -> None:
    """With retries on, a call queued when the client closes raises RequestNotSentError at once."""
    async with stalling_server() as url:
        kasha = client_for(url, pool_size=1, max_retries=3)
        calls = [asyncio.create_task(kasha.transactions.get(f"tx-{i}")) for i in range(3)]
        await asyncio.sleep(0.2)  # one call holds the only connection, two wait for it
        await kasha.close()
        outcomes = await asyncio.gather(*calls, return_exceptions=True)
    assert [type(o) for o in outcomes[1:]] == [RequestNotSentError, RequestNotSentError]
    assert "closed while the request waited for a connection" in str(outcomes[1])
