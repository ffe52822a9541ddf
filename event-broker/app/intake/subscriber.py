"""Ably subscriber for strategy events: gaps caught up, staleness limit, liveness watchdog.

Why each guard exists (ably-python 3.1.4 behaviour):

- The same message can arrive twice (resume replay, rewind, a publisher retry); the subscriber
  hands each on, and the handler de-duplicates by id in the journal before anything runs
  (``app.intake.events``), so there is one store of seen ids, and it survives restarts.
- Ably redelivers nothing across a gap in the subscription (the daemon stopped, a dead client
  replaced, a resume refused), so every attach without continuity queues a catch-up from the
  channel's history, in order with the live messages (``app.intake.delivery``,
  ``app.intake.catch_up``).
- A command published minutes ago (replayed or read back after an outage) must not trade now,
  so a message older than ``max_message_age_secs`` on arrival is handed on marked ``stale``:
  the handler journals it and runs nothing.
- The SDK can sit in CONNECTED while deaf (a DISCONNECTED with a 5xx, an unprompted CLOSED) and
  flaps failed/disconnected forever after a connection ERROR, so a watchdog pings, recreates the
  client on failure and gives up with :class:`AblyConnectionFailed` after repeated failures.
  The link's state for the health check (``connected``, ``reconnecting``, ``dead``...) is kept
  in :attr:`AblyService.link` (``app.intake.link``).
- The SDK logs the websocket URL, which carries the key in its query string, so a filter on the
  ``ably`` and ``websockets`` loggers redacts the key secret while the service runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from ably import AblyRealtime
from broker_connector_base.exceptions import InvalidInputError
from pydantic import SecretStr

from app.intake.catch_up import CatchUp
from app.intake.delivery import Delivery
from app.intake.link import LinkHealth, LinkState
from app.intake.messages import ReceivedMessage, stale_reason
from app.intake.redaction import SecretRedactor
from app.intake.sdk_decoding import install_safe_decoding
from app.intake.sdk_noise import quiet_sdk_loose_ends

__all__ = ["AblyConnectionFailed", "AblyService"]

logger = logging.getLogger(__name__)


class AblyConnectionFailed(Exception):
    """The realtime connection failed for good (refused key, or the watchdog gave up)."""


class AblyService:
    """Subscribe to strategy channels and hand each message to ``on_message``.

    ``on_message`` is awaited for one message at a time, in arrival order, those a gap missed
    (read back by ``catch_up``) in their place; an exception it raises is logged and the next
    message is still delivered. A message too old on arrival comes with ``stale`` set.

    Args:
        api_key: The Ably key (``appId.keyId:secret``); never logged.
        channels: Channel names to subscribe to.
        on_message: Awaited once per message (it de-duplicates by id).
        catch_up: Reads back what each gap missed (closed with the service); ``None``: gaps
            are only logged.
        endpoint: ``host:port`` of a non-default realtime endpoint (the fake in tests).
        tls: ``False`` for a plain ``ws://`` endpoint.
        max_message_age_secs: Messages whose Ably timestamp is older are marked ``stale``.
        watchdog_interval_secs: Time between liveness checks in :meth:`run`.
        connect_timeout_secs: Limit for connecting and attaching every channel.
        ping_timeout_secs: Limit for one watchdog ping (or channel re-attach).
        max_watchdog_failures: Consecutive failed checks before :meth:`run` raises
            :class:`AblyConnectionFailed`.
        request_timeout_secs: SDK ``realtime_request_timeout`` (connect, attach and ping).
        retry_timeout_secs: SDK retry delay after a disconnection or a suspended channel.
        use_binary_protocol: msgpack frames (the SDK default) or JSON.
    """

    def __init__(
        self,
        *,
        api_key: SecretStr,
        channels: Sequence[str],
        on_message: Callable[[ReceivedMessage], Awaitable[None]],
        catch_up: CatchUp | None = None,
        endpoint: str | None = None,
        tls: bool = True,
        max_message_age_secs: float = 300.0,
        watchdog_interval_secs: float = 30.0,
        connect_timeout_secs: float = 30.0,
        ping_timeout_secs: float = 10.0,
        max_watchdog_failures: int = 3,
        request_timeout_secs: float = 10.0,
        retry_timeout_secs: float = 15.0,
        use_binary_protocol: bool = True,
    ) -> None:
        if not channels:
            raise InvalidInputError("at least one Ably channel is required", "AblyService")
        if max_watchdog_failures < 1:
            raise InvalidInputError("max_watchdog_failures must be >= 1", "AblyService")
        self._api_key = api_key
        self._channels = tuple(dict.fromkeys(channels))
        self._max_age_secs = max_message_age_secs
        self._watchdog_interval_secs = watchdog_interval_secs
        self._connect_timeout_secs = connect_timeout_secs
        self._ping_timeout_secs = ping_timeout_secs
        self._max_failures = max_watchdog_failures
        self._sdk_options: dict[str, Any] = {
            "tls": tls,
            "use_binary_protocol": use_binary_protocol,
            "realtime_request_timeout": int(request_timeout_secs * 1000),
            "disconnected_retry_timeout": int(retry_timeout_secs * 1000),
            "channel_retry_timeout": int(retry_timeout_secs * 1000),
            "suspended_retry_timeout": int(retry_timeout_secs * 2000),
        }
        if endpoint:
            # The SDK ignores ``port`` for realtime: the port must be inside ``endpoint``.
            self._sdk_options["endpoint"] = endpoint
        self._redactor = SecretRedactor(api_key)
        install_safe_decoding()  # undecodable data reaches the journal instead of vanishing
        self._catch_up = catch_up
        self._delivery = Delivery(on_message, catch_up=catch_up, redact=self._redactor.redact)
        self._client: Any = None
        self._generation = 0
        self._clients_made = 0
        self._fatal: str | None = None
        self._fatal_event = asyncio.Event()
        # The link proved alive (connected and attached, a ping answered) since the watchdog's
        # last failed check; False before the first connection.
        self._proven = False
        self._link = LinkHealth()
        self._started = False
        self._subscribed = False  # the first connection attached every channel
        self._attached_once: set[str] = set()  # channels attached at least once on this client

    def __repr__(self) -> str:
        return f"AblyService(channels={list(self._channels)!r}, healthy={self.healthy})"

    @property
    def link(self) -> LinkHealth:
        """The link's state for the health check, and since when it is down."""
        return self._link

    @property
    def healthy(self) -> bool:
        """Connected, every channel attached, and not found dead by the watchdog since."""
        return self._link_state() == "connected"

    async def wait_until_healthy(self, healthy: bool = True, *, timeout_secs: float = 30.0) -> None:
        """Wait until :attr:`healthy` equals ``healthy`` (now, or at a later state change).

        Raises:
            TimeoutError: It did not within ``timeout_secs``.
        """
        unhealthy: tuple[LinkState, ...] = ("connecting", "reconnecting", "dead", "failed")
        await self._link.wait_for(
            *(("connected",) if healthy else unhealthy), timeout_secs=timeout_secs
        )

    async def start(self) -> None:
        """Connect and attach every channel.

        A service object starts once; after :meth:`close` build a new one.

        Raises:
            AblyConnectionFailed: The key was refused, or connecting and attaching did not
                finish within ``connect_timeout_secs``.
            RuntimeError: ``start()`` was already called.
        """
        if self._started:
            raise RuntimeError("AblyService.start() may be called only once")
        self._started = True
        self._redactor.install()
        quiet_sdk_loose_ends(asyncio.get_running_loop())
        try:
            self._delivery.start()
            await self._connect()
        except BaseException:
            await self.close()
            raise
        logger.info("Subscribed to Ably channels %s", ", ".join(self._channels))

    async def run(self) -> None:
        """Run the liveness watchdog until the connection fails for good.

        A failed check while the SDK is reconnecting by itself only counts; a failed check
        while it claims to be connected (a deaf socket) or has no client re-creates the client.
        Call :meth:`close` afterwards.

        Raises:
            AblyConnectionFailed: The connection went FAILED (for example a refused key), or
                ``max_watchdog_failures`` consecutive checks failed.
        """
        if self._client is None:
            raise RuntimeError("AblyService.run() called before start()")
        failures = 0
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._watchdog_interval_secs):
                    await self._fatal_event.wait()
            if self._fatal is not None:
                raise AblyConnectionFailed(self._fatal)
            if await self._check_alive():
                failures = 0
                self._delivery.retry_failed()
                continue
            failures += 1
            if failures >= self._max_failures:
                raise AblyConnectionFailed(
                    f"Ably connection still unusable after {failures} watchdog checks"
                )
            await self._recover(failures)

    async def _recover(self, failures: int) -> None:
        state = self._client.connection.state if self._client is not None else None
        if state in ("connecting", "disconnected", "suspended"):
            # The SDK is retrying by itself; a new client would give up resume continuity.
            logger.warning(
                "Ably watchdog check %d/%d failed while the connection is %s; SDK is retrying",
                failures,
                self._max_failures,
                state,
            )
            return
        logger.warning(
            "Ably watchdog check %d/%d failed; recreating the client", failures, self._max_failures
        )
        with contextlib.suppress(AblyConnectionFailed):
            await self._reconnect()

    async def close(self) -> None:
        """Close the client and stop delivering."""
        await self._delivery.close()
        await self._close_client()
        if self._catch_up is not None:
            await self._catch_up.close()
        self._redactor.uninstall()
        self._notify_health()

    # -- connection ------------------------------------------------------------------------

    async def _connect(self) -> None:
        self._generation += 1
        generation = self._generation
        self._clients_made += 1
        self._attached_once.clear()
        try:
            client = AblyRealtime(self._api_key.get_secret_value(), **self._sdk_options)
        except Exception as exc:  # e.g. a malformed key; the SDK's message may quote it
            reason = self._redactor.redact(str(exc))
            raise AblyConnectionFailed(f"cannot create the Ably client: {reason}") from None
        self._client = client
        self._redactor.install()  # again: the SDK may have created loggers lazily
        client.connection.on(lambda change: self._on_connection_state(generation, change))
        attaches = []
        for name in self._channels:
            channel = client.channels.get(name)
            channel.on(lambda change, name=name: self._on_channel_state(generation, name, change))
            attaches.append(channel.subscribe(self._make_listener(name)))
        attach_all: asyncio.Future[Any] = asyncio.gather(*attaches)
        fatal: asyncio.Future[Any] = asyncio.ensure_future(self._fatal_event.wait())
        try:
            async with asyncio.timeout(self._connect_timeout_secs):
                await asyncio.wait({attach_all, fatal}, return_when=asyncio.FIRST_COMPLETED)
        except TimeoutError:
            pass
        finally:
            fatal.cancel()
        error = attach_all.exception() if attach_all.done() else None
        if attach_all.done() and error is None and self._fatal is None:
            self._proven = self._subscribed = True
            self._notify_health()
            return
        attach_all.cancel()
        # Retrieve the outcome so asyncio does not log "exception was never retrieved".
        attach_all.add_done_callback(lambda f: f.cancelled() or f.exception())
        reason = self._fatal or (
            f"attaching failed: {error}"
            if error is not None
            else f"could not connect and attach {len(self._channels)} channel(s) within "
            f"{self._connect_timeout_secs:g} s"
        )
        await self._close_client()
        raise AblyConnectionFailed(self._redactor.redact(f"Ably connection failed: {reason}"))

    async def _reconnect(self) -> None:
        await self._close_client()
        await self._connect()
        logger.warning("Recreated the Ably client")

    async def _close_client(self) -> None:
        client, self._client = self._client, None
        self._generation += 1  # listeners of the old client now ignore its events
        if client is None:
            return
        try:
            async with asyncio.timeout(self._ping_timeout_secs):
                await client.close()
        except Exception:  # a broken client must not stop shutdown or re-creation
            logger.warning("Closing the Ably client failed", exc_info=True)

    async def _check_alive(self) -> bool:
        client = self._client
        if client is None:
            return False
        try:
            async with asyncio.timeout(self._ping_timeout_secs):
                await client.connection.ping()
                for name in self._channels:
                    channel = client.channels.get(name)
                    if channel.state != "attached":
                        logger.warning("Ably channel %s is %s; re-attaching", name, channel.state)
                        await channel.attach()
        except Exception as exc:  # any SDK or timeout error means "not alive"
            logger.warning("Ably liveness check failed: %s", self._redactor.redact(repr(exc)))
            self._proven = False
            self._notify_health()
            return False
        self._proven = True
        self._notify_health()
        return True

    # -- SDK callbacks (plain functions: the SDK rejects partials and callable objects) -------

    def _on_connection_state(self, generation: int, change: Any) -> None:
        if generation != self._generation:
            return
        current = str(getattr(change.current, "value", change.current))
        if current == "failed" and self._fatal is None:
            reason = change.reason
            code = getattr(reason, "code", None)
            message = self._redactor.redact(str(getattr(reason, "message", reason)))
            self._fatal = f"connection failed (code {code}): {message}"
            logger.error("Ably %s", self._fatal)
            self._fatal_event.set()
        elif current in ("disconnected", "suspended"):
            reason = getattr(change, "reason", None)
            why = f": {self._redactor.redact(str(reason))}" if reason else ""
            logger.warning("Ably connection %s%s", current, why)
        self._notify_health()

    def _on_channel_state(self, generation: int, name: str, change: Any) -> None:
        if generation != self._generation:
            return
        current = str(getattr(change.current, "value", change.current))
        if current == "attached":
            # "update" (an ATTACHED while attached: Ably lost continuity) comes here too.
            if not change.resumed:
                self._delivery.gap(name, why=self._gap_cause(name))
            self._attached_once.add(name)
            if self._all_attached():
                self._proven = True  # the server answered every ATTACH
        elif current in ("suspended", "failed", "detached"):
            reason = self._redactor.redact(str(change.reason)) if change.reason else "no reason"
            logger.warning("Ably channel %s is %s: %s", name, current, reason)
        self._notify_health()

    def _gap_cause(self, channel: str) -> str:
        if channel in self._attached_once:
            return "re-attached without continuity (resume refused or connection suspended)"
        if self._clients_made == 1:
            return "first attach since the daemon started"
        return "first attach of a new realtime client (the previous one was found dead)"

    def _make_listener(self, channel: str) -> Callable[[Any], None]:
        def listener(message: Any) -> None:
            # Only judge age and enqueue here: the SDK runs sync listeners inside its frame
            # handler. Age is judged on arrival, so a backlog behind a slow handler never
            # turns a fresh command stale.
            now_ms = int(time.time() * 1000)
            self._delivery.message(
                ReceivedMessage(
                    channel=channel,
                    message_id=message.id,
                    name=message.name,
                    data=message.data,
                    timestamp_ms=message.timestamp,
                    stale=stale_reason(
                        message.timestamp, max_age_secs=self._max_age_secs, now_ms=now_ms
                    ),
                )
            )

        return listener

    # -- link state ------------------------------------------------------------------------

    def _all_attached(self) -> bool:
        client = self._client
        return client is not None and all(
            client.channels.get(name).state == "attached" for name in self._channels
        )

    def _link_state(self) -> LinkState:
        if self._fatal is not None:
            return "failed"
        if not self._subscribed:
            return "connecting"
        if not self._proven:
            return "dead"
        client = self._client
        if client is None or client.connection.state != "connected" or not self._all_attached():
            return "reconnecting"
        return "connected"

    def _notify_health(self) -> None:
        self._link.report(self._link_state())
