"""Bounded ib_async requests: every ``*Async`` call wrapped in a timeout and mapped errors.

ib_async's ``RequestTimeout`` only covers its synchronous wrappers, not the ``*Async``
coroutines, so each await here carries its own ``asyncio.wait_for``. Requests that ib_async
only offers as fire-and-forget with a future (snapshots, account summary) are issued through
its wrapper's request registry, the same way its own ``*Async`` methods do.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar

from broker_connector_base import BrokerConnectionError, BrokerError
from ib_async import IB, Contract, ContractDetails, RequestError, Ticker

from ibkr_connector.errors import exception_for_code, exception_from_python

__all__ = [
    "ACCOUNT_TAGS",
    "account_summary",
    "bounded",
    "contract_details",
    "fail_named_requests",
    "require_connected",
    "snapshots",
    "streamed_positions",
    "wait_for_positions",
]

logger = logging.getLogger(__name__)

_T = TypeVar("_T")

ACCOUNT_TAGS = ("NetLiquidation", "TotalCashValue", "SettledCash")


def require_connected(ib: IB, context: str) -> None:
    """Raise ``BrokerConnectionError`` unless the API connection is up."""
    if not ib.isConnected():
        raise BrokerConnectionError(f"{context}: not connected to the IB gateway")


def fail_named_requests(ib: IB, code: int, message: str) -> None:
    """Fail the pending requests ib_async keys by name (open orders, positions, time...).

    IB answers a message it dropped for pacing with error 100 and, for requests without a
    request id, request id -1: ib_async cannot tell which request it was and would leave it
    waiting for its timeout. Every such request in flight fails instead (as
    ``RateLimitError`` through ``bounded``) and is sent again; an answer that still comes
    for one of them finds no waiter and is dropped by ib_async.
    """
    # ib_async's own registry of pending requests: the only place the futures are.
    futures = ib.wrapper._futures
    for key in [k for k in futures if isinstance(k, str)]:
        ib.wrapper._endReq(key, RequestError(-1, code, message), success=False)  # type: ignore[no-untyped-call]


async def bounded(ib: IB, awaitable: Awaitable[_T], timeout_secs: float, context: str) -> _T:
    """Await one gateway request within ``timeout_secs``, mapping every failure.

    Raises:
        BrokerConnectionError: Not connected, the socket failed, or no answer in time.
        BrokerError: The gateway answered with an error (mapped by code).
    """
    if not ib.isConnected():
        if asyncio.iscoroutine(awaitable):
            awaitable.close()
        raise BrokerConnectionError(f"{context}: not connected to the IB gateway")
    try:
        return await asyncio.wait_for(awaitable, timeout_secs)
    except BrokerError:
        raise
    except TimeoutError:
        raise BrokerConnectionError(
            f"{context}: no answer from the IB gateway within {timeout_secs} s"
        ) from None
    except Exception as exc:
        raise exception_from_python(exc, context=context) from exc


async def sent_bounded(
    ib: IB, send: Callable[[], Awaitable[_T]], timeout_secs: float, context: str
) -> _T:
    """``bounded`` for a request ib_async writes before it returns the awaitable (its
    ``req...Async`` methods that are not coroutines): a socket that closed since the last
    check raises from ``send()`` itself, and that too is a ``BrokerConnectionError``."""
    require_connected(ib, context)
    try:
        pending = send()
    except ConnectionError as exc:
        raise BrokerConnectionError(f"{context}: {exc}") from exc
    return await bounded(ib, pending, timeout_secs, context)


async def contract_details(
    ib: IB,
    lookups: Mapping[str, Contract],
    timeout_secs: float,
    labels: Mapping[str, str] | None = None,
) -> dict[str, list[ContractDetails]]:
    """Contract details of each lookup (a key and the contract to look it up by), requested
    together; every match IB lists (the caller decides what several mean).

    Raises:
        BrokerError: A lookup failed (mapped by IB's error code); the message names it by
            its label (default ``symbol <key>``).
    """
    keys = list(lookups)
    results = await bounded(
        ib,
        asyncio.gather(
            *(ib.reqContractDetailsAsync(lookups[k]) for k in keys), return_exceptions=True
        ),
        timeout_secs,
        f"looking up contracts {', '.join(keys)}",
    )
    details: dict[str, list[ContractDetails]] = {}
    for key, result in zip(keys, results, strict=True):
        if isinstance(result, BaseException):
            label = (labels or {}).get(key, f"symbol {key}")
            code = getattr(result, "code", None)
            if isinstance(code, int):
                raise exception_for_code(
                    code, str(getattr(result, "message", result)), context=label
                ) from result
            raise exception_from_python(result, context=f"looking up {label}")
        details[key] = list(result)
    return details


async def snapshots(
    ib: IB, contracts: dict[str, Contract], timeout_secs: float
) -> dict[str, Ticker | BrokerError]:
    """One market data snapshot per symbol, all requested at once.

    Unlike ``IB.reqTickersAsync``, one failing symbol does not fail the others: each gets its
    ticker or the mapped error.
    """
    require_connected(ib, "requesting quotes")
    reqs: list[tuple[str, int, Ticker, asyncio.Future[Any]]] = []
    for symbol, contract in contracts.items():
        req_id = ib.client.getReqId()
        future = ib.wrapper.startReq(req_id, contract)  # type: ignore[no-untyped-call]
        ticker = ib.wrapper.startTicker(req_id, contract, "snapshot")
        reqs.append((symbol, req_id, ticker, future))
        ib.client.reqMktData(req_id, contract, "", True, False, [])  # type: ignore[no-untyped-call]
    results = await bounded(
        ib,
        asyncio.gather(*(r[3] for r in reqs), return_exceptions=True),
        timeout_secs,
        f"requesting quotes for {', '.join(contracts)}",
    )
    out: dict[str, Ticker | BrokerError] = {}
    for (symbol, _req_id, ticker, _), result in zip(reqs, results, strict=True):
        ib.wrapper.endTicker(ticker, "snapshot")
        if isinstance(result, BaseException):
            code = getattr(result, "code", None)
            out[symbol] = (
                exception_for_code(
                    code, str(getattr(result, "message", result)), context=f"quote for {symbol}"
                )
                if isinstance(code, int)
                else exception_from_python(result, context=f"quote for {symbol}")
            )
        else:
            out[symbol] = ticker
    return out


async def account_summary(ib: IB, account_id: str, timeout_secs: float) -> dict[str, Decimal]:
    """Fresh USD balances of one account (``ACCOUNT_TAGS``) through a one-off summary request.

    The subscription is cancelled once answered: IB allows only two at a time, and a stale
    subscription would hand the post-sell cash read an old value.
    """
    require_connected(ib, f"requesting balances of {account_id}")
    req_id = ib.client.getReqId()
    future = ib.wrapper.startReq(req_id)  # type: ignore[no-untyped-call]
    ib.client.reqAccountSummary(req_id, "All", ",".join(ACCOUNT_TAGS))  # type: ignore[no-untyped-call]
    try:
        await bounded(ib, future, timeout_secs, f"requesting balances of {account_id}")
    finally:
        if ib.isConnected():
            ib.client.cancelAccountSummary(req_id)  # type: ignore[no-untyped-call]
    values: dict[str, Decimal] = {}
    for value in ib.wrapper.acctSummary.values():
        if value.account != account_id or value.tag not in ACCOUNT_TAGS:
            continue
        if value.currency not in ("USD", "BASE", ""):
            continue
        try:
            values[value.tag] = Decimal(value.value)
        except InvalidOperation:
            logger.warning("Account %s: %s is not a number: %r", account_id, value.tag, value.value)
    return values


def streamed_positions(ib: IB, account_id: str) -> dict[str, Decimal]:
    """Stock positions of ``account_id`` as the positions subscription last reported them."""
    return {
        p.contract.symbol.upper(): Decimal(repr(float(p.position)))
        for p in ib.positions(account_id)
        if p.contract.secType == "STK"
    }


async def wait_for_positions(
    ib: IB, account_id: str, expected: Mapping[str, Decimal], timeout_secs: float
) -> dict[str, Decimal]:
    """Wait until the streamed positions show ``expected`` quantities, or the timeout.

    The positions subscription (started at connect, renewed by every positions request)
    pushes each change, so this waits on ``positionEvent`` instead of polling the gateway.
    Returns the quantities last seen for the expected symbols (0 when not held); a dropped
    connection ends the wait early (the next request reports it).
    """
    changed = asyncio.Event()

    def on_change(*_: object) -> None:
        changed.set()

    def seen() -> dict[str, Decimal]:
        held = streamed_positions(ib, account_id)
        return {s: held.get(s, Decimal(0)) for s in expected}

    ib.positionEvent += on_change
    ib.disconnectedEvent += on_change
    deadline = time.monotonic() + timeout_secs
    try:
        while seen() != dict(expected) and ib.isConnected():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            changed.clear()
            try:
                await asyncio.wait_for(changed.wait(), remaining)
            except TimeoutError:
                break
        return seen()
    finally:
        ib.positionEvent -= on_change
        ib.disconnectedEvent -= on_change
