"""Flows: one payment or payout walked through the API in the only order it allows.

See ``docs/flows.md`` for the state diagram, the client-side rules and resumption.
"""

from .._errors import IllegalTransitionError
from ._flow import DEFAULT_SAFETY_MARGIN, Clock
from ._states import FlowState
from .payment import PaymentFlow
from .payout import PayoutFlow

__all__ = [
    "Clock",
    "DEFAULT_SAFETY_MARGIN",
    "FlowState",
    "IllegalTransitionError",
    "PaymentFlow",
    "PayoutFlow",
]
