"""The simulator: one aiohttp server for the Alpaca routes and ``/sim/`` control, plus the
in-process control API."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import Callable, Coroutine, Iterable
from decimal import Decimal
from types import TracebackType
from typing import Any

from aiohttp import web

from alpaca_api_sim.api import SIM_KEY, add_api_routes, error_middleware
from alpaca_api_sim.clock import MarketClock
from alpaca_api_sim.control import add_control_routes
from alpaca_api_sim.engine import Engine
from alpaca_api_sim.scenario import FaultSpec, Scenario
from alpaca_api_sim.shapes import account_body
from alpaca_api_sim.state import AccountState, SimOrder

__all__ = ["AlpacaApiSimulator"]

logger = logging.getLogger(__name__)

_CLOCK_POLL_SECS = 1.0
_QUOTE_FIELDS = frozenset({"bid", "ask", "last", "close"})


class AlpacaApiSimulator:
    """A local Alpaca Trading API v2 + Market Data v2 that the unmodified alpaca-py talks to.

    Use as ``async with AlpacaApiSimulator(Scenario.builtin("example")) as sim:`` and give
    alpaca-py's clients ``url_override=sim.base_url`` and an account's key pair
    (``sim.credentials(account_number)``). Every read and write below runs on the event loop
    the simulator was started on.

    Args:
        scenario: Accounts, symbols, clock and faults to start from.
        host: Listen address (loopback by default).
        port: Listen port; 0 picks a free one (read it back from ``port``).
    """

    def __init__(self, scenario: Scenario, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.scenario = scenario
        self.host = host
        self.port = port
        self.clock = MarketClock(scenario.clock)
        self.api_requests = 0
        self._trade_id = 0
        self._handles: set[asyncio.TimerHandle] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._changed = asyncio.Event()
        self._unstall = asyncio.Event()
        self.engine = Engine(
            accounts=self._fresh_accounts(),
            symbols=dict(scenario.symbols),
            clock=self.clock,
            faults=scenario.faults,
            schedule=self._schedule,
            on_change=self.notify_changed,
        )
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None
        self._clock_task: asyncio.Task[None] | None = None
        self._reopen: asyncio.TimerHandle | None = None
        self._closing: asyncio.Task[None] | None = None

    def _fresh_accounts(self) -> dict[str, AccountState]:
        now = self.clock.now()
        accounts = {
            n: AccountState.from_spec(n, spec, now) for n, spec in self.scenario.accounts.items()
        }
        for account in accounts.values():
            account.last_equity = account.cash + sum(
                (
                    p.quantity * (self.scenario.symbols[s].close or p.avg_entry_price)
                    for s, p in account.positions.items()
                ),
                Decimal(0),
            )
        return accounts

    # -- lifecycle -------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """What alpaca-py's ``url_override`` takes (both trading and data clients)."""
        return f"http://{self.host}:{self.port}"

    async def start(self) -> None:
        """Bind the port and start the clock watcher."""
        app = web.Application(middlewares=[self._unanswered_while_refusing, error_middleware])
        app[SIM_KEY] = self
        add_api_routes(app)
        add_control_routes(app)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        await self._listen()
        self._clock_task = asyncio.get_running_loop().create_task(self._clock_loop())
        logger.info("Alpaca API simulator listening on %s", self.base_url)

    async def stop(self) -> None:
        """Close every connection and the listener."""
        self._release_stalled()
        if self._clock_task is not None:
            self._clock_task.cancel()
            self._clock_task = None
        self._cancel_scheduled()
        if self._reopen is not None:
            self._reopen.cancel()
            self._reopen = None
        if self._closing is not None:
            await self._closing
            self._closing = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
            self._site = None

    async def __aenter__(self) -> AlpacaApiSimulator:
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
        assert self._runner is not None
        self._site = web.TCPSite(self._runner, self.host, self.port, reuse_address=True)
        await self._site.start()
        if self.port == 0:
            self.port = int(self._runner.addresses[0][1])

    async def _clock_loop(self) -> None:
        # A real-time clock with sessions opens and closes the market by itself.
        while True:
            await asyncio.sleep(_CLOCK_POLL_SECS)
            self.engine.sync_market()

    def _schedule(self, delay: float, callback: Callable[[], None]) -> None:
        def run() -> None:
            self._handles.discard(handle)
            callback()

        handle = asyncio.get_running_loop().call_later(delay, run)
        self._handles.add(handle)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def stall(self, secs: float) -> None:
        """Hold an answer back ``secs`` seconds, or until connections are dropped."""
        released = self._unstall
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(released.wait(), secs)

    def _release_stalled(self) -> None:
        self._unstall.set()
        self._unstall = asyncio.Event()

    def _cancel_scheduled(self) -> None:
        for handle in self._handles:
            handle.cancel()
        self._handles.clear()

    # -- waiting ---------------------------------------------------------------------------

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
        await self.wait_for(lambda: len(self.engine.orders) >= count, timeout_secs)
        return self.orders()

    # -- reads -----------------------------------------------------------------------------

    def credentials(self, account: str) -> tuple[str, str]:
        """The key id and secret of ``account`` (an account number)."""
        state = self.engine.accounts[account]
        return state.key_id, state.secret_key

    def orders(self, account: str | None = None) -> list[SimOrder]:
        """Every order (of ``account`` when given), in placement order."""
        return [o for o in self.engine.orders.values() if account in (None, o.account)]

    def order(self, order_id: str) -> SimOrder:
        """One order by id (KeyError if unknown)."""
        return self.engine.orders[order_id]

    def account(self, number: str) -> AccountState:
        """Live state of one account."""
        return self.engine.accounts[number]

    def cash(self, number: str) -> Decimal:
        """Cash of an account."""
        return self.engine.accounts[number].cash

    def positions(self, number: str) -> dict[str, int]:
        """Symbol to shares of an account's positions."""
        return {s: p.quantity for s, p in self.engine.accounts[number].positions.items()}

    @property
    def faults(self) -> FaultSpec:
        """Current faults (replace them with ``set_faults``)."""
        return self.engine.faults

    def next_trade_id(self) -> int:
        """A fresh id for a latest-trade answer."""
        self._trade_id += 1
        return self._trade_id

    def snapshot(self) -> dict[str, Any]:
        """The whole observable state as JSON-friendly data (what ``GET /sim/state`` returns)."""
        engine = self.engine
        return {
            "port": self.port,
            "accepting": self.accepting,
            "api_requests": self.api_requests,
            "clock": {
                "now": self.clock.now().isoformat(),
                "real_time": self.clock.is_real_time,
                "always_open": self.clock.always_open,
                "forced_open": self.clock.forced_open,
                "is_open": self.clock.is_open(),
            },
            "accounts": {
                n: account_body(a, engine.orders.values(), engine.symbols)
                | {"positions": {s: p.quantity for s, p in a.positions.items()}}
                for n, a in engine.accounts.items()
            },
            "orders": [o.to_dict() for o in self.orders()],
            "symbols": {
                n: s.model_dump(mode="json", include={"bid", "ask", "last", "close"})
                for n, s in engine.symbols.items()
            },
            "faults": engine.faults.model_dump(mode="json"),
        }

    # -- writes ----------------------------------------------------------------------------

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
        """Change a symbol's quote and work resting orders against it.

        Args:
            symbol: A scenario symbol.
            bid: New bid (``None``: unchanged); likewise ``ask``, ``last``, ``close``.
            clear: Names among bid/ask/last/close to remove (no quote on that side).
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
        self.engine.symbols[symbol] = current.model_validate(current.model_dump() | changes)
        self.engine.quotes_changed()
        self.notify_changed()

    def set_clock(self, when: dt.datetime | None) -> None:
        """Freeze the clock at ``when`` (aware), or follow real time (``None``)."""
        self.clock.set_time(when)
        self.engine.sync_market()

    def advance_clock(self, delta: dt.timedelta) -> None:
        """Move the clock forward (it stays frozen at the new instant)."""
        self.clock.advance(delta)
        self.engine.sync_market()

    def set_always_open(self, always_open: bool) -> None:
        """Switch between an always-open market and the scenario's sessions."""
        self.clock.always_open = always_open
        self.engine.sync_market()

    def set_market(self, is_open: bool | None) -> None:
        """Force the market open (``True``) or closed (``False``), or follow the clock."""
        self.clock.forced_open = is_open
        self.engine.sync_market()

    def close_auction(self) -> list[SimOrder]:
        """Run the closing auction now: working ``cls`` orders fill at the closing price."""
        auctioned = self.engine.close_auction()
        self.notify_changed()
        return auctioned

    def set_faults(self, **changes: Any) -> FaultSpec:
        """Change faults at run time (names as in the scenario's ``faults:``); returns them.

        Clearing ``drop_connections_after_orders`` while it refuses connections accepts them
        again.
        """
        self.engine.faults = FaultSpec.model_validate(self.engine.faults.model_dump() | changes)
        self._accept_unless_dropping()
        self.notify_changed()
        return self.engine.faults

    def _accept_unless_dropping(self) -> None:
        """Listen again after a drop that lasts until its fault is cleared."""
        refusing_until_cleared = self._runner is not None and self._site is None
        if (
            refusing_until_cleared
            and self._reopen is None
            and self.engine.faults.drop_connections_after_orders is None
        ):
            self._spawn(self._relisten())

    def set_account(
        self,
        number: str,
        *,
        daytrade_count: int | None = None,
        pattern_day_trader: bool | None = None,
        trading_blocked: bool | None = None,
    ) -> None:
        """Change an account's PDT counters or trading block."""
        account = self.engine.accounts[number]
        if daytrade_count is not None:
            if not isinstance(daytrade_count, int) or daytrade_count < 0:
                raise ValueError(f"daytrade_count must be a whole number >= 0: {daytrade_count}")
            account.daytrade_count = daytrade_count
        if pattern_day_trader is not None:
            account.pattern_day_trader = bool(pattern_day_trader)
        if trading_blocked is not None:
            account.trading_blocked = bool(trading_blocked)
        self.notify_changed()

    @web.middleware
    async def _unanswered_while_refusing(
        self, request: web.Request, handler: Callable[[web.Request], Any]
    ) -> web.StreamResponse:
        """A connection being accepted as ``drop_connections`` closed the others can outlive
        the drop; while connections are refused, a request on it gets its connection aborted,
        not an answer (the control routes under ``/sim/`` still answer)."""
        refusing = self._runner is not None and self._site is None
        if refusing and not request.path.startswith("/sim/"):
            if request.transport is not None:
                request.transport.abort()
            return web.Response(status=503)  # never reaches the client: its connection is gone
        response: web.StreamResponse = await handler(request)
        return response

    def drop_connections(self, refuse_secs: float | None = 0.0) -> None:
        """Close every open connection; with ``refuse_secs`` also refuse new ones that long
        (``None``: until the ``drop_connections_after_orders`` fault is cleared)."""
        if self._runner is None:
            return
        self._release_stalled()
        server = self._runner.server
        for handler in list(server.connections if server is not None else []):
            handler.force_close()
        if (refuse_secs is None or refuse_secs > 0) and self._site is not None:
            site, self._site = self._site, None
            self._closing = asyncio.get_running_loop().create_task(site.stop())
            if refuse_secs is not None:
                self._reopen = asyncio.get_running_loop().call_later(
                    refuse_secs, lambda: self._spawn(self._relisten())
                )
        self.notify_changed()

    async def accept_connections(self) -> None:
        """End a refusal (``drop_connections`` with ``refuse_secs``, or after
        ``drop_connections_after_orders``) now; return once the port accepts again."""
        if self._reopen is not None:
            self._reopen.cancel()
        await self._relisten()

    async def _relisten(self) -> None:
        self._reopen = None
        if self._closing is not None:
            # The old listener must have let go of the port before a new one binds it.
            await asyncio.shield(self._closing)
        if self._runner is not None and self._site is None:
            await self._listen()
            logger.info("simulator accepting connections again on %s", self.base_url)
            self.notify_changed()

    @property
    def accepting(self) -> bool:
        """False while connections are refused (``drop_connections(refuse_secs)``)."""
        return self._site is not None

    def reset(self) -> None:
        """Back to the scenario's accounts, prices, clock and faults; no orders."""
        self._cancel_scheduled()
        self.clock.set_time(self.scenario.clock.time)
        self.clock.always_open = self.scenario.clock.always_open
        self.clock.forced_open = None
        self.engine.accounts = self._fresh_accounts()
        self.engine.symbols = dict(self.scenario.symbols)
        self.engine.orders.clear()
        self.engine.faults = self.scenario.faults
        self.engine.sync_market()
        self._accept_unless_dropping()
        self.notify_changed()
