"""The transport: the only user of ``aiohttp.ClientSession``.

It owns the headers (``x-api-key``, ``x-signature``, ``User-Agent``), the per-phase
timeouts, the connection pool, the size cap on answers and the one function that
turns aiohttp's exceptions into the package's (:func:`translate_client_error`).
It sends one request and hands back status, headers and body bytes: retries,
reconciliation and parsing live above it.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import time
from collections.abc import Mapping

import aiohttp
import attrs
import yarl
from multidict import CIMultiDict
from yarl import URL

from ._constants import (
    DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_POOL_SIZE,
    DEFAULT_POOL_SIZE_PER_HOST,
    DEFAULT_READ_TIMEOUT,
    DEFAULT_TOTAL_TIMEOUT,
    MAX_RESPONSE_BYTES,
)
from ._errors import (
    ConfigError,
    ConnectionLostError,
    KashaError,
    RequestNotSentError,
    ResponseFormatError,
)
from ._operations import ROUTES
from ._redact import redact_bytes
from ._signing import sign
from ._version import __version__

logger = logging.getLogger("kasha_async")

USER_AGENT = f"kasha-async/{__version__}"


@attrs.frozen(kw_only=True, slots=True)
class Timeout:
    """Per-phase timeouts in seconds.

    ``connect``: opening a TCP connection (a timeout here means nothing was sent);
    ``read``: one attempt, from its start to the last byte of its answer (past that
    the request may have been sent: the outcome is unknown); ``total``: the deadline
    for a whole call, retries and backoff included.
    """

    connect: float = DEFAULT_CONNECT_TIMEOUT
    read: float = DEFAULT_READ_TIMEOUT
    total: float = DEFAULT_TOTAL_TIMEOUT

    @classmethod
    def coerce(cls, value: Timeout | float) -> Timeout:
        """A number sets the total deadline (and caps the other phases to it)."""
        if isinstance(value, Timeout):
            return value
        total = float(value)
        if total <= 0:
            raise ConfigError(f"timeout must be positive, got {value!r}")
        return cls(
            connect=min(DEFAULT_CONNECT_TIMEOUT, total),
            read=min(DEFAULT_READ_TIMEOUT, total),
            total=total,
        )


DEFAULT_TIMEOUT = Timeout()


@attrs.frozen(slots=True)
class RawResponse:
    """One HTTP answer, before parsing."""

    status: int
    headers: Mapping[str, str]
    body: bytes


class ReadWatch:
    """Read timeouts for every in-flight attempt of a transport, checked by one timer.

    A timer per request is not cheap on asyncio's loop: aiohttp's ``sock_read`` arms
    one when the request is written and again on every chunk, and ``asyncio.timeout``
    around each attempt cost as much (6.6 % of a payout flow's instructions either
    way, benchmarks/README.md). Here an attempt only enters its due time in a dict;
    one timer, set for the soonest due time of the attempts in flight, cancels the
    tasks past theirs, and there is no timer while nothing is in flight. Checks are
    at least :data:`TICK` apart, so a bound fires up to 0.1 s late when many fall due
    together. Whose cancellation it was is decided as ``asyncio.timeout`` decides it
    (``Task.uncancel``), and it surfaces as ``TimeoutError``, as that one's does.
    """

    TICK = 0.1

    def __init__(self) -> None:
        self._bounds: dict[_Bound, None] = {}
        self._beat: asyncio.TimerHandle | None = None
        self._beat_loop: asyncio.AbstractEventLoop | None = None
        self._next = float("inf")

    def bound(self, seconds: float) -> _Bound:
        """A ``with`` block that raises ``TimeoutError`` if it runs past ``seconds``."""
        return _Bound(self, seconds)

    def _enter(self, entry: _Bound, loop: asyncio.AbstractEventLoop) -> None:
        self._bounds[entry] = None
        if entry.due < self._next or loop is not self._beat_loop:
            self._schedule(loop, entry.due)

    def _schedule(self, loop: asyncio.AbstractEventLoop, when: float) -> None:
        if self._beat is not None:
            self._beat.cancel()
        self._next, self._beat_loop = when, loop
        self._beat = loop.call_at(when, self._check, loop)

    def _check(self, loop: asyncio.AbstractEventLoop) -> None:
        self._beat, self._beat_loop, self._next = None, None, float("inf")
        now = loop.time()
        soonest = float("inf")
        for entry in self._bounds:
            if entry.fired:
                continue
            if entry.due <= now:
                entry.fired = True
                entry.task.cancel()
            else:
                soonest = min(soonest, entry.due)
        if soonest != float("inf"):
            self._schedule(loop, max(soonest, now + self.TICK))


class _Bound:
    """One attempt's bound: its task, the loop time its answer is due, and whether it fired."""

    __slots__ = ("cancelling", "due", "fired", "seconds", "task", "watch")

    def __init__(self, watch: ReadWatch, seconds: float) -> None:
        self.watch = watch
        self.seconds = seconds
        self.fired = False

    def __enter__(self) -> None:
        task = asyncio.current_task()
        if task is None:
            raise RuntimeError("a read bound must be entered in a task")
        loop = task.get_loop()
        self.task, self.cancelling = task, task.cancelling()
        self.due = loop.time() + self.seconds
        self.watch._enter(self, loop)

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object
    ) -> None:
        del self.watch._bounds[self]
        # Fired while the block ended: the cancellation is ours to take back either way.
        ours = self.fired and self.task.uncancel() <= self.cancelling
        if ours and isinstance(exc, asyncio.CancelledError):
            raise TimeoutError from exc


@functools.lru_cache(maxsize=64)
def _client_timeout(connect: float) -> aiohttp.ClientTimeout:
    """aiohttp's timeouts: only ``sock_connect``; immutable, so built once (~1 us a request).

    The read timeout is not aiohttp's per-chunk ``sock_read``: that arms a timer when
    the request is written and again on every chunk received (6.6 % of a payout
    flow's instructions, benchmarks/README.md), and a server trickling a byte at a
    time could hold an attempt open for ever. :meth:`Transport.send` bounds the
    whole attempt with one ``asyncio.timeout`` instead.
    """
    return aiohttp.ClientTimeout(total=None, sock_connect=connect)


def translate_client_error(
    exc: BaseException, *, method: str, path: str, address: str = ""
) -> KashaError:
    """Map an aiohttp or timeout exception to the tree, splitting *not sent* from *unknown*.

    Connect failures (DNS, refused, TLS, connect timeout) happen before a byte of the
    request leaves: :class:`RequestNotSentError`. Anything later (reset, read
    timeout, truncated body, server disconnect, a malformed answer) may have been
    processed: :class:`ConnectionLostError`, an :class:`OutcomeUnknownError`. The
    message names ``address`` (``host:port``) and the reason. It is built from
    ``exc``'s type and attributes only, never its text: aiohttp's exceptions hold
    the request's headers, the API key among them.
    """
    where = f"{method} {path}"
    to = f" to {address}" if address else ""
    if isinstance(exc, aiohttp.ClientConnectorError | aiohttp.ConnectionTimeoutError):
        return RequestNotSentError(f"{where}: could not connect{to} ({_connect_reason(exc)})")
    if isinstance(exc, aiohttp.InvalidURL):
        return ConfigError(f"{where}: invalid URL")
    if isinstance(exc, TimeoutError):
        return ConnectionLostError(f"{where}: timed out waiting for the answer{_from(address)}")
    return ConnectionLostError(f"{where}: connection{to} lost ({type(exc).__name__})")


def _from(address: str) -> str:
    return f" from {address}" if address else ""


def _connect_reason(exc: BaseException) -> str:
    """Why a connection could not be opened, in a few words."""
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return "connect timeout"
    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        return "DNS lookup failed"
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        return "TLS certificate rejected"
    if isinstance(exc, aiohttp.ClientSSLError):
        return "TLS handshake failed"
    os_error = getattr(exc, "os_error", None)
    if isinstance(os_error, ConnectionRefusedError):
        return "connection refused"
    if isinstance(os_error, TimeoutError):
        return "connect timeout"
    if isinstance(os_error, OSError) and os_error.strerror:
        return os_error.strerror.lower()
    return type(exc).__name__


def _address(base_url: str) -> str:
    """``host:port`` of ``base_url``, for error messages ("" if it does not parse)."""
    try:
        url = URL(base_url)
    except ValueError:
        return ""
    return f"{url.host}:{url.port}" if url.host else ""


def _fixed_urls(base_url: str) -> dict[str, URL]:
    """Every fixed route's URL parsed once (aiohttp parses a string URL on each request).

    Paths with fields (``/v2/transactions/{id}``) stay strings, joined per call.
    """
    urls: dict[str, URL] = {}
    for _, path in ROUTES.values():
        if "{" not in path:
            # A URL that does not parse is left to aiohttp, which names it InvalidURL.
            with contextlib.suppress(ValueError):
                urls[path] = URL(base_url + path)
    return urls


class Transport:
    """Sends single requests on one shared, lazily created ``aiohttp.ClientSession``."""

    def __init__(
        self,
        *,
        base_url: str,
        api_key: str,
        signature_key: str | None,
        session: aiohttp.ClientSession | None = None,
        pool_size: int = DEFAULT_POOL_SIZE,
        max_response_bytes: int = MAX_RESPONSE_BYTES,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.host = yarl.URL(self.base_url).host or ""
        self._signature_key = signature_key.encode() if signature_key else None
        self._session = session
        self._owns_session = session is None
        self._pool_size = pool_size
        self._max_response_bytes = max_response_bytes
        self._headers = {
            "x-api-key": api_key,
            "User-Agent": USER_AGENT,
            "Accept": "application/json",
        }
        # Keys under 8 bytes are too short to tell from ordinary text; real keys are longer.
        self._secrets = tuple(
            secret
            for secret in (api_key.encode(), self._signature_key)
            if secret and len(secret) >= 8
        )
        self._header_cache: dict[str | None, CIMultiDict[str]] = {}
        self._urls = _fixed_urls(self.base_url)
        self._address = _address(self.base_url)
        self._read_watch = ReadWatch()
        self._closed = False

    def __repr__(self) -> str:
        return f"<Transport {self.base_url} signing={'on' if self._signature_key else 'off'}>"

    def scrub(self, body: bytes) -> bytes:
        """``body`` with this client's API key and signature key masked (for error excerpts)."""
        for secret in self._secrets:
            if secret in body:
                body = body.replace(secret, b"[REDACTED]")
        return body

    @property
    def has_open_session(self) -> bool:
        """Whether this transport created a session that is still open."""
        return self._owns_session and self._session is not None and not self._session.closed

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closed

    def _get_session(self) -> aiohttp.ClientSession:
        if self._closed:
            raise ConfigError("the client is closed")
        if self._session is None:
            connector = aiohttp.TCPConnector(
                limit=self._pool_size,
                limit_per_host=DEFAULT_POOL_SIZE_PER_HOST,
                ttl_dns_cache=300,
            )
            # A payment API sets no cookie the SDK needs: the default jar only costs CPU.
            self._session = aiohttp.ClientSession(
                connector=connector,
                cookie_jar=aiohttp.DummyCookieJar(),
            )
        return self._session

    async def close(self) -> None:
        """Close the session if this transport created it; a borrowed one is left open."""
        self._closed = True
        if self._owns_session and self._session is not None:
            await self._session.close()
        self._session = None

    def _prepared_headers(self, content_type: str | None) -> CIMultiDict[str]:
        """Key, User-Agent, Accept and content type, built once per content type.

        Already a ``CIMultiDict``, so aiohttp does not convert them on every request.
        A multipart type carries a one-off boundary, so it is not kept.
        """
        headers = self._header_cache.get(content_type)
        if headers is None:
            headers = CIMultiDict(self._headers)
            if content_type is not None:
                headers["Content-Type"] = content_type
            if content_type is None or "boundary=" not in content_type:
                self._header_cache[content_type] = headers
        return headers

    async def send(
        self,
        method: str,
        path: str,
        body: bytes = b"",
        *,
        timeout: Timeout,
        content_type: str | None = "application/json",
    ) -> RawResponse:
        """Send one request and read the whole answer, or raise a translated error."""
        session = self._get_session()
        content_type = content_type if method != "GET" else None
        headers = self._prepared_headers(content_type)
        if self._signature_key is not None:
            # The signature covers this body's exact bytes: the one header made per request.
            headers = headers.copy()
            headers["x-signature"] = sign(self._signature_key, body)
        started = time.perf_counter()
        error: KashaError | None = None
        try:
            # The whole attempt is bounded, never longer than the call's deadline.
            with self._read_watch.bound(min(timeout.read, timeout.total)):
                async with session.request(
                    method,
                    self._urls.get(path) or self.base_url + path,
                    data=body if method != "GET" else None,
                    headers=headers,
                    allow_redirects=False,
                    timeout=_client_timeout(timeout.connect),
                ) as response:
                    raw = await self._read(response, method, path)
                    answer = RawResponse(response.status, response.headers, raw)
        except (aiohttp.ClientError, TimeoutError) as exc:
            error = translate_client_error(exc, method=method, path=path, address=self._address)
        except asyncio.CancelledError:
            # close() cancels the calls still queued for a pooled connection; their
            # own task was not cancelled (cancelling() == 0), and nothing was sent.
            task = asyncio.current_task()
            if not self._closed or task is None or task.cancelling():
                raise
            error = RequestNotSentError(
                f"{method} {path}: the client was closed while the request waited for a connection"
            )
        if error is not None:
            # Raised here, outside the except: aiohttp's exception holds the request's
            # headers (x-api-key, x-signature) and must not be its __context__.
            raise error
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug(
                "%s %s -> %s in %.1f ms",
                method,
                path,
                answer.status,
                (time.perf_counter() - started) * 1000,
            )
        return answer

    async def _read(self, response: aiohttp.ClientResponse, method: str, path: str) -> bytes:
        limit = self._max_response_bytes
        length = response.content_length
        # Content-Length counts compressed bytes: a gzip answer is read chunk by chunk,
        # decompressed, so a small bomb cannot unpack past the cap.
        if length is not None and "Content-Encoding" in response.headers:
            length = None
        if length is not None and length <= limit:
            return await response.read()
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.content.iter_chunked(65536):
            size += len(chunk)
            chunks.append(chunk)
            if size > limit or length is not None:
                break
        if size <= limit and length is None:
            return b"".join(chunks)
        response.close()
        raise ResponseFormatError(
            f"{method} {path}: answer of {length or f'over {limit}'} bytes exceeds the "
            f"{limit}-byte limit",
            status_code=response.status,
            body_excerpt=redact_bytes(self.scrub(b"".join(chunks)[:2048])),
        )


def encode_multipart(fields: Mapping[str, str]) -> tuple[bytes, str]:
    """Encode ``fields`` as ``multipart/form-data`` bytes (so the signature covers them exactly)."""
    boundary = "kasha-" + os.urandom(12).hex()
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
        for name, value in fields.items()
    ]
    body = ("".join(parts) + f"--{boundary}--\r\n").encode()
    return body, f"multipart/form-data; boundary={boundary}"
