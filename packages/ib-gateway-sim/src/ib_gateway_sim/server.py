"""The simulator: TCP listener, event fan-out to sessions, and the in-process control API."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections import Counter
from collections.abc import Callable, Iterable
from decimal import Decimal
from types import TracebackType
from typing import Any

from ib_gateway_sim import messages as m
from ib_gateway_sim.bars import HistoryBar
from ib_gateway_sim.clock import MarketClock
from ib_gateway_sim.engine import Engine
from ib_gateway_sim.fanout import Fanout
from ib_gateway_sim.history import BarSource
from ib_gateway_sim.pacing import HistoryPacer, MessagePacer
from ib_gateway_sim.scenario import FaultSpec, FillSpec, Scenario
from ib_gateway_sim.session import Session
from ib_gateway_sim.snapshot import build_snapshot
from ib_gateway_sim.state import AccountState, SimOrder
from ib_gateway_sim.timers import FaultTimers
from ib_gateway_sim.wire import SERVER_VERSION

logger = logging.getLogger(__name__)

_CLOCK_POLL_SECS = 1.0
_QUOTE_FIELDS = frozenset({"bid", "ask", "last", "close"})


class GatewaySimulator:
    """An IB Gateway on loopback that the unmodified ``ib_async.IB`` client talks to.

    Use as ``async with GatewaySimulator(Scenario.builtin("example")) as sim:`` and connect
    ``ib_async`` to ``sim.host``/``sim.port``. Every read and write below runs on the event
    loop the simulator was started on.

    Args:
        scenario: accounts, symbols, clock, fill behaviour and faults to start from.
        host: listen address for the TWS API (loopback by default).
        port: listen port; 0 picks a free one (read it back from ``port``).
        control_host: listen address for the HTTP control endpoint.
        control_port: HTTP control port; None (default) starts no control endpoint, 0 picks one.
    """

    def __init__(
        self,
        scenario: Scenario,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        control_host: str = "127.0.0.1",
        control_port: int | None = None,
    ) -> None:
        self.scenario = scenario
        self.host = host
        self.port = port
        self.control_host = control_host
        self.control_port = control_port
        self.server_version = SERVER_VERSION
        self.sessions: set[Session] = set()
        self.clock = MarketClock(scenario.clock)
        self.engine = Engine(
            accounts=self._fresh_accounts(),
            symbols=dict(scenario.symbols),
            clock=self.clock,
            fills=scenario.fills,
            faults=scenario.faults,
            listener=Fanout(self),
        )
        self.bars = BarSource(scenario.symbols, self.clock, scenario.history_seed)
        self.pacer = MessagePacer()
        self.paced_out = 0
        """Messages answered with pacing error 100 (and dropped) since the start."""
        self.received: Counter[tuple[int | None, int]] = Counter()
        """API messages received since the start, by (client id, message id): what a client
        costs in IB's message window. startApi counts under client id ``None``; the handshake
        and unparseable frames are not counted, paced-out messages are."""
        self.history_pacer = HistoryPacer()
        self._server: asyncio.Server | None = None
        self._control: Any = None
        self._changed = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self._timers = FaultTimers()
        self._was_liquid = self.clock.is_liquid()
        self._last_seen = self.clock.now()

    def _fresh_accounts(self) -> dict[str, AccountState]:
        return {n: AccountState.from_spec(n, s) for n, s in self.scenario.accounts.items()}

    # -- lifecycle -----------------------------------------------------------------------

    async def start(self) -> None:
        """Bind the API port (and the control port if configured) and start background work."""
        await self._listen()
        if self.control_port is not None:
            from ib_gateway_sim.control import start_control

            self._control, self.control_port = await start_control(
                self, self.control_host, self.control_port
            )
        self._spawn(self._clock_loop())
        self._schedule_fault_timers()
        logger.info("IB Gateway simulator listening on %s:%s", self.host, self.port)

    async def stop(self) -> None:
        """Close every connection and listener."""
        for task in list(self._tasks):
            task.cancel()
        self._timers.cancel_all()
        for session in list(self.sessions):
            session.abort()
        if self._server is not None:
            self._server.close()
            self._server = None
        if self._control is not None:
            await self._control.cleanup()
            self._control = None
        await asyncio.sleep(0)

    async def __aenter__(self) -> GatewaySimulator:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def _listen(self) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: Session(self), self.host, self.port, reuse_address=True
        )
        self.port = self._server.sockets[0].getsockname()[1]

    def _spawn(self, coro: Any) -> None:
        task: asyncio.Task[None] = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _clock_loop(self) -> None:
        # A real-time clock with trading hours opens and closes the market by itself.
        while True:
            await asyncio.sleep(_CLOCK_POLL_SECS)
            self._market_changed(force=False)

    def _market_changed(self, *, force: bool = True) -> None:
        # A clock that passed a liquid close (by running or being moved) runs the closing
        # auction before DAY orders expire.
        now = self.clock.now()
        crossed = self.clock.closes_between(self._last_seen, now)
        self._last_seen = now
        if crossed:
            self.engine.close_auction(crossed[0])
        liquid = self.clock.is_liquid()
        if force or crossed or liquid != self._was_liquid:
            self._was_liquid = liquid
            self.engine.on_market_change()
            self.notify_changed()

    # -- waiting -------------------------------------------------------------------------

    def notify_changed(self) -> None:
        """Wake every ``wait_for`` caller (called after any state change)."""
        self._changed.set()
        self._changed = asyncio.Event()

    async def wait_for(self, predicate: Callable[[], bool], timeout_secs: float = 10.0) -> None:
        """Wait until ``predicate()`` is true; raise ``TimeoutError`` after ``timeout_secs``."""
        async with asyncio.timeout(timeout_secs):
            while True:
                event = self._changed
                if predicate():
                    return
                await event.wait()

    async def wait_for_orders(self, count: int, timeout_secs: float = 10.0) -> list[SimOrder]:
        """Wait until at least ``count`` orders exist; return all orders."""
        await self.wait_for(lambda: len(self.engine.all_orders()) >= count, timeout_secs)
        return self.orders()

    async def wait_for_clients(self, count: int, timeout_secs: float = 10.0) -> None:
        """Wait until exactly ``count`` API clients are connected."""
        await self.wait_for(lambda: len(self.client_ids()) == count, timeout_secs)

    # -- reads ---------------------------------------------------------------------------

    def orders(self) -> list[SimOrder]:
        """Every order of the session (working and done, from before restarts too) in
        placement order."""
        return self.engine.all_orders()

    def order(self, client_id: int, order_id: int) -> SimOrder:
        """The order holding this client id and order id now, else the latest one that held
        it before a restart (KeyError if none): order ids may repeat after ``restart``."""
        held = self.engine.orders.get((client_id, order_id))
        if held is not None:
            return held
        for order in reversed(self.engine.archive):
            if (order.client_id, order.order_id) == (client_id, order_id):
                return order
        raise KeyError((client_id, order_id))

    def order_by_perm_id(self, perm_id: int) -> SimOrder:
        """One order by its permId, unique for the simulator's life (KeyError if unknown)."""
        for order in self.engine.all_orders():
            if order.perm_id == perm_id:
                return order
        raise KeyError(perm_id)

    def account(self, name: str) -> AccountState:
        """Live state of one account (cash, settled cash, positions)."""
        return self.engine.accounts[name]

    def cash(self, account: str) -> Decimal:
        """Cash balance of an account."""
        return self.engine.accounts[account].cash

    def positions(self, account: str) -> dict[str, Decimal]:
        """Symbol to quantity for an account's non-zero positions."""
        return {s: p.quantity for s, p in self.engine.accounts[account].positions.items()}

    def client_ids(self) -> list[int]:
        """Client ids of the connected API clients."""
        return sorted(s.client_id for s in self.sessions if s.client_id is not None)

    @property
    def faults(self) -> FaultSpec:
        """Current faults (replace them with ``set_faults``)."""
        return self.engine.faults

    def snapshot(self) -> dict[str, Any]:
        """The whole observable state as JSON-friendly data (what ``GET /state`` returns)."""
        return build_snapshot(self)

    def client_id_in_use(self, client_id: int) -> bool:
        """True when a connected session already uses ``client_id``."""
        return client_id in self.client_ids()

    # -- writes --------------------------------------------------------------------------

    def set_price(
        self,
        symbol: str,
        *,
        bid: Decimal | str | None = None,
        ask: Decimal | str | None = None,
        last: Decimal | str | None = None,
        close: Decimal | str | None = None,
        clear: Iterable[str] = (),
    ) -> None:
        """Change a symbol's quote, stream it to subscribers, and work resting orders.

        Args:
            symbol: scenario symbol.
            bid: new bid (None: unchanged); likewise ``ask``, ``last``, ``close``.
            clear: names among bid/ask/last/close to remove (no quote on that side).
        """
        current = self.engine.symbols[symbol]
        unknown = set(clear) - _QUOTE_FIELDS
        if unknown:
            raise ValueError(f"clear accepts only {sorted(_QUOTE_FIELDS)}, not {sorted(unknown)}")
        changes: dict[str, Decimal | None] = {
            k: Decimal(str(v))
            for k, v in {"bid": bid, "ask": ask, "last": last, "close": close}.items()
            if v is not None
        }
        changes |= dict.fromkeys(clear)
        # model_copy: the values are already Decimal, and re-validating would re-read history.
        self.engine.symbols[symbol] = current.model_copy(update=changes)
        for session in list(self.sessions):
            session.push_quote(symbol)
        self.engine.on_market_change()
        for name, account in self.engine.accounts.items():
            if symbol in account.positions:
                self.engine.listener.account_changed(name, symbol)
        self.notify_changed()

    def set_history(self, symbol: str, bars: Iterable[HistoryBar]) -> None:
        """Replace ``symbol``'s daily bars (a dividend's adjustment of ``ADJUSTED_LAST``)."""
        self.bars.set_history(symbol, list(bars))

    def set_clock(self, when: dt.datetime | None) -> None:
        """Freeze the market clock at ``when`` (aware datetime), or follow real time (None)."""
        self.clock.set_time(when)
        self._market_changed()

    def advance_clock(self, delta: dt.timedelta) -> None:
        """Move the clock forward (it stays frozen at the new time)."""
        self.clock.advance(delta)
        self._market_changed()

    def set_always_open(self, always_open: bool) -> None:
        """Switch between an always-open market and the scenario's trading hours."""
        self.clock.always_open = always_open
        self._market_changed()

    def set_faults(self, **changes: Any) -> FaultSpec:
        """Change faults at run time (same names as the scenario's ``faults:``); returns them."""
        merged = self.engine.faults.model_dump() | changes
        self.engine.faults = FaultSpec.model_validate(merged)
        if self.engine.faults.pacing_limit_per_sec is None:
            self.pacer.clear()
        self._schedule_fault_timers()
        self.notify_changed()
        return self.engine.faults

    def set_fills(self, **changes: Any) -> FillSpec:
        """Change fill behaviour at run time (names as in the scenario's ``fills:``)."""
        merged = self.engine.fill_spec.model_dump() | changes
        self.engine.fill_spec = FillSpec.model_validate(merged)
        self.notify_changed()
        return self.engine.fill_spec

    def close_auction(self) -> list[SimOrder]:
        """Run the closing auction now: every working MOC order fills at its symbol's
        ``close`` (else its mark price). For an always-open clock, which never closes; a
        clock with trading hours runs it by itself at every liquid close."""
        auctioned = self.engine.close_auction()
        self.notify_changed()
        return auctioned

    def broadcast_error(self, code: int, text: str) -> None:
        """Send a system message (reqId -1) to every client, e.g. 1100 connectivity lost,
        1102 restored (ib_async then re-requests the account summary), 2110, 2103."""
        for session in list(self.sessions):
            if session.is_ready:
                session.send(m.error(-1, code, text))

    def drop_connections(self, refuse_secs: float = 0.0) -> None:
        """Close every API connection; with ``refuse_secs`` also refuse new ones that long."""
        for session in list(self.sessions):
            session.close()
        if refuse_secs > 0 and self._server is not None:
            self._server.close()
            self._server = None
            self._timers.after("reopen", refuse_secs, lambda: self._spawn(self._reopen()))
        self.notify_changed()

    def restart(self, refuse_secs: float | None = None) -> None:
        """Restart the gateway, as IB's nightly restart does.

        Every connection drops and new ones are refused for ``refuse_secs`` (default: the
        ``refuse_connections_secs`` fault). Afterwards order ids start low again (unless
        ``restart_resets_order_ids`` is false) while permIds stay unique; the day's
        completed orders and executions stay queryable (``restart_keeps_*``); working
        orders, positions and cash are kept; pacing windows start afresh.
        """
        refuse = self.faults.refuse_connections_secs if refuse_secs is None else refuse_secs
        self.engine.restart()
        self.pacer.clear()
        self.history_pacer.clear()
        self.drop_connections(refuse)
        logger.info("simulated gateway restart (refusing connections for %s s)", refuse)

    async def accept_connections(self) -> None:
        """End a refusal (``drop_connections``/``restart`` with ``refuse_secs``) now."""
        self._timers.cancel("reopen")
        if self._server is None:
            await self._reopen()

    async def _reopen(self) -> None:
        await self._listen()
        logger.info("simulator accepting connections again on port %s", self.port)
        self.notify_changed()

    @property
    def accepting(self) -> bool:
        """False while connections are refused (simulated gateway restart)."""
        return self._server is not None

    def reset(self) -> None:
        """Back to the scenario's starting accounts, prices, clock, fills, faults; no orders."""
        self.engine.accounts = self._fresh_accounts()
        self.engine.symbols = dict(self.scenario.symbols)
        self.engine.clear_orders()
        self.engine.faults = self.scenario.faults
        self.engine.fill_spec = self.scenario.fills
        self.clock.set_time(self.scenario.clock.time)
        self.clock.always_open = self.scenario.clock.always_open
        self._last_seen = self.clock.now()
        self.pacer.clear()
        self.history_pacer.clear()
        self._timers.forget_fired()
        self._schedule_fault_timers()
        self.notify_changed()

    def _schedule_fault_timers(self) -> None:
        faults = self.engine.faults
        self._timers.at(
            "drop_at",
            faults.drop_connections_at,
            lambda: self.drop_connections(self.engine.faults.refuse_connections_secs),
        )
        self._timers.at("restart_at", faults.restart_at, self.restart)

    def order_received(self) -> None:
        """Called by sessions after every placeOrder (drives the after-N-orders faults)."""
        faults, placed = self.engine.faults, self.engine.orders_placed
        loop = asyncio.get_running_loop()
        if faults.drop_connections_after_orders == placed:
            loop.call_soon(self.drop_connections, faults.refuse_connections_secs)
        if faults.restart_after_orders == placed:
            loop.call_soon(self.restart, None)
