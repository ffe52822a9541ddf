"""Contract factory: IB stock contracts by ticker (and primary exchange), conId or ISIN, and the
check that a lookup found exactly the one security it was meant to (pure functions).

Every contract is a US stock or ETF routed through SMART in USD. A ticker alone may match
several securities at IB; such a lookup is refused with the candidates named, never resolved
by picking one: the allocations pin the symbol (``conid``, ``isin``) instead.
"""

from __future__ import annotations

from collections.abc import Sequence

from broker_connector_base import BrokerAPIError, InstrumentRef
from ib_async import Contract, ContractDetails, Stock

__all__ = ["by_con_id", "by_isin", "for_instrument", "single_match", "stock"]


def stock(symbol: str, primary_exchange: str | None = None) -> Contract:
    """A US stock or ETF by ticker, SMART routed, optionally on one primary exchange."""
    return Stock(symbol, "SMART", "USD", primaryExchange=primary_exchange or "")


def by_con_id(con_id: int) -> Contract:
    """The contract with IB's id ``con_id`` (SMART routed)."""
    return Contract(conId=con_id, exchange="SMART")


def by_isin(isin: str) -> Contract:
    """A US stock or ETF by ISIN (IB ``secIdType="ISIN"``), SMART routed in USD."""
    return Contract(secType="STK", secIdType="ISIN", secId=isin, exchange="SMART", currency="USD")


def for_instrument(ref: InstrumentRef) -> Contract:
    """What to look ``ref`` up by: its conId, else its ISIN, else ticker and exchange."""
    if ref.con_id is not None:
        return by_con_id(ref.con_id)
    if ref.isin is not None:
        return by_isin(ref.isin)
    return stock(ref.symbol, ref.primary_exchange)


def _listing(details: ContractDetails) -> str:
    c = details.contract
    assert c is not None
    return f"conid {c.conId} on {c.primaryExchange or c.exchange}"


def single_match(
    symbol: str, found: Sequence[ContractDetails], ref: InstrumentRef | None = None
) -> ContractDetails:
    """The one contract a lookup of ``symbol`` (or of ``ref``) found.

    Raises:
        BrokerAPIError: No contract, several (each named), or one that is not what ``ref``
            says (another ticker, exchange or ISIN).
    """
    found = [d for d in found if d.contract is not None]
    what = ref.describe() if ref is not None else f"symbol {symbol}"
    if not found:
        raise BrokerAPIError(f"{what} is unknown to IB", api_code="200")
    if len(found) > 1:
        listings = ", ".join(_listing(d) for d in found)
        raise BrokerAPIError(
            f"{what} is ambiguous at IB ({len(found)} contracts: {listings}); pin it in the "
            "allocations with its conid or isin"
        )
    [details] = found
    if ref is not None:
        _check_pinned(ref, details)
    return details


def _check_pinned(ref: InstrumentRef, details: ContractDetails) -> None:
    contract = details.contract
    assert contract is not None
    problems = []
    if contract.symbol.upper() != ref.symbol:
        problems.append(f"its ticker is {contract.symbol}")
    if ref.primary_exchange is not None and contract.primaryExchange != ref.primary_exchange:
        problems.append(f"its primary exchange is {contract.primaryExchange or 'not given'}")
    isins = {t.value for t in details.secIdList or [] if t.tag == "ISIN"}
    if ref.isin is not None and isins and ref.isin not in isins:
        problems.append(f"its ISIN is {', '.join(sorted(isins))}")
    if problems:
        raise BrokerAPIError(
            f"{ref.describe()} does not match IB's contract {contract.conId}: "
            + "; ".join(problems)
        )
