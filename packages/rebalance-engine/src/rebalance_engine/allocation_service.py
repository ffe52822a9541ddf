"""Target allocations of a strategy, from the allocations API or from a local directory.

``GET {base}/{strategy_name}/allocations`` with the key in the ``x-api-key`` header answers an
allocations document (``rebalance_engine.allocation_document``: the one strict parser). A
``file:///dir`` base reads the same document from ``/dir/{strategy_name}/allocations.json``.

Before parsing: the answer must be ``200`` with ``Content-Type: application/json`` (UTF-8), at
most ``max_bytes`` long (checked while reading, so a huge body is cut off, not buffered); a
redirect is refused naming where it pointed (the key is never sent anywhere else). The API
key is a ``SecretStr``: it goes into the request header and nowhere else (no log line, no
exception, no repr).
"""

from __future__ import annotations

import asyncio
import logging
import re
from pathlib import Path
from urllib.parse import unquote, urlsplit

import aiohttp
from broker_connector_base import BrokerError, InvalidInputError
from broker_connector_base.documents import MAX_DOCUMENT_BYTES, read_text_file
from pydantic import SecretStr

from rebalance_engine.allocation_document import (
    DOCUMENT,
    MAX_ALLOCATION_SYMBOLS,
    SUM_TOLERANCE,
    parse_allocations,
)
from rebalance_engine.models import StrategyAllocations

__all__ = [
    "MAX_ALLOCATION_SYMBOLS",
    "SUM_TOLERANCE",
    "AllocationService",
    "AllocationServiceError",
    "parse_allocations",
]

logger = logging.getLogger(__name__)

_STRATEGY_RE = re.compile(r"^[A-Za-z0-9_.-]{1,128}$")
_JSON_TYPES = re.compile(r"^application/([a-z0-9.+-]+\+)?json$")
_CHUNK_BYTES = 65_536
_EXCERPT_BYTES = 1024


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
        max_bytes: Size limit of one document (body or file).
    """

    def __init__(
        self,
        base_url: str,
        api_key: SecretStr | None = None,
        *,
        timeout_secs: float = 10,
        retries: int = 3,
        backoff_secs: float = 0.5,
        max_bytes: int = MAX_DOCUMENT_BYTES,
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
        self.max_bytes = max_bytes

    def __repr__(self) -> str:
        key = "'**********'" if self._api_key else None
        return f"AllocationService(base_url={self.base_url!r}, api_key={key})"

    async def get_allocations(self, strategy_name: str) -> StrategyAllocations:
        """The validated allocations of ``strategy_name``.

        Raises:
            InvalidInputError: Bad strategy name, or the document is invalid (the message names
                the URL or file, the field and the value).
            AllocationServiceError: The API could not be reached or answered with an error.
        """
        if not _STRATEGY_RE.match(strategy_name) or strategy_name in {".", ".."}:
            raise InvalidInputError(f"strategy name {strategy_name!r} is not a valid name")
        url = f"{self.base_url}/{strategy_name}/allocations"
        if self.base_url.startswith("file:"):
            path = Path(unquote(urlsplit(self.base_url).path)) / strategy_name / "allocations.json"
            # A small local file: reading it inline costs less than a worker thread's start.
            text = read_text_file(path, document=DOCUMENT, max_bytes=self.max_bytes)
            return parse_allocations(
                text, source=str(path), strategy_name=strategy_name, max_bytes=self.max_bytes
            )
        body = await self._fetch_with_retries(url)
        return parse_allocations(
            body, source=url, strategy_name=strategy_name, max_bytes=self.max_bytes
        )

    async def _fetch_with_retries(self, url: str) -> bytes:
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

    async def _fetch(self, url: str) -> bytes:
        headers = {"Accept": "application/json"}
        if self._api_key is not None:
            headers["x-api-key"] = self._api_key.get_secret_value()
        timeout = aiohttp.ClientTimeout(total=self.timeout_secs)
        try:
            async with (
                aiohttp.ClientSession(timeout=timeout) as session,
                session.get(url, headers=headers, allow_redirects=False) as response,
            ):
                if 400 <= response.status < 500:
                    # Retrying cannot fix a 4xx; its body (an excerpt) says why.
                    text = (await response.content.read(_EXCERPT_BYTES)).decode("utf-8", "replace")
                    raise AllocationServiceError(
                        f"GET {url} answered HTTP {response.status}: {_excerpt(text)}",
                        response.status,
                    )
                _check_answer(url, response, self.max_bytes)
                body = await _read_limited(response, url, self.max_bytes)
        except TimeoutError:
            raise _RetryableError(f"no answer within {self.timeout_secs} s", None) from None
        except aiohttp.ClientError as exc:
            # The exception text never carries request headers, so the key cannot leak here.
            raise _RetryableError(f"{type(exc).__name__}: {exc}", None) from None
        logger.info("Fetched allocations from %s", url)
        return body


class _RetryableError(Exception):
    def __init__(self, message: str, status: int | None) -> None:
        super().__init__(message)
        self.status = status


def _check_answer(url: str, response: aiohttp.ClientResponse, max_bytes: int) -> None:
    """Refuse, before reading the body, an answer that cannot be an allocations document."""
    status = response.status
    if status >= 500:
        raise _RetryableError(f"HTTP {status}", status)
    if 300 <= status < 400:
        location = response.headers.get("Location", "")
        raise AllocationServiceError(
            f"GET {url} answered HTTP {status} redirecting to {location or 'nowhere'!r}; "
            "redirects are not followed (the API key goes to ALLOCATIONS_API_URL only): "
            "set ALLOCATIONS_API_URL to where the API really is",
            status,
        )
    if status != 200:
        raise AllocationServiceError(f"GET {url} answered HTTP {status}, not 200", status)
    length = response.content_length
    if length is not None and length > max_bytes:
        raise InvalidInputError(
            f"{DOCUMENT} is {length} bytes (Content-Length), more than the limit of {max_bytes}",
            url,
        )
    content_type = response.content_type.lower()
    charset = (response.charset or "utf-8").lower().replace("_", "-")
    if not _JSON_TYPES.match(content_type):
        raise InvalidInputError(
            f"{DOCUMENT}: Content-Type is {content_type!r}, expected application/json", url
        )
    if charset not in {"utf-8", "utf8"}:
        raise InvalidInputError(f"{DOCUMENT}: charset is {response.charset!r}, expected utf-8", url)


async def _read_limited(response: aiohttp.ClientResponse, url: str, max_bytes: int) -> bytes:
    """The body, refused as soon as it passes ``max_bytes`` (never buffered whole)."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.content.iter_chunked(_CHUNK_BYTES):
        size += len(chunk)
        if size > max_bytes:
            raise InvalidInputError(f"{DOCUMENT} is more than the limit of {max_bytes} bytes", url)
        chunks.append(chunk)
    return b"".join(chunks)


def _excerpt(body: str, limit: int = 200) -> str:
    body = " ".join(body.split())
    return body if len(body) <= limit else body[:limit] + "..."
