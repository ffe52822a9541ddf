"""The order types each broker's connector can send, for the check of ``accounts.yaml``.

An account whose ``order_type`` its broker lacks (``adaptive`` at Alpaca, say) is refused
when the configuration loads, like any other bad entry (not served, said loudly), never at
order time. The daemon does not import the connectors (only workers do), so their
declarations (``BrokerClient.supported_order_types``) are copied here; a test keeps the two
equal.
"""

from __future__ import annotations

from broker_connector_base import AccountConfig, OrderType

__all__ = ["BROKER_ORDER_TYPES", "order_type_problem"]

BROKER_ORDER_TYPES: dict[str, frozenset[OrderType]] = {
    "ibkr": frozenset({"MARKET", "LIMIT", "MIDPRICE", "MOC", "ADAPTIVE"}),
    "alpaca": frozenset({"MARKET", "LIMIT", "MOC"}),
}


def order_type_problem(account: AccountConfig, index: int) -> str | None:
    """Why ``account`` (entry ``index``) cannot be served with its ``order_type``, if so.

    Brokers without a connector are not judged here (the broker check names them).
    """
    declared = BROKER_ORDER_TYPES.get(account.broker)
    if declared is None or account.broker_order_type in declared:
        return None
    names = ", ".join(sorted(t.lower() for t in declared))
    return (
        f"accounts[{index}].order_type: {account.order_type!r} is not supported by broker "
        f"{account.broker!r} (it supports: {names})"
    )
