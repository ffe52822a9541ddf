"""One client connection: handshake, request dispatch and the subscriptions it holds."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ib_gateway_sim import messages as m
from ib_gateway_sim.pacing import MessagePacer
from ib_gateway_sim.requests import RequestsMixin
from ib_gateway_sim.wire import (
    MIN_CLIENT_VERSION,
    SERVER_VERSION,
    FrameDecoder,
    integer,
    parse_client_versions,
)

if TYPE_CHECKING:
    from ib_gateway_sim.server import GatewaySimulator

logger = logging.getLogger(__name__)

# Message ids whose field 2 (field 1 for placeOrder, historical requests) is the id an
# error 100 should name.
_REQ_ID_AT_2 = frozenset({1, 4, 7, 9, 62, 76})
_ID_AT_1 = frozenset({3, 20, 87})


@dataclass
class Subscriptions:
    """What a connection asked to be kept informed about."""

    positions: bool = False
    account_updates: str | None = None
    account_multi: dict[int, str] = field(default_factory=dict)
    account_summary: dict[int, set[str]] = field(default_factory=dict)
    market_data: dict[int, tuple[str, int]] = field(default_factory=dict)
    market_data_type: int = 1


class Session(RequestsMixin, asyncio.Protocol):
    """Protocol instance for one TCP connection from an ib_async client."""

    def __init__(self, sim: GatewaySimulator) -> None:
        self.sim = sim
        self.engine = sim.engine
        self.transport: asyncio.Transport | None = None
        self.client_id: int | None = None
        self.subs = Subscriptions()
        self._decoder = FrameDecoder()
        self._handshaken = False
        self.pacer = MessagePacer()
        self._handlers: dict[int, Callable[[list[str]], None]] = self.request_handlers()

    # -- asyncio.Protocol ----------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.sim.sessions.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.sim.sessions.discard(self)
        self.transport = None
        logger.debug("client %s disconnected", self.client_id)
        self.sim.notify_changed()

    def data_received(self, data: bytes) -> None:
        try:
            messages = self._decoder.feed(data)
        except ValueError:
            logger.warning("closing a connection that does not speak the TWS API")
            self.close()
            return
        for fields in messages:
            if self.transport is None:
                return
            if not self._handshaken:
                self._handshake(fields)
            else:
                self._dispatch(fields)

    def eof_received(self) -> bool | None:
        # ib_async closes with write_eof; close our side too.
        return False

    # -- helpers -------------------------------------------------------------------------

    @property
    def is_ready(self) -> bool:
        """True once startApi was accepted."""
        return self.client_id is not None and self.transport is not None

    def send(self, *payloads: bytes) -> None:
        """Write already-framed messages."""
        if payloads and self.transport is not None and not self.transport.is_closing():
            self.transport.write(b"".join(payloads))

    def close(self) -> None:
        """Drop the connection."""
        if self.transport is not None:
            self.transport.close()

    def abort(self) -> None:
        """Drop the connection without flushing (a gateway crash or restart)."""
        if self.transport is not None:
            self.transport.abort()

    def _handshake(self, fields: list[str]) -> None:
        try:
            _low, high = parse_client_versions(fields[0] if fields else "")
        except ValueError:
            high = 0
        if high < MIN_CLIENT_VERSION:
            logger.warning("client versions %r unsupported", fields)
            self.close()
            return
        self._handshaken = True
        version = min(high, SERVER_VERSION)
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%d %H:%M:%S UTC")
        self.send(m.frame_handshake(version, stamp))

    def _paced_out(self, msg_id: int, fields: list[str]) -> bool:
        faults = self.sim.faults
        limit = faults.pacing_limit_per_sec
        if limit is None:
            return False
        pacer = self.sim.pacer if faults.pacing_scope == "gateway" else self.pacer
        if pacer.admit(limit):
            return False
        self.sim.paced_out += 1
        req_id = -1
        if msg_id in _REQ_ID_AT_2 and len(fields) > 2:
            req_id = integer(fields[2], -1)
        elif msg_id in _ID_AT_1 and len(fields) > 1:
            req_id = integer(fields[1], -1)
        self.send(m.error(req_id, 100, "Max rate of messages per second has been exceeded."))
        return True

    def _dispatch(self, fields: list[str]) -> None:
        try:
            msg_id = int(fields[0])
        except (ValueError, IndexError):
            logger.warning("unparseable message %r", fields[:3])
            return
        if msg_id != 71 and self.client_id is None:
            logger.warning("request %s before startApi ignored", msg_id)
            return
        self.sim.received[self.client_id, msg_id] += 1
        if self._paced_out(msg_id, fields):
            return
        handler = self._handlers.get(msg_id)
        if handler is None:
            logger.debug("unsupported request %s ignored", msg_id)
            return
        try:
            handler(fields)
        except (ValueError, IndexError, KeyError, ArithmeticError):
            logger.exception("malformed request %s: %r", msg_id, fields)
            self.send(m.error(-1, 320, f"Error reading request: message id {msg_id}"))
        self.sim.notify_changed()
