"""One exception tree for every connector and the daemon.

Operator and configuration mistakes (``InvalidInputError``) are kept apart from runtime broker
failures (``BrokerError`` and its subclasses). Every exception keeps its structured fields when
pickled, because results and errors cross the per-account subprocess boundary.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "AuthenticationError",
    "BrokerAPIError",
    "BrokerConnectionError",
    "BrokerError",
    "InvalidInputError",
    "MarketClosedError",
    "OrderExecutionError",
    "RateLimitError",
    "RiskLimitError",
    "RunRefusedError",
    "TradingHaltedError",
]


class BrokerError(Exception):
    """Base class for runtime failures talking to a broker."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (type(self), self.__dict__.copy()))

    def __str__(self) -> str:
        return self.message


class BrokerConnectionError(BrokerError):
    """The broker cannot be reached, refused the connection or dropped it."""


class AuthenticationError(BrokerConnectionError):
    """The broker refused the credentials or the session."""


class BrokerAPIError(BrokerError):
    """The broker answered a request with an error. ``api_code`` is the broker's own code."""

    def __init__(self, message: str, api_code: str | None = None) -> None:
        super().__init__(message)
        self.api_code = api_code


class RateLimitError(BrokerAPIError):
    """The broker's request pacing limit was exceeded."""


class OrderExecutionError(BrokerError):
    """An order was rejected, or could not be placed, cancelled or confirmed."""

    def __init__(self, message: str, order_id: str | None = None) -> None:
        super().__init__(message)
        self.order_id = order_id


class MarketClosedError(BrokerError):
    """The market for some symbols is closed; ``next_open`` is an ISO-8601 time or ``None``."""

    def __init__(self, message: str, next_open: str | None = None) -> None:
        super().__init__(message)
        self.next_open = next_open


class InvalidInputError(ValueError):
    """Bad configuration or input: the message names the value and where it came from.

    Args:
        message: The rule that was broken and the offending value.
        source: Where the value came from (a file, an API response, an event, a CLI flag).
    """

    def __init__(self, message: str, source: str | None = None) -> None:
        full = f"{source}: {message}" if source else message
        super().__init__(full)
        self.message = full
        self.source = source

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (type(self), self.__dict__.copy()))

    def __str__(self) -> str:
        return self.message


class RunRefusedError(Exception):
    """A guard refused a run, or the rest of one, before its next order.

    Neither a broker failure nor bad input as such: the plan broke a risk limit, or the owner
    halted trading. The run ends ``refused``; it is journalled and notified with the reason.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (type(self), self.__dict__.copy()))

    def __str__(self) -> str:
        return self.message


class RiskLimitError(RunRefusedError):
    """A plan broke one of the account's pre-trade risk limits; none of it was placed.

    Args:
        message: What was refused, naming the limit, the value and the symbol.
        limit: The limit's field name (``max_order_value``).
        value: The plan's value that broke it, as text (``"25000.00"``).
        threshold: The configured limit, as text.
        symbol: The symbol concerned, ``None`` for a limit on the whole plan.
    """

    def __init__(
        self, message: str, *, limit: str, value: str, threshold: str, symbol: str | None = None
    ) -> None:
        super().__init__(message)
        self.limit = limit
        self.value = value
        self.threshold = threshold
        self.symbol = symbol


class TradingHaltedError(RunRefusedError):
    """Trading is halted (the kill switch): no new order is placed until it is resumed.

    Args:
        message: What was stopped, with the halt's reason.
        reason: The reason the owner gave when halting.
    """

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


def _rebuild(cls: type[Exception], state: dict[str, Any]) -> Exception:
    """Recreate an exception from its fields without re-running ``__init__`` logic."""
    exc = cls.__new__(cls)
    Exception.__init__(exc, state.get("message", ""))
    exc.__dict__.update(state)
    return exc
