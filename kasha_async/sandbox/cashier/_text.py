"""The words of the cashier pages: English, unless the session's ``language`` asks otherwise."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

DEFAULT_LANGUAGE = "EN"

_EN = {
    "title_payment": "Pay {amount} {currency}",
    "title_payout": "Receive {amount} {currency}",
    "reference": "Order {reference}",
    "choose": "Choose a payment method",
    "bank": "Bank",
    "choose_bank": "Choose your bank",
    "submit_payment": "Pay",
    "submit_payout": "Send my details",
    "other_method": "Choose another method",
    "fix": "Please check these fields:",
    "declined": "Declined",
    "returning": "Returning to the merchant…",
    "back": "Return to the merchant",
    "expired": "This session has expired",
    "expired_body": "The 30 minutes to finish it are over. Go back to the merchant to start again.",
    "used": "This session has already been used",
    "used_body": "Its payment or payout was already made ({status}).",
    "unknown": "Unknown session",
    "unknown_body": "There is no session or transaction at this address.",
    "challenge": "Confirm it is you",
    "challenge_body": "Your bank asks you to confirm this payment of {amount} {currency}.",
    "authenticate": "Authenticate",
    "fail": "Fail",
    "abandon": "Abandon",
    "abandoned": "Verification closed",
    "abandoned_body": "You closed the verification; you can close this window.",
    "sandbox": "Kasha sandbox: no real money moves.",
}
_ES = {
    **_EN,
    "title_payment": "Pagar {amount} {currency}",
    "title_payout": "Recibir {amount} {currency}",
    "reference": "Pedido {reference}",
    "choose": "Elija un medio de pago",
    "bank": "Banco",
    "choose_bank": "Elija su banco",
    "submit_payment": "Pagar",
    "submit_payout": "Enviar mis datos",
    "other_method": "Elegir otro medio",
    "fix": "Revise estos campos:",
    "declined": "Rechazado",
    "returning": "Volviendo al comercio…",
    "back": "Volver al comercio",
    "expired": "Esta sesión ha expirado",
    "used": "Esta sesión ya fue utilizada",
    "challenge": "Confirme que es usted",
    "authenticate": "Autenticar",
    "fail": "Fallar",
    "abandon": "Abandonar",
}
_PT = {
    **_EN,
    "title_payment": "Pagar {amount} {currency}",
    "title_payout": "Receber {amount} {currency}",
    "reference": "Pedido {reference}",
    "choose": "Escolha a forma de pagamento",
    "bank": "Banco",
    "choose_bank": "Escolha seu banco",
    "submit_payment": "Pagar",
    "submit_payout": "Enviar meus dados",
    "other_method": "Escolher outra forma",
    "fix": "Verifique estes campos:",
    "declined": "Recusado",
    "returning": "Voltando à loja…",
    "back": "Voltar à loja",
    "expired": "Esta sessão expirou",
    "used": "Esta sessão já foi usada",
    "challenge": "Confirme que é você",
    "authenticate": "Autenticar",
    "fail": "Falhar",
    "abandon": "Abandonar",
}

#: Language (the sessions' upper-case ``language``) -> key -> text; the rest read English.
TEXTS: Mapping[str, Mapping[str, str]] = MappingProxyType({"EN": _EN, "ES": _ES, "PT": _PT})


def texts_for(language: str | None) -> tuple[str, Mapping[str, str]]:
    """The page language (``lang`` attribute) and its words; English when unknown or unset."""
    code = (language or DEFAULT_LANGUAGE).upper()
    if code not in TEXTS:
        code = DEFAULT_LANGUAGE
    return code.lower(), TEXTS[code]
