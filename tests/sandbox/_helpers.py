"""Raw-HTTP helpers for sandbox tests: wire bodies and a thin JSON caller."""

from __future__ import annotations

import itertools
from decimal import Decimal
from typing import Any

import aiohttp
import attrs
import orjson

from kasha_async.sandbox import SUCCESS_CARD, Sandbox

CUSTOMER = {"name": "John Doe", "phone": "+34666999666", "ip": "84.232.140.77"}
_refs = itertools.count(1)


def initiate_body(
    country: str = "BR",
    currency: str = "BRL",
    amount: Decimal | str | int = "130.00",
    **extra: Any,
) -> dict[str, Any]:
    """A valid options/session request body with a fresh merchantReference."""
    return {
        "country": country,
        "currency": currency,
        "amount": str(amount),
        "redirectUrl": "https://merchant.example/return",
        "customer": CUSTOMER,
        "merchantReference": f"ref-{next(_refs)}",
        **extra,
    }


@attrs.frozen
class Answer:
    """One HTTP answer: status, decoded JSON (or None) and headers."""

    status: int
    body: Any
    headers: Any


@attrs.define
class Api:
    """Calls the sandbox over real HTTP with the right key."""

    sandbox: Sandbox
    http: aiohttp.ClientSession

    async def call(self, method: str, path: str, body: Any = None, **kwargs: Any) -> Answer:
        """Send one request; JSON bodies decoded when the answer is JSON."""
        headers = {"x-api-key": self.sandbox.api_key, **kwargs.pop("headers", {})}
        url = self.sandbox.base_url + path
        async with self.http.request(method, url, json=body, headers=headers, **kwargs) as resp:
            raw = await resp.read()
            is_json = resp.content_type == "application/json"
            return Answer(resp.status, orjson.loads(raw) if is_json else raw, resp.headers)

    async def post(self, path: str, body: Any = None, **kwargs: Any) -> Answer:
        """POST ``body`` as JSON."""
        return await self.call("POST", path, body, **kwargs)

    async def get_tx(self, tx_id: str) -> dict[str, Any]:
        """The transaction's JSON (asserting a 200)."""
        answer = await self.call("GET", f"/v2/transactions/{tx_id}")
        assert answer.status == 200, answer.body
        body: dict[str, Any] = answer.body
        return body

    async def payment_session(self, **fields: Any) -> tuple[str, str, dict[str, str]]:
        """Open a payment session: (transaction id, session id, option name -> id)."""
        answer = await self.post("/v2/payment-options", initiate_body(**fields))
        assert answer.status == 200, answer.body
        options = {o["name"]: o["paymentOptionId"] for o in answer.body["paymentOptions"]}
        return answer.body["transactionId"], answer.body["sessionId"], options

    async def pay_card(self, session_id: str, option_id: str, card: str = SUCCESS_CARD) -> Answer:
        """Post a card payment."""
        body = {"sessionId": session_id, "paymentOptionId": option_id}
        return await self.post("/v2/payment", {**body, "extraData": {"cardnum": card}})

    async def payout_session(self, **fields: Any) -> tuple[str, str, str]:
        """Open a payout session: (transaction id, session id, option id)."""
        answer = await self.post("/v2/payout-options", initiate_body(**fields))
        assert answer.status == 200, answer.body
        first = answer.body[0]
        return (
            first["transactionId"],
            first["sessionId"],
            first["paymentOptions"][0]["paymentOptionId"],
        )

    async def create_payout(self, session_id: str, option_id: str, **extra: Any) -> Answer:
        """Create the session's payout."""
        body = {
            "sessionId": session_id,
            "paymentOptionId": option_id,
            "extraData": {"name": "Jane Roe", **extra},
        }
        return await self.post("/v2/payout", body)

    async def settle(self, tx_id: str, action: str = "APPROVE") -> Answer:
        """Settle a payout."""
        return await self.post("/v2/settle-payout", {"action": action, "transactionId": tx_id})
