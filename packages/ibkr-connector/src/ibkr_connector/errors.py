"""IB API error codes mapped to the base exception tree, from one table.

Every mapping decision is made by the numeric code IB sends with each error message, never by
guessing from the message text: the text of an IB error changes between gateway versions, the
code does not. Codes not in the table become a plain ``BrokerAPIError`` carrying the code.
Sources: the TWS API "Message Codes" reference.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from enum import StrEnum

from broker_connector_base import (
    AuthenticationError,
    BrokerAPIError,
    BrokerConnectionError,
    BrokerError,
    OrderExecutionError,
    RateLimitError,
)

__all__ = [
    "IB_ERRORS",
    "ErrorKind",
    "IBError",
    "error_kind",
    "exception_for_code",
    "exception_from_python",
]


class ErrorKind(StrEnum):
    """What an IB error code means for the caller."""

    INFO = "info"  # status notices (market data farm OK, ...): nothing failed
    WARNING = "warning"  # something degraded, the request still stands
    CONNECTION = "connection"
    AUTHENTICATION = "authentication"
    CLIENT_ID_IN_USE = "client_id_in_use"
    RATE_LIMIT = "rate_limit"
    CONTRACT = "contract"  # unknown or ambiguous security
    MARKET_DATA = "market_data"
    ORDER = "order"  # an order was rejected or could not be cancelled
    REQUEST = "request"  # any other error answer to a request


@dataclass(frozen=True, slots=True)
class IBError:
    """One IB error as received: code, text and the request or order id it belongs to."""

    code: int
    message: str
    req_id: int = -1


IB_ERRORS: dict[int, ErrorKind] = {
    # Connection to the gateway, or the gateway's connection to IB's servers.
    326: ErrorKind.CLIENT_ID_IN_USE,  # Unable to connect: client id already in use
    502: ErrorKind.CONNECTION,  # Couldn't connect to TWS
    503: ErrorKind.CONNECTION,  # TWS is out of date
    504: ErrorKind.CONNECTION,  # Not connected
    507: ErrorKind.CONNECTION,  # Bad message length (socket desynchronised)
    1100: ErrorKind.CONNECTION,  # Connectivity between IB and TWS lost
    1300: ErrorKind.CONNECTION,  # Socket port reset during active connection
    2110: ErrorKind.CONNECTION,  # Connectivity between TWS and server is broken
    10141: ErrorKind.AUTHENTICATION,  # Paper trading disclaimer must first be accepted
    # Pacing.
    100: ErrorKind.RATE_LIMIT,  # Max rate of messages per second exceeded
    420: ErrorKind.RATE_LIMIT,  # Invalid real-time query: pacing violation
    # Contracts.
    200: ErrorKind.CONTRACT,  # No security definition has been found
    # Market data.
    354: ErrorKind.MARKET_DATA,  # Requested market data is not subscribed
    10089: ErrorKind.MARKET_DATA,  # Requested market data requires additional subscription
    10168: ErrorKind.MARKET_DATA,  # Market data not subscribed, delayed data not enabled
    10197: ErrorKind.MARKET_DATA,  # No market data during competing live session
    10090: ErrorKind.WARNING,  # Part of requested market data is not subscribed
    10167: ErrorKind.WARNING,  # Displaying delayed market data
    # Orders.
    103: ErrorKind.ORDER,  # Duplicate order id
    104: ErrorKind.ORDER,  # Can't modify a filled order
    110: ErrorKind.ORDER,  # Price does not conform to the minimum price variation
    135: ErrorKind.ORDER,  # Can't find order with id
    161: ErrorKind.ORDER,  # Cancel attempted when order is not in a cancellable state
    201: ErrorKind.ORDER,  # Order rejected
    202: ErrorKind.ORDER,  # Order cancelled
    203: ErrorKind.ORDER,  # Security not available or allowed for this account
    434: ErrorKind.ORDER,  # Order size cannot be zero
    10147: ErrorKind.ORDER,  # Order id to cancel is not found
    10148: ErrorKind.ORDER,  # Order to cancel cannot be cancelled in its state
    10149: ErrorKind.ORDER,  # Invalid order id
    # Other request errors.
    321: ErrorKind.REQUEST,  # Error validating request
    322: ErrorKind.REQUEST,  # Error processing request
    # Informational: data farm connection notices and "connectivity restored".
    1101: ErrorKind.INFO,
    1102: ErrorKind.INFO,
    2103: ErrorKind.WARNING,  # Market data farm connection is broken
    2104: ErrorKind.INFO,  # Market data farm connection is OK
    2105: ErrorKind.WARNING,  # HMDS data farm connection is broken
    2106: ErrorKind.INFO,  # HMDS data farm connection is OK
    2107: ErrorKind.INFO,  # HMDS data farm connection is inactive
    2108: ErrorKind.INFO,  # Market data farm connection is inactive
    2119: ErrorKind.INFO,  # Market data farm is connecting
    2157: ErrorKind.WARNING,  # Sec-def data farm connection is broken
    2158: ErrorKind.INFO,  # Sec-def data farm connection is OK
}

_EXCEPTION_TYPES: dict[ErrorKind, type[BrokerError]] = {
    ErrorKind.CONNECTION: BrokerConnectionError,
    ErrorKind.CLIENT_ID_IN_USE: BrokerConnectionError,
    ErrorKind.AUTHENTICATION: AuthenticationError,
    ErrorKind.RATE_LIMIT: RateLimitError,
    ErrorKind.CONTRACT: BrokerAPIError,
    ErrorKind.MARKET_DATA: BrokerAPIError,
    ErrorKind.REQUEST: BrokerAPIError,
    ErrorKind.WARNING: BrokerAPIError,
    ErrorKind.INFO: BrokerAPIError,
}


def error_kind(code: int) -> ErrorKind:
    """The kind of an IB error code; unknown codes are request errors."""
    return IB_ERRORS.get(code, ErrorKind.REQUEST)


def exception_for_code(
    code: int, message: str, *, context: str = "", order_id: str | None = None
) -> BrokerError:
    """The base exception for IB error ``code``.

    Args:
        code: IB's numeric error code.
        message: IB's error text (kept verbatim after the context).
        context: What was being done, e.g. ``"placing BUY 10 SPY"``.
        order_id: The order the error belongs to, if any.
    """
    text = f"IB error {code}: {message}"
    if context:
        text = f"{context}: {text}"
    kind = error_kind(code)
    if kind is ErrorKind.ORDER:
        return OrderExecutionError(text, order_id=order_id)
    exc_type = _EXCEPTION_TYPES[kind]
    if issubclass(exc_type, BrokerAPIError):
        return exc_type(text, api_code=str(code))
    return exc_type(text)


def exception_from_python(exc: BaseException, *, context: str) -> BrokerError:
    """Map an exception raised by ib_async or the socket layer to the base tree.

    Socket failures and timeouts mean the gateway is down, restarting or unreachable.
    """
    if isinstance(exc, BrokerError):
        return exc
    code = getattr(exc, "code", None)
    if isinstance(code, int):  # ib_async.RequestError carries the IB code
        return exception_for_code(code, str(getattr(exc, "message", exc)), context=context)
    if isinstance(exc, TimeoutError | asyncio.TimeoutError):
        return BrokerConnectionError(f"{context}: no answer from the IB gateway in time")
    if isinstance(exc, ConnectionError | OSError | EOFError):
        return BrokerConnectionError(
            f"{context}: IB gateway unreachable or restarting ({type(exc).__name__}: {exc})"
        )
    return BrokerAPIError(f"{context}: {type(exc).__name__}: {exc}")
