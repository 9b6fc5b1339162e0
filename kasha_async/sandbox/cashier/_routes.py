"""The hosted cashier and the 3DS challenge: the pages behind ``cashierUrl`` and ``redirectUrl``.

A submitted cashier form is checked with the SDK's form rules
(:func:`kasha_async.flows._forms.form_problems`), then sent through the very
:class:`~kasha_async.sandbox.state.SandboxState` method the API handler calls
(``post_payment`` or ``create_payout``): same ledger, same triggers, same
webhooks. What the customer typed is never logged, never stored beyond what the
API path keeps, and never written back into a page except the fields that are
not card data.

Once the customer's part is done the browser goes back to the session's
``redirectUrl`` with ``transactionId`` and ``status`` (upper case, as the API
spells it) added to its query: a 303 at once, or, for a decline, a page that
shows the reason and refreshes there after 2 seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import attrs
from aiohttp import web

from ..._codes import TransactionStatus
from ..._convert import parse
from ..._models import FormInput
from ...flows._forms import form_problems
from .. import triggers
from .._wire import STATE_KEY
from ..options import payment_options_for, payout_option_for
from ..state import Payload, SandboxError, SandboxState, Session, TransactionRecord
from . import _html
from ._text import texts_for

S = TransactionStatus

CASHIER_PATH = "/_sandbox/cashier/{session_id}"
CHALLENGE_PATH = "/_sandbox/3ds/{transaction_id}"
#: Seconds on the sandbox clock an open 3DS challenge waits before it is abandoned (3003).
CHALLENGE_TIMEOUT_SECONDS = 10 * 60
#: Codes of a failed and of an abandoned challenge (reference code table).
FAILED_3DS_CODE, ABANDONED_3DS_CODE = 3010, 3003
#: Seconds between two looks at the sandbox clock while a challenge is open.
_WATCH_INTERVAL = 0.05
#: Every page: nothing is fetched from anywhere, nothing is cached, no referrer leaves.
_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src data:",
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
}


@attrs.define
class Challenges:
    """Open 3DS challenges: transaction id -> deadline on the sandbox clock, and their watcher."""

    deadlines: dict[str, float] = attrs.Factory(dict)
    watcher: asyncio.Task[None] | None = None


CHALLENGES_KEY: web.AppKey[Challenges] = web.AppKey("kasha_sandbox_3ds", Challenges)


@attrs.frozen(kw_only=True)
class Method:
    """A payment or payout option as the cashier shows it."""

    payment_option_id: str
    name: str
    is_card: bool
    suboptions: tuple[tuple[str, str], ...]
    inputs: tuple[FormInput, ...]


def _inputs(wires: Sequence[Mapping[str, Any]]) -> tuple[FormInput, ...]:
    return tuple(parse(FormInput, wire) for wire in wires)


def methods_for(tx: TransactionRecord) -> tuple[Method, ...]:
    """The options the sandbox offers for this transaction's kind and country."""
    if tx.kind == "payout":
        spec = payout_option_for(tx.country)
        subs = ((spec.suboption_id, spec.suboption_name),)
        payout = Method(
            payment_option_id=spec.payment_option_id,
            name=spec.name,
            is_card=False,
            suboptions=subs,
            inputs=_inputs(spec.form_inputs),
        )
        return (payout,)
    return tuple(
        Method(
            payment_option_id=spec.payment_option_id,
            name=spec.name,
            is_card=spec.is_card,
            suboptions=spec.suboptions,
            inputs=_inputs(spec.extra_data + spec.suboption_inputs),
        )
        for spec in payment_options_for(tx.country)
    )


def merchant_url(redirect_url: str, transaction_id: str, status: str) -> str | None:
    """The session's ``redirectUrl`` plus ``transactionId`` and ``status``; None if not http(s)."""
    parts = urlsplit(redirect_url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    query = parse_qsl(parts.query, keep_blank_values=True)
    query += [("transactionId", transaction_id), ("status", status)]
    return urlunsplit(parts._replace(query=urlencode(query)))


def _see_other(location: str) -> web.Response:
    """A 303 (returned, not raised: the sandbox's guard treats exceptions as bugs)."""
    return web.Response(status=303, headers={**_HEADERS, "Location": location})


def _html_response(page: _html.Page, status: int = 200) -> web.Response:
    return web.Response(
        text=page.render(), status=status, content_type="text/html", headers=_HEADERS
    )


@attrs.frozen(kw_only=True)
class Visit:
    """One request's sandbox, session, transaction and page language."""

    state: SandboxState
    session: Session
    tx: TransactionRecord
    lang: str
    words: Mapping[str, str]

    @classmethod
    def of(cls, state: SandboxState, session: Session) -> Visit:
        """The visit of ``session``, in its language."""
        lang, words = texts_for(session.language)
        tx = state.transactions[session.transaction_id]
        return cls(state=state, session=session, tx=tx, lang=lang, words=words)

    def say(self, key: str, **more: str) -> str:
        """The words for ``key``, with the transaction's amount and reference filled in."""
        amount = format(self.tx.amount, "f")
        return self.words[key].format(
            amount=amount, currency=self.tx.currency, reference=self.tx.merchant_reference, **more
        )

    def page(
        self, title: str, body: str, *, status: int = 200, refresh_to: str | None = None
    ) -> web.Response:
        """An HTML answer in the session's language."""
        page = _html.Page(
            lang=self.lang,
            title=title,
            body=body,
            footer=self.say("sandbox"),
            refresh_to=refresh_to,
        )
        return _html_response(page, status)

    def message(self, title_key: str, text: str, *, status: int = 200) -> web.Response:
        """A page that only tells (expired, used, closed challenge): never a form."""
        return self.page(
            self.say(title_key), _html.message(self.say(title_key), text), status=status
        )

    def back_to_merchant(self) -> web.Response:
        """303 to the session's ``redirectUrl`` with the transaction's id and current status."""
        target = merchant_url(self.session.redirect_url, self.tx.id, self.tx.status.value)
        if target is None:  # not a URL a browser may be sent to: say so instead
            return self.message("back", self.tx.status.value)
        return _see_other(target)

    def declined(self, reason: str) -> web.Response:
        """The decline and its reason, then (meta refresh, 2 s) back to the merchant."""
        target = merchant_url(self.session.redirect_url, self.tx.id, self.tx.status.value)
        body = _html.message(
            self.say("declined"), reason, css="declined", back_to=target, back=self.say("back")
        )
        return self.page(self.say("declined"), body, refresh_to=target)


# --- the cashier -----------------------------------------------------------------------------


def _unknown() -> web.Response:
    lang, words = texts_for(None)
    body = _html.message(words["unknown"], words["unknown_body"])
    return _html_response(
        _html.Page(lang=lang, title=words["unknown"], body=body, footer=words["sandbox"]), 404
    )


def _open_visit(request: web.Request) -> Visit | web.Response:
    """The live, unused session of the URL, or the error page that replaces the form."""
    state = request.app[STATE_KEY]
    session = state.sessions.get(request.match_info["session_id"])
    if session is None:
        return _unknown()
    visit = Visit.of(state, session)
    if session.used:
        return visit.message(
            "used", visit.say("used_body", status=visit.tx.status.value), status=409
        )
    if state.get_transaction(visit.tx.id)["status"] == S.EXPIRED.value:
        return visit.message("expired", visit.say("expired_body"), status=410)
    return visit


def _preselected(visit: Visit, methods: Sequence[Method], wanted: str | None) -> Method | None:
    """The option of ``?option=``, else the hybrid link's, else the only one there is."""
    for method in methods:
        if method.payment_option_id == wanted:
            return method
    for method in methods:
        if visit.tx.method is not None and method.name == visit.tx.method:
            return method
    return methods[0] if len(methods) == 1 else None


def _title(visit: Visit) -> str:
    return visit.say("title_payout" if visit.tx.kind == "payout" else "title_payment")


def _options_page(visit: Visit, methods: Sequence[Method], request: web.Request) -> web.Response:
    links = [
        (f"{request.path}?{urlencode({'option': m.payment_option_id})}", m.name) for m in methods
    ]
    body = _html.heading(_title(visit), visit.say("reference"))
    body += f"<h2>{_html.esc(visit.say('choose'))}</h2>" + _html.option_links(links)
    return visit.page(_title(visit), body)


def _form_page(
    visit: Visit,
    method: Method,
    request: web.Request,
    problems: Sequence[str] = (),
    typed: Mapping[str, str] | None = None,
) -> web.Response:
    """The chosen option: its bank choice and its inputs, one form, one submit button."""
    shown = dict(typed or {})
    keep = {} if method.is_card else shown  # card data is never written back
    fields = []
    if method.suboptions:
        fields.append(
            _html.suboption_field(
                visit.say("bank"),
                visit.say("choose_bank"),
                method.suboptions,
                shown.get("optionId", ""),
            )
        )
    fields += [_html.field(fi, keep.get(fi.name, "")) for fi in method.inputs]
    submit = visit.say("submit_payout" if visit.tx.kind == "payout" else "submit_payment")
    body = _html.heading(_title(visit), visit.say("reference"))
    body += f'<h2 id="method">{_html.esc(method.name)}</h2>'
    body += _html.problems_box(visit.say("fix"), problems)
    body += _html.form({"paymentOptionId": method.payment_option_id}, fields, submit)
    if len(methods_for(visit.tx)) > 1 and visit.tx.method is None:
        body += _html.link(request.path, visit.say("other_method"), "other")
    return visit.page(_title(visit), body, status=400 if problems else 200)


async def cashier_page(request: web.Request) -> web.StreamResponse:
    """GET: the options of the session, or the chosen (or preselected) option's form."""
    visit = _open_visit(request)
    if isinstance(visit, web.Response):
        return visit
    methods = methods_for(visit.tx)
    method = _preselected(visit, methods, request.query.get("option"))
    if method is None:
        return _options_page(visit, methods, request)
    return _form_page(visit, method, request)


def _typed(method: Method, form: Mapping[str, Any]) -> dict[str, str]:
    """The non-blank values of the option's inputs (the SDK's rules treat blank as missing)."""
    values = {fi.name: str(form.get(fi.name, "")) for fi in method.inputs}
    return {name: value for name, value in values.items() if value.strip()}


def _send(visit: Visit, body: Mapping[str, Any], origin: str) -> Payload:
    """Make the session's one payment or payout through the API's own state method.

    A cashier payment with the 3DS card waits for the challenge whatever
    ``payment_delay`` is: the delay is off for that one synchronous call.
    """
    state = visit.state
    if visit.tx.kind == "payout":
        return state.create_payout(body)
    delay = state.payment_delay
    if body["extraData"].get("cardnum") == triggers.THREE_DS_CARD:
        state.payment_delay = None
    try:
        return state.post_payment(body, origin=origin)
    finally:
        state.payment_delay = delay


def _refused(
    visit: Visit, method: Method, request: web.Request, exc: SandboxError, typed: Mapping[str, str]
) -> web.Response:
    tx = visit.tx
    if tx.error_code is not None and str(tx.error_code) == exc.code and tx.status.is_final:
        return visit.declined(exc.msg)
    if exc.http_status == 409:
        return visit.message("used", visit.say("used_body", status=tx.status.value), status=409)
    if exc.http_status == 410:
        return visit.message("expired", visit.say("expired_body"), status=410)
    return _form_page(
        visit, method, request, [exc.msg], typed
    )  # 1000-1009: the session stays usable


async def cashier_submit(request: web.Request) -> web.StreamResponse:
    """POST: check the form with the SDK's rules, then pay or create the payout as the API does."""
    visit = _open_visit(request)
    if isinstance(visit, web.Response):
        return visit
    form = await request.post()
    methods = methods_for(visit.tx)
    method = next((m for m in methods if m.payment_option_id == form.get("paymentOptionId")), None)
    if method is None:
        return _options_page(visit, methods, request)
    typed = _typed(method, form)
    problems = form_problems(method.inputs, typed)
    sub_id = str(form.get("optionId", ""))
    if method.suboptions and sub_id not in {sub for sub, _ in method.suboptions}:
        problems.insert(0, f"optionId ({visit.say('bank')}): required")
    if problems:
        return _form_page(visit, method, request, problems, {**typed, "optionId": sub_id})
    body: dict[str, Any] = {
        "sessionId": visit.session.id,
        "paymentOptionId": method.payment_option_id,
        "extraData": typed,
    }
    if sub_id:
        body["optionId"] = sub_id
    try:
        answer = _send(visit, body, str(request.url.origin()))
    except SandboxError as exc:
        return _refused(visit, method, request, exc, {**typed, "optionId": sub_id})
    result = answer if isinstance(answer, dict) else answer[0]
    if result.get("resultType") == "redirect":  # 3DS: the challenge page, then the merchant
        open_challenge(request.app, visit.tx.id)
        return _see_other(result["result"]["redirectUrl"])
    return visit.back_to_merchant()


# --- the 3DS challenge -----------------------------------------------------------------------


def open_challenge(app: web.Application, tx_id: str) -> None:
    """Start the challenge's clock (once) and make sure someone watches it."""
    state, challenges = app[STATE_KEY], app[CHALLENGES_KEY]
    challenges.deadlines.setdefault(tx_id, state.clock.now() + CHALLENGE_TIMEOUT_SECONDS)
    if challenges.watcher is None or challenges.watcher.done():
        challenges.watcher = asyncio.get_running_loop().create_task(_watch(state, challenges))


def abandon_overdue(state: SandboxState, challenges: Challenges) -> None:
    """Decline (3003) every challenge still open past its deadline; forget the finished ones."""
    now = state.clock.now()
    for tx_id, deadline in list(challenges.deadlines.items()):
        if state.transactions[tx_id].status is not S.PENDING:
            del challenges.deadlines[tx_id]
        elif now >= deadline:
            del challenges.deadlines[tx_id]
            state.fail(tx_id, ABANDONED_3DS_CODE)


async def _watch(state: SandboxState, challenges: Challenges) -> None:
    while challenges.deadlines:
        await asyncio.sleep(_WATCH_INTERVAL)
        try:
            abandon_overdue(state, challenges)
        except Exception as exc:  # a bug: record it, never kill the loop
            state.internal_errors.append(f"3DS watcher: {exc!r}")
            return


def _challenge_visit(request: web.Request) -> Visit | web.Response:
    state = request.app[STATE_KEY]
    tx = state.transactions.get(request.match_info["transaction_id"])
    if tx is None or tx.kind != "payment":
        return _unknown()
    visit = Visit.of(state, state.sessions[tx.session_id])
    if tx.status is not S.PENDING:  # over (passed, failed, abandoned): the merchant knows the rest
        return visit.back_to_merchant()
    return visit


async def challenge_page(request: web.Request) -> web.StreamResponse:
    """GET: the top-level 3DS page with its three buttons."""
    visit = _challenge_visit(request)
    if isinstance(visit, web.Response):
        return visit
    open_challenge(request.app, visit.tx.id)
    buttons = [
        ("authenticate", visit.say("authenticate"), ""),
        ("fail", visit.say("fail"), "secondary"),
        ("abandon", visit.say("abandon"), "secondary"),
    ]
    body = _html.challenge(visit.say("challenge"), visit.say("challenge_body"), buttons)
    return visit.page(visit.say("challenge"), body)


async def challenge_answer(request: web.Request) -> web.StreamResponse:
    """POST: authenticate (COMPLETED), fail (3010) or abandon (3003 once the timeout passes)."""
    visit = _challenge_visit(request)
    if isinstance(visit, web.Response):
        return visit
    action = (await request.post()).get("action")
    if action == "authenticate":
        visit.state.complete(visit.tx.id)
        return visit.back_to_merchant()
    if action == "fail":
        visit.state.fail(visit.tx.id, FAILED_3DS_CODE)
        return visit.declined(visit.tx.error_msg or "")
    if action == "abandon":  # the customer closed the window: nothing goes back to the merchant
        return visit.message("abandoned", visit.say("abandoned_body"))
    return await challenge_page(request)


# --- wiring ----------------------------------------------------------------------------------


async def _stop_watching(app: web.Application) -> None:
    watcher = app[CHALLENGES_KEY].watcher
    if watcher is not None:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher


def add_cashier_routes(app: web.Application) -> None:
    """Register the cashier and 3DS pages on the sandbox ``app`` (before it starts)."""
    app[CHALLENGES_KEY] = Challenges()
    app.router.add_get(CASHIER_PATH, cashier_page)
    app.router.add_post(CASHIER_PATH, cashier_submit)
    app.router.add_get(CHALLENGE_PATH, challenge_page)
    app.router.add_post(CHALLENGE_PATH, challenge_answer)
    app.on_cleanup.append(_stop_watching)
