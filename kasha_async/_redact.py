"""What never leaves the process in an error, a log line, a journal or a report.

One home for masking (``_errors``, ``_http``, ``_convert``, the webhooks and the
client import it):

- values of secret, card, bank and personal JSON keys (``apiKey``, ``cardNumber``,
  ``cbu``, ``iban``, ``accountNumber``, ``document``, ``phone`` ...), by name;
- card numbers, IBAN-shaped strings and runs of 8 or more digits, wherever they are;
- every value the SDK itself sent in ``extra_data`` on the call that failed
  (:func:`with_sent_values`), since a provider may echo the request in its message.

Masking is for text meant for people (messages, excerpts); answers are parsed
from the bytes as they came, so a masked body never changes what a call returns.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import orjson

EXCERPT_LIMIT = 500
MASK = "[REDACTED]"

# A JSON key whose value is masked: secrets, card data, bank and personal fields.
# Matched inside the key, so ``beneficiaryAccountNumber`` and ``customerPhone`` count.
_KEY_WORDS = (
    r"card_?num|cardnumber|card_?cvv|cvv|cvc|expiry|x-api-key|api_?key|signature|password|"
    r"secret|token|account|cbu|cvu|clabe|iban|bic|swift|routing|sort_?code|pix|document|"
    r"dni|cpf|cnpj|curp|ssn|tax_?id|phone|mobile|email|birth"
)
_SECRET_KEY = re.compile(_KEY_WORDS.encode(), re.IGNORECASE)
# Any JSON key and its string or number value; the key is then checked for a key word
# (one linear scan: matching the words inside the pattern costs ~50x on hostile bodies).
_KEY_VALUE = re.compile(rb'("([^"\\]{1,80})"\s*:\s*)("(?:[^"\\]|\\.)*"|-?[0-9.eE+-]+)')
# Cards: 13-19 digits, optionally grouped by spaces or dashes.
_CARD_NUMBER = r"\b(?:\d[ -]?){12,18}\d\b"
# IBAN: country, check digits, then 11-30 letters or digits (optionally in groups of 4).
_IBAN = r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}\b"
# Account numbers, CBU (22), CLABE (18), documents, phones: any run of 8+ digits that is
# not part of a word or an id (a UUID's all-digit group is left alone).
_DIGIT_RUN = r"(?<![\w-])\d{8,}(?![\w-])"
_TEXT_MASKS = (  # IBANs first: their digit groups would otherwise read as a card number
    (re.compile(_IBAN), "[REDACTED-IBAN]"),
    (re.compile(_CARD_NUMBER), "[REDACTED-PAN]"),
    (re.compile(_DIGIT_RUN), "[REDACTED-DIGITS]"),
)
_BYTE_MASKS = tuple((re.compile(p.pattern.encode()), m.encode()) for p, m in _TEXT_MASKS)
#: Sent values shorter than this are not masked: they would mask codes and words.
_MIN_SENT_VALUE = 4


def _mask_secret_value(match: re.Match[bytes]) -> bytes:
    if _SECRET_KEY.search(match.group(2)) is None:
        return match.group(0)
    return match.group(1) + b'"' + MASK.encode() + b'"'


def redact_text(text: str, limit: int = 2 * EXCERPT_LIMIT) -> str:
    """``text`` (a provider message, say) cut to ``limit``, card, IBAN and digit runs masked."""
    if len(text) > limit:
        text = text[:limit] + "…"
    for pattern, mask in _TEXT_MASKS:
        text = pattern.sub(mask, text)
    return text


def redact_bytes(body: bytes, limit: int = EXCERPT_LIMIT) -> str:
    """Return a short, printable excerpt of ``body`` with secrets, card and bank data masked."""
    head = body[: limit * 2]
    cut = len(body) > len(head)  # before masking, which changes the length
    head = _KEY_VALUE.sub(_mask_secret_value, head)
    for pattern, mask in _BYTE_MASKS:
        head = pattern.sub(mask, head)
    text = head.decode("utf-8", errors="replace")
    if len(text) > limit or cut:
        return text[:limit] + "…"
    return text


def sent_values(extra_data: Mapping[str, Any] | None) -> frozenset[str]:
    """The scalar values (as text) of ``extra_data``, nested ones included, worth masking."""
    return frozenset(value for value in _scalars(extra_data) if len(value) >= _MIN_SENT_VALUE)


def _scalars(data: Any) -> Iterator[str]:
    if isinstance(data, Mapping):
        data = data.values()
    elif not isinstance(data, list | tuple):
        if isinstance(data, str | int) and not isinstance(data, bool):
            yield str(data)
        return
    for item in data:
        yield from _scalars(item)


def with_sent_values(
    scrub: Callable[[bytes], bytes], extra_data: Mapping[str, Any] | None
) -> Callable[[bytes], bytes]:
    """``scrub`` that also masks every value sent in ``extra_data`` on this call.

    The answer stays valid JSON (values are replaced inside the parsed document), so
    its error code and transaction id still read after masking. Returns ``scrub``
    itself when nothing was sent, so calls without ``extra_data`` pay nothing; the
    values are gathered only when a body is scrubbed (an error), not on every call.
    """
    if not extra_data:
        return scrub
    ordered: list[str] | None = None

    def scrub_sent(body: bytes) -> bytes:
        nonlocal ordered
        if ordered is None:  # "0123456789" before "0123"
            ordered = sorted(sent_values(extra_data), key=len, reverse=True)
        body = scrub(body)
        if not any(value.encode() in body for value in ordered):
            return body
        try:
            return orjson.dumps(_mask_values(orjson.loads(body), ordered))
        except orjson.JSONDecodeError:
            for value in ordered:
                body = body.replace(value.encode(), MASK.encode())
            return body

    return scrub_sent


def _mask_values(data: Any, values: list[str]) -> Any:
    if isinstance(data, dict):
        return {key: _mask_values(item, values) for key, item in data.items()}
    if isinstance(data, list):
        return [_mask_values(item, values) for item in data]
    if isinstance(data, str):
        for value in values:
            data = data.replace(value, MASK)
        return data
    if isinstance(data, int | float) and not isinstance(data, bool) and str(data) in values:
        return MASK
    return data
