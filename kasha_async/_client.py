"""``KashaClient``: configuration, the shared transport, and one resource per API area.

Layering: a resource method builds a request object (validated before any I/O),
:meth:`KashaClient._call` encodes it, the retry runner (``_retry``) drives
attempts, each attempt is one :meth:`Transport.send` plus :func:`_decode`.
"""

from __future__ import annotations

import ipaddress
import os
import warnings
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable, Mapping
from decimal import Decimal
from types import TracebackType
from typing import Any, Self, TypeVar, Unpack
from urllib.parse import quote, urlsplit

import aiohttp
import attrs

from . import _convert, _redact, _telemetry
from ._constants import (
    DEFAULT_MAX_RETRIES,
    DEFAULT_POOL_SIZE,
    ENV_API_KEY,
    ENV_BASE_URL,
    ENV_SIGNATURE_KEY,
    LOOPBACK_HOSTS,
)
from ._errors import (
    ConfigError,
    InvalidRequestError,
    KashaError,
    RequestNotSentError,
    ResponseFormatError,
    error_from_response,
)
from ._http import DEFAULT_TIMEOUT, RawResponse, Timeout, Transport, encode_multipart
from ._models import (
    CashierLink,
    InitiatedSession,
    PaymentOption,
    PaymentOptionsFields,
    PaymentOptionsRequest,
    PayoutOptionsFields,
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
    build_request,
)
from ._operations import OPERATIONS, ROUTES, Safety
from ._outcome import (
    Outcome,
    Sent,
    check_answer,
    of_error,
    refund_landed,
    settle_landed,
    submit_landed,
)
from ._redact import redact_bytes
from ._retry import RetryBudget, RetryRunner, RetryStats, retry_after_seconds

T = TypeVar("T")

_SESSION_CACHE_SIZE = 10_000
_DEFINITELY_NOT = frozenset({Outcome.NOT_SENT, Outcome.NOT_LANDED})


def _decode(
    raw: RawResponse,
    cls: type[T],
    scrub: Callable[[bytes], bytes],
    merchant_reference: str | None = None,
) -> T:
    """Turn one answer into a model or the right exception (status, error body, shape).

    ``scrub`` masks the client's own secrets in any body that ends up in an error;
    ``merchant_reference`` (the session's, when known) is named in a 3017.
    """
    if raw.status >= 300:
        raise _error_answer(
            raw.status, scrub(raw.body), raw.headers.get("Retry-After"), merchant_reference
        )
    try:
        data = _convert.loads(raw.body)
        head = data[0] if isinstance(data, list) and len(data) == 1 else data
        if isinstance(head, dict) and head.get("resultType") == "error":
            raise _error_answer(raw.status, scrub(raw.body), None, merchant_reference)
        return _convert.parse(cls, data)
    except ResponseFormatError as exc:
        exc.status_code = raw.status
        # Always replaced: an excerpt made below this layer has not had the keys scrubbed.
        exc.body_excerpt = redact_bytes(scrub(raw.body))
        raise


def _error_answer(
    status: int, body: bytes, retry_after: str | None, merchant_reference: str | None
) -> KashaError:
    try:
        data: Any = _convert.loads(body)
    except ResponseFormatError:
        data = None
    return error_from_response(
        status,
        data,
        body,
        retry_after=retry_after_seconds(retry_after),
        merchant_reference=merchant_reference,
    )


class _ClosedClient(Exception):
    """Internal: a request not sent because the client closed; never retried."""

    def __init__(self, error: RequestNotSentError) -> None:
        super().__init__(error.message)
        self.error = error


@attrs.define(slots=True)
class _SessionRecord:
    """What this client sent when it opened a session: what later answers are held to."""

    transaction_id: str | None
    amount: Decimal | None = None
    currency: str | None = None
    merchant_reference: str | None = None
    #: paymentOptionId -> the option's name (what a transaction lookup shows as ``method``)
    option_names: Mapping[str, str | None] = attrs.field(factory=dict)
    #: posts/creates of this client on the session that are in flight or may have landed
    #: (a success or an unknown outcome); with two, neither call's lookup is attributable
    live_submits: int = 0


def _session_record(
    transaction_id: str | None,
    amount: Decimal | None,
    currency: str | None,
    merchant_reference: str | None,
    options: Iterable[PaymentOption],
) -> _SessionRecord:
    names = {o.payment_option_id: o.name for o in options}
    # Positionally, in field order: a class called with keywords costs twice as much.
    return _SessionRecord(transaction_id, amount, currency, merchant_reference, names)


#: An operation's route: method, path template, the path itself when it has no fields,
#: and the operation's safety class (``_operations.OPERATIONS``).
_Route = tuple[str, str, str | None, Safety]


def _resolve_routes(routes: Mapping[str, tuple[str, str]]) -> dict[str, _Route]:
    """Each call's per-operation facts, worked out once (``str.format`` costs ~1 us a call)."""
    return {
        operation: (
            method,
            template,
            None if "{" in template or "}" in template else template,
            OPERATIONS[operation].safety,
        )
        for operation, (method, template) in routes.items()
    }


def _check_key(name: str, key: str) -> None:
    """Refuse a key with a control character (a pasted newline) before it reaches a header."""
    bad = next((char for char in key if ord(char) < 0x20 or 0x7F <= ord(char) <= 0x9F), None)
    if bad is not None:
        # The message names the character's position, never the key.
        raise ConfigError(
            f"{name} holds a control character ({bad!r} at position {key.index(bad)}): "
            "strip the whitespace a copy or an environment file added"
        )


def _check_base_url(base_url: str | None, *, allow_insecure_http: bool) -> str:
    """``base_url`` if it is an http(s) URL; plain http only to loopback unless allowed."""
    if not base_url or not base_url.startswith(("http://", "https://")):
        raise ConfigError(f"base_url must be an http(s) URL: pass base_url= or set {ENV_BASE_URL}")
    if base_url.startswith("https://") or allow_insecure_http:
        return base_url
    host = urlsplit(base_url).hostname or ""
    if host not in LOOPBACK_HOSTS:
        try:
            # 0.0.0.0 / :: as a destination is this machine (a sandbox bound to all
            # interfaces prints it): the key does not leave the host either way.
            address = ipaddress.ip_address(host)
            loopback = address.is_loopback or address.is_unspecified
        except ValueError:
            loopback = False
        if not loopback:
            raise ConfigError(
                f"base_url {base_url!r} is plain http to {host!r}: the API key would travel "
                "in clear text; use https (allow_insecure_http=True for a trusted test proxy)"
            )
    return base_url


#: Headers only the SDK sets: the key, the signature over the exact body, the framing.
_RESERVED_HEADERS = frozenset(
    {"x-api-key", "x-signature", "content-type", "content-length", "host"}
)


def _check_headers(headers: Mapping[str, str] | None) -> dict[str, str]:
    """``default_headers`` as a dict; reserved names and control characters are refused."""
    checked = dict(headers or {})
    for name, value in checked.items():
        if name.lower() in _RESERVED_HEADERS:
            raise ConfigError(f"default_headers may not set {name!r}: the SDK sets it")
        _check_key(f"default_headers[{name!r}]", name + value)
    return checked


class _ClientTransport(Transport):
    """The transport with the user's extra headers; a ``with_options`` copy borrows its pool.

    A copy (``parent`` given) sends on its parent's session, created lazily by whichever
    sends first, and never closes it.
    """

    def __init__(
        self,
        *,
        extra_headers: Mapping[str, str],
        parent: Transport | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.api_key: str = kwargs["api_key"]
        self.extra_headers = dict(extra_headers)
        self._parent = parent
        # The user's headers join the prepared ones once (a user ``User-Agent`` replaces ours).
        replaced = {name.lower() for name in extra_headers}
        kept = {k: v for k, v in self._headers.items() if k.lower() not in replaced}
        self._headers = kept | self.extra_headers

    def _get_session(self) -> aiohttp.ClientSession:
        if self._parent is not None:
            return self._parent._get_session()
        return super()._get_session()

    @property
    def has_open_session(self) -> bool:
        """A copy owns no session: only the original warns when left open."""
        return self._parent is None and super().has_open_session


class KashaClient:
    """An async client for the Kasha payments API v2.

    Use it as ``async with KashaClient(...) as kasha:`` or call :meth:`close`.
    Arguments not given are read from ``KASHA_API_KEY``, ``KASHA_BASE_URL`` and
    ``KASHA_SIGNATURE_KEY``. Nothing is sent until the first call. Keys with control
    characters and plain ``http://`` to anything but loopback are refused with
    :class:`ConfigError` (``allow_insecure_http=True`` allows a trusted test proxy).
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
        allow_insecure_http: bool = False,
        default_headers: Mapping[str, str] | None = None,
    ) -> None:
        self._is_copy = False  # first: __del__ must work even if construction fails
        api_key = api_key or os.environ.get(ENV_API_KEY)
        base_url = base_url or os.environ.get(ENV_BASE_URL)
        signature_key = signature_key or os.environ.get(ENV_SIGNATURE_KEY) or None
        if not api_key:
            raise ConfigError(f"no API key: pass api_key= or set {ENV_API_KEY}")
        _check_key("api_key", api_key)
        if signature_key is not None:
            _check_key("signature_key", signature_key)
        base_url = _check_base_url(base_url, allow_insecure_http=allow_insecure_http)
        unknown = set(routes or ()) - set(ROUTES)
        if unknown:
            raise ConfigError(f"unknown operations in routes: {sorted(unknown)}")
        if max_retries < 0:
            raise ConfigError("max_retries must be >= 0")
        self._transport = _ClientTransport(
            base_url=base_url,
            api_key=api_key,
            signature_key=signature_key,
            session=session,
            pool_size=pool_size,
            extra_headers=_check_headers(default_headers),
        )
        self._allow_insecure_http = allow_insecure_http
        self._signature_key = signature_key
        self._routes = _resolve_routes({**ROUTES, **(routes or {})})
        self._timeout = Timeout.coerce(timeout)
        self._max_retries = max_retries
        self.stats = RetryStats()
        self._runner = RetryRunner(budget=retry_budget or RetryBudget(), stats=self.stats)
        self._session_transactions: OrderedDict[str, _SessionRecord] = OrderedDict()
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
        self,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        default_headers: Mapping[str, str] | None = None,
        timeout: Timeout | float | None = None,
        max_retries: int | None = None,
    ) -> KashaClient:
        """A cheap copy with other settings, sharing the pool, retry budget and stats.

        A new ``api_key``, ``base_url`` or ``default_headers`` (added to this client's)
        gives the copy its own headers on the same connection pool; closing a copy
        never closes the pool.
        """
        copy = object.__new__(KashaClient)
        copy.__dict__.update(self.__dict__)
        if timeout is not None:
            copy._timeout = Timeout.coerce(timeout)
        if max_retries is not None:
            if max_retries < 0:
                raise ConfigError("max_retries must be >= 0")
            copy._max_retries = max_retries
        if api_key is not None or base_url is not None or default_headers is not None:
            copy._transport = self._derive_transport(api_key, base_url, default_headers)
        copy._is_copy = True
        copy._attach_resources()
        return copy

    def _derive_transport(
        self, api_key: str | None, base_url: str | None, headers: Mapping[str, str] | None
    ) -> _ClientTransport:
        parent = self._transport
        if api_key is not None:
            _check_key("api_key", api_key)
        if base_url is not None:
            base_url = _check_base_url(base_url, allow_insecure_http=self._allow_insecure_http)
        return _ClientTransport(
            base_url=base_url or parent.base_url,
            api_key=api_key or parent.api_key,
            signature_key=self._signature_key,
            extra_headers={**parent.extra_headers, **_check_headers(headers)},
            parent=parent,
        )

    def _for_call(self, timeout: Timeout | float | None) -> KashaClient:
        """This client, or a copy with a per-call ``timeout``."""
        return self if timeout is None else self.with_options(timeout=timeout)

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

    def _remember_session(
        self,
        opened: InitiatedSession | CashierLink,
        request: PaymentOptionsRequest | PayoutOptionsRequest,
    ) -> None:
        """Keep what a session was opened with, to hold its post/create and lookups to it."""
        options = opened.payment_options if isinstance(opened, InitiatedSession) else ()
        self._remember(
            opened.session_id,
            _session_record(
                opened.transaction_id,
                request.amount,
                request.currency,
                request.merchant_reference,
                options,
            ),
        )

    def _resume_session(
        self,
        session_id: str,
        transaction_id: str,
        amount: Decimal | None,
        currency: str | None,
        merchant_reference: str | None,
        options: Iterable[PaymentOption],
    ) -> None:
        """Hold a session another client opened (a resumed flow's) to what it was opened with."""
        if session_id not in self._session_transactions:
            self._remember(
                session_id,
                _session_record(transaction_id, amount, currency, merchant_reference, options),
            )

    def _remember(self, session_id: str, record: _SessionRecord) -> _SessionRecord:
        cache = self._session_transactions
        cache[session_id] = record
        if len(cache) > _SESSION_CACHE_SIZE:
            cache.popitem(last=False)
        return record

    def transaction_for_session(self, session_id: str) -> str | None:
        """The transaction id this client saw when ``session_id`` was opened, if any."""
        record = self._session_transactions.get(session_id)
        return record.transaction_id if record is not None else None

    def _record_for_reference(self, merchant_reference: str) -> _SessionRecord | None:
        """The newest session this client opened with ``merchant_reference``, if any."""
        for record in reversed(self._session_transactions.values()):
            if record.merchant_reference == merchant_reference:
                return record
        return None

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
        merchant_reference: str | None = None,
    ) -> T:
        method, template, path, safety = self._routes[operation]
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
        transport = self._transport
        send = transport.send
        scrub = _redact.with_sent_values(transport.scrub, getattr(request, "extra_data", None))
        maybe_landed = False  # an attempt of this call may have taken effect

        async def attempt() -> T:
            nonlocal maybe_landed
            try:
                raw = await send(method, path, body, timeout=timeout, content_type=content_type)
                _telemetry.answered(raw.status)
                return _decode(raw, result, scrub, merchant_reference)
            except RequestNotSentError as exc:
                if transport.closed and not maybe_landed:
                    raise _ClosedClient(exc) from None  # out of the retry loop, unretried
                raise
            except KashaError as exc:
                maybe_landed = maybe_landed or of_error(exc, safety) is Outcome.UNKNOWN
                raise

        with _telemetry.call(operation, method, transport.host):
            try:
                answer = await self._runner.run(
                    operation,
                    attempt,
                    max_retries=self._max_retries,
                    deadline=timeout.total,
                    reconcile=reconcile,
                    transaction_id=transaction_id,
                )
            except _ClosedClient as closed:
                not_sent = closed.error
            else:
                _telemetry.succeeded(answer)
                return answer
            raise not_sent  # outside the handler: the wrapper is not its __context__

    async def _submit(
        self, operation: str, req: SubmitRequest, transaction_id: str | None
    ) -> SubmitResult:
        """Post a payment or create a payout: resend on the same session, reconcile on 409.

        The answer and any lookup are held to what this client sent (``_outcome.Sent``).
        While another post/create of this client on the session is in flight or may
        have landed (it succeeded, or its outcome is unknown), the session's one
        transaction cannot be attributed to this call: its lookup is then never
        reported as this call's success (docs/contract-choices.md).
        """
        record = self._session_transactions.get(req.session_id)
        if record is None:
            record = self._remember(req.session_id, _SessionRecord(transaction_id=None))
        tx = transaction_id or record.transaction_id
        sent = Sent(
            amount=record.amount,
            currency=record.currency,
            method=record.option_names.get(req.payment_option_id),
            transaction_id=tx,
        )

        def interpret(found: Transaction) -> SubmitResult | None:
            attributable = record.live_submits == 1
            return submit_landed(found, sent, operation=operation, attributable=attributable)

        record.live_submits += 1
        try:
            answer = await self._call(
                operation,
                req,
                SubmitResult,
                reconcile=self._reconciler(interpret),
                transaction_id=tx,
                merchant_reference=record.merchant_reference,
            )
        except KashaError as exc:
            if of_error(exc, OPERATIONS[operation].safety) in _DEFINITELY_NOT:
                record.live_submits -= 1  # certainly did not land: it competes with no one
            raise
        # The answer names the session's one transaction: it must be the one opened.
        check_answer(sent, amount=None, currency=None, transaction_id=answer.transaction_id)
        return answer

    def _reconciler(
        self, interpret: Callable[[Transaction], T | None]
    ) -> Callable[[str], Awaitable[T | None]]:
        """A reconciler: fetch the transaction and let ``_outcome`` read what it says."""

        async def reconcile(transaction_id: str) -> T | None:
            return interpret(await self.transactions.get(transaction_id))

        return reconcile


_Opened = TypeVar("_Opened", InitiatedSession, CashierLink)
_Initiate = TypeVar("_Initiate", PaymentOptionsRequest, PayoutOptionsRequest)
#: Per-call timeout: a number of seconds (the total) or a :class:`Timeout`.
_CallTimeout = Timeout | float | None


def _initiate_request(
    cls: type[_Initiate], request: _Initiate | None, fields: Mapping[str, Any]
) -> _Initiate:
    """The request object, given whole or as keywords (not both)."""
    if request is None:
        return build_request(cls, fields)
    if fields:
        raise InvalidRequestError(
            f"pass a {cls.__name__} or its fields as keywords, not both "
            f"(got {', '.join(sorted(fields))})"
        )
    return request


class _Resource:
    def __init__(self, client: KashaClient) -> None:
        self._client = client

    async def _open(
        self,
        operation: str,
        request: PaymentOptionsRequest | PayoutOptionsRequest,
        result: type[_Opened],
        timeout: _CallTimeout,
    ) -> _Opened:
        """Open a session and remember its transaction id, for reconciling a later submit."""
        opened = await self._client._for_call(timeout)._call(operation, request, result)
        self._client._remember_session(opened, request)
        return opened


class Payments(_Resource):
    """Payment sessions, options, suboptions, posting, hybrid and cashier links.

    Every method takes ``timeout=`` (seconds or a :class:`Timeout`) for that call only.
    """

    async def options(
        self,
        request: PaymentOptionsRequest | None = None,
        /,
        *,
        timeout: _CallTimeout = None,
        **fields: Unpack[PaymentOptionsFields],
    ) -> InitiatedSession:
        """Open a payment session and list its payment options (``POST /v2/payment-options``).

        Pass a :class:`PaymentOptionsRequest` or its fields as keywords; a misspelt
        keyword is an :class:`InvalidRequestError` naming it (and mypy sees it).
        """
        req = _initiate_request(PaymentOptionsRequest, request, fields)
        return await self._open("payments.options", req, InitiatedSession, timeout)

    async def create_session(
        self,
        request: PaymentOptionsRequest | None = None,
        /,
        *,
        timeout: _CallTimeout = None,
        **fields: Unpack[PaymentOptionsFields],
    ) -> CashierLink:
        """Open a payment session on the hosted cashier (``POST /v2/payment-session``)."""
        req = _initiate_request(PaymentOptionsRequest, request, fields)
        return await self._open("payments.create_session", req, CashierLink, timeout)

    async def suboptions(
        self,
        *,
        session_id: str,
        payment_option_id: str,
        multipart: bool = False,
        timeout: _CallTimeout = None,
    ) -> Suboptions:
        """List banks/sub-methods and form inputs of an option (``POST /v2/payment-suboptions``).

        The reference asks for ``multipart/form-data``; JSON is sent unless ``multipart=True``.
        """
        req = SuboptionsRequest(session_id=session_id, payment_option_id=payment_option_id)
        return await self._client._for_call(timeout)._call(
            "payments.suboptions", req, Suboptions, multipart=multipart
        )

    async def post(
        self,
        *,
        session_id: str,
        payment_option_id: str,
        option_id: str | None = None,
        extra_data: Mapping[str, Any] | None = None,
        transaction_id: str | None = None,
        timeout: _CallTimeout = None,
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
        return await self._client._for_call(timeout)._submit("payments.post", req, transaction_id)

    async def hybrid(
        self,
        *,
        session_id: str,
        payment_option_id: str,
        option_id: str | None = None,
        timeout: _CallTimeout = None,
    ) -> SubmitResult:
        """Get a hosted-cashier link for a preselected option (``POST /v2/hybrid-payment``)."""
        req = SubmitRequest(
            session_id=session_id, payment_option_id=payment_option_id, option_id=option_id
        )
        return await self._client._for_call(timeout)._call("payments.hybrid", req, SubmitResult)


class Payouts(_Resource):
    """Payout sessions, options, suboptions, creation and settlement (``timeout=`` per call)."""

    async def options(
        self,
        request: PayoutOptionsRequest | None = None,
        /,
        *,
        timeout: _CallTimeout = None,
        **fields: Unpack[PayoutOptionsFields],
    ) -> InitiatedSession:
        """Open a payout session and list its options (``POST /v2/payout-options``)."""
        req = _initiate_request(PayoutOptionsRequest, request, fields)
        return await self._open("payouts.options", req, InitiatedSession, timeout)

    async def create_session(
        self,
        request: PayoutOptionsRequest | None = None,
        /,
        *,
        timeout: _CallTimeout = None,
        **fields: Unpack[PayoutOptionsFields],
    ) -> CashierLink:
        """Open a payout session on the hosted cashier (``POST /v2/payout-session``)."""
        req = _initiate_request(PayoutOptionsRequest, request, fields)
        return await self._open("payouts.create_session", req, CashierLink, timeout)

    async def suboptions(
        self, *, session_id: str, payment_option_id: str, timeout: _CallTimeout = None
    ) -> Suboptions:
        """List the payout option's sub-methods and form inputs (``POST /v2/payout-suboptions``)."""
        req = SuboptionsRequest(session_id=session_id, payment_option_id=payment_option_id)
        return await self._client._for_call(timeout)._call("payouts.suboptions", req, Suboptions)

    async def create(
        self,
        *,
        session_id: str,
        payment_option_id: str,
        option_id: str | None = None,
        extra_data: Mapping[str, Any] | None = None,
        transaction_id: str | None = None,
        timeout: _CallTimeout = None,
    ) -> SubmitResult:
        """Create the session's one payout; it stays PENDING until settled (``POST /v2/payout``)."""
        req = SubmitRequest(
            session_id=session_id,
            payment_option_id=payment_option_id,
            option_id=option_id,
            extra_data=extra_data,
        )
        return await self._client._for_call(timeout)._submit("payouts.create", req, transaction_id)

    async def settle(
        self, *, transaction_id: str, action: str, timeout: _CallTimeout = None
    ) -> SettleResult:
        """Approve or decline a PENDING payout (``POST /v2/settle-payout``)."""
        req = SettleRequest(action=action, transaction_id=transaction_id)
        client = self._client._for_call(timeout)
        return await client._call(
            "payouts.settle",
            req,
            SettleResult,
            # What was sent is only needed (and only built) if the outcome is looked up.
            reconcile=client._reconciler(
                lambda tx: settle_landed(tx, Sent(transaction_id=transaction_id))
            ),
            transaction_id=transaction_id,
        )


class Refunds(_Resource):
    """Refunds of completed payments."""

    async def create(
        self,
        *,
        merchant_reference: str,
        transaction_id: str | None = None,
        timeout: _CallTimeout = None,
    ) -> Refund:
        """Refund a completed payment by its merchant reference (``POST /v2/refund``).

        Give ``transaction_id`` to let an unknown outcome be reconciled by lookup.
        """
        req = RefundRequest(merchant_reference=merchant_reference)
        client = self._client._for_call(timeout)
        paid = self._client._record_for_reference(merchant_reference)
        sent = Sent(
            amount=paid.amount if paid else None,
            currency=paid.currency if paid else None,
            transaction_id=transaction_id or (paid.transaction_id if paid else None),
        )
        refund = await client._call(
            "refunds.create",
            req,
            Refund,
            reconcile=client._reconciler(lambda tx: refund_landed(tx, sent)),
            transaction_id=sent.transaction_id,
        )
        # The answer names the refunded payment's amount: it must be the one paid.
        check_answer(sent, amount=refund.payment_amount, currency=refund.currency)
        return refund


class Transactions(_Resource):
    """Transaction lookups."""

    async def get(self, transaction_id: str, *, timeout: _CallTimeout = None) -> Transaction:
        """Fetch a transaction's current state (``GET /v2/transactions/{id}``)."""
        return await self._client._for_call(timeout)._call(
            "transactions.get",
            None,
            Transaction,
            path_params={"transaction_id": transaction_id},
        )
