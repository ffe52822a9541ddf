"""The alpaca-py clients of one connection, and every SDK call bounded in time.

alpaca-py is synchronous (requests) and sets no timeout on its HTTP requests. Each call runs
in this connection's thread pool, awaited for at most ``request_timeout_secs``; the same
bound is put on the SDK's HTTP session, so a stalled request also ends in its thread instead
of holding a worker forever. alpaca-py's own retries (three more tries, three seconds apart, on
429 and 504, also for ``POST /v2/orders``) are switched off: they would outlast the bound and
could send an order again behind our back; a 429 becomes ``RateLimitError`` for the caller.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import requests
from alpaca.common.exceptions import APIError
from alpaca.common.rest import RESTClient
from alpaca.data.historical.stock import StockHistoricalDataClient
from alpaca.trading.client import TradingClient
from broker_connector_base import BrokerAPIError, BrokerConnectionError
from pydantic import ValidationError
from requests.adapters import HTTPAdapter

from alpaca_connector.config import AlpacaConnectionConfig
from alpaca_connector.errors import Operation, exception_for, transport_error

__all__ = ["SdkSession"]

_T = TypeVar("_T")


class _BoundedAdapter(HTTPAdapter):
    """An HTTP adapter that gives every request a timeout unless one is set."""

    def __init__(self, timeout_secs: float) -> None:
        super().__init__(max_retries=0)
        self._timeout_secs = timeout_secs

    def send(  # type: ignore[override]
        self, request: requests.PreparedRequest, **kwargs: Any
    ) -> requests.Response:
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self._timeout_secs
        return super().send(request, **kwargs)


def _tune(client: RESTClient, timeout_secs: float) -> None:
    # alpaca-py exposes neither setting; both live on its RESTClient.
    adapter = _BoundedAdapter(timeout_secs)
    client._session.mount("http://", adapter)
    client._session.mount("https://", adapter)
    client._retry = 0


class SdkSession:
    """The trading and data clients of one connection and the threads that call them.

    Args:
        config: The connection settings (key pair, URLs, timeouts).
    """

    def __init__(self, config: AlpacaConnectionConfig) -> None:
        self.config = config
        key = config.key_id.get_secret_value()
        secret = config.secret_key.get_secret_value()
        self.trading = TradingClient(
            key, secret, paper=config.trading_mode == "paper", url_override=config.trading_url
        )
        self.data = StockHistoricalDataClient(key, secret, url_override=config.market_data_url)
        for client in (self.trading, self.data):
            _tune(client, config.request_timeout_secs)
        self._pool = ThreadPoolExecutor(
            max_workers=config.max_parallel_requests, thread_name_prefix="alpaca-sdk"
        )

    async def call(
        self,
        what: str,
        function: Callable[..., _T],
        *args: Any,
        operation: Operation = "other",
        order_id: str | None = None,
    ) -> _T:
        """Run one SDK call in a worker thread, bounded by ``request_timeout_secs``.

        Raises:
            BrokerConnectionError: No answer in time, or the connection failed.
            BrokerError: Alpaca answered with an error (see ``errors.exception_for``).
            BrokerAPIError: The answer did not parse as alpaca-py's model.
        """
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(self._pool, functools.partial(function, *args))
        timeout = self.config.request_timeout_secs
        try:
            return await asyncio.wait_for(future, timeout)
        except TimeoutError as exc:
            raise BrokerConnectionError(
                f"{what}: no answer from Alpaca within {timeout} s"
            ) from exc
        except APIError as exc:
            raise exception_for(exc, what, operation=operation, order_id=order_id) from exc
        except requests.RequestException as exc:
            raise transport_error(exc, what) from exc
        except ValidationError as exc:
            raise BrokerAPIError(
                f"{what}: Alpaca's answer does not fit alpaca-py's model "
                f"({exc.error_count()} errors, first: {exc.errors()[0]['msg']})"
            ) from exc

    def close(self) -> None:
        """Stop the threads (calls still running finish within their HTTP timeout)."""
        self._pool.shutdown(wait=False, cancel_futures=True)
        for client in (self.trading, self.data):
            client._session.close()
