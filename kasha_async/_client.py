"""``KashaClient``: configuration, the shared transport, and one resource per API area.

Layering: a resource method builds a request object (validated before any I/O),
:meth:`KashaClient._call` encodes it, the retry runner (``_retry``) drives
attempts, each attempt is one :meth:`Transport.send` plus :func:`_decode`.
"""

from __future__ import annotations

import os
import warnings
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from types import TracebackType
from typing import Any, Self, TypeVar
from urllib.parse import quote

import aiohttp

from . import _convert, _reconcile, _telemetry
from ._constants import (
    DEFAULT_MAX_RETRIES,
    DEFAULT_POOL_SIZE,
    ENV_API_KEY,
    ENV_BASE_URL,
    ENV_SIGNATURE_KEY,
)
from ._errors import (
    ConfigError,
    KashaError,
    ResponseFormatError,
    error_from_response,
    redact_bytes,
)
from ._http import DEFAULT_TIMEOUT, RawResponse, Timeout, Transport, encode_multipart
from ._models import (
    CashierLink,
    InitiatedSession,
    PaymentOptionsRequest,
    PayoutOptionsRequest,
    Refund,
    RefundRequest,
    SettleRequest,
    SettleResult,
    SubmitRequest,
    SubmitResult,
    Suboptions,
    SuboptionsRequest,
    Transaction,
)
from ._operations import ROUTES
from ._retry import RetryBudget, RetryRunner, RetryStats, retry_after_seconds

T = TypeVar("T")

_SESSION_CACHE_SIZE = 10_000


def _decode(raw: RawResponse, cls: type[T], scrub: Callable[[bytes], bytes]) -> T:
    """Turn one answer into a model or the right exception (status, error body, shape).

    ``scrub`` masks the client's own secrets in any body that ends up in an error.
    """
    if raw.status >= 300:
        raise _error_answer(raw.status, scrub(raw.body), raw.headers.get("Retry-After"))
    try:
        data = _convert.loads(raw.body)
        head = data[0] if isinstance(data, list) and len(data) == 1 else data
        if isinstance(head, dict) and head.get("resultType") == "error":
            raise _error_answer(raw.status, scrub(raw.body), None)
        return _convert.parse(cls, data)
    except ResponseFormatError as exc:
        exc.status_code = raw.status
        # Always replaced: an excerpt made below this layer has not had the keys scrubbed.
        exc.body_excerpt = redact_bytes(scrub(raw.body))
        raise


def _error_answer(status: int, body: bytes, retry_after: str | None) -> KashaError:
    try:
        data: Any = _convert.loads(body)
    except ResponseFormatError:
        data = None
    return error_from_response(status, data, body, retry_after=retry_after_seconds(retry_after))


#: An operation's route: method, path template, and the path itself when it has no fields.
_Route = tuple[str, str, str | None]


def _resolve_routes(routes: Mapping[str, tuple[str, str]]) -> dict[str, _Route]:
    """Routes with their fixed paths worked out once (``str.format`` costs ~1 us a call)."""
    return {
        operation: (method, template, None if "{" in template or "}" in template else template)
        for operation, (method, template) in routes.items()
    }


class KashaClient:
    """An async client for the Kasha payments API v2.

    Use it as ``async with KashaClient(...) as kasha:`` or call :meth:`close`.
    Arguments not given are read from ``KASHA_API_KEY``, ``KASHA_BASE_URL`` and
    ``KASHA_SIGNATURE_KEY``. Nothing is sent until the first call.
    """

    def __init__(
        self,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        signature_key: str | None = None,
        session: aiohttp.ClientSession | None = None,
        timeout: Timeout | float = DEFAULT_TIMEOUT,
        max_retries: int = DEFAULT_MAX_RETRIES,
        routes: Mapping[str, tuple[str, str]] | None = None,
        pool_size: int = DEFAULT_POOL_SIZE,
        retry_budget: RetryBudget | None = None,
    ) -> None:
        self._is_copy = False  # first: __del__ must work even if construction fails
        api_key = api_key or os.environ.get(ENV_API_KEY)
        base_url = base_url or os.environ.get(ENV_BASE_URL)
        signature_key = signature_key or os.environ.get(ENV_SIGNATURE_KEY) or None
        if not api_key:
            raise ConfigError(f"no API key: pass api_key= or set {ENV_API_KEY}")
        if not base_url or not base_url.startswith(("http://", "https://")):
            raise ConfigError(
                f"base_url must be an http(s) URL: pass base_url= or set {ENV_BASE_URL}"
            )
        unknown = set(routes or ()) - set(ROUTES)
        if unknown:
            raise ConfigError(f"unknown operations in routes: {sorted(unknown)}")
        if max_retries < 0:
            raise ConfigError("max_retries must be >= 0")
        self._transport = Transport(
            base_url=base_url,
            api_key=api_key,
            signature_key=signature_key,
            session=session,
            pool_size=pool_size,
        )
        self._routes = _resolve_routes({**ROUTES, **(routes or {})})
        self._timeout = Timeout.coerce(timeout)
        self._max_retries = max_retries
        self.stats = RetryStats()
        self._runner = RetryRunner(budget=retry_budget or RetryBudget(), stats=self.stats)
        self._session_transactions: OrderedDict[str, str] = OrderedDict()
        self._attach_resources()

    def _attach_resources(self) -> None:
        self.payments = Payments(self)
        self.payouts = Payouts(self)
        self.refunds = Refunds(self)
        self.transactions = Transactions(self)

    def __repr__(self) -> str:
        return (
            f"<KashaClient {self._transport.base_url} timeout={self._timeout.total:g}s "
            f"max_retries={self._max_retries}>"
        )

    @property
    def base_url(self) -> str:
        """The API root, without a trailing slash."""
        return self._transport.base_url

    @property
    def timeout(self) -> Timeout:
        """The timeouts every call of this client uses."""
        return self._timeout

    @property
    def max_retries(self) -> int:
        """Retries per call on top of the first attempt (0 turns retrying off)."""
        return self._max_retries

    def with_options(
        self, *, timeout: Timeout | float | None = None, max_retries: int | None = None
    ) -> KashaClient:
        """A cheap copy with other timeouts or retries, sharing pool, budget and stats."""
        copy = object.__new__(KashaClient)
        copy.__dict__.update(self.__dict__)
        if timeout is not None:
            copy._timeout = Timeout.coerce(timeout)
        if max_retries is not None:
            if max_retries < 0:
                raise ConfigError("max_retries must be >= 0")
            copy._max_retries = max_retries
        copy._is_copy = True
        copy._attach_resources()
        return copy

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the connection pool (a session passed in by the caller stays open)."""
        if not self._is_copy:
            await self._transport.close()

    def __del__(self) -> None:
        transport = self.__dict__.get("_transport")
        if transport is not None and not self._is_copy and transport.has_open_session:
            warnings.warn(
                f"{self!r} was never closed; use 'async with' or 'await client.close()'",
                ResourceWarning,
                stacklevel=2,
            )

    def _remember_session(self, session_id: str, transaction_id: str) -> None:
        cache = self._session_transactions
        cache[session_id] = transaction_id
        if len(cache) > _SESSION_CACHE_SIZE:
            cache.popitem(last=False)

    def transaction_for_session(self, session_id: str) -> str | None:
        """The transaction id this client saw when ``session_id`` was opened, if any."""
        return self._session_transactions.get(session_id)

    async def _call(
        self,
        operation: str,
        request: object | None,
        result: type[T],
        *,
        path_params: Mapping[str, str] | None = None,
        multipart: bool = False,
        reconcile: Callable[[str], Awaitable[T | None]] | None = None,
        transaction_id: str | None = None,
    ) -> T:
        method, template, path = self._routes[operation]
        if path is None:
            path = template.format(**{k: quote(v, safe="") for k, v in (path_params or {}).items()})
        content_type: str | None = "application/json"
        body = b""
        if request is not None and multipart:
            body, content_type = encode_multipart(
                {k: str(v) for k, v in _convert.to_plain(request).items()}
            )
        elif request is not None:
            body = _convert.dumps(_convert.to_wire(request))
        timeout = self._timeout
        send = self._transport.send
        scrub = self._transport.scrub

        async def attempt() -> T:
            raw = await send(method, path, body, timeout=timeout, content_type=content_type)
            _telemetry.answered(raw.status)
            return _decode(raw, result, scrub)

        with _telemetry.call(operation, method, self._transport.host):
            answer = await self._runner.run(
                operation,
                attempt,
                max_retries=self._max_retries,
                deadline=timeout.total,
                reconcile=reconcile,
                transaction_id=transaction_id,
            )
            _telemetry.succeeded(answer)
            return answer

    async def _submit(
        self, operation: str, req: SubmitRequest, transaction_id: str | None
    ) -> SubmitResult:
        """Post a payment or create a payout: resend on the same session, reconcile on 409."""
        tx = transaction_id or self.transaction_for_session(req.session_id)
        return await self._call(
            operation,
            req,
            SubmitResult,
            reconcile=self._reconciler(_reconcile.submit_landed),
            transaction_id=tx,
        )

    def _reconciler(
        self, interpret: Callable[[Transaction], T | None]
    ) -> Callable[[str], Awaitable[T | None]]:
        """A reconciler: fetch the transaction and read what it says about the operation."""

        async def reconcile(transaction_id: str) -> T | None:
            return interpret(await self.transactions.get(transaction_id))

        return reconcile


_Opened = TypeVar("_Opened", InitiatedSession, CashierLink)


class _Resource:
    def __init__(self, client: KashaClient) -> None:
        self._client = client

    async def _open(self, operation: str, request: object, result: type[_Opened]) -> _Opened:
        """Open a session and remember its transaction id, for reconciling a later submit."""
        opened = await self._client._call(operation, request, result)
        self._client._remember_session(opened.session_id, opened.transaction_id)
        return opened


class Payments(_Resource):
    """Payment sessions, options, suboptions, posting, hybrid and cashier links."""

    async def options(
        self, request: PaymentOptionsRequest | None = None, /, **fields: Any
    ) -> InitiatedSession:
        """Open a payment session and list its payment options (``POST /v2/payment-options``).

        Pass a :class:`PaymentOptionsRequest` or its fields as keywords.
        """
        req = request or PaymentOptionsRequest(**fields)
        return await self._open("payments.options", req, InitiatedSession)

    async def create_session(
        self, request: PaymentOptionsRequest | None = None, /, **fields: Any
    ) -> CashierLink:
        """Open a payment session on the hosted cashier (``POST /v2/payment-session``)."""
        req = request or PaymentOptionsRequest(**fields)
        return await self._open("payments.create_session", req, CashierLink)

    async def suboptions(
        self, *, session_id: str, payment_option_id: str, multipart: bool = False
    ) -> Suboptions:
        """List banks/sub-methods and form inputs of an option (``POST /v2/payment-suboptions``).

        The reference asks for ``multipart/form-data``; JSON is sent unless ``multipart=True``.
        """
        req = SuboptionsRequest(session_id=session_id, payment_option_id=payment_option_id)
        return await self._client._call("payments.suboptions", req, Suboptions, multipart=multipart)

    async def post(
        self,
        *,
        session_id: str,
        payment_option_id: str,
        option_id: str | None = None,
        extra_data: Mapping[str, Any] | None = None,
        transaction_id: str | None = None,
    ) -> SubmitResult:
        """Make the session's one payment (``POST /v2/payment``).

        ``transaction_id`` (known since the options call; remembered by this client)
        lets an unknown outcome be reconciled by lookup instead of surfaced.
        """
        req = SubmitRequest(
            session_id=session_id,
            payment_option_id=payment_option_id,
            option_id=option_id,
            extra_data=extra_data,
        )
        return await self._client._submit("payments.post", req, transaction_id)

    async def hybrid(
        self, *, session_id: str, payment_option_id: str, option_id: str | None = None
    ) -> SubmitResult:
        """Get a hosted-cashier link for a preselected option (``POST /v2/hybrid-payment``)."""
        req = SubmitRequest(
            session_id=session_id, payment_option_id=payment_option_id, option_id=option_id
        )
        return await self._client._call("payments.hybrid", req, SubmitResult)


class Payouts(_Resource):
    """Payout sessions, options, suboptions, creation and settlement."""

    async def options(
        self, request: PayoutOptionsRequest | None = None, /, **fields: Any
    ) -> InitiatedSession:
        """Open a payout session and list its options (``POST /v2/payout-options``)."""
        req = request or PayoutOptionsRequest(**fields)
        return await self._open("payouts.options", req, InitiatedSession)

    async def create_session(
        self, request: PayoutOptionsRequest | None = None, /, **fields: Any
    ) -> CashierLink:
        """Open a payout session on the hosted cashier (``POST /v2/payout-session``)."""
        req = request or PayoutOptionsRequest(**fields)
        return await self._open("payouts.create_session", req, CashierLink)

    async def suboptions(self, *, session_id: str, payment_option_id: str) -> Suboptions:
        """List the payout option's sub-methods and form inputs (``POST /v2/payout-suboptions``)."""
        req = SuboptionsRequest(session_id=session_id, payment_option_id=payment_option_id)
        return await self._client._call("payouts.suboptions", req, Suboptions)

    async def create(
        self,
        *,
        session_id: str,
        payment_option_id: str,
        option_id: str | None = None,
        extra_data: Mapping[str, Any] | None = None,
        transaction_id: str | None = None,
    ) -> SubmitResult:
        """Create the session's one payout; it stays PENDING until settled (``POST /v2/payout``)."""
        req = SubmitRequest(
            session_id=session_id,
            payment_option_id=payment_option_id,
            option_id=option_id,
            extra_data=extra_data,
        )
        return await self._client._submit("payouts.create", req, transaction_id)

    async def settle(self, *, transaction_id: str, action: str) -> SettleResult:
        """Approve or decline a PENDING payout (``POST /v2/settle-payout``)."""
        req = SettleRequest(action=action, transaction_id=transaction_id)
        return await self._client._call(
            "payouts.settle",
            req,
            SettleResult,
            reconcile=self._client._reconciler(_reconcile.settle_landed),
            transaction_id=transaction_id,
        )


class Refunds(_Resource):
    """Refunds of completed payments."""

    async def create(self, *, merchant_reference: str, transaction_id: str | None = None) -> Refund:
        """Refund a completed payment by its merchant reference (``POST /v2/refund``).

        Give ``transaction_id`` to let an unknown outcome be reconciled by lookup.
        """
        req = RefundRequest(merchant_reference=merchant_reference)
        return await self._client._call(
            "refunds.create",
            req,
            Refund,
            reconcile=self._client._reconciler(_reconcile.refund_landed),
            transaction_id=transaction_id,
        )


class Transactions(_Resource):
    """Transaction lookups."""

    async def get(self, transaction_id: str) -> Transaction:
        """Fetch a transaction's current state (``GET /v2/transactions/{id}``)."""
        return await self._client._call(
            "transactions.get",
            None,
            Transaction,
            path_params={"transaction_id": transaction_id},
        )
