"""OpenTelemetry traces and metrics: the only module that touches ``opentelemetry``.

With the ``[otel]`` extra (``opentelemetry-api``) installed, every client call is a
span of kind CLIENT named after its operation, flow steps and batch items are
parent spans, and the counters below are recorded; whichever tracer and meter
providers the application configured receive them (the API's no-op providers
when none was). Without the extra, nothing is imported and every hook is one
attribute check.

Instrumentation scope: ``kasha_async``. What is recorded (docs/observability.md):

=================================  ==============================================
span attribute / metric            value
=================================  ==============================================
``kasha.operation``                the operation name, e.g. ``payments.post``
``kasha.transaction_id``           once known
``kasha.attempts``                 HTTP attempts the call made (int)
``kasha.outcome``                  ``ok`` ``declined`` ``not_sent`` ``unknown`` ``error``
``http.request.method``,           the last answer's HTTP status,
``http.response.status_code``,     the API host,
``server.address``, ``error.type`` the exception class on failure
event ``kasha.retry``              ``kasha.retry.reason``, ``kasha.retry.wait_s``
event ``kasha.reconciliation``     ``kasha.reconciliation.result``
``kasha.client.requests``          counter: operation, outcome
``kasha.client.retries``           counter: operation, reason
``kasha.client.reconciliations``   counter: operation, result
``kasha.client.duration``          histogram (s): operation, outcome
``kasha.batch.items``              counter: status (the item's final status)
``kasha.batch.in_flight``          up-down counter: items being worked on
=================================  ==============================================

Only names, ids, statuses and exception class names are recorded: never a key,
a signature, card or bank data, or anything about the customer.
"""

from __future__ import annotations

import contextvars
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any

from ._errors import (
    APIStatusError,
    DeclinedError,
    OutcomeUnknownError,
    RequestNotSentError,
)
from ._version import __version__

__all__ = [
    "SCOPE",
    "CallRecord",
    "batch_item",
    "batch_item_finished",
    "call",
    "enabled",
    "reconciled",
    "retrying",
    "step",
]

SCOPE = "kasha_async"

_otel: _Instruments | None = None
_checked = False
_current: contextvars.ContextVar[CallRecord | None] = contextvars.ContextVar(
    "kasha_async_call", default=None
)


class _Instruments:
    """The tracer, the meter's instruments and the two API modules, made once."""

    def __init__(self) -> None:
        from opentelemetry import context, metrics, trace
        from opentelemetry.metrics import _internal as metrics_internal

        trace.get_tracer_provider()  # loads a provider named by OTEL_PYTHON_TRACER_PROVIDER
        metrics.get_meter_provider()
        # Where the API keeps the providers set (see ``tracing``); a stand-in that says
        # "configured" should a later API rename them, so only the saving is lost.
        self.trace_globals: Any = trace if hasattr(trace, "_TRACER_PROVIDER") else _Configured
        self.metrics_globals: Any = (
            metrics_internal if hasattr(metrics_internal, "_METER_PROVIDER") else _Configured
        )
        self.trace = trace
        self.context = context
        self.tracer = trace.get_tracer(SCOPE, __version__)
        meter = metrics.get_meter(SCOPE, __version__)
        self.requests = meter.create_counter(
            "kasha.client.requests", unit="{request}", description="Client calls, by outcome"
        )
        self.retries = meter.create_counter(
            "kasha.client.retries", unit="{retry}", description="Retries, by reason"
        )
        self.reconciliations = meter.create_counter(
            "kasha.client.reconciliations",
            unit="{lookup}",
            description="Reconciliations by transaction lookup, by what the lookup found",
        )
        self.duration = meter.create_histogram(
            "kasha.client.duration", unit="s", description="Client call duration, retries included"
        )
        self.batch_items = meter.create_counter(
            "kasha.batch.items", unit="{item}", description="Batch items, by final status"
        )
        self.in_flight = meter.create_up_down_counter(
            "kasha.batch.in_flight", unit="{item}", description="Batch items being worked on"
        )

    @property
    def tracing(self) -> bool:
        """Whether a tracer provider was set: until then every span would be a no-op.

        The API answers this only through ``get_tracer_provider()``, which reads
        ``os.environ`` on every call (~2 us); its module global says the same for
        ~50 ns. :func:`call` reads the two globals itself, on every client call.
        """
        return self.trace_globals._TRACER_PROVIDER is not None

    @property
    def metering(self) -> bool:
        """Whether a meter provider was set (the same shortcut as :attr:`tracing`)."""
        return self.metrics_globals._METER_PROVIDER is not None


class _Configured:
    """Stands in for an API module whose provider global is not where it used to be."""

    _TRACER_PROVIDER = _METER_PROVIDER = True


def _instruments() -> _Instruments | None:
    """The instruments, or ``None`` without ``opentelemetry-api`` (looked for once)."""
    global _otel, _checked
    if not _checked:
        _checked = True
        try:
            _otel = _Instruments()
        except ImportError:  # the [otel] extra is not installed
            _otel = None
    return _otel


def enabled() -> bool:
    """Whether ``opentelemetry-api`` is installed (spans may still go to a no-op provider)."""
    return _instruments() is not None


def outcome_of(exc: BaseException | None) -> str:
    """The ``kasha.outcome`` of a call that ended with ``exc`` (``None``: success)."""
    if exc is None:
        return "ok"
    if isinstance(exc, DeclinedError):
        return "declined"
    if isinstance(exc, RequestNotSentError):
        return "not_sent"
    if isinstance(exc, OutcomeUnknownError):
        return "unknown"
    return "error"


def reason_of(exc: BaseException | None) -> str:
    """A short, data-free reason for a retry: the HTTP status or the exception class."""
    if isinstance(exc, APIStatusError):
        return f"http_{exc.status_code}"
    return type(exc).__name__ if exc is not None else "unknown"


class CallRecord:
    """What one client call's span gathers while it runs: attempts, status, transaction id."""

    __slots__ = ("attempts", "operation", "span", "status_code", "transaction_id")

    def __init__(self, operation: str, span: Any) -> None:
        self.operation = operation
        self.span = span
        self.attempts = 1
        self.status_code: int | None = None
        self.transaction_id: str | None = None


class _CallSpan:
    """The span of one client call, current while it runs (retries and lookups nest in it).

    A class rather than ``@contextmanager``, and nothing attached to the context
    when the span is not recording (no SDK configured): the no-op cost stays at a
    few microseconds a call (docs/observability.md has the measurement).
    """

    __slots__ = ("_call_token", "_otel", "_record", "_started", "_token")

    def __init__(self, otel: _Instruments, operation: str, method: str, host: str) -> None:
        self._otel = otel
        span = otel.trace.INVALID_SPAN
        if otel.tracing:
            span = otel.tracer.start_span(
                operation,
                kind=otel.trace.SpanKind.CLIENT,
                attributes={
                    "kasha.operation": operation,
                    "http.request.method": method,
                    "server.address": host,
                },
            )
        self._record = CallRecord(operation, span)
        self._token: object | None = None

    def __enter__(self) -> CallRecord:
        span = self._record.span
        if span.is_recording():
            self._token = self._otel.context.attach(self._otel.trace.set_span_in_context(span))
        self._call_token = _current.set(self._record)
        self._started = time.perf_counter()
        return self._record

    def __exit__(self, exc_type: object, error: BaseException | None, tb: object) -> None:
        took = time.perf_counter() - self._started
        _current.reset(self._call_token)
        if self._token is not None:
            self._otel.context.detach(self._token)
        _end_call(self._otel, self._record, error, took)


class _NoCall:
    """The context manager of a call when opentelemetry-api is not installed."""

    __slots__ = ()

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type: object, error: object, tb: object) -> None:
        return None


_NO_CALL = _NoCall()
_NO_SPAN = nullcontext()


def call(operation: str, method: str, host: str) -> _CallSpan | _NoCall:
    """The span of one client call: ``with _telemetry.call(...):`` around its attempts.

    With no provider set this is on every call's path: the two provider globals are
    read here rather than through :attr:`_Instruments.tracing` and ``metering``
    (a property costs about as much as the rest of the check).
    """
    otel = _otel if _checked else _instruments()
    if otel is None or (
        otel.trace_globals._TRACER_PROVIDER is None and otel.metrics_globals._METER_PROVIDER is None
    ):
        return _NO_CALL
    return _CallSpan(otel, operation, method, host)


def _end_call(
    otel: _Instruments, record: CallRecord, error: BaseException | None, took: float
) -> None:
    outcome = outcome_of(error)
    attributes = {"kasha.operation": record.operation, "kasha.outcome": outcome}
    otel.requests.add(1, attributes)
    otel.duration.record(took, attributes)
    span = record.span
    if not span.is_recording():
        return
    transaction_id = record.transaction_id or getattr(error, "transaction_id", None)
    status = getattr(error, "status_code", None) or record.status_code
    span.set_attribute("kasha.attempts", record.attempts)
    span.set_attribute("kasha.outcome", outcome)
    if transaction_id:
        span.set_attribute("kasha.transaction_id", transaction_id)
    if status:
        span.set_attribute("http.response.status_code", status)
    if error is not None:
        span.set_attribute("error.type", type(error).__name__)
        if outcome != "declined":
            span.set_status(otel.trace.Status(otel.trace.StatusCode.ERROR, type(error).__name__))
    span.end()


def answered(status: int) -> None:
    """Note the HTTP status of the current call's latest answer."""
    record = _current.get()
    if record is not None:
        record.status_code = status


def succeeded(result: object) -> None:
    """Note the transaction id a call's result names, if any."""
    record = _current.get()
    if record is not None:
        tx = getattr(result, "transaction_id", None) or getattr(result, "id", None)
        record.transaction_id = tx if isinstance(tx, str) else None


def retrying(exc: BaseException | None, wait: float) -> None:
    """The current call is about to retry after ``exc``, waiting ``wait`` seconds."""
    otel = _otel
    record = _current.get()
    if otel is None or record is None:
        return
    reason = reason_of(exc)
    record.attempts += 1
    record.span.add_event("kasha.retry", {"kasha.retry.reason": reason, "kasha.retry.wait_s": wait})
    otel.retries.add(1, {"kasha.operation": record.operation, "kasha.retry.reason": reason})


def reconciled(result: str) -> None:
    """The current call was reconciled by a lookup that found ``result``.

    ``result`` is one of ``landed``, ``not_landed``, ``declined``, ``mismatch``,
    ``failed`` (the lookup itself failed) or ``no_transaction`` (nothing to look up).
    """
    otel = _otel
    record = _current.get()
    if otel is None or record is None:
        return
    record.span.add_event("kasha.reconciliation", {"kasha.reconciliation.result": result})
    otel.reconciliations.add(
        1, {"kasha.operation": record.operation, "kasha.reconciliation.result": result}
    )


def _failed(otel: _Instruments, span: Any, exc: BaseException) -> None:
    """Mark a parent span failed with the exception's class only (messages may hold data)."""
    span.set_attribute("error.type", type(exc).__name__)
    span.set_attribute("kasha.outcome", outcome_of(exc))
    if not isinstance(exc, DeclinedError):
        span.set_status(otel.trace.Status(otel.trace.StatusCode.ERROR, type(exc).__name__))


def step(name: str, transaction_id: str | None = None) -> AbstractContextManager[None]:
    """A flow step (``PayoutFlow.create`` …): the parent span of the calls it makes."""
    otel = _otel if _checked else _instruments()
    if otel is None or not otel.tracing:
        return _NO_SPAN
    attributes = {"kasha.step": name}
    if transaction_id:
        attributes["kasha.transaction_id"] = transaction_id
    return _parent_span(otel, name, attributes)


def batch_item(index: int) -> AbstractContextManager[None]:
    """One batch item's span (its flow's steps nest in it) while it counts as in flight."""
    otel = _otel if _checked else _instruments()
    if otel is None or not (otel.tracing or otel.metering):
        return _NO_SPAN
    return _item_span(otel, index)


@contextmanager
def _parent_span(otel: _Instruments, name: str, attributes: dict[str, Any]) -> Iterator[None]:
    with otel.tracer.start_as_current_span(
        name, attributes=attributes, record_exception=False, set_status_on_exception=False
    ) as span:
        try:
            yield
        except BaseException as exc:
            _failed(otel, span, exc)
            raise


@contextmanager
def _item_span(otel: _Instruments, index: int) -> Iterator[None]:
    otel.in_flight.add(1)
    try:
        with _parent_span(otel, "kasha.batch.item", {"kasha.batch.item_index": index}):
            yield
    finally:
        otel.in_flight.add(-1)


def batch_item_finished(status: str) -> None:
    """Count an item that reached its final status in this run, and tag its span."""
    otel = _otel
    if otel is None:
        return
    otel.batch_items.add(1, {"kasha.batch.status": status})
    otel.trace.get_current_span().set_attribute("kasha.batch.status", status)
