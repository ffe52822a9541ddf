"""Target allocations of a strategy, from the allocations API or from a local directory.

``GET {base}/{strategy_name}/allocations`` with the key in the ``x-api-key`` header answers::

    {"status": "success",
     "data": {"name": ..., "strategy_long_name": ..., "last_rebalance_on": ...,
              "allocations": [{"symbol": "SPY", "allocation": 0.6}, ...]}}

A ``file:///dir`` base reads the same document from ``/dir/{strategy_name}/allocations.json``.
The API key is a ``SecretStr``: it goes into the request header and nowhere else (no log line,
no exception, no repr).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import aiohttp
from broker_connector_base import AllocationItem, BrokerError, InvalidInputError
from pydantic import SecretStr

from rebalance_engine.models import StrategyAllocations

__all__ = ["SUM_TOLERANCE", "AllocationService", "AllocationServiceError", "parse_allocations"]

logger = logging.getLogger(__name__)

SUM_TOLERANCE = Decimal("0.01")
"""How far the allocations may sum from 1 (what is not allocated stays in cash)."""

_STRATEGY_RE = re.compile(r"^[A-Za-z0-9_.-]{1,128}$")


class AllocationServiceError(BrokerError):
    """The allocations could not be fetched (HTTP error, timeout, unreachable server)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class AllocationService:
    """Fetches and validates a strategy's target allocations.

    Args:
        base_url: ``https://host/path`` of the API, or ``file:///dir`` for local documents.
        api_key: Sent as ``x-api-key``; optional for ``file://``.
        timeout_secs: Bound on one HTTP request, connection included.
        retries: Further attempts after a 5xx answer, a connection failure or a request
            timeout; never after a 4xx answer or an invalid document (retrying cannot fix
            those). Redirects are not followed, so the key goes to ``base_url`` only.
        backoff_secs: First pause between attempts, doubled each time.
    """

    def __init__(
        self,
        base_url: str,
        api_key: SecretStr | None = None,
        *,
        timeout_secs: float = 10,
        retries: int = 3,
        backoff_secs: float = 0.5,
    ) -> None:
        if not base_url.strip():
            raise InvalidInputError("allocations API base URL must not be empty")
        scheme = urlsplit(base_url).scheme
        if scheme not in {"http", "https", "file"}:
            raise InvalidInputError(
                f"allocations API base URL must be http(s):// or file://, got scheme {scheme!r}"
            )
        self.base_url = base_url.rstrip("/")
        self._api_key = api_key
        self.timeout_secs = timeout_secs
        self.retries = max(0, retries)
        self.backoff_secs = backoff_secs

    def __repr__(self) -> str:
        key = "'**********'" if self._api_key else None
        return f"AllocationService(base_url={self.base_url!r}, api_key={key})"

    async def get_allocations(self, strategy_name: str) -> StrategyAllocations:
        """The validated allocations of ``strategy_name``.

        Raises:
            InvalidInputError: Bad strategy name, or the document is invalid (the message names
                the field and the value).
            AllocationServiceError: The API could not be reached or answered with an error.
        """
        if not _STRATEGY_RE.match(strategy_name) or strategy_name in {".", ".."}:
            raise InvalidInputError(f"strategy name {strategy_name!r} is not a valid name")
        url = f"{self.base_url}/{strategy_name}/allocations"
        if self.base_url.startswith("file:"):
            path = Path(unquote(urlsplit(self.base_url).path)) / strategy_name / "allocations.json"
            # A small local file: reading it inline costs less than a worker thread's start.
            text = _read_file(path)
            return parse_allocations(text, source=str(path), strategy_name=strategy_name)
        text = await self._fetch_with_retries(url)
        return parse_allocations(text, source=url, strategy_name=strategy_name)

    async def _fetch_with_retries(self, url: str) -> str:
        attempt = 0
        while True:
            try:
                return await self._fetch(url)
            except _RetryableError as exc:
                if attempt >= self.retries:
                    raise AllocationServiceError(
                        f"GET {url} failed after {attempt + 1} attempts: {exc}", exc.status
                    ) from None
                delay = self.backoff_secs * (2**attempt)
                logger.warning(
                    "GET %s failed (%s); retry %d of %d in %.1f s",
                    url,
                    exc,
                    attempt + 1,
                    self.retries,
                    delay,
                )
                attempt += 1
                await asyncio.sleep(delay)

    async def _fetch(self, url: str) -> str:
        headers = {"Accept": "application/json"}
        if self._api_key is not None:
            headers["x-api-key"] = self._api_key.get_secret_value()
        timeout = aiohttp.ClientTimeout(total=self.timeout_secs)
        try:
            async with (
                aiohttp.ClientSession(timeout=timeout) as session,
                session.get(url, headers=headers, allow_redirects=False) as response,
            ):
                body = await response.text()
                status = response.status
        except TimeoutError:
            raise _RetryableError(f"no answer within {self.timeout_secs} s", None) from None
        except aiohttp.ClientError as exc:
            # The exception text never carries request headers, so the key cannot leak here.
            raise _RetryableError(f"{type(exc).__name__}: {exc}", None) from None
        if status >= 500:
            raise _RetryableError(f"HTTP {status}", status)
        if status != 200:
            raise AllocationServiceError(
                f"GET {url} answered HTTP {status}: {_excerpt(body)}", status
            )
        logger.info("Fetched allocations from %s", url)
        return body


class _RetryableError(Exception):
    def __init__(self, message: str, status: int | None) -> None:
        super().__init__(message)
        self.status = status


def _read_file(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise AllocationServiceError(f"allocations file {path} does not exist") from None
    except OSError as exc:
        raise AllocationServiceError(f"allocations file {path} unreadable: {exc}") from None


def _excerpt(body: str, limit: int = 200) -> str:
    body = " ".join(body.split())
    return body if len(body) <= limit else body[:limit] + "..."


def parse_allocations(text: str, *, source: str, strategy_name: str) -> StrategyAllocations:
    """Validate an allocations document.

    Raises:
        InvalidInputError: With ``source`` and a message naming the field and the value.
    """
    try:
        # parse_float keeps 0.1 as Decimal("0.1") instead of a binary float
        document = json.loads(text, parse_float=Decimal)
    except json.JSONDecodeError as exc:
        raise InvalidInputError(
            f"response is not JSON ({exc}): {_excerpt(text)!r}", source
        ) from None
    if not isinstance(document, dict):
        raise InvalidInputError(f"response must be a JSON object, got {_excerpt(text)!r}", source)
    if document.get("status") != "success":
        raise InvalidInputError(
            f"field 'status' must be 'success', got {document.get('status')!r}", source
        )
    data = _field(document, "data", dict, source)
    name = _field(data, "name", str, source, "data.")
    long_name = _field(data, "strategy_long_name", str, source, "data.")
    last = _field(data, "last_rebalance_on", str, source, "data.")
    raw_items = _field(data, "allocations", list, source, "data.")
    items = [_item(raw, index, source) for index, raw in enumerate(raw_items)]
    _check_unique_and_sum(items, source)
    if name != strategy_name:
        logger.warning("%s: strategy name is %r, requested %r", source, name, strategy_name)
    return StrategyAllocations(
        name=name, strategy_long_name=long_name, last_rebalance_on=last, allocations=items
    )


def _field(obj: dict[str, Any], key: str, kind: type, source: str, prefix: str = "") -> Any:
    if key not in obj:
        raise InvalidInputError(f"field '{prefix}{key}' is missing", source)
    value = obj[key]
    if not isinstance(value, kind):
        names = {"str": "string", "dict": "object", "list": "list"}
        raise InvalidInputError(
            f"field '{prefix}{key}' must be a {names.get(kind.__name__, kind.__name__)}, "
            f"got {value!r}",
            source,
        )
    if isinstance(value, str) and key in {"name", "symbol"} and not value.strip():
        raise InvalidInputError(f"field '{prefix}{key}' must not be empty", source)
    return value


def _item(raw: object, index: int, source: str) -> AllocationItem:
    where = f"data.allocations[{index}]"
    if not isinstance(raw, dict):
        raise InvalidInputError(f"field '{where}' must be an object, got {raw!r}", source)
    symbol = _field(raw, "symbol", str, source, f"{where}.")
    if "allocation" not in raw:
        raise InvalidInputError(f"field '{where}.allocation' is missing ({symbol})", source)
    value = raw["allocation"]
    if isinstance(value, bool) or not isinstance(value, int | Decimal | str):
        raise InvalidInputError(
            f"field '{where}.allocation' of {symbol} must be a number, got {value!r}", source
        )
    try:
        allocation = Decimal(value)
    except InvalidOperation:
        raise InvalidInputError(
            f"field '{where}.allocation' of {symbol} must be a number, got {value!r}", source
        ) from None
    if not allocation.is_finite() or not Decimal(0) <= allocation <= Decimal(1):
        raise InvalidInputError(
            f"field '{where}.allocation' of {symbol} must be between 0 and 1, got {value}", source
        )
    try:
        return AllocationItem(symbol=symbol, allocation=allocation)
    except ValueError as exc:
        raise InvalidInputError(
            f"field '{where}.symbol' {symbol!r} is invalid: {exc}", source
        ) from None


def _check_unique_and_sum(items: list[AllocationItem], source: str) -> None:
    seen: set[str] = set()
    for item in items:
        if item.symbol in seen:
            raise InvalidInputError(f"symbol {item.symbol} appears more than once", source)
        seen.add(item.symbol)
    total = sum((item.allocation for item in items), Decimal(0))
    if abs(total - 1) > SUM_TOLERANCE:
        raise InvalidInputError(
            f"allocations sum to {total}, more than {SUM_TOLERANCE} away from 1", source
        )
