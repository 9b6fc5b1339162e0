"""Every API operation, once: its name, method, path and how safe a resend is.

This table is the one home of "which operations exist". ``ROUTES`` (the
client's routing), the retry policy (:mod:`kasha_async._retry`), the sandbox's
route registration and the OpenAPI document are all derived from it; a test
proves no other module spells an operation's path or safety class.

The safety classes (CONTRACT.md §2 makes the money rows safe: one payment per
session, so a resend on the same session either lands once or meets 409):

=============  ==========================================  =================================
safety         what a resend can do                        operations
=============  ==========================================  =================================
``READ``       nothing: reads are harmless                 transactions.get, suboptions
``SESSION``    open a second session, which moves no       options, create_session, hybrid
               money and expires on its own
``ONCE``       nothing twice: the session takes one        payments.post, payouts.create
               payment or payout (a resend meets 409)
``LOOKUP``     move money twice: an unknown outcome is     payouts.settle, refunds.create
               looked up before anything is resent
=============  ==========================================  =================================
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from types import MappingProxyType

import attrs

__all__ = ["OPERATIONS", "ROUTES", "Operation", "Safety", "moves_money"]


class Safety(enum.Enum):
    """How safe it is to send an operation again when its first outcome is unknown."""

    READ = "read"
    SESSION = "session"
    ONCE = "once"
    LOOKUP = "lookup"

    @property
    def moves_money(self) -> bool:
        """Whether an operation of this class can move money (and so needs reconciliation)."""
        return self in (Safety.ONCE, Safety.LOOKUP)


@attrs.frozen(kw_only=True)
class Operation:
    """One API operation as the provider's reference and CONTRACT.md §3 define it."""

    name: str
    method: str
    path: str
    safety: Safety
    summary: str

    @property
    def fixed_path(self) -> str | None:
        """The path when it has no ``{field}`` to fill in, else ``None``."""
        return None if "{" in self.path else self.path


def _table(*operations: Operation) -> Mapping[str, Operation]:
    return MappingProxyType({op.name: op for op in operations})


#: Operation name -> :class:`Operation`. Paths include ``/v2`` (CONTRACT.md §3).
OPERATIONS: Mapping[str, Operation] = _table(
    Operation(
        name="payments.create_session",
        method="POST",
        path="/v2/payment-session",
        safety=Safety.SESSION,
        summary="Hosted cashier payment link",
    ),
    Operation(
        name="payouts.create_session",
        method="POST",
        path="/v2/payout-session",
        safety=Safety.SESSION,
        summary="Hosted cashier payout link",
    ),
    Operation(
        name="payments.options",
        method="POST",
        path="/v2/payment-options",
        safety=Safety.SESSION,
        summary="Initiate a payment and list its options",
    ),
    Operation(
        name="payments.suboptions",
        method="POST",
        path="/v2/payment-suboptions",
        safety=Safety.READ,
        summary="Payment suboptions (JSON or multipart/form-data)",
    ),
    Operation(
        name="payments.post",
        method="POST",
        path="/v2/payment",
        safety=Safety.ONCE,
        summary="Post the session's one payment",
    ),
    Operation(
        name="payments.hybrid",
        method="POST",
        path="/v2/hybrid-payment",
        safety=Safety.SESSION,
        summary="Hosted cashier link for a preselected option",
    ),
    Operation(
        name="payouts.options",
        method="POST",
        path="/v2/payout-options",
        safety=Safety.SESSION,
        summary="Initiate a payout and list its options (array-wrapped)",
    ),
    Operation(
        name="payouts.suboptions",
        method="POST",
        path="/v2/payout-suboptions",
        safety=Safety.READ,
        summary="Payout suboptions (array-wrapped, one options object)",
    ),
    Operation(
        name="payouts.create",
        method="POST",
        path="/v2/payout",
        safety=Safety.ONCE,
        summary="Create the session's one payout (PENDING)",
    ),
    Operation(
        name="payouts.settle",
        method="POST",
        path="/v2/settle-payout",
        safety=Safety.LOOKUP,
        summary="APPROVE or DECLINE a PENDING payout",
    ),
    Operation(
        name="refunds.create",
        method="POST",
        path="/v2/refund",
        safety=Safety.LOOKUP,
        summary="Refund a COMPLETED payment by merchantReference",
    ),
    Operation(
        name="transactions.get",
        method="GET",
        path="/v2/transactions/{transaction_id}",
        safety=Safety.READ,
        summary="Transaction status",
    ),
)

#: Operation name -> (HTTP method, path): the default routes, derived from :data:`OPERATIONS`.
#: A client can override any of them with ``KashaClient(routes={...})``.
ROUTES: Mapping[str, tuple[str, str]] = MappingProxyType(
    {op.name: (op.method, op.path) for op in OPERATIONS.values()}
)


def moves_money(operation: str) -> bool:
    """Whether the named operation can move money."""
    return OPERATIONS[operation].safety.moves_money
