"""Messages a strategy channel received while the daemon was not listening, read from Ably.

Ably keeps a channel's messages for a while (two minutes by default, longer when the app
persists history) and serves them through REST history. ably-python 3.1.4 reads history over
REST only (``channel.history()``; the realtime channel inherits it), and its realtime client
builds REST URLs as ``<scheme>://<endpoint>:<port>``, which breaks for an ``ABLY_ENDPOINT`` that
carries its port. So a separate ``AblyRest`` client, built from the same settings, reads it.

That client uses token auth: the SDK signs a token request with the key (the secret never
leaves the process) and sends the issued token. It is the only key-based auth the SDK allows
over plain http (the fake server in tests and in the container check), and Ably accepts it over
TLS alike, so production and tests take one path. The SDK logs its auth options, key secret
included, at DEBUG while it requests a token: the reader's redactor covers its loggers.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from ably import AblyRest
from pydantic import SecretStr

from app.intake.messages import ReceivedMessage
from app.intake.redaction import SecretRedactor
from app.intake.sdk_decoding import install_safe_decoding

__all__ = ["HistoryBatch", "HistoryReader"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class HistoryBatch:
    """Messages read back from a channel's history, oldest first.

    ``complete`` is ``False`` when more messages were published since ``since_ms`` than one
    catch-up reads: the oldest of them were left out (they are the stalest).
    """

    messages: tuple[ReceivedMessage, ...]
    complete: bool


class HistoryReader:
    """Read what a channel received since a given time.

    Args:
        api_key: The Ably key; never logged.
        endpoint: ``host:port`` of a non-default endpoint (``ABLY_ENDPOINT``), else Ably's.
        tls: ``False`` for plain http (the fake server).
        use_binary_protocol: msgpack responses (the SDK default) or JSON.
        page_size: Messages asked for per request (Ably allows 1..1000).
        max_messages: At most this many messages per catch-up (the newest ones).
        timeout_secs: Limit for one catch-up, every page included.
    """

    def __init__(
        self,
        *,
        api_key: SecretStr,
        endpoint: str | None = None,
        tls: bool = True,
        use_binary_protocol: bool = True,
        page_size: int = 100,
        max_messages: int = 1000,
        timeout_secs: float = 30.0,
    ) -> None:
        install_safe_decoding()  # undecodable data reaches the journal instead of vanishing
        self._page_size = page_size
        self._max_messages = max_messages
        self._timeout_secs = timeout_secs
        options: dict[str, Any] = {"tls": tls, "use_binary_protocol": use_binary_protocol}
        if endpoint:
            # REST appends the port itself: give it the host and the port apart.
            host, _, port = endpoint.rpartition(":")
            options.update(endpoint=host, **{"tls_port" if tls else "port": int(port)})
        self._redactor = SecretRedactor(api_key)
        self._client = AblyRest(key=api_key.get_secret_value(), use_token_auth=True, **options)

    async def messages_since(self, channel: str, since_ms: int) -> HistoryBatch:
        """The messages published on ``channel`` at or after ``since_ms``, oldest first.

        Reads newest first, so a cut keeps the newest messages.

        Raises:
            TimeoutError: The catch-up did not finish within ``timeout_secs``.
            ably.util.exceptions.AblyException: Ably (or the network) refused the request.
        """
        self._redactor.install()  # again each time: the SDK creates some loggers lazily
        async with asyncio.timeout(self._timeout_secs):
            page = await self._client.channels.get(channel).history(
                direction="backwards", start=since_ms, limit=self._page_size
            )
            items = list(page.items)
            while page.has_next() and len(items) < self._max_messages:
                page = await page.next()
                items.extend(page.items)
        complete = len(items) <= self._max_messages and not page.has_next()
        newest = items[: self._max_messages]
        return HistoryBatch(
            tuple(_received(channel, item) for item in reversed(newest)), complete=complete
        )

    async def close(self) -> None:
        """Close the HTTP client and remove the log redaction."""
        await self._client.close()
        self._redactor.uninstall()


def _received(channel: str, message: Any) -> ReceivedMessage:
    return ReceivedMessage(
        channel=channel,
        message_id=message.id,
        name=message.name,
        data=message.data,
        timestamp_ms=message.timestamp,
    )
