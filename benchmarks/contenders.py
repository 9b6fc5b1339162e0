"""The contenders: the same two flows done by raw aiohttp, the SDK client and the SDK flows.

Each contender exposes ``payout_flow(i, latencies)`` and ``payment_flow(i, latencies)``:
one whole flow, appending each request's latency in seconds (a flow that is one
opaque call appends nothing). ``i`` makes the merchant reference unique.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any, Protocol, TypeVar

import aiohttp
import orjson
from multidict import CIMultiDict
from yarl import URL

from kasha_async import (
    Customer,
    KashaClient,
    PaymentFlow,
    PaymentOptionsRequest,
    PayoutFlow,
    PayoutOptionsRequest,
)
from kasha_async._constants import DEFAULT_POOL_SIZE, DEFAULT_POOL_SIZE_PER_HOST

API_KEY = "bench-key"
REDIRECT_URL = "https://merchant.example/return"
USER_AGENT = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/51.0.2704.103 Safari/537.36"
)

Flow = Callable[[int, list[float]], Awaitable[None]]
T = TypeVar("T")


class Contender(Protocol):
    """What the harness drives."""

    name: str

    async def payout_flow(self, i: int, latencies: list[float]) -> None: ...

    async def payment_flow(self, i: int, latencies: list[float]) -> None: ...

    async def close(self) -> None: ...


def _connector() -> aiohttp.TCPConnector:
    """The SDK's pool limits, so every contender has the same number of connections."""
    return aiohttp.TCPConnector(
        limit=DEFAULT_POOL_SIZE, limit_per_host=DEFAULT_POOL_SIZE_PER_HOST, ttl_dns_cache=300
    )


def naive_session() -> aiohttp.ClientSession:
    """A session as a user writes it: default cookie jar, the key as a session header."""
    return aiohttp.ClientSession(connector=_connector(), headers={"x-api-key": API_KEY})


def tuned_session() -> tuple[aiohttp.ClientSession, CIMultiDict[str]]:
    """The best a bare client does: no cookie jar, headers prepared once as a CIMultiDict.

    No ``skip_auto_headers``: any skip sends aiohttp down its slower header path on
    every request, and a POST that brings its own Content-Type needs none.
    """
    session = aiohttp.ClientSession(connector=_connector(), cookie_jar=aiohttp.DummyCookieJar())
    headers = CIMultiDict({"x-api-key": API_KEY, "Content-Type": "application/json"})
    return session, headers


def tuned_url(base_url: str, path: str) -> URL:
    """A route's URL, parsed once."""
    return URL(base_url + path)


class RawAiohttp:
    """The naive floor: string URLs, ``json=``, the default session, ``json.loads``, no models."""

    name = "raw"

    def __init__(self, base_url: str) -> None:
        self._base = base_url
        self._session = naive_session()

    async def _post(self, path: str, payload: dict[str, Any], latencies: list[float]) -> Any:
        started = time.perf_counter()
        async with self._session.post(self._base + path, json=payload) as response:
            body = await response.read()
            if response.status != 200:
                raise RuntimeError(f"{path}: HTTP {response.status}")
        data = json.loads(body)
        latencies.append(time.perf_counter() - started)
        return data

    async def payout_flow(self, i: int, latencies: list[float]) -> None:
        """payout-options -> payout-suboptions -> payout -> settle-payout."""
        opened = await self._post(
            "/v2/payout-options",
            {
                "country": "AR",
                "currency": "ARS",
                "amount": 200,
                "redirectUrl": REDIRECT_URL,
                "customer": {"name": "John Smith", "phone": "25412340000", "ip": "84.232.140.77"},
                "merchantReference": f"bench-{i}",
            },
            latencies,
        )
        session_id = opened[0]["sessionId"]
        option_id = opened[0]["paymentOptions"][0]["paymentOptionId"]
        sub = await self._post(
            "/v2/payout-suboptions",
            {"sessionId": session_id, "paymentOptionId": option_id},
            latencies,
        )
        created = await self._post(
            "/v2/payout",
            {
                "sessionId": session_id,
                "paymentOptionId": option_id,
                "optionId": sub[0]["result"]["options"]["id"],
                "extraData": {"name": "John Smith"},
            },
            latencies,
        )
        transaction_id = created["result"]["transactionId"]
        await self._post(
            "/v2/settle-payout", {"action": "APPROVE", "transactionId": transaction_id}, latencies
        )

    async def payment_flow(self, i: int, latencies: list[float]) -> None:
        """payment-options -> payment-suboptions -> payment."""
        opened = await self._post(
            "/v2/payment-options",
            {
                "country": "BR",
                "currency": "BRL",
                "amount": 130,
                "language": "ES",
                "redirectUrl": REDIRECT_URL,
                "customer": {
                    "name": "John Doe",
                    "phone": "+34666999666",
                    "userDevice": "MOBILE",
                    "userAgent": USER_AGENT,
                    "ip": "84.232.140.77",
                },
                "merchantReference": f"bench-{i}",
            },
            latencies,
        )
        session_id = opened["sessionId"]
        option_id = opened["paymentOptions"][0]["paymentOptionId"]
        sub = await self._post(
            "/v2/payment-suboptions",
            {"sessionId": session_id, "paymentOptionId": option_id},
            latencies,
        )
        await self._post(
            "/v2/payment",
            {
                "sessionId": session_id,
                "paymentOptionId": option_id,
                "optionId": sub["result"]["options"][0]["id"],
                "extraData": {"phone": "+34666999666"},
            },
            latencies,
        )

    async def close(self) -> None:
        await self._session.close()


class TunedAiohttp(RawAiohttp):
    """The physical limit: orjson bytes, pre-built URLs, no cookie jar, prepared headers."""

    name = "tuned"

    def __init__(self, base_url: str) -> None:
        self._base = base_url
        self._session, self._headers = tuned_session()
        self._urls: dict[str, URL] = {}

    async def _post(self, path: str, payload: dict[str, Any], latencies: list[float]) -> Any:
        url = self._urls.get(path)
        if url is None:
            url = self._urls[path] = tuned_url(self._base, path)
        started = time.perf_counter()
        body = orjson.dumps(payload)
        async with self._session.post(url, data=body, headers=self._headers) as response:
            answer = await response.read()
            if response.status != 200:
                raise RuntimeError(f"{path}: HTTP {response.status}")
        data = orjson.loads(answer)
        latencies.append(time.perf_counter() - started)
        return data


async def _timed(step: Awaitable[T], latencies: list[float]) -> T:
    """Await one request and record its latency (arguments are built before, as raw does)."""
    started = time.perf_counter()
    result = await step
    latencies.append(time.perf_counter() - started)
    return result


class SDKClient:
    """The SDK's low-level client: request objects in, parsed models out, retries on."""

    name = "client"

    def __init__(self, base_url: str) -> None:
        self.kasha = KashaClient(api_key=API_KEY, base_url=base_url)

    async def payout_flow(self, i: int, latencies: list[float]) -> None:
        """payout-options -> payout-suboptions -> payout -> settle-payout."""
        payouts = self.kasha.payouts
        opened = await _timed(payouts.options(_payout_request(i)), latencies)
        option_id = opened.payment_options[0].payment_option_id
        sub = await _timed(
            payouts.suboptions(session_id=opened.session_id, payment_option_id=option_id),
            latencies,
        )
        created = await _timed(
            payouts.create(
                session_id=opened.session_id,
                payment_option_id=option_id,
                option_id=sub.options[0].id,
                extra_data={"name": "John Smith"},
            ),
            latencies,
        )
        await _timed(
            payouts.settle(transaction_id=created.transaction_id, action="APPROVE"), latencies
        )

    async def payment_flow(self, i: int, latencies: list[float]) -> None:
        """payment-options -> payment-suboptions -> payment."""
        payments = self.kasha.payments
        opened = await _timed(payments.options(_payment_request(i)), latencies)
        option_id = opened.payment_options[0].payment_option_id
        sub = await _timed(
            payments.suboptions(session_id=opened.session_id, payment_option_id=option_id),
            latencies,
        )
        await _timed(
            payments.post(
                session_id=opened.session_id,
                payment_option_id=option_id,
                option_id=sub.options[0].id,
                extra_data={"phone": "+34666999666"},
            ),
            latencies,
        )

    async def close(self) -> None:
        await self.kasha.close()


def _payout_request(i: int) -> PayoutOptionsRequest:
    return PayoutOptionsRequest(
        country="AR",
        currency="ARS",
        amount=Decimal(200),
        redirect_url=REDIRECT_URL,
        customer=Customer(name="John Smith", phone="25412340000", ip="84.232.140.77"),
        merchant_reference=f"bench-{i}",
    )


def _payment_request(i: int) -> PaymentOptionsRequest:
    return PaymentOptionsRequest(
        country="BR",
        currency="BRL",
        amount=Decimal(130),
        language="ES",
        redirect_url=REDIRECT_URL,
        customer=Customer(
            name="John Doe",
            phone="+34666999666",
            user_device="MOBILE",
            user_agent=USER_AGENT,
            ip="84.232.140.77",
        ),
        merchant_reference=f"bench-{i}",
    )


class SDKFlows:
    """The SDK's flows: state machine, session rules and form checks on top of the client."""

    name = "flows"

    def __init__(self, base_url: str) -> None:
        self.kasha = KashaClient(api_key=API_KEY, base_url=base_url)

    async def payout_flow(self, i: int, latencies: list[float]) -> None:
        """start -> choose -> create -> approve."""
        flow = await _timed(PayoutFlow.start(self.kasha, _payout_request(i)), latencies)
        sub = await _timed(flow.choose(flow.options[0]), latencies)
        assert sub is not None
        extra = {"name": "John Smith"}
        await _timed(flow.create(option_id=sub.options[0].id, extra_data=extra), latencies)
        await _timed(flow.approve(), latencies)

    async def payment_flow(self, i: int, latencies: list[float]) -> None:
        """start -> choose -> pay."""
        flow = await _timed(PaymentFlow.start(self.kasha, _payment_request(i)), latencies)
        sub = await _timed(flow.choose(flow.options[0]), latencies)
        assert sub is not None
        extra = {"phone": "+34666999666"}
        await _timed(flow.pay(option_id=sub.options[0].id, extra_data=extra), latencies)

    async def close(self) -> None:
        await self.kasha.close()


CONTENDERS: dict[str, Callable[[str], Contender]] = {
    "raw": RawAiohttp,
    "tuned": TunedAiohttp,
    "client": SDKClient,
    "flows": SDKFlows,
}
