"""The sandbox's memory and the rules of CONTRACT.md §2, with no HTTP in sight.

Every public operation takes the decoded JSON body of one request and returns
the response payload (a plain dict, or a one-element list for the array-wrapped
payout answers), or raises :class:`SandboxError` carrying the HTTP status and
the §5 error body. Delayed status changes are scheduled on the running event
loop with ``call_later``; listeners (the webhook dispatcher) hear every change.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections import Counter
from collections.abc import Callable, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal, TypeVar

import attrs

from .._codes import CODE_TABLE, TransactionStatus
from .._constants import SESSION_LIFETIME_SECONDS
from .._convert import parse, parse_decimal, to_plain
from .._errors import ResponseFormatError
from .._models import (
    FormInput,
    PaymentOptionsRequest,
    PayoutOptionsRequest,
    RefundRequest,
    SettleRequest,
    SubmitRequest,
    SuboptionsRequest,
    amount_problems,
)
from ..flows._forms import input_problems
from ..flows._states import FlowKind, is_older, state_for_status
from . import triggers
from .clock import ManualClock
from .faults import FaultInjector
from .ledger import Ledger, build_ledger
from .options import (
    OptionSpec,
    PayoutSpec,
    find_payment_option,
    payment_options_for,
    payout_option_for,
)

T = TypeVar("T")
Kind = Literal["payment", "payout"]
Payload = dict[str, Any] | list[dict[str, Any]]
Listener = Callable[["TransactionRecord"], None]
S = TransactionStatus

#: extraData fields checked against their form-input validations, and the code a bad value gets.
_FIELD_CODES = {"phone": 1004, "document": 1002, "account": 1005, "cbu": 1005}


class SandboxError(Exception):
    """A request the sandbox refuses: HTTP status plus the §5 error body."""

    def __init__(
        self, http_status: int, code: int | str, msg: str, transaction_id: str | None = None
    ) -> None:
        super().__init__(msg)
        self.http_status = http_status
        self.code = str(code)
        self.msg = msg
        self.transaction_id = transaction_id

    def body(self) -> dict[str, Any]:
        """The error body of CONTRACT.md §5."""
        body: dict[str, Any] = {
            "statusCode": self.code,
            "resultType": "error",
            "errors": {"code": self.code, "msg": self.msg},
        }
        if self.transaction_id is not None:
            body["result"] = {"transactionId": self.transaction_id}
        return body


def reject(code: int, msg: str | None = None, transaction_id: str | None = None) -> SandboxError:
    """A 400 for a code of the reference table (409 for 3017), with its reason as default text."""
    http_status = triggers.TRIGGERS[code].http_status if code in triggers.TRIGGERS else 400
    return SandboxError(http_status, code, msg or CODE_TABLE[code].reason, transaction_id)


def known_code(code: object) -> int:
    """``code`` if it is a code of the reference table; else a 1000 (never a KeyError later)."""
    if isinstance(code, bool) or not isinstance(code, int) or code not in CODE_TABLE:
        raise SandboxError(
            400,
            1000,
            f"Validation error: code must be a code of the reference table, not {code!r:.40}",
        )
    return code


def wire_time(moment: datetime) -> str:
    """ISO 8601 with milliseconds and ``Z``, as the reference's transaction sample."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


@attrs.define(kw_only=True)
class Session:
    """A payment or payout session: 30 minutes, one post/create."""

    id: str
    kind: Kind
    transaction_id: str
    created_at: float
    used: bool = False
    attempts: int = 0
    #: Where the hosted cashier sends the customer back, and the pages' language.
    redirect_url: str = ""
    language: str | None = None


@attrs.define(kw_only=True)
class TransactionRecord:
    """One transaction as the sandbox holds it."""

    id: str
    kind: Kind
    session_id: str
    country: str
    currency: str
    amount: Decimal
    status: TransactionStatus
    created_at: datetime
    updated_at: datetime
    merchant_reference: str
    notification_url: str | None = None
    customer: dict[str, Any] | None = None
    shipping_address: dict[str, Any] | None = None
    order_details: list[dict[str, Any]] = attrs.Factory(list)
    payment_reference: str | None = None
    user_id: str | None = None
    method: str | None = None
    error_code: int | None = None
    error_msg: str | None = None
    approvals: int = 0

    def wire(self) -> dict[str, Any]:
        """The §3 endpoint-12 shape (``paymentAmount`` still a ``Decimal``)."""
        errors = None
        if self.error_code is not None:
            errors = {"code": str(self.error_code), "msg": self.error_msg}
        return {
            "id": self.id,
            "sessionId": self.session_id,
            "country": self.country,
            "currency": self.currency,
            "paymentAmount": self.amount,
            "method": self.method,
            "status": self.status.value,
            "paymentReference": self.payment_reference,
            "merchantReference": self.merchant_reference,
            "customer": self.customer,
            "shippingAddress": self.shipping_address,
            "orderDetails": self.order_details,
            "errors": errors,
            "createdAt": wire_time(self.created_at),
            "updatedAt": wire_time(self.updated_at),
        }


def _parse(cls: type[T], body: Mapping[str, Any], tx_id: str | None = None) -> T:
    try:
        return parse(cls, body)
    except ResponseFormatError as exc:
        detail = exc.message.split(": ", 1)[-1]
        raise reject(1000, f"Validation error: {detail}", tx_id) from None


def _check_amount(body: Mapping[str, Any]) -> None:
    raw = body.get("amount")
    if raw is None:
        raise reject(1000, "Validation error: amount is required")
    try:
        amount = parse_decimal(raw)
    except (TypeError, ArithmeticError):
        raise reject(1009, f"Invalid amount: {raw!r:.40}") from None
    currency = body.get("currency")
    problems = amount_problems(amount, currency if isinstance(currency, str) else "")
    if problems:
        raise reject(1009, "Invalid amount: " + "; ".join(problems))


def _field_problem(form_input: Mapping[str, Any], value: object) -> bool:
    """Whether ``value`` breaks the input's rules: the SDK's own form check decides."""
    return bool(input_problems(parse(FormInput, form_input), value))


class SandboxState:
    """Sessions, transactions, counters and rules of one sandbox (no HTTP, no I/O)."""

    def __init__(
        self,
        *,
        api_key: str = "sk_test_sandbox",
        signature_key: str | None = None,
        seed: int | None = 0,
        clock: ManualClock | None = None,
        payment_delay: float | None = 0.0,
        payout_delay: float | None = 0.0,
    ) -> None:
        self.api_key = api_key
        self.signature_key = signature_key
        #: Whether ``/_sandbox`` control routes take the ``x-api-key`` too (bound beyond
        #: loopback: :func:`kasha_async.sandbox.app.check_bind_host` sets it).
        self.control_requires_key = False
        self.clock = clock or ManualClock()
        self.faults = FaultInjector(seed)
        #: Seconds before a PENDING APM or 3DS payment completes; None: only by control call.
        self.payment_delay = payment_delay
        #: Seconds a PROCESSING payout takes to finish; None: only by control call.
        self.payout_delay = payout_delay
        self.sessions: dict[str, Session] = {}
        self.transactions: dict[str, TransactionRecord] = {}
        self.requests_by_endpoint: Counter[str] = Counter()
        #: Unexpected exceptions caught by the app (each answered as a 500); tests assert empty.
        self.internal_errors: list[str] = []
        self._posted_refs: dict[str, str] = {}
        self._listeners: list[Listener] = []
        self._timers: set[asyncio.TimerHandle] = set()
        self._id_rng = random.Random(seed)

    # --- plumbing -----------------------------------------------------------------------------

    def add_listener(self, listener: Listener) -> None:
        """Call ``listener(record)`` after every status change."""
        self._listeners.append(listener)

    def cancel_timers(self) -> None:
        """Drop every scheduled status change (on shutdown)."""
        for handle in self._timers:
            handle.cancel()
        self._timers.clear()

    def count_request(self, endpoint: str) -> None:
        """Count one request that arrived at ``endpoint`` (faulted ones included)."""
        self.requests_by_endpoint[endpoint] += 1

    def ledger(self) -> Ledger:
        """A frozen snapshot of everything the sandbox holds."""
        return build_ledger(
            self.transactions.values(), self.sessions.values(), self.requests_by_endpoint
        )

    def _new_id(self) -> str:
        return str(uuid.UUID(int=self._id_rng.getrandbits(128), version=4))

    def _set_status(
        self, tx: TransactionRecord, status: TransactionStatus, code: int | None = None
    ) -> None:
        kind = FlowKind(tx.kind)
        current, target = state_for_status(tx.status, kind), state_for_status(status, kind)
        if current is not None and target is not None and is_older(target, current):
            # The SDK's own status ranks: a transaction never moves back in its life cycle.
            raise SandboxError(409, 409, f"{tx.kind} is {tx.status.value}, not {status.value}.")
        tx.status = status
        tx.updated_at = self.clock.now_datetime()
        if code is not None:
            tx.error_code, tx.error_msg = code, CODE_TABLE[code].reason
        for listener in self._listeners:
            listener(tx)

    def _schedule(self, delay: float | None, action: Callable[[str], None], tx_id: str) -> None:
        if delay is None:
            return
        loop = asyncio.get_running_loop()
        handle: asyncio.TimerHandle

        def run() -> None:
            self._timers.discard(handle)
            try:
                action(tx_id)
            except Exception as exc:  # a bug: record it, never kill the loop
                self.internal_errors.append(f"timer {action.__name__}: {exc!r}")

        handle = loop.call_later(delay, run)
        self._timers.add(handle)

    # --- lookups and rules --------------------------------------------------------------------

    def _session(self, session_id: str, kind: Kind) -> tuple[Session, TransactionRecord]:
        session = self.sessions.get(session_id)
        if session is None or session.kind != kind:
            raise SandboxError(404, 404, f"Unknown {kind} session {session_id!r:.60}.")
        return session, self.transactions[session.transaction_id]

    def _expired(self, session: Session) -> bool:
        return self.clock.now() - session.created_at >= SESSION_LIFETIME_SECONDS

    def _require_alive(self, session: Session, tx: TransactionRecord) -> None:
        if self._expired(session):
            if tx.status is S.CREATED:
                self._set_status(tx, S.EXPIRED)
            raise SandboxError(410, 410, "Session expired.", tx.id)

    def _require_unused(self, session: Session, tx: TransactionRecord) -> None:
        if session.used:
            raise SandboxError(409, 409, f"Session already used ({tx.status.value}).", tx.id)

    def _count_attempt(self, body: Mapping[str, Any]) -> None:
        session_id = body.get("sessionId")
        session = self.sessions.get(session_id) if isinstance(session_id, str) else None
        if session is not None:
            session.attempts += 1

    def _transaction(self, tx_id: str, kind: Kind | None = None) -> TransactionRecord:
        tx = self.transactions.get(tx_id)
        if tx is None or (kind is not None and tx.kind != kind):
            raise SandboxError(404, 404, f"Unknown transaction {tx_id!r:.60}.")
        return tx

    def _claim_reference(self, session: Session, tx: TransactionRecord) -> None:
        """Use the session, then enforce merchantReference uniqueness (3017)."""
        session.used = True
        owner = self._posted_refs.setdefault(tx.merchant_reference, tx.id)
        if owner != tx.id:
            self._set_status(tx, S.DECLINED, 3017)
            raise reject(3017, transaction_id=tx.id)

    def _decline_if_triggered(self, tx: TransactionRecord, card: object) -> None:
        code = triggers.code_for_card(card) or triggers.code_for_amount(tx.amount)
        if code is None:
            return
        self._set_status(tx, S(CODE_TABLE[code].status), code)
        raise reject(code, transaction_id=tx.id)

    def _validate_extra(
        self, tx: TransactionRecord, inputs: tuple[dict[str, Any], ...], req: SubmitRequest
    ) -> None:
        """Codes 1000-1009: checked before the session is used, so it stays usable."""
        extra = dict(req.extra_data or {})
        code = triggers.code_for_card(extra.get("cardnum")) or triggers.code_for_amount(tx.amount)
        if code is not None and 1000 <= code <= 1009:
            raise reject(code, transaction_id=tx.id)
        for form_input in inputs:
            name = form_input["name"]
            if name in _FIELD_CODES and name in extra and _field_problem(form_input, extra[name]):
                raise reject(_FIELD_CODES[name], transaction_id=tx.id)
        wants_phone = any(fi["name"] == "phone" and fi["required"] for fi in inputs)
        if wants_phone and "phone" not in extra and not (tx.customer or {}).get("phone"):
            raise reject(1001, transaction_id=tx.id)

    # --- session initiation (endpoints 1, 2, 3, 7) --------------------------------------------

    def initiate(
        self, kind: Kind, body: Mapping[str, Any], *, cashier_origin: str | None = None
    ) -> Payload:
        """Open a session; with ``cashier_origin`` answer a cashier link instead of options."""
        _check_amount(body)
        req: PaymentOptionsRequest | PayoutOptionsRequest
        if kind == "payment":
            req = _parse(PaymentOptionsRequest, body)
        else:
            req = _parse(PayoutOptionsRequest, body)
        tx = self._open(kind, req)
        if cashier_origin is not None:
            url = f"{cashier_origin}/_sandbox/cashier/{tx.session_id}"
            return {"transactionId": tx.id, "sessionId": tx.session_id, "cashierUrl": url}
        if kind == "payment":
            options = [spec.option_wire() for spec in payment_options_for(tx.country)]
            return {"transactionId": tx.id, "sessionId": tx.session_id, "paymentOptions": options}
        option = payout_option_for(tx.country).option_wire()
        return [{"transactionId": tx.id, "sessionId": tx.session_id, "paymentOptions": [option]}]

    def _open(
        self, kind: Kind, req: PaymentOptionsRequest | PayoutOptionsRequest
    ) -> TransactionRecord:
        now, tx_id, session_id = self.clock.now_datetime(), self._new_id(), self._new_id()
        self.sessions[session_id] = Session(
            id=session_id,
            kind=kind,
            transaction_id=tx_id,
            created_at=self.clock.now(),
            redirect_url=req.redirect_url,
            language=req.language,
        )
        payment = req if isinstance(req, PaymentOptionsRequest) else None
        tx = TransactionRecord(
            id=tx_id,
            kind=kind,
            session_id=session_id,
            country=req.country,
            currency=req.currency,
            amount=req.amount,
            status=S.CREATED,
            created_at=now,
            updated_at=now,
            merchant_reference=req.merchant_reference or f"sbx-{tx_id[:18]}",
            notification_url=req.notification_url,
            customer=to_plain(req.customer),
            shipping_address=to_plain(payment.shipping_address)
            if payment and payment.shipping_address
            else None,
            order_details=[to_plain(d) for d in (payment.order_details or ())] if payment else [],
            payment_reference=payment.payment_reference if payment else None,
            user_id=req.user_id,
        )
        self.transactions[tx_id] = tx
        return tx

    # --- suboptions (endpoints 4, 8) ----------------------------------------------------------

    def suboptions(self, kind: Kind, body: Mapping[str, Any]) -> Payload:
        """Banks and form inputs of one option of a live session."""
        req = _parse(SuboptionsRequest, body)
        session, tx = self._session(req.session_id, kind)
        self._require_alive(session, tx)
        ids: dict[str, Any] = {
            "paymentOptionId": req.payment_option_id,
            "transactionId": tx.id,
            "sessionId": session.id,
        }
        if kind == "payout":
            spec = self._payout_spec(tx, req.payment_option_id)
            result = {**ids, "options": spec.suboption_wire()}
            return [{"statusCode": 85, "resultType": "option_choice", "result": result}]
        option = self._payment_spec(tx, req.payment_option_id)
        if option.is_card:
            raise reject(1000, "Suboptions are not used for card payments.", tx.id)
        subs = [{"id": sub_id, "name": name, "logo": None} for sub_id, name in option.suboptions]
        result = {**ids, "options": subs, "formInputs": list(option.suboption_inputs)}
        return {"statusCode": "085", "resultType": "option_choice", "result": result}

    def _payment_spec(
        self, tx: TransactionRecord, option_id: str, sub_id: str | None = None
    ) -> OptionSpec:
        spec = find_payment_option(tx.country, option_id)
        if spec is None:
            raise reject(1000, f"Unknown paymentOptionId {option_id!r:.60}.", tx.id)
        if sub_id is not None and spec.suboptions and sub_id not in spec.suboption_ids():
            raise reject(1000, f"Unknown optionId {sub_id!r:.60} for {spec.name}.", tx.id)
        return spec

    def _payout_spec(
        self, tx: TransactionRecord, option_id: str, sub_id: str | None = None
    ) -> PayoutSpec:
        spec = payout_option_for(tx.country)
        if option_id != spec.payment_option_id:
            raise reject(1000, f"Unknown paymentOptionId {option_id!r:.60}.", tx.id)
        if sub_id is not None and sub_id != spec.suboption_id:
            raise reject(1000, f"Unknown optionId {sub_id!r:.60}.", tx.id)
        return spec

    # --- payments (endpoints 5, 6) ------------------------------------------------------------

    def _submission(
        self, kind: Kind, body: Mapping[str, Any]
    ) -> tuple[SubmitRequest, Session, TransactionRecord]:
        req = _parse(SubmitRequest, body)
        session, tx = self._session(req.session_id, kind)
        self._require_unused(session, tx)  # before expiry and 3017: a resend must learn it landed
        self._require_alive(session, tx)
        return req, session, tx

    def post_payment(self, body: Mapping[str, Any], *, origin: str) -> Payload:
        """Post the session's one payment: card completes (or 3DS redirect), APM goes PENDING."""
        self._count_attempt(body)
        req, session, tx = self._submission("payment", body)
        spec = self._payment_spec(tx, req.payment_option_id, req.option_id)
        self._validate_extra(tx, spec.extra_data + spec.suboption_inputs, req)
        card = (req.extra_data or {}).get("cardnum")
        if spec.is_card and not card:
            raise reject(1000, "Validation error: extraData.cardnum is required.", tx.id)
        tx.method = spec.name
        self._claim_reference(session, tx)
        self._decline_if_triggered(tx, card)
        if spec.is_card and card != triggers.THREE_DS_CARD:
            self._set_status(tx, S.COMPLETED)
            return {
                "statusCode": "000",
                "resultType": "success",
                "result": {"transactionId": tx.id},
            }
        self._set_status(tx, S.PENDING)
        self._schedule(self.payment_delay, self._finish_payment, tx.id)
        if spec.is_card:
            redirect = f"{origin}/_sandbox/3ds/{tx.id}"
            result = {"transactionId": tx.id, "redirectUrl": redirect}
            return {"statusCode": "000", "resultType": "redirect", "result": result}
        return {"statusCode": "000", "resultType": "success", "result": {"transactionId": tx.id}}

    def hybrid(self, body: Mapping[str, Any], *, origin: str) -> Payload:
        """A hosted-cashier link for a preselected option; the session stays unused."""
        req, session, tx = self._submission("payment", body)
        spec = self._payment_spec(tx, req.payment_option_id, req.option_id)
        tx.method = spec.name
        url = f"{origin}/_sandbox/cashier/{session.id}"
        return {
            "statusCode": "300",
            "resultType": "redirect",
            "result": {"transactionId": tx.id, "redirectUrl": url},
        }

    def _finish_payment(self, tx_id: str) -> None:
        tx = self.transactions[tx_id]
        if tx.status is S.PENDING:
            self._set_status(tx, S.COMPLETED)

    # --- payouts (endpoints 9, 10) ------------------------------------------------------------

    def create_payout(self, body: Mapping[str, Any]) -> Payload:
        """Create the session's one payout; it waits PENDING for /settle-payout."""
        self._count_attempt(body)
        req, session, tx = self._submission("payout", body)
        spec = self._payout_spec(tx, req.payment_option_id, req.option_id)
        self._validate_extra(tx, spec.form_inputs, req)
        tx.method = spec.name
        self._claim_reference(session, tx)
        self._decline_if_triggered(tx, (req.extra_data or {}).get("cardnum"))
        self._set_status(tx, S.PENDING)
        return {"statusCode": 0, "resultType": "success", "result": {"transactionId": tx.id}}

    def settle(self, body: Mapping[str, Any]) -> Payload:
        """APPROVE (-> PROCESSING, later COMPLETED/DECLINED) or DECLINE a PENDING payout."""
        req = _parse(SettleRequest, body)
        tx = self._transaction(req.transaction_id, "payout")
        if tx.status is not S.PENDING:
            raise SandboxError(409, 409, f"Payout is {tx.status.value}, not PENDING.", tx.id)
        if req.action.value == "APPROVE":
            tx.approvals += 1
            self._set_status(tx, S.PROCESSING)
            self._schedule(self.payout_delay, self._finish_processing, tx.id)
            message = "Payout request was submitted successfully."
        else:
            self._set_status(tx, S.DECLINED)
            message = "Payout request was declined."
        return {
            "statusCode": "000",
            "status": tx.status.value,
            "transactionId": tx.id,
            "merchantReference": tx.merchant_reference,
            "result": message,
        }

    def _finish_processing(self, tx_id: str, code: int | None = None) -> None:
        tx = self.transactions[tx_id]
        if tx.status is not S.PROCESSING:
            return
        code = code or triggers.processor_decline_code(tx.amount)
        if code is None:
            self._set_status(tx, S.COMPLETED)
        else:
            self._set_status(tx, S(CODE_TABLE[code].status), code)

    # --- refunds and lookups (endpoints 11, 12) -----------------------------------------------

    def refund(self, body: Mapping[str, Any]) -> Payload:
        """Refund a COMPLETED payment by merchantReference, once."""
        req = _parse(RefundRequest, body)
        tx_id = self._posted_refs.get(req.merchant_reference)
        if tx_id is None or self.transactions[tx_id].kind != "payment":
            raise SandboxError(404, 404, "No payment with this merchantReference.")
        tx = self.transactions[tx_id]
        if tx.status is not S.COMPLETED:
            raise SandboxError(409, 409, f"Payment is {tx.status.value}, not COMPLETED.", tx.id)
        self._set_status(tx, S.REFUNDED)
        return {
            "statusCode": "000",
            "errorReason": "Success",
            "paymentAmount": tx.amount,
            "status": "REFUNDED",
            "currency": tx.currency,
            "country": tx.country,
            "paymentOptionName": tx.method,
            "userId": tx.user_id,
            "type": "All",
            "_id": tx.id,
            "createdAt": tx.created_at.strftime("%d/%m/%Y %H:%M:%S"),
            "updatedAt": tx.updated_at.strftime("%d/%m/%Y %H:%M:%S"),
        }

    def get_transaction(self, tx_id: str) -> dict[str, Any]:
        """The transaction's §3 shape; a never-posted one past its session's life is EXPIRED."""
        tx = self._transaction(tx_id)
        if tx.status is S.CREATED and self._expired(self.sessions[tx.session_id]):
            self._set_status(tx, S.EXPIRED)
        return tx.wire()

    # --- control (tests and /_sandbox) --------------------------------------------------------

    def complete(self, tx_id: str) -> None:
        """Finish a CREATED/PENDING payment (cashier, APM, 3DS) or a PROCESSING payout."""
        tx = self._transaction(tx_id)
        allowed = (S.CREATED, S.PENDING) if tx.kind == "payment" else (S.PROCESSING,)
        if tx.status not in allowed:
            raise SandboxError(
                409, 409, f"Cannot complete a {tx.kind} that is {tx.status.value}.", tx.id
            )
        if tx.status is S.CREATED:
            self._claim_reference(self.sessions[tx.session_id], tx)
        self._set_status(tx, S.COMPLETED)

    def fail(self, tx_id: str, code: int = 3001) -> None:
        """Decline an unfinished transaction with ``code`` (1100 makes it ERROR)."""
        code = known_code(code)
        tx = self._transaction(tx_id)
        if tx.status.is_final:
            raise SandboxError(409, 409, f"Transaction is already {tx.status.value}.", tx.id)
        self.sessions[tx.session_id].used = True
        self._set_status(tx, S(CODE_TABLE[code].status), code)

    def settle_processing(self, tx_id: str | None = None, code: int | None = None) -> list[str]:
        """Let the processor finish one (or every) PROCESSING payout; ``code`` declines it.

        Everything is checked before anything changes: a refusal settles nothing.
        """
        if code is not None:
            code = known_code(code)
        if tx_id is not None and not isinstance(tx_id, str):
            raise SandboxError(400, 1000, "Validation error: transactionId must be a string.")
        if tx_id:
            if self._transaction(tx_id, "payout").status is not S.PROCESSING:
                raise SandboxError(409, 409, "Payout is not PROCESSING.", tx_id)
            ids = [tx_id]
        else:
            ids = [t.id for t in self.transactions.values() if t.status is S.PROCESSING]
        for one in ids:
            self._finish_processing(one, code)
        return ids
